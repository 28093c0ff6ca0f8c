"""Lesson 02: namespaces, PID 1, and joining a running container.

Each function below is one step of the lesson. The package keeps its own versions in
minicontainer/namespaces.py, minicontainer/rootfs.py and minicontainer/process.py: compare yours
with them when you are done. Use minicontainer.syscalls for unshare, setns, mount and sethostname.
"""

from __future__ import annotations

import os

from minicontainer import syscalls


def new_hostname(name: str) -> None:
    """Exercise 2.1: move this process into a new UTS namespace and set its hostname to `name`.
    The host's hostname must not change."""
    ### BEGIN SOLUTION 2.1: syscalls.unshare(syscalls.CLONE_NEWUTS), then syscalls.sethostname(name)
    syscalls.unshare(syscalls.CLONE_NEWUTS)
    syscalls.sethostname(name)
    ### END SOLUTION


def mount_proc(rootfs: str) -> None:
    """Exercise 2.2: mount a fresh procfs on rootfs/proc, with the flags nosuid, nodev and noexec.
    (You are PID 1 of a new PID namespace, in a private mount namespace: the new /proc will list
    only the processes of your PID namespace.)"""
    ### BEGIN SOLUTION 2.2: syscalls.mount("proc", os.path.join(rootfs, "proc"), "proc", syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC)
    flags = syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC
    syscalls.mount("proc", os.path.join(rootfs, "proc"), "proc", flags)
    ### END SOLUTION


def reap(workload: int) -> int:
    """Exercise 2.3: you are PID 1. Wait for your children (orphans of the container are re-parented
    to you, so reap every child that exits, not only the workload) until the process `workload`
    exits. Return its status as a shell shows it: its exit code, or 128 + the signal that killed it."""
    ### BEGIN SOLUTION 2.3: loop on pid, status = os.wait(); when pid == workload return the code (os.waitstatus_to_exitcode; negative means a signal: 128 - code)
    while True:
        pid, status = os.wait()
        if pid == workload:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code
    ### END SOLUTION


def join_namespace(pid: int, name: str) -> None:
    """Exercise 2.4: join the namespace `name` ("uts", "net", "ipc", ...) of process `pid`, the way
    `minicontainer exec` (and `nsenter`) do: open /proc/PID/ns/NAME and call setns on it."""
    ### BEGIN SOLUTION 2.4: fd = os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY); syscalls.setns(fd, 0); os.close(fd)
    fd = os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY)
    try:
        syscalls.setns(fd, 0)
    finally:
        os.close(fd)
    ### END SOLUTION


def namespace_flags(names: list[str]) -> int:
    """Exercise 2.5: the unshare(2) flags for a list of namespace names, e.g. ["uts", "pid"] ->
    CLONE_NEWUTS | CLONE_NEWPID. Names: mnt, uts, ipc, pid, net, user, cgroup. Raise ValueError
    for any other name."""
    ### BEGIN SOLUTION 2.5: look each name up in syscalls.NAMESPACE_FLAGS and OR the flags together
    flags = 0
    for name in names:
        if name not in syscalls.NAMESPACE_FLAGS:
            raise ValueError(f"unknown namespace {name!r}")
        flags |= syscalls.NAMESPACE_FLAGS[name]
    return flags
    ### END SOLUTION
