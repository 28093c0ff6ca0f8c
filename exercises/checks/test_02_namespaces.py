"""Checks for lesson 02 (namespaces). Run them with `make check EX=02`, or `check("2.3")` in the notebook.

The parts change the process that calls them (namespaces, mounts, signal handlers): each runs in a
forked child. The milestone runs your runtime: `minicontainer --yours=02 run ...`, `exec`, `stop`.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import time

import pytest

from minicontainer import syscalls
from minicontainer.namespaces import IdMap
from minicontainer.process import FORWARDED


@pytest.mark.exercise("2.1")
def test_clone_flags(ex):
    got = ex.clone_flags(["uts", "pid"])
    assert got == syscalls.CLONE_NEWUTS | syscalls.CLONE_NEWPID, f"clone_flags(['uts', 'pid']) returned {got!r}"
    every = ex.clone_flags(["mnt", "uts", "ipc", "pid", "net", "user", "cgroup"])
    assert every == 0x7E020000, f"clone_flags(all seven) returned {hex(every)}; expected 0x7e020000"
    assert ex.clone_flags([]) == 0, "clone_flags([]) must be 0: no new namespace"


@pytest.mark.exercise("2.1")
def test_clone_flags_refuses_unknown_names(ex):
    with pytest.raises(ValueError):
        ex.clone_flags(["uts", "time-travel"])
        pytest.fail("clone_flags(['uts', 'time-travel']) did not raise ValueError")


# --- 2.2 PID 1's loop ---------------------------------------------------------------------------

def _orphan_then_exit(code: int | None, delay: float) -> int:
    """Fork a workload that leaves an orphan (which exits soon), then exits with `code` (or is SIGKILLed).

    The workload exits only after the orphan has: it waits for the end of a pipe the orphan holds (the
    orphan's exit closes it), then `delay` more."""
    gone_r, gone_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
        middle = os.fork()
        if middle == 0:
            if os.fork() == 0:
                time.sleep(delay / 4)
                os._exit(0)  # the orphan: its parent has gone, so it is re-parented to "PID 1"
            os._exit(0)
        os.close(gone_w)
        os.waitpid(middle, 0)
        os.read(gone_r, 1)  # EOF: the orphan has exited (a zombie for "PID 1" to reap)
        time.sleep(delay)
        if code is None:
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(code)
    os.close(gone_r)
    os.close(gone_w)
    return pid


def _children() -> list[str]:
    return open(f"/proc/self/task/{os.getpid()}/children").read().split()


@pytest.mark.exercise("2.2")
@pytest.mark.parametrize("code, expected", [(0, 0), (3, 3), (None, 137)])
def test_init_loop_returns_the_workloads_status_and_reaps_orphans(ex, in_child, code, expected):
    def as_pid1():
        syscalls.prctl(syscalls.PR_SET_CHILD_SUBREAPER, 1)  # orphans come to us, as to a PID 1
        signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)  # as the runtime's init does before forking
        workload = _orphan_then_exit(code, 0.2)
        return ex.init_loop(workload, FORWARDED), _children()

    got, left = in_child(as_pid1)
    what = f"exited {code}" if code is not None else "was SIGKILLed"
    assert got == expected, f"init_loop() returned {got!r} for a workload that {what}; expected {expected}"
    assert not left, f"children left unreaped after init_loop(): {left} (reap every child that exits, not only the workload)"


@pytest.mark.exercise("2.2")
def test_init_loop_passes_sigterm_on_to_the_workload(ex, in_child):
    def as_pid1():
        signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
        workload = os.fork()
        if workload == 0:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
            time.sleep(3)  # SIGTERM (default action) ends this sooner, if PID 1 passes it on
            os._exit(0)
        me = os.getpid()
        if os.fork() == 0:  # someone (`minicontainer stop`) signals PID 1, early: it must not be lost
            os.kill(me, signal.SIGTERM)
            os._exit(0)
        return ex.init_loop(workload, FORWARDED)

    got = in_child(as_pid1)
    assert got == 128 + signal.SIGTERM, \
        f"PID 1 got SIGTERM and init_loop() returned {got}; expected {128 + signal.SIGTERM} (the workload killed by " \
        "the SIGTERM passed on to it): install a handler that forwards it, then unblock the signals"


# --- 2.3 PID 1's set-up ---------------------------------------------------------------------------

def _cfg(root) -> dict:
    """What the runtime gives PID 1 for `run --rootfs ROOT` (the parts set_up and its helpers read)."""
    return {"rootfs": str(root), "namespaces": ["mnt", "uts", "ipc", "pid"], "hostname": "mc-check-box",
            "etc_files": {}, "binds": [], "tmpfs": [], "security": {}, "layers": None, "read_only": False,
            "userns": False, "console": "", "no_pivot": False}


