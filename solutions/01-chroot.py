"""Lesson 01: a root filesystem, chroot, and pivot_root.

Each function below is a step the runtime takes, with the same name and arguments as the package's
own in minicontainer/rootfs.py. `minicontainer --yours rootfs DIR` builds a root filesystem with
your 1.1 and 1.2; `minicontainer --yours run --rootfs DIR ...` enters it with your 1.4 (and your 1.3
with --no-pivot). Compare yours with rootfs.py when you are done.
"""

from __future__ import annotations

import os
from pathlib import Path

from minicontainer import syscalls

BUSYBOX = "/bin/busybox"


def make_applet_links(rootfs: Path, applets: list[str], target: str = BUSYBOX) -> int:
    """Exercise 1.1: for each applet path (like "bin/ls" or "usr/bin/wc", relative to the root),
    create a symlink inside `rootfs` pointing at `target` (the busybox binary, as a path inside the
    root). Create missing parent directories, leave existing files alone (busybox itself is one),
    and return how many links you made."""
    ### BEGIN SOLUTION 1.1: one symlink per busybox applet in a new root filesystem
    ### HINT: busybox picks the program from the name it is started as: each applet is a symbolic link named like the program, pointing at the binary. Skip what is already there.
    ### HINT: Path(rootfs) / applet is where a link goes; .parent.mkdir(parents=True, exist_ok=True) makes its directory; os.symlink(target, link) makes it; .exists() or .is_symlink() tells that something is there.
    ### HINT: for applet in applets: link = Path(rootfs) / applet; if link.exists() or link.is_symlink(): continue; link.parent.mkdir(...); os.symlink(target, link); made += 1 — then return made
    made = 0
    for applet in applets:
        link = Path(rootfs) / applet
        if link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, link)
        made += 1
    return made
    ### END SOLUTION


def write_users(rootfs: Path, users: list[tuple[str, int, int, str, str]], groups: list[tuple[str, int]]) -> None:
    """Exercise 1.2: write rootfs/etc/passwd for `users`, a list of (name, uid, gid, home, shell),
    and rootfs/etc/group for `groups`, a list of (name, gid). passwd lines are
    "name:x:uid:gid:name:home:shell"; group lines are "name:x:gid:". Create etc/ if needed."""
    ### BEGIN SOLUTION 1.2: the users and groups of a new root filesystem, as the files programs read
    ### HINT: Two text files, one line per entry, fields separated by ':'; the 'x' says the password is elsewhere (no /etc/shadow here: nobody logs in).
    ### HINT: (Path(rootfs) / "etc").mkdir(parents=True, exist_ok=True); then .write_text() each file with every line ending in a newline.
    ### HINT: "".join(f"{name}:x:{uid}:{gid}:{name}:{home}:{shell}\n" for name, uid, gid, home, shell in users) is the passwd text; "".join(f"{name}:x:{gid}:\n" for name, gid in groups) the group text
    etc = Path(rootfs) / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "passwd").write_text("".join(f"{n}:x:{uid}:{gid}:{n}:{home}:{shell}\n" for n, uid, gid, home, shell in users))
    (etc / "group").write_text("".join(f"{n}:x:{gid}:\n" for n, gid in groups))
    ### END SOLUTION


def chroot_into(new_root: str) -> None:
    """Exercise 1.3: the runtime's fallback when it cannot pivot (`run --no-pivot`): you are in the
    container's private mount namespace and `new_root` is a mount point. Move that mount onto "/"
    (mount with MS_MOVE, from inside new_root), make "." the root directory of this process, and
    make sure the current directory is inside it. Use minicontainer.syscalls (mount, chroot)."""
    ### BEGIN SOLUTION 1.3: enter the root without pivot_root: move its mount to the top, then chroot
    ### HINT: chroot alone changes where '/' lookups start, and nothing else: the current directory stays where it was. Moving the root's mount over '/' first puts it on top of the mount tree.
    ### HINT: os.chdir(new_root) first; syscalls.mount(source, target, None, syscalls.MS_MOVE) moves a mount; then syscalls.chroot(".") and os.chdir("/").
    ### HINT: os.chdir(new_root); syscalls.mount(new_root, "/", None, syscalls.MS_MOVE); syscalls.chroot("."); os.chdir("/")
    os.chdir(new_root)
    syscalls.mount(new_root, "/", None, syscalls.MS_MOVE)
    syscalls.chroot(".")
    os.chdir("/")
    ### END SOLUTION


def pivot_without_old_dir(new_root: str) -> None:
    """Exercise 1.4: what every `run` does: make `new_root` (already a mount point, in a private
    mount namespace) the root of this mount namespace with pivot_root, and detach the old root so
    that nothing of the host stays reachable. The root may be read-only: create nothing in it.
    End with the current directory at the new "/". Use minicontainer.syscalls (pivot_root,
    mount, umount2)."""
    ### BEGIN SOLUTION 1.4: make the container's root the root of its mount namespace and detach the host's
    ### HINT: pivot_root(new, put_old) swaps the root mount and leaves the old one at put_old, to unmount. A read-only root has no room for a put_old directory, but put_old may be the new root itself: the old root is then stacked on it.
    ### HINT: keep a file descriptor of the old "/" (os.open("/", os.O_RDONLY | os.O_DIRECTORY)); os.chdir(new_root); syscalls.pivot_root(".", "."); os.fchdir(fd) puts you on the old root; make it MS_SLAVE | MS_REC so its unmount does not reach the host; syscalls.umount2(".", syscalls.MNT_DETACH).
    ### HINT: fd = os.open("/", ...); os.chdir(new_root); syscalls.pivot_root(".", "."); os.fchdir(fd); syscalls.mount(None, ".", None, syscalls.MS_SLAVE | syscalls.MS_REC); syscalls.umount2(".", syscalls.MNT_DETACH); os.close(fd); os.chdir("/")
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.chdir(new_root)
        syscalls.pivot_root(".", ".")
        os.fchdir(fd)
        syscalls.mount(None, ".", None, syscalls.MS_SLAVE | syscalls.MS_REC)
        syscalls.umount2(".", syscalls.MNT_DETACH)
    finally:
        os.close(fd)
    os.chdir("/")
    ### END SOLUTION
