"""Checks for lesson 02 (namespaces). Run them with `make check EX=02`, or `check("2.3")` in the notebook."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import pytest

from minicontainer import syscalls


@pytest.mark.exercise("2.1")
def test_new_hostname_is_invisible_to_the_host(ex, in_child):
    host = socket.gethostname()
    host_uts = os.stat("/proc/self/ns/uts").st_ino

    def inside():
        ex.new_hostname("mc-check-box")
        return socket.gethostname(), os.stat("/proc/self/ns/uts").st_ino

    name, uts = in_child(inside)
    assert name == "mc-check-box", f"after new_hostname('mc-check-box') the hostname is {name!r}"
    assert uts != host_uts, "the process is still in the host's UTS namespace: unshare(CLONE_NEWUTS) first"
    assert socket.gethostname() == host, "the host's hostname changed! set it only in a new UTS namespace"


@pytest.mark.exercise("2.2")
def test_mount_proc_shows_only_the_new_pid_namespace(ex, in_child, tmp_path):
    root = str(tmp_path)
    os.mkdir(tmp_path / "proc")

    def pid1_lists_proc():
        ex.mount_proc(root)
        pids = sorted(int(p) for p in os.listdir(f"{root}/proc") if p.isdigit())
        with open(f"{root}/proc/self/mountinfo") as f:
            options = [line.split()[5] for line in f if line.split()[4] == f"{root}/proc"]
        return os.getpid(), pids, options

    def in_new_namespaces():
        syscalls.unshare(syscalls.CLONE_NEWNS | syscalls.CLONE_NEWPID)
        syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
        return in_child(pid1_lists_proc)  # the first child in the new PID namespace is PID 1

    mypid, pids, options = in_child(in_new_namespaces)
    assert mypid == 1
    assert pids == [1], f"the new /proc lists PIDs {pids[:10]}; expected only [1] (a procfs of the new PID namespace)"
    assert options, "nothing is mounted on rootfs/proc"
    for flag in ("nosuid", "nodev", "noexec"):
        assert flag in options[0], f"/proc is mounted with {options[0]!r}; expected {flag}"


def _orphan_then_exit(code: int | None, delay: float) -> int:
    """Fork a workload that leaves an orphan (which exits soon), then exits with `code` (or is SIGKILLed).

    The workload exits only after the orphan has: it waits for the end of a pipe the orphan holds (the
    orphan's exit closes it), then `delay` more. A fixed sleep alone let a slow orphan on a loaded machine
    outlive the workload, and reap() was then blamed for a child that was still running."""
    gone_r, gone_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        middle = os.fork()
        if middle == 0:
            if os.fork() == 0:
                time.sleep(delay / 4)
                os._exit(0)  # the orphan: its parent has gone, so it is re-parented to "PID 1"
            os._exit(0)
        os.close(gone_w)  # now only the orphan holds the write end
        os.waitpid(middle, 0)
        os.read(gone_r, 1)  # EOF: the orphan has exited (it is a zombie for "PID 1" to reap, or reaped)
        time.sleep(delay)
        if code is None:
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(code)
    os.close(gone_r)
    os.close(gone_w)
    return pid


@pytest.mark.exercise("2.3")
@pytest.mark.parametrize("code, expected", [(0, 0), (3, 3), (None, 137)])
def test_reap_returns_the_workloads_status_and_reaps_orphans(ex, in_child, code, expected):
    def as_pid1():
        syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)  # orphans come to us, as to a PID 1
        workload = _orphan_then_exit(code, 0.2)
        got = ex.reap(workload)
        zombies = []
        for child in open(f"/proc/self/task/{os.getpid()}/children").read().split():
            zombies.append(child)
        return got, zombies

    got, zombies = in_child(as_pid1)
    assert got == expected, f"reap() returned {got!r} for a workload that {'exited ' + str(code) if code is not None else 'was SIGKILLed'}; expected {expected}"
    assert not zombies, f"children left unreaped after reap(): {zombies} (reap every child that exits, not only the workload)"


@pytest.mark.exercise("2.4")
def test_join_namespace_sees_the_other_hostname(ex, in_child):
    other = subprocess.Popen(["unshare", "--uts", "sh", "-c", "hostname mc-check-other; echo ready; exec sleep 30"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "ready"

        def inside():
            ex.join_namespace(other.pid, "uts")
            return socket.gethostname()

        name = in_child(inside)
    finally:
        other.kill()
        other.wait()
    assert name == "mc-check-other", f"after join_namespace(pid, 'uts') the hostname is {name!r}; expected 'mc-check-other'"


@pytest.mark.exercise("2.5")
def test_namespace_flags(ex):
    got = ex.namespace_flags(["uts", "pid"])
    assert got == syscalls.CLONE_NEWUTS | syscalls.CLONE_NEWPID, f"namespace_flags(['uts', 'pid']) returned {got!r}"
    every = ex.namespace_flags(["mnt", "uts", "ipc", "pid", "net", "user", "cgroup"])
    assert every == 0x7E020000, f"namespace_flags(all seven) returned {hex(every)}; expected 0x7e020000"
    assert ex.namespace_flags([]) == 0
    with pytest.raises(ValueError):
        ex.namespace_flags(["time-travel"])
