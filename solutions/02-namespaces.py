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
    ### BEGIN SOLUTION 2.1: the flags for the namespaces a container gets
    ### HINT: One bit per namespace type; a set of namespaces is those bits ORed together. An unknown name is an error, not a zero.
    ### HINT: syscalls.NAMESPACE_FLAGS maps each name to its CLONE_NEW* bit; start from 0 and use |= .
    ### HINT: flags = 0; for name in names: if name not in syscalls.NAMESPACE_FLAGS: raise ValueError(...); flags |= syscalls.NAMESPACE_FLAGS[name] — then return flags
    flags = 0
    for name in names:
        if name not in syscalls.NAMESPACE_FLAGS:
            raise ValueError(f"unknown namespace {name!r}")
        flags |= syscalls.NAMESPACE_FLAGS[name]
    return flags
    ### END SOLUTION


def init_loop(workload: int, forwarded: tuple[int, ...]) -> int:
    """Exercise 2.2: you are PID 1 and have just forked the workload (PID `workload`). The signals
    in `forwarded` are blocked, so that none is lost before you are ready. Install a handler for
    each that sends the signal on to the workload, then unblock them. Then wait for your children:
    orphans of the container are re-parented to you, so reap every child that exits, not only the
    workload, until the workload itself exits. Return its status as a shell shows it: its exit code,
    or 128 + the signal that killed it."""
    ### BEGIN SOLUTION 2.2: PID 1's loop: pass signals on to the workload, reap every child, return the workload's status
    ### HINT: Two jobs. Signals: the kernel gives PID 1 only the signals it has a handler for, so PID 1 catches them and passes each on. Children: a loop that waits for *any* child and stops when the one that exited is the workload.
    ### HINT: signal.signal(sig, handler) with handler(signum, frame) doing os.kill(workload, signum); signal.pthread_sigmask(signal.SIG_UNBLOCK, forwarded); pid, status = os.wait(); os.waitstatus_to_exitcode(status) is negative for a signal.
    ### HINT: for sig in forwarded: signal.signal(sig, forward); signal.pthread_sigmask(signal.SIG_UNBLOCK, forwarded); while True: pid, status = os.wait(); if pid == workload: code = os.waitstatus_to_exitcode(status); return 128 - code if code < 0 else code
    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(workload, signum)
        except ProcessLookupError:
            pass

    for sig in forwarded:
        signal.signal(sig, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, forwarded)
    while True:
        pid, status = os.wait()
        if pid == workload:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code
    ### END SOLUTION


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
    ### BEGIN SOLUTION 2.3: PID 1's set-up: private mounts, the root, /proc, /dev, the rest, into the root, the hostname
    ### HINT: Mounts made before the mount namespace is private can propagate to the host. Everything is mounted under the root's host path, so pivot only after the mounts; the hostname last.
    ### HINT: The calls, in order: rootfs.make_mounts_private(); root = process.mount_root(cfg); rootfs.mount_proc(root); devfs.mount_dev(root); process.mount_the_rest(root, cfg); process.enter_root(root, cfg); syscalls.sethostname(...).
    ### HINT: the same list as code, with `if "uts" in cfg["namespaces"]: syscalls.sethostname(cfg["hostname"])` at the end
    rootfs.make_mounts_private()
    root = process.mount_root(cfg)
    rootfs.mount_proc(root)
    devfs.mount_dev(root)
    process.mount_the_rest(root, cfg)
    process.enter_root(root, cfg)
    if "uts" in cfg["namespaces"]:
        syscalls.sethostname(cfg["hostname"])
    ### END SOLUTION


def write_id_maps(pid: int, uid_maps: list, gid_maps: list, deny_setgroups: bool = True) -> None:
    """Exercise 2.4: the parent's job for a child in a new user namespace: write /proc/PID/uid_map
    and /proc/PID/gid_map. Each map is a list of IdMap (with .inside, .outside, .count); each becomes
    one line "inside outside count". With deny_setgroups, first write "deny" to /proc/PID/setgroups
    (an unprivileged writer must, or the kernel refuses the gid_map)."""
    ### BEGIN SOLUTION 2.4: the uid/gid map lines of a new user namespace
    ### HINT: Three files of the child in /proc, in a fixed order: setgroups first (when asked), then uid_map, then gid_map. Each map file is written once, with all its lines in one write.
    ### HINT: open(f"/proc/{pid}/uid_map", "w").write(text) where text has one f"{m.inside} {m.outside} {m.count}\n" per map; the same for gid_map; "deny" into /proc/PID/setgroups.
    ### HINT: if deny_setgroups: write "deny" to /proc/{pid}/setgroups; write "".join(f"{m.inside} {m.outside} {m.count}\n" for m in uid_maps) to uid_map; the same with gid_maps to gid_map
    if deny_setgroups:
        with open(f"/proc/{pid}/setgroups", "w") as f:
            f.write("deny")
    with open(f"/proc/{pid}/uid_map", "w") as f:
        f.write("".join(f"{m.inside} {m.outside} {m.count}\n" for m in uid_maps))
    with open(f"/proc/{pid}/gid_map", "w") as f:
        f.write("".join(f"{m.inside} {m.outside} {m.count}\n" for m in gid_maps))
    ### END SOLUTION


JOIN_ORDER = ["user", "cgroup", "ipc", "uts", "net", "pid", "mnt"]


def join(pid: int, names: list[str] | None = None) -> list[str]:
    """Exercise 2.5: what `minicontainer exec` does first: join the namespaces of process `pid`.
    `names` (default: JOIN_ORDER) in that order: user first (it grants the rights for the others),
    mnt last (after it the host's /proc/PID files are out of reach). Skip a namespace that we share
    already (same inode of /proc/self/ns/NAME and /proc/PID/ns/NAME: joining our own user namespace
    is an error) or that does not exist. Open every file first, then setns each, and close them all.
    Return the names joined, in order."""
    ### BEGIN SOLUTION 2.5: join a running container's namespaces, for exec
    ### HINT: A namespace is joined through an open file of /proc/PID/ns/; open them all before joining any (after joining mnt, /proc is the container's). Two processes share a namespace when the files' inodes are equal.
    ### HINT: os.stat(f"/proc/{pid}/ns/{name}").st_ino vs os.stat(f"/proc/self/ns/{name}").st_ino; fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC); syscalls.setns(fd, syscalls.NAMESPACE_FLAGS[name]); os.close(fd) in a finally.
    ### HINT: fds = [(name, os.open(...)) for each name in names or JOIN_ORDER that exists and differs]; try: for name, fd in fds: syscalls.setns(fd, syscalls.NAMESPACE_FLAGS[name]) finally: close them; return [name for name, _ in fds]
    fds = []
    try:
        for name in names or JOIN_ORDER:
            path = f"/proc/{pid}/ns/{name}"
            if not os.path.exists(path) or os.stat(path).st_ino == os.stat(f"/proc/self/ns/{name}").st_ino:
                continue
            fds.append((name, os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
        for name, fd in fds:
            syscalls.setns(fd, syscalls.NAMESPACE_FLAGS[name])
    finally:
        for _, fd in fds:
            os.close(fd)
    return [name for name, _ in fds]
    ### END SOLUTION
