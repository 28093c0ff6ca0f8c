"""`run -d`: a detached container and the monitor process that waits for it (lesson 02).

A foreground `run` is itself the container's monitor: it waits for PID 1 and records the exit
code. With -d the command must return at once, so it forks a monitor in a session of its own
(as Docker's containerd-shim or podman's conmon): the monitor starts the container with the same
supervise() as a foreground run, writes the workload's output to container.log, tells the
waiting `run -d` "started" (or the error), and stays to record the exit and clean up.
"""

from __future__ import annotations

import os
import sys

from . import quickjson
from .container import (LOG_FILE, ROOT, Container, _child_error, _single_threaded, load, state_dir,
                        supervise)
from .paths import Paths


def start_detached(c: Container, cfg: dict, paths: Paths) -> Container:
    """-d: a monitor process, in its own session, starts and waits for the container; we return its state."""
    from .process import read_line
    log = os.path.join(state_dir(paths, c.id), LOG_FILE)
    ready_r, ready_w = os.pipe()
    if _single_threaded():
        pid = os.fork()
        if pid == 0:
            os.close(ready_r)
            monitor(c, cfg, paths, log, ready_w)
        os.close(ready_w)
    else:
        import subprocess
        with open(os.path.join(state_dir(paths, c.id), "helper.json"), "w") as f:
            f.write(quickjson.dumps(cfg))
        boot = (f"import sys; sys.path.insert(0, {ROOT!r}); from minicontainer.detach import monitor_main; "
                "monitor_main()")
        subprocess.Popen([sys.executable, "-I", "-S", "-c", boot, paths.lib_root, paths.run_root, c.id,
                          str(ready_w)], pass_fds=(ready_w,), start_new_session=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(ready_w)
    message = read_line(ready_r)
    os.close(ready_r)
    if message != "started":
        raise _child_error(message, "start the container")
    try:
        return load(paths, c.id)
    except FileNotFoundError:  # --rm and the workload already ended: the monitor removed the state
        c.status = "exited"
        return c


def monitor(c: Container, cfg: dict, paths: Paths, log: str, ready_w: int) -> None:
    """The detached monitor: never returns."""
    from .process import send
    try:
        if os.getsid(0) != os.getpid():  # (a spawned monitor already leads its own session)
            os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        cfg["runtime_pid"] = os.getpid()
        supervise(c, cfg, paths, (null, out, out), notify=ready_w)
    except BaseException as exc:  # noqa: BLE001 - report anything to the waiting `run -d`
        info = {"step": getattr(exc, "step", "") or "start the container", "message": getattr(exc, "message", str(exc)),
                "path": getattr(exc, "path", ""), "fix": getattr(exc, "fix", ""),
                "exit": getattr(exc, "exit_status", 125)}
        try:
            send(ready_w, "error " + quickjson.dumps(info))
        except OSError:
            pass
    finally:
        os._exit(0)


def monitor_main() -> None:
    """Entry point of a detached monitor spawned from a threaded caller (a notebook)."""
    lib_dir, run_dir, cid, ready_w = sys.argv[1:5]
    paths = Paths(lib_dir, run_dir)
    with open(os.path.join(state_dir(paths, cid), "helper.json")) as f:
        cfg = quickjson.loads(f.read())
    monitor(load(paths, cid), cfg, paths, os.path.join(state_dir(paths, cid), LOG_FILE), int(ready_w))
