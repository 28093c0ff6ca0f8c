"""/dev in a container: a tmpfs with the standard devices, devpts, shm and mqueue (lesson 02; lesson 08).

A container must not see the host's /dev (its disks, its terminals): it gets a small tmpfs with only
the devices the OCI runtime spec lists (null, zero, full, random, urandom, tty), the usual links
(/dev/fd, stdin...), its own devpts (`newinstance`: its own ptys) and a /dev/shm and /dev/mqueue of
its own. `--device` adds one node of the host's (make_device_node); the container's cgroup decides
whether it may be opened (security/devices.py). PID 1 calls mount_dev (process.set_up, exercise 2.3).
"""

from __future__ import annotations

import os

from . import rootfs as rootfs_mod, syscalls  # (rootfs_mod.mount_point: 9.3, --yours replaces it)
from .rootfs import inside

DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}
DEV_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
             "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx", "core": "/proc/kcore"}
_NOSUID_NODEV_NOEXEC = syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC


def _make_device(path: str, major: int, minor: int) -> None:
    """mknod a character device; inside a user namespace mknod is refused, so bind the host's instead."""
    try:
        os.mknod(path, 0o666 | 0o020000, os.makedev(major, minor))
        os.chmod(path, 0o666)  # mknod applies the umask
    except PermissionError:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o666))
        syscalls.mount(f"/dev/{os.path.basename(path)}", path, None, syscalls.MS_BIND)


def mount_dev(rootfs: str) -> None:
    """A minimal /dev on a tmpfs: the six standard devices, a private devpts, shm, mqueue and the links."""
    dev = rootfs_mod.mount_point(rootfs, "/dev")
    syscalls.mount("tmpfs", dev, "tmpfs", syscalls.MS_NOSUID | syscalls.MS_STRICTATIME, "mode=755,size=65536k")
    populate_dev(rootfs)
    os.mkdir(f"{dev}/pts")
    syscalls.mount("devpts", f"{dev}/pts", "devpts", syscalls.MS_NOSUID | syscalls.MS_NOEXEC,
                   "newinstance,ptmxmode=0666,mode=0620")
    os.mkdir(f"{dev}/shm")
    syscalls.mount("shm", f"{dev}/shm", "tmpfs", _NOSUID_NODEV_NOEXEC, "mode=1777,size=65536k")
    os.mkdir(f"{dev}/mqueue")
    syscalls.mount("mqueue", f"{dev}/mqueue", "mqueue", _NOSUID_NODEV_NOEXEC)


def populate_dev(rootfs: str) -> None:
    """The standard devices and links of the OCI runtime spec in /dev (those the image lacks)."""
    dev = inside(rootfs, "/dev")
    for name, (major, minor) in DEVICES.items():
        if not os.path.lexists(f"{dev}/{name}"):
            _make_device(f"{dev}/{name}", major, minor)
    for name, target in DEV_LINKS.items():
        if not os.path.lexists(f"{dev}/{name}") and (name != "core" or os.path.exists("/proc/kcore")):
            os.symlink(target, f"{dev}/{name}")


FIFO, CHAR, BLOCK = 0o010000, 0o020000, 0o060000
NODE_TYPES = {"c": CHAR, "u": CHAR, "b": BLOCK, "p": FIFO}


def make_device_node(rootfs: str, target: str, kind: str, major: int, minor: int, mode: int = 0o666,
                     uid: int = 0, gid: int = 0) -> None:
    """`--device`: a node for the host's device (type "c" or "b", major:minor) at `target` (lesson 08).
    Lesson 10: config.json's linux.devices also give "p" (a fifo), the mode and the owner.

    The node alone is not enough: the container's cgroup must allow the device (security/devices.py)."""
    where = inside(rootfs, target)
    os.makedirs(os.path.dirname(where), exist_ok=True)
    if os.path.lexists(where):
        os.unlink(where)
    os.mknod(where, (mode & 0o7777) | NODE_TYPES[kind], os.makedev(major, minor))
    os.chmod(where, mode & 0o7777)
    if uid or gid:
        os.chown(where, uid, gid)