@pytest.mark.exercise("2.3")
def test_set_up_builds_the_containers_view(ex, in_child, fresh_rootfs):
    host_name = socket.gethostname()

    def pid1():
        ex.set_up(_cfg(fresh_rootfs))
        null = os.stat("/dev/null")
        return (sorted(os.listdir("/")), sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
                stat.S_ISCHR(null.st_mode) and os.major(null.st_rdev) == 1 and os.minor(null.st_rdev) == 3,
                socket.gethostname(), os.getcwd())

    def container():
        syscalls.unshare(syscalls.CLONE_NEWNS | syscalls.CLONE_NEWUTS | syscalls.CLONE_NEWIPC | syscalls.CLONE_NEWPID)
        return in_child(pid1)  # the first child in the new PID namespace is its PID 1

    entries, pids, dev_null, name, cwd = in_child(container)
    assert "bin" in entries and "linuxrc" in entries, f"after set_up, / lists {entries}; expected the busybox rootfs"
    assert pids == [1], f"after set_up, /proc lists PIDs {pids[:10]}; expected only [1]: mount /proc from inside the new PID namespace"
    assert dev_null, "after set_up, /dev/null is not the character device 1:3: mount /dev"
    assert name == "mc-check-box", f"after set_up the hostname is {name!r}; expected cfg['hostname']"
    assert cwd == "/", f"after set_up the current directory is {cwd!r}"
    assert socket.gethostname() == host_name, "the host's hostname changed!"


@pytest.mark.exercise("2.3")
def test_set_up_leaves_the_hosts_mount_table_alone(ex, in_child, fresh_rootfs):
    """On a systemd host "/" is a *shared* mount: a set-up that does not make its mounts private first
    mounts them on the host too. Here the host is simulated: a mount namespace whose "/" is shared."""
    def pid1():
        ex.set_up(_cfg(fresh_rootfs))
        return True

    def container():
        syscalls.unshare(syscalls.CLONE_NEWNS | syscalls.CLONE_NEWUTS | syscalls.CLONE_NEWPID)
        return in_child(pid1)

    def host():
        syscalls.unshare(syscalls.CLONE_NEWNS)
        syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_SHARED)
        in_child(container)
        return [line.split()[4] for line in open("/proc/self/mountinfo") if str(fresh_rootfs) in line]

    leaked = in_child(host)
    assert not leaked, f"after the container's set-up, the host has new mounts: {leaked} (make every mount private first)"


# --- 2.4 uid/gid maps ---------------------------------------------------------------------------

def _with_new_user_namespace(fn):
    """Fork a child that enters a new user namespace and waits; call fn(its pid); return fn's result
    and what the child then reads as its uid_map, gid_map and setgroups."""
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        syscalls.unshare(syscalls.CLONE_NEWUSER)
        os.write(ready_w, b"x")
        os.read(go_r, 1)
        text = "|".join(open(f"/proc/self/{n}").read() for n in ("uid_map", "gid_map", "setgroups"))
        os.write(out_w, text.encode())
        os._exit(0)
    os.read(ready_r, 1)
    try:
        result = fn(pid)
    finally:
        os.write(go_w, b"x")
        os.close(out_w)
        text = os.read(out_r, 4096).decode()
        os.waitpid(pid, 0)
    uid_map, gid_map, setgroups = text.split("|")
    return result, [line.split() for line in uid_map.splitlines()], [line.split() for line in gid_map.splitlines()], setgroups.strip()


@pytest.mark.exercise("2.4")
def test_write_id_maps_maps_root_inside_to_a_user_outside(ex, in_child):
    def parent():
        return _with_new_user_namespace(lambda pid: ex.write_id_maps(pid, [IdMap(0, 1000)], [IdMap(0, 1000)]))

    _, uid_map, gid_map, setgroups = in_child(parent)
    assert uid_map == [["0", "1000", "1"]], f"the child's uid_map reads {uid_map}; expected one line '0 1000 1'"
    assert gid_map == [["0", "1000", "1"]], f"the child's gid_map reads {gid_map}; expected one line '0 1000 1'"
    assert setgroups == "deny", f"/proc/PID/setgroups reads {setgroups!r}; write 'deny' first (deny_setgroups=True)"


@pytest.mark.exercise("2.4")
def test_write_id_maps_writes_every_line(ex, in_child):
    maps = [IdMap(0, 100000, 1000), IdMap(1000, 0, 1)]

    def parent():
        return _with_new_user_namespace(lambda pid: ex.write_id_maps(pid, maps, maps, deny_setgroups=False))

    _, uid_map, gid_map, setgroups = in_child(parent)
    want = [["0", "100000", "1000"], ["1000", "0", "1"]]
    assert uid_map == want and gid_map == want, f"with two maps the child reads uid_map {uid_map}, gid_map {gid_map}; expected {want}"
    assert setgroups == "allow", "with deny_setgroups=False, /proc/PID/setgroups must stay 'allow'"


# --- 2.5 joining ---------------------------------------------------------------------------------

