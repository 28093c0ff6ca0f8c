"""`run -d`, `create` and `start`: a container whose monitor is a process of its own (lessons 02 and 09).

A foreground `run` is itself the container's monitor: it waits for PID 1 and records the exit
code. With -d the command must return at once, so it starts a monitor in a session of its own
(as Docker's containerd-shim or podman's conmon), the same way it would start a helper (spawn.fresh:
a fork, or a fresh `python -I -S` from a threaded caller). The monitor starts the container with the
same supervise() as a foreground run, writes the workload's output to container.log, tells the
waiting command "started" (or the error, as one JSON line: spawn.send_error), and stays to record
the exit, apply the restart policy and clean up.

`create` is the same with `hold`: the monitor stops after monitor.prepare() (runc's create: the
namespaces, cgroup and network exist, PID 1 waits for "go"), answers "created", and waits on the
container's START_FIFO. `start` of such a container writes "start" there (request_start) and waits
until the record says how the start went; `rm` writes "stop". `start` of a container that has no
monitor (it exited, or its monitor is gone) starts a new monitor from the saved configuration.
"""

from __future__ import annotations

import os
import time

from . import spawn, state
from .errors import ContainerError
from .monitor import supervise
from .paths import Paths
from .proc import alive
from .state import CREATED, LOG_FILE, START_FIFO, Container, load, state_dir

# The monitor lives as long as its container: a fresh `python -I -S` that imports only what it needs
# (about 5 MiB each instead of 9 with everything the command imported: bench/bench_memory.py), for
# some 20 ms more on `run -d`. False: a fork of the command (a test that patches this process uses it).
FRESH_MONITOR = True


def start_detached(c: Container, cfg: dict, paths: Paths, hold: bool = False) -> Container:
    """-d: a monitor process, in its own session, starts and waits for the container; we return its state.

    `hold` (`create`): return once PID 1 exists and waits for `start` (request_start)."""
    ready_r, ready_w = os.pipe()
    job = {"lib_dir": paths.lib_root, "run_dir": paths.run_root, "id": c.id, "ready_fd": ready_w, "helper": cfg,
           "hold": hold}
    try:
        try:
            spawn.fresh(monitor, job, keep=(ready_w,), close=(ready_r,), interpreter=FRESH_MONITOR)
        except PermissionError:  # an interpreter this user may not start (seen rootless): a fork, then
            spawn.fresh(monitor, job, keep=(ready_w,), close=(ready_r,))
    finally:
        os.close(ready_w)
    message = spawn.read_line(ready_r)
    os.close(ready_r)
    if message != ("created" if hold else "started"):
        raise spawn.child_error(message, "start the container")
    try:
        return load(paths, c.id)
    except FileNotFoundError:  # --rm and the workload already ended: the monitor removed the state
        return state.transition(c, "exit") if c.status != "exited" else c


def monitor(job: dict) -> int:
    """The detached monitor (a process of its own): supervise the container, report to the waiting command."""
    ready_w = job["ready_fd"]
    try:
        if os.getsid(0) != os.getpid():  # a session of its own: the terminal of `run -d` is not ours
            os.setsid()
        paths = Paths(job["lib_dir"], job["run_dir"])
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        log = os.path.join(state_dir(paths, job["id"]), LOG_FILE)
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        supervise(load(paths, job["id"]), job["helper"], paths, (null, out, out), notify=ready_w,
                  hold=job.get("hold", False), log_fd=None if job["helper"]["tty"] else out)
    except BaseException as exc:  # noqa: BLE001 - report anything to the waiting command (if it still waits:
        spawn.send_error(ready_w, "start the container", exc)  # once told, it reads no more)
    finally:
        os.close(ready_w)
    return 0


def request_start(paths: Paths, c: Container, timeout: float = 60.0) -> Container:
    """`start` of a held container: write "start" on its START_FIFO; wait until the record leaves "created".

    Raises the start's error (a workload that cannot run: exit_status 126/127, as Docker's)."""
    if not send_to_monitor(paths, c, "start"):
        raise ContainerError(f"container {c.short_id} has no monitor waiting for start", step="start",
                             fix="start it again: `minicontainer start` begins a new monitor")
    deadline = time.monotonic() + timeout
    while True:
        gone = not alive(c.monitor_pid, c.monitor_start)  # (asked before reading: what the monitor wrote
        try:                                                # before it exited is in the record read now)
            now = load(paths, c.id)
        except FileNotFoundError:  # --rm, and the workload ended already
            return state.transition(c, "start")
        if now.status != CREATED or gone or time.monotonic() > deadline:
            break
        time.sleep(0.002)
    if now.status == CREATED or (now.status == "exited" and now.error):
        if now.error:  # the start's own error, as it was recorded (step, path and fix included)
            raise ContainerError(now.error)
        raise ContainerError("the container's monitor did not start it", step="start the container",
                             fix="see `minicontainer logs` and `minicontainer inspect` for what happened")
    return now


def send_to_monitor(paths: Paths, c: Container, line: str) -> bool:
    """One line to the monitor holding a created container. False when no monitor is waiting there."""
    try:
        fd = os.open(os.path.join(state_dir(paths, c.id), START_FIFO), os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:  # no such FIFO, or nobody reads it (ENXIO)
        return False
    try:
        spawn.send(fd, line)
    finally:
        os.close(fd)
    return True
