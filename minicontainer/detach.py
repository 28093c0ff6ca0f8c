"""`run -d`: a detached container and the monitor process that waits for it (lesson 02).

A foreground `run` is itself the container's monitor: it waits for PID 1 and records the exit
code. With -d the command must return at once, so it starts a monitor in a session of its own
(as Docker's containerd-shim or podman's conmon), the same way it would start a helper (spawn.fresh:
a fork, or a fresh `python -I -S` from a threaded caller). The monitor starts the container with the
same supervise() as a foreground run, writes the workload's output to container.log, tells the
waiting `run -d` "started" (or the error, as one JSON line: spawn.send_error), and stays to record
the exit and clean up.
"""

from __future__ import annotations

import os

from . import spawn
from .monitor import supervise
from .paths import Paths
from .state import LOG_FILE, Container, load, state_dir, transition


def start_detached(c: Container, cfg: dict, paths: Paths) -> Container:
    """-d: a monitor process, in its own session, starts and waits for the container; we return its state."""
    ready_r, ready_w = os.pipe()
    job = {"lib_dir": paths.lib_root, "run_dir": paths.run_root, "id": c.id, "ready_fd": ready_w, "helper": cfg}
    try:
        spawn.fresh(monitor, job, keep=(ready_w,), close=(ready_r,))
    finally:
        os.close(ready_w)
    message = spawn.read_line(ready_r)
    os.close(ready_r)
    if message != "started":
        raise spawn.child_error(message, "start the container")
    try:
        return load(paths, c.id)
    except FileNotFoundError:  # --rm and the workload already ended: the monitor removed the state
        return transition(c, "exit")


def monitor(job: dict) -> int:
    """The detached monitor (a process of its own): supervise the container, report to `run -d`."""
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
        supervise(load(paths, job["id"]), job["helper"], paths, (null, out, out), notify=ready_w)
    except BaseException as exc:  # noqa: BLE001 - report anything to the waiting `run -d`
        spawn.send_error(ready_w, "start the container", exc)
    return 0
