"""Namespaces: which ones a container gets, uid/gid maps, and joining a running container (lesson 02).

A namespace wraps one global resource of the kernel so that the processes inside see their own
copy of it. `/proc/PID/ns/` shows one file per namespace type; two processes share a namespace
exactly when those files have the same inode number.

    mnt     the mount table             uts     the hostname
    ipc     System V IPC, mqueues       pid     process IDs (the first process is PID 1)
    net     devices, addresses, ports   user    uid/gid numbers and capabilities
    cgroup  the root of /proc/self/cgroup

Three ways in:
  - unshare(2) moves the caller into new namespaces (the PID namespace: its *children*);
  - setns(2) joins an existing one through an open /proc/PID/ns/* file (`exec` does this);
  - clone(2) creates a child directly in new ones (Python has no safe clone; we unshare + fork).

A user namespace also needs maps: `/proc/PID/uid_map` says which host uid each uid inside is.
Writing them is the parent's job (a process cannot map itself to ids it does not hold).
"""

from __future__ import annotations

import fcntl
import os
import struct

from . import syscalls

# The order `exec` joins them in: the user namespace first (it grants the rights for the others),
# the mount namespace last (after it, /proc/PID paths of the host are no longer reachable).
JOIN_ORDER = ["user", "cgroup", "ipc", "uts", "net", "pid", "mnt"]
ALL = ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"]


def clone_flags(names: list[str] | set[str]) -> int:
    """The CLONE_NEW* flags for namespace names: clone_flags(['uts', 'pid']) == CLONE_NEWUTS|CLONE_NEWPID."""
    flags = 0
    for name in names:
        if name not in syscalls.NAMESPACE_FLAGS:
            raise ValueError(f"unknown namespace {name!r}; known: {', '.join(sorted(syscalls.NAMESPACE_FLAGS))}")
        flags |= syscalls.NAMESPACE_FLAGS[name]
    return flags


def inode(pid: int | str, name: str, proc: str = "/proc") -> int:
    """The inode number of a process's namespace (equal inodes = the same namespace)."""
    return os.stat(f"{proc}/{pid}/ns/{name}").st_ino


def inodes(pid: int | str = "self", proc: str = "/proc") -> dict[str, int]:
    """{namespace name: inode} for every namespace of a process."""
    return {name: inode(pid, name, proc) for name in ALL if os.path.exists(f"{proc}/{pid}/ns/{name}")}


def shared(pid_a: int | str, pid_b: int | str) -> dict[str, bool]:
    """For each namespace type: do the two processes share it?"""
    a, b = inodes(pid_a), inodes(pid_b)
    return {name: a[name] == b.get(name) for name in a}


class IdMap:
    """One line of a uid_map/gid_map: ids [inside, inside+count) are host ids [outside, outside+count)."""

    def __init__(self, inside: int, outside: int, count: int = 1) -> None:
        self.inside, self.outside, self.count = inside, outside, count

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and (self.inside, self.outside, self.count) == (other.inside, other.outside, other.count)

    def __repr__(self) -> str:
        return f"IdMap({self.inside}, {self.outside}, {self.count})"

    def line(self) -> str:
        return f"{self.inside} {self.outside} {self.count}\n"


def rootless_maps(uid: int | None = None, gid: int | None = None) -> tuple[list[IdMap], list[IdMap]]:
    """The maps an unprivileged user may write alone: root inside is the caller's own uid/gid outside."""
    return [IdMap(0, os.getuid() if uid is None else uid)], [IdMap(0, os.getgid() if gid is None else gid)]


def write_id_maps(pid: int, uid_maps: list[IdMap], gid_maps: list[IdMap], deny_setgroups: bool = True) -> None:
    """Write /proc/PID/uid_map and gid_map (the parent does this for its child's new user namespace).

    An unprivileged writer must first write "deny" to /proc/PID/setgroups: otherwise a user could
    drop its supplementary groups inside and gain access that a `---rwx` permission denied it.
    """
    if deny_setgroups:
        with open(f"/proc/{pid}/setgroups", "w") as f:
            f.write("deny")
    with open(f"/proc/{pid}/uid_map", "w") as f:
        f.write("".join(m.line() for m in uid_maps))
    with open(f"/proc/{pid}/gid_map", "w") as f:
        f.write("".join(m.line() for m in gid_maps))


def open_namespaces(pid: int, names: list[str] | None = None, proc: str = "/proc") -> list[tuple[str, int]]:
    """Open /proc/PID/ns/* for the namespaces that differ from ours, in JOIN_ORDER. Returns (name, fd)."""
    opened = []
    for name in names or JOIN_ORDER:
        path = f"{proc}/{pid}/ns/{name}"
        if not os.path.exists(path) or inode(pid, name, proc) == inode("self", name, proc):
            continue  # joining a namespace we are already in is an error for `user`, and useless anyway
        opened.append((name, os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
    return opened


def join(pid: int, names: list[str] | None = None) -> list[str]:
    """setns(2) into another process's namespaces (must run in a single-threaded process).

    Joining a PID namespace affects the children forked afterwards, not the caller: `exec` forks
    once more after this. Returns the names of the namespaces joined.
    """
    fds = open_namespaces(pid, names)
    try:
        for name, fd in fds:
            syscalls.setns(fd, syscalls.NAMESPACE_FLAGS[name])
    finally:
        for _, fd in fds:
            os.close(fd)
    return [name for name, _ in fds]


def join_paths(pairs: list[tuple[str, str]]) -> None:
    """setns(2) into namespaces named by path, e.g. [("net", "/var/run/netns/web")] (lesson 10:
    config.json's `{"type": "network", "path": ...}`). The user namespace first, the mount one last."""
    order = {name: i for i, name in enumerate(JOIN_ORDER)}
    for name, path in sorted(pairs, key=lambda p: order.get(p[0], 0)):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            syscalls.setns(fd, syscalls.NAMESPACE_FLAGS[name])
        finally:
            os.close(fd)


def loopback_up() -> None:
    """Bring `lo` up in our network namespace (a new one starts with it down: 127.0.0.1 fails).

    The ioctl `ifconfig lo up` uses, on a socket made with libc: the `socket` module would cost
    every `run` ~7 ms of imports (bench/bench_start_tricks.py). Lesson 07 does the same with netlink
    (pyroute2), and network/loopback.py calls this from outside the namespace.
    """
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    fd = syscalls.socket(syscalls.AF_INET, syscalls.SOCK_DGRAM)
    try:
        flags = struct.unpack("16sH14x", fcntl.ioctl(fd, siocgifflags, struct.pack("16sH14x", b"lo", 0)))[1]
        fcntl.ioctl(fd, siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))
    finally:
        os.close(fd)