@pytest.mark.exercise("2.5")
def test_join_enters_the_other_namespaces_in_order(ex, in_child):
    other = subprocess.Popen(["unshare", "--uts", "--ipc", "--net", "sh", "-c",
                              "hostname mc-check-other; echo ready; exec sleep 30"], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "ready"
        theirs = {n: os.stat(f"/proc/{other.pid}/ns/{n}").st_ino for n in ("uts", "ipc", "net")}

        def inside():
            joined = ex.join(other.pid)
            return joined, socket.gethostname(), {n: os.stat(f"/proc/self/ns/{n}").st_ino for n in theirs}

        joined, name, mine = in_child(inside)
    finally:
        other.kill()
        other.wait()
    assert joined == ["ipc", "uts", "net"], f"join(pid) returned {joined!r}; expected ['ipc', 'uts', 'net'] (the ones it does not share, in JOIN_ORDER)"
    assert name == "mc-check-other", f"after join(pid) the hostname is {name!r}; expected 'mc-check-other'"
    assert mine == theirs, "after join(pid) this process is not in the other process's namespaces"


@pytest.mark.exercise("2.5")
def test_join_only_the_named_ones(ex, in_child):
    other = subprocess.Popen(["unshare", "--uts", "--net", "sh", "-c", "hostname mc-check-only; echo ready; exec sleep 30"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "ready"
        net = os.stat("/proc/self/ns/net").st_ino

        def inside():
            return ex.join(other.pid, ["uts"]), socket.gethostname(), os.stat("/proc/self/ns/net").st_ino

        joined, name, mine = in_child(inside)
    finally:
        other.kill()
        other.wait()
    assert joined == ["uts"] and name == "mc-check-only", f"join(pid, ['uts']) returned {joined!r}, hostname {name!r}"
    assert mine == net, "join(pid, ['uts']) also joined the network namespace"


# --- the milestone: your runtime -----------------------------------------------------------------

def _host_mounts() -> list[str]:
    dirs = [os.environ.get("MC_RUN_DIR", "/run/minicontainer"), os.environ.get("MC_LIB_DIR", "/var/lib/minicontainer")]
    return sorted(line.split()[4] for line in open("/proc/self/mountinfo") if any(d in line for d in dirs))


@pytest.mark.milestone("your runtime ran an isolated container: PID 1, its own hostname, no host process; exec joined it")
def test_milestone_your_runtime_isolates_a_container(yours):
    before = _host_mounts()
    out = yours("run", "--rm", "--init", "--hostname", "box", "busybox", "sh", "-c",
                "echo $$; hostname; (sleep 0.1 &); sleep 0.6; ps -o pid,stat,comm; true").stdout.splitlines()
    assert out[:2] == ["2", "box"], f"`echo $$; hostname` in your container printed {out[:2]}; expected ['2', 'box'] (with --init, your init is PID 1)"
    table = [line.split() for line in out[3:]]
    zombies = [" ".join(row) for row in table if row[1].startswith("Z")]
    assert not zombies, f"ps in your container shows a zombie {zombies}: your PID 1 (2.2) does not reap orphans"
    pids = sorted(int(row[0]) for row in table)
    only_ours = pids[:2] == [1, 2] and len(pids) == 3
    assert only_ours, f"ps in your container lists PIDs {pids}: expected 1 (init), 2 (sh) and ps, no host process"
    assert yours("run", "--rm", "busybox", "sh", "-c", "echo $$").stdout.strip() == "1", \
        "without --init the workload is not PID 1 (Docker's default)"
    code = yours("run", "--rm", "--init", "busybox", "sh", "-c", "exit 3", ok=False).returncode
    assert code == 3, f"`run ... sh -c 'exit 3'` exited {code} with your runtime; expected 3 (your PID 1 returns the status)"
    rootfs = os.path.join(os.environ.get("MC_LIB_DIR", "/var/lib/minicontainer"), "rootfs", "busybox")
    uid_map = yours("run", "--rm", "--userns", "private", "--rootfs", rootfs, "cat", "/proc/self/uid_map").stdout.split()
    assert uid_map == ["0", "0", "1"], f"in a user namespace your container reads uid_map {uid_map}; expected '0 0 1' (2.4)"
    assert _host_mounts() == before, "the host's mount table changed after your containers"

    name = f"mc-m02-{os.getpid()}"
    yours("run", "-d", "--init", "--name", name, "--hostname", "web", "busybox", "sh", "-c",
          "trap 'exit 7' TERM; while :; do sleep 0.1; done")
    try:
        seen = yours("exec", name, "sh", "-c", "hostname; ps -o pid,comm").stdout.split()
        assert seen[0] == "web" and "mc-init" in seen, f"`exec {name} hostname; ps` printed {seen}: did exec join the container?"
        yours("stop", name)
        code = yours("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip()
        assert code == "7", \
            f"after `stop`, the container exited {code}; expected 7 (its TERM trap): your PID 1 must pass SIGTERM on"
    finally:
        yours("rm", "-f", name, ok=False)
