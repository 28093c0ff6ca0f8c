# Your exercises for lesson 01-chroot. Replace each `raise NotImplementedError(...)` with your code.
# Check your work with `make check EX=01` (or the check cells in notebooks/01-chroot.ipynb).
# This file was generated from the instructors' solutions by `make exercises`.

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
    raise NotImplementedError('Exercise 1.1: one symlink per busybox applet in a new root filesystem')


def write_users(rootfs: Path, users: list[tuple[str, int, int, str, str]], groups: list[tuple[str, int]]) -> None:
    """Exercise 1.2: write rootfs/etc/passwd for `users`, a list of (name, uid, gid, home, shell),
    and rootfs/etc/group for `groups`, a list of (name, gid). passwd lines are
    "name:x:uid:gid:name:home:shell"; group lines are "name:x:gid:". Create etc/ if needed."""
    raise NotImplementedError('Exercise 1.2: the users and groups of a new root filesystem, as the files programs read')


def chroot_into(new_root: str) -> None:
    """Exercise 1.3: the runtime's fallback when it cannot pivot (`run --no-pivot`): you are in the
    container's private mount namespace and `new_root` is a mount point. Move that mount onto "/"
    (mount with MS_MOVE, from inside new_root), make "." the root directory of this process, and
    make sure the current directory is inside it. Use minicontainer.syscalls (mount, chroot)."""
    raise NotImplementedError('Exercise 1.3: enter the root without pivot_root: move its mount to the top, then chroot')


def pivot_without_old_dir(new_root: str) -> None:
    """Exercise 1.4: what every `run` does: make `new_root` (already a mount point, in a private
    mount namespace) the root of this mount namespace with pivot_root, and detach the old root so
    that nothing of the host stays reachable. The root may be read-only: create nothing in it.
    End with the current directory at the new "/". Use minicontainer.syscalls (pivot_root,
    mount, umount2)."""
    raise NotImplementedError("Exercise 1.4: make the container's root the root of its mount namespace and detach the host's")
