"""The lifecycle commands after `run`: start, restart, stop, kill, rm, exec, logs (lessons 02 and 09).

A running container is a PID 1 (recorded with its start time in state.json, so a re-used PID is
never mistaken for it) and a monitor waiting for it (monitor.py). `stop` sends SIGTERM and, after a
timeout, SIGKILL (PID 1 of a PID namespace takes with it every process of the namespace); `rm`
releases what the record holds (monitor.teardown) and deletes it; `exec` starts a process the same
way `run` starts PID 1 (spawn.py), with process.exec_helper, which joins the container's namespaces
with setns() and its cgroup.

Lesson 09: `start` lets a created container run (its monitor holds PID 1: detach.request_start) or
starts an exited one again with a new monitor, from the configuration create() saved; `restart` is
`stop` then `start`. `stop` and `kill` leave a marker (state.mark_stopped) so that the container's
restart policy does not bring it back, as Docker's `stop` cancels its restart manager.
"""

from __future__ import annotations

import os
import time

import _signal as signal  # `signal` without its enum classes: saves ~4 ms a run (bench/bench_start_tricks.py)

from . import spawn, state
from .errors import ContainerError, UsageError
from .monitor import collect_crashed, forward_signals, kill_container, teardown
from .paths import Paths
from .proc import alive
from .state import (CREATED, EXITED, LOG_FILE, RESTARTING, SECCOMP_FILE, Container, clear_stopped, find, has_monitor,
                    is_held, is_running, load, load_config, mark_stopped, remove, save, state_dir)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path


def wait_exited(paths: Paths, c: Container, timeout: float | None = None) -> Container:
    """Wait until the container's monitor has recorded its exit (or it is gone with --rm)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            c = load(paths, c.id)
        except FileNotFoundError:  # --rm: the monitor removed the record (or `rm -f` did)
            return c if c.status == EXITED else state.transition(c, "exit")
        if c.status == EXITED:
            return c
        if not alive(c.monitor_pid, c.monitor_start):
            collect_crashed(paths)
        if deadline is not None and time.monotonic() > deadline:
            return c
        time.sleep(0.01)


class AlreadyRunning(ContainerError):
    """`start` of a running container: not an error for Docker (its API answers 304 Not Modified)."""


def start(paths: Paths, ref: str) -> Container:
    """`start` (lesson 09): run a created container, or an exited one again (a new PID 1, the same
    container: its files, name and id). Returns the record once the workload runs."""
    c = find(paths, ref)
    if is_running(c) or (c.status == RESTARTING and has_monitor(c)):
        raise AlreadyRunning("container is already running", step="start")
    clear_stopped(paths, c)  # the restart policy applies again
    if is_held(c):
        from .detach import request_start
        return request_start(paths, c)
    if c.status == CREATED:  # its monitor died: collect_crashed makes it exited; start from there
        collect_crashed(paths)
        c = load(paths, c.id)
    from .detach import start_detached
    c.restart_count, c.error = 0, ""
    save(paths, c)
    return start_detached(c, load_config(paths, c), paths)


def restart(paths: Paths, ref: str, timeout: float = 10.0) -> Container:
    """`restart`: `stop` (SIGTERM, SIGKILL after `timeout`), then `start`."""
    c = stop(paths, ref, timeout)
    return start(paths, c.id)


def kill(paths: Paths, ref: str, sig: int = signal.SIGKILL) -> Container:
    """`kill -s SIG`: send a signal to the container's PID 1 (with --init, mc-init passes it on to the workload).

    SIGKILL and SIGTERM end the container: its restart policy does not bring it back (Docker's too)."""
    c = find(paths, ref)
    if c.status == RESTARTING and has_monitor(c):
        mark_stopped(paths, c)  # it waits to restart: the marker is enough
        return c
    if not is_running(c):
        raise ContainerError(f"container {c.id} is not running", step="kill",
                             fix="see `minicontainer ps -a`; start it with `minicontainer start`")
    if sig in (signal.SIGKILL, signal.SIGTERM):
        mark_stopped(paths, c)
    os.kill(c.pid, sig)
    return c


def stop(paths: Paths, ref: str, timeout: float = 10.0) -> Container:
    """SIGTERM, then SIGKILL after `timeout` seconds (Docker's `stop -t`). A created container stays created."""
    c = find(paths, ref)
    if c.status == RESTARTING or is_running(c):
        mark_stopped(paths, c)  # no restart policy after a stop
    if is_running(c):
        try:
            os.kill(c.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        c = wait_exited(paths, c, timeout)
        if c.status != EXITED:
            kill_container(c)
            c = wait_exited(paths, c, 5.0)
    elif c.status == RESTARTING:
        c = wait_exited(paths, c, 5.0)
    return c


def rm(paths: Paths, ref: str, force: bool = False, volumes: bool = False) -> Container:
    """Remove a stopped (or created) container's state (-f: kill it first; -v: its anonymous volumes too)."""
    c = find(paths, ref)
    if is_running(c) or (c.status == RESTARTING and has_monitor(c)):
        if not force:
            raise ContainerError(f"You cannot remove a running container {c.id}. Stop the container before "
                                 "attempting removal or force remove", step="rm", fix="minicontainer rm -f")
        mark_stopped(paths, c)
        kill_container(c)
        c = wait_exited(paths, c, 5.0)
    elif is_held(c):  # created: its monitor holds PID 1 until `start`; tell it to let go
        from .detach import send_to_monitor
        if not send_to_monitor(paths, c, "stop"):
            kill_container(c)
        c = wait_exited(paths, c, 5.0)
    teardown(c, paths)
    remove(paths, c)
    if volumes and c.spec.get("anonymous_volumes"):
        from .volumes import remove_anonymous
        remove_anonymous(paths, c.spec["anonymous_volumes"])
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
    from . import process, workload
    c = find(paths, ref)
    if not is_running(c):
        raise ContainerError(f"container {c.id} is not running", step="exec",
                             fix="exec works only in a running container (see `minicontainer ps`)")
    if not command:
        raise UsageError("requires at least a command", step="parse arguments", fix="minicontainer exec CONTAINER CMD")
    base = dict(e.split("=", 1) for e in c.spec.get("env_resolved", []) if "=" in e)
    extra = dict(e.split("=", 1) for e in workload.environment(env or [], tty, base.get("HOSTNAME", "")))
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
            try:
                pid = helper.child_pid("exec")
                helper.go()
                helper.started("exec")
            except ContainerError as exc:  # Docker: an exec that fails to start exits 126, or 127
                if getattr(exc, "exit_status", 125) == 125:  # for a command that is not found
                    exc.exit_status = 126
                raise
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
