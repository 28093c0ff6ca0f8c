"""Lesson 01: a root filesystem, chroot, the escape, and pivot_root.

Each function below is one step of the lesson. The package keeps its own versions in
minicontainer/rootfs.py and minicontainer/chroot.py: compare yours with them when you are done.
"""

from __future__ import annotations

import os
from pathlib import Path

BUSYBOX = "/bin/busybox"


def make_applet_links(rootfs: Path, applets: list[str]) -> int:
    """Exercise 1.1: for each applet path (like "bin/ls" or "usr/bin/wc", relative to the root),
    create a symlink inside `rootfs` pointing at /bin/busybox. Create missing parent directories,
    leave existing files alone, and return how many links you made."""
    ### BEGIN SOLUTION 1.1: for each applet, make (rootfs / applet).parent, then os.symlink(BUSYBOX, rootfs / applet) unless it exists
    made = 0
    for applet in applets:
        link = Path(rootfs) / applet
        if link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(BUSYBOX, link)
        made += 1
    return made
    ### END SOLUTION


def write_users(rootfs: Path, users: list[tuple[str, int, int, str, str]]) -> None:
    """Exercise 1.2: write rootfs/etc/passwd and rootfs/etc/group for `users`, a list of
    (name, uid, gid, home, shell). passwd lines are "name:x:uid:gid:name:home:shell";
    group lines are "name:x:gid:" (one group per user, named after the user)."""
    ### BEGIN SOLUTION 1.2: build one "name:x:uid:gid:name:home:shell" line per user for etc/passwd and "name:x:gid:" for etc/group
    etc = Path(rootfs) / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "passwd").write_text("".join(f"{n}:x:{uid}:{gid}:{n}:{home}:{shell}\n" for n, uid, gid, home, shell in users))
    (etc / "group").write_text("".join(f"{n}:x:{gid}:\n" for n, _uid, gid, _home, _shell in users))
    ### END SOLUTION


def enter_chroot(rootfs: Path) -> None:
    """Exercise 1.3: make `rootfs` this process's root directory, and make sure the current
    directory is inside it (chroot alone leaves the current directory where it was)."""
    ### BEGIN SOLUTION 1.3: os.chroot(rootfs), then os.chdir("/")
    os.chroot(rootfs)
    os.chdir("/")
    ### END SOLUTION


def escape_chroot() -> None:
    """Exercise 1.4: you are root inside a chroot. Get out: afterwards "/" must be the host's root.
    (The trick: chroot into a subdirectory without changing directory, climb up with "..", chroot(".").)"""
    ### BEGIN SOLUTION 1.4: os.makedirs("/x", exist_ok=True); os.chroot("/x"); then os.chdir("..") many times; then os.chroot(".")
    os.makedirs("/.escape", exist_ok=True)
    os.chroot("/.escape")
    for _ in range(64):
        os.chdir("..")
    os.chroot(".")
    ### END SOLUTION


def pivot_into(new_root: Path) -> None:
    """Exercise 1.5: you are in a new, private mount namespace. Make `new_root` the root with
    pivot_root and remove every trace of the old root: bind-mount new_root onto itself, pivot_root
    into it with the old root under new_root/.old-root, chdir("/"), then unmount (MNT_DETACH) and
    remove /.old-root. Use minicontainer.syscalls for mount, pivot_root and umount2."""
    ### BEGIN SOLUTION 1.5: syscalls.mount(new_root, new_root, None, syscalls.MS_BIND | syscalls.MS_REC); os.makedirs; syscalls.pivot_root; os.chdir("/"); syscalls.umount2("/.old-root", syscalls.MNT_DETACH); os.rmdir
    from minicontainer import syscalls

    new_root = os.fspath(new_root)
    syscalls.mount(new_root, new_root, None, syscalls.MS_BIND | syscalls.MS_REC)
    os.makedirs(os.path.join(new_root, ".old-root"), exist_ok=True)
    syscalls.pivot_root(new_root, os.path.join(new_root, ".old-root"))
    os.chdir("/")
    syscalls.umount2("/.old-root", syscalls.MNT_DETACH)
    os.rmdir("/.old-root")
    ### END SOLUTION
