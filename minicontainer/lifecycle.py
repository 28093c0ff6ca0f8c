"""The lifecycle commands after `run`: stop, kill, rm, exec, logs (lesson 02).

A running container is a PID 1 (recorded with its start time in state.json, so a re-used PID is
never mistaken for it) and a monitor waiting for it (monitor.py). `stop` sends SIGTERM and, after a
timeout, SIGKILL (PID 1 of a PID namespace takes with it every process of the namespace); `rm`
releases what the record holds (monitor.teardown) and deletes it; `exec` starts a process the same
way `run` starts PID 1 (spawn.py), with process.exec_helper, which joins the container's namespaces
with setns() and its cgroup.
"""

from __future__ import annotations

import os
import time

import _signal as signal  # `signal` without its enum classes: saves ~4 ms a run (bench/bench_start_tricks.py)

from . import spawn
from .errors import ContainerError, UsageError
from .monitor import collect_crashed, forward_signals, kill_container, teardown
from .paths import Paths
from .proc import alive
from .state import EXITED, LOG_FILE, SECCOMP_FILE, Container, find, is_running, load, remove, state_dir, transition

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path


def wait_exited(paths: Paths, c: Container, timeout: float | None = None) -> Container:
    """Wait until the container's monitor has recorded its exit (or it is gone with --rm)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            c = load(paths, c.id)
        except FileNotFoundError:  # --rm: the monitor removed the record
            return transition(c, "exit")
        if c.status == EXITED:
            return c
        if not alive(c.monitor_pid, c.monitor_start):
            collect_crashed(paths)
        if deadline is not None and time.monotonic() > deadline:
            return c
        time.sleep(0.01)


def kill(paths: Paths, ref: str, sig: int = signal.SIGKILL) -> Container:
    """`kill -s SIG`: send a signal to the container's PID 1 (which passes it on to the workload)."""
    c = find(paths, ref)
    if not is_running(c):
        raise ContainerError(f"container {ref} is not running", step="kill", fix="start it with `minicontainer run`")
    os.kill(c.pid, sig)
    return c


def stop(paths: Paths, ref: str, timeout: float = 10.0) -> Container:
    """SIGTERM, then SIGKILL after `timeout` seconds (Docker's `stop -t`)."""
    c = find(paths, ref)
    if is_running(c):
        try:
            os.kill(c.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        c = wait_exited(paths, c, timeout)
        if c.status != EXITED:
            kill_container(c)
            c = wait_exited(paths, c, 5.0)
    return c


def rm(paths: Paths, ref: str, force: bool = False) -> Container:
    """Remove a stopped container's state (-f: kill it first)."""
    c = find(paths, ref)
    if is_running(c):
        if not force:
            raise ContainerError(f"You cannot remove a running container {c.id}. Stop the container before "
                                 "attempting removal or force remove", step="rm", fix="minicontainer rm -f")
        kill_container(c)
        c = wait_exited(paths, c, 5.0)
    teardown(c, paths)
    remove(paths, c)
    return c


def logs_path(paths: Paths, c: Container) -> Path:
    from pathlib import Path
    return Path(state_dir(paths, c.id), LOG_FILE)


def _program(paths: Paths, c) -> str:
    """[security] The container's seccomp program (hex), saved beside its state; "" without a filter."""
    try:
        with open(os.path.join(state_dir(paths, c.id), SECCOMP_FILE)) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def exec_in(paths: Paths, ref: str, command: list[str], *, env: list[str] | None = None, workdir: str = "",
            user: str = "", tty: bool = False, interactive: bool = False) -> int:
    """`exec`: run another process in a running container's namespaces. Returns its exit status."""
    from . import process
    c = find(paths, ref)
    if not is_running(c):
        raise ContainerError(f"container {c.id} is not running", step="exec",
                             fix="exec works only in a running container (see `minicontainer ps`)")
    if not command:
        raise UsageError("requires at least a command", step="parse arguments", fix="minicontainer exec CONTAINER CMD")
    base = dict(e.split("=", 1) for e in c.spec.get("env_resolved", []) if "=" in e)
    extra = dict(e.split("=", 1) for e in process.environment(env or [], tty, base.get("HOSTNAME", "")))
    cfg = {"pid": c.pid, "argv": command, "env": [f"{k}={v}" for k, v in {**base, **extra}.items()],
           "workdir": workdir or c.spec.get("workdir") or "/", "user": user or c.spec.get("user", ""),
           "tty": tty, "userns": "user" in _namespaces_of(c), "init": False}
    sec = c.spec.get("security")
    if sec:  # [security] lesson 08: an exec'd process is confined like the container's own (Docker's too)
        cfg["security"] = dict(sec, program=_program(paths, c))
    if c.spec.get("cgroup") or c.spec.get("resources"):  # [cgroups] the exec helper joins the container's group itself
        from . import cgroups
        group = cgroups.group(c.id)
        if group.exists():
            cfg["cgroup_files"] = group.join_files()
    stdio = (0 if interactive or tty else os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC), 1, 2)
    term = None
    if tty:
        from .terminal import Terminal
        term = Terminal.open(stdio)
        stdio = (term.slave, term.slave, term.slave)
    try:
        # the same start as `run`'s PID 1 (spawn.py): a fork, or a fresh `python -I -S` from a threaded
        # caller (a notebook): setns() of the mount and user namespaces, like unshare(), needs one thread
        helper = spawn.start(process.exec_helper, cfg, stdio)
        try:
            if term:
                os.close(term.slave)
            pid = helper.child_pid("exec")
            helper.go()
            helper.started("exec")
            restore = forward_signals(pid)
            try:
                if term:
                    term.pump()
                return helper.wait()
            finally:
                restore()
        finally:
            helper.close()
    finally:
        if term:
            term.close()


def _namespaces_of(c: Container) -> list[str]:
    from .namespaces import inodes
    mine, theirs = inodes("self"), inodes(c.pid)
    return [n for n in theirs if theirs[n] != mine.get(n)]
