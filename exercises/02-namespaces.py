# Your exercises for lesson 02-namespaces. Replace each `raise NotImplementedError(...)` with your code.
# Check your work with `make check EX=02` (or the check cells in notebooks/02-namespaces.ipynb).
# This file was generated from the instructors' solutions by `make exercises`.

"""Lesson 02: namespaces, PID 1, and joining a running container.

Each function below is a step the runtime takes, with the same name and arguments as the package's
own: namespaces.clone_flags, write_id_maps and join in minicontainer/namespaces.py, init_loop and
set_up in minicontainer/process.py. `minicontainer --yours run ...` runs yours. Compare yours with
those modules when you are done.
"""

from __future__ import annotations

import os
import signal

from minicontainer import devfs, process, rootfs, syscalls


def clone_flags(names: list[str]) -> int:
    """Exercise 2.1: the unshare(2)/clone(2) flags for a list of namespace names, e.g. ["uts", "pid"]
    -> CLONE_NEWUTS | CLONE_NEWPID. Names: mnt, uts, ipc, pid, net, user, cgroup. Raise ValueError
    for any other name (the runtime must never silently skip one)."""
    raise NotImplementedError('Exercise 2.1: the flags for the namespaces a container gets')


def init_loop(workload: int, forwarded: tuple[int, ...]) -> int:
    """Exercise 2.2: you are PID 1 and have just forked the workload (PID `workload`). The signals
    in `forwarded` are blocked, so that none is lost before you are ready. Install a handler for
    each that sends the signal on to the workload, then unblock them. Then wait for your children:
    orphans of the container are re-parented to you, so reap every child that exits, not only the
    workload, until the workload itself exits. Return its status as a shell shows it: its exit code,
    or 128 + the signal that killed it."""
    raise NotImplementedError("Exercise 2.2: PID 1's loop: pass signals on to the workload, reap every child, return the workload's status")


def set_up(cfg: dict) -> None:
    """Exercise 2.3: you are PID 1, in the container's new namespaces, and the runtime said "go".
    Build the container's view of the world, in an order that works and leaves the host untouched:
      - make every mount private (rootfs.make_mounts_private), before anything is mounted;
      - root = process.mount_root(cfg): the container's root, a mount point;
      - a /proc for the new PID namespace and a minimal /dev in it (rootfs.mount_proc, devfs.mount_dev);
      - process.mount_the_rest(root, cfg): /sys, cgroups, volumes... (some need /dev);
      - process.enter_root(root, cfg): pivot_root into it (your 1.4), then the masks;
      - the hostname cfg["hostname"], if "uts" is in cfg["namespaces"] (syscalls.sethostname).
    (The order is the exercise: each step names the calls to make.)"""
    raise NotImplementedError("Exercise 2.3: PID 1's set-up: private mounts, the root, /proc, /dev, the rest, into the root, the hostname")


def write_id_maps(pid: int, uid_maps: list, gid_maps: list, deny_setgroups: bool = True) -> None:
    """Exercise 2.4: the parent's job for a child in a new user namespace: write /proc/PID/uid_map
    and /proc/PID/gid_map. Each map is a list of IdMap (with .inside, .outside, .count); each becomes
    one line "inside outside count". With deny_setgroups, first write "deny" to /proc/PID/setgroups
    (an unprivileged writer must, or the kernel refuses the gid_map)."""
    raise NotImplementedError('Exercise 2.4: the uid/gid map lines of a new user namespace')


JOIN_ORDER = ["user", "cgroup", "ipc", "uts", "net", "pid", "mnt"]


def join(pid: int, names: list[str] | None = None) -> list[str]:
    """Exercise 2.5: what `minicontainer exec` does first: join the namespaces of process `pid`.
    `names` (default: JOIN_ORDER) in that order: user first (it grants the rights for the others),
    mnt last (after it the host's /proc/PID files are out of reach). Skip a namespace that we share
    already (same inode of /proc/self/ns/NAME and /proc/PID/ns/NAME: joining our own user namespace
    is an error) or that does not exist. Open every file first, then setns each, and close them all.
    Return the names joined, in order."""
    raise NotImplementedError("Exercise 2.5: join a running container's namespaces, for exec")
