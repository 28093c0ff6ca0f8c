"""Hooks: programs the runtime runs at fixed points of a container's life (lesson 10).

config.json's `hooks` name programs for each point; each gets the container's *state* (the JSON
of `state ID`) on its standard input, so it knows which container, which PID, which bundle:

    createRuntime    after the namespaces exist, before pivot_root    the runtime's namespaces
    createContainer  after the mounts, before pivot_root              the container's namespaces
    startContainer   after `start`, just before the program's execve  the container's namespaces
    poststart        after the program started, before `start` returns  the runtime's
    poststop         after the container is deleted                   the runtime's
    (prestart: the old name of createRuntime, still run at that point)

A hook is {"path": "/usr/bin/fix-net", "args": ["fix-net", "up"], "env": ["A=1"], "timeout": 5}: `args`
is the whole argv (args[0] included), `timeout` in seconds. A hook that fails (exits non-zero, or
runs past its timeout and is killed) stops the container before poststart; after it, the runtime
only warns (the spec's rules; runtime.py applies them).

PID 1 runs the createContainer and startContainer hooks itself, so this module uses only `os`:
it is imported before pivot_root, and must not import more after it.
"""

from __future__ import annotations

import os
import time

from .. import quickjson
from ..errors import ContainerError

PHASES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


def run_hook(hook: dict, state: dict, default_timeout: float | None = None) -> int:
    """Run one hook with `state` as JSON on its stdin; return its exit status.

    Raises ContainerError if it cannot start or runs past its timeout (it is then killed)."""
    path, argv = hook["path"], list(hook.get("args") or [hook["path"]])
    env = dict(e.split("=", 1) for e in hook.get("env") or [] if "=" in e)
    timeout = hook.get("timeout", default_timeout)
    data = quickjson.dumps(state).encode()
    stdin_r, stdin_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the hook: stdin from the pipe, execve (the runtime's stdout/stderr stay its own)
        try:
            os.close(stdin_w)
            os.dup2(stdin_r, 0)
            os.execve(path, argv, env)
        except OSError as exc:
            os.write(2, f"hook {path}: {exc.strerror}\n".encode())
        os._exit(127)
    os.close(stdin_r)
    try:
        os.write(stdin_w, data)  # (small: a pipe holds 64 KiB, the hook need not read it)
    except BrokenPipeError:
        pass
    os.close(stdin_w)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if deadline is not None and time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise ContainerError(f"hook {path} did not finish within its timeout of {timeout}s: killed",
                                 step="run hooks", path=path, fix="make the hook faster, or raise its timeout")
        time.sleep(0.005)


def run_hooks(hooks: list[dict], state: dict, phase: str) -> None:
    """Run the hooks of one phase in order; the first that fails raises ContainerError naming it."""
    for i, hook in enumerate(hooks):
        code = run_hook(hook, state)
        if code != 0:
            raise ContainerError(f"{phase} hook #{i} ({hook['path']}) failed with exit status {code}",
                                 step=f"run {phase} hooks", path=hook["path"],
                                 fix="see the hook's own messages above")
