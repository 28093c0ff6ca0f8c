"""Lesson 10: an OCI runtime that other tools can drive.

Each function below is one step `minicontainer oci` takes, with the same name and signature as the
package's own: config.mount_flags and config.namespace_plan (config.json -> the runtime's config),
state.state_document (what `state ID` prints and hooks read), hooks.run_hook (one hook, its stdin,
its timeout). Compare yours with minicontainer/oci/ when you are done.
"""

from __future__ import annotations

import os
import time

from minicontainer import quickjson
from minicontainer.errors import ContainerError
from minicontainer.oci.config import MOUNT_FLAGS, NAMESPACES, PROPAGATION, bad
from minicontainer.oci.state import OCI_VERSION
from minicontainer.state import Container


def mount_flags(options: list[str]) -> tuple[int, int, str]:
    """Exercise 10.1: a mount's option words -> (MS_* flags, propagation flags, data for the filesystem).
    MOUNT_FLAGS maps a word to (clear?, flag): "ro" -> (False, MS_RDONLY) sets it, "rw" -> (True, MS_RDONLY)
    clears it, in the order given. PROPAGATION maps "rprivate" etc. to their flags (OR them together).
    Every other word ("mode=755", "size=65536k") is the filesystem's: join them with ","."""
    ### BEGIN SOLUTION 10.1: a mount's option words as the mount's flags, its propagation and the filesystem's data
    ### HINT: Read the words in order, and sort each into one of three piles: a flag of mount(2) (set, or cleared again by its opposite), a propagation flag, or text for the filesystem.
    ### HINT: MOUNT_FLAGS[word] is (clear?, flag): flags | flag sets it, flags & ~flag clears it; PROPAGATION[word] is a flag to OR in; ",".join(words) makes the data.
    ### HINT: for each word: in MOUNT_FLAGS -> set or clear its flag; in PROPAGATION -> OR it in; else collect it; return (flags, propagation, ",".join(collected))
    flags, propagation, data = 0, 0, []
    for word in options:
        if word in MOUNT_FLAGS:
            clear, flag = MOUNT_FLAGS[word]
            flags = flags & ~flag if clear else flags | flag
        elif word in PROPAGATION:
            propagation |= PROPAGATION[word]
        else:
            data.append(word)
    return flags, propagation, ",".join(data)
    ### END SOLUTION


def namespace_plan(namespaces: list[dict]) -> tuple[list[str], list[tuple[str, str]]]:
    """Exercise 10.2: linux.namespaces -> (names to create, [(name, path)] to join), in the runtime's names.
    NAMESPACES maps the spec's types to the runtime's ("network" -> "net", "mount" -> "mnt").
    An entry with a "path" is joined, the others are created. An unknown type, or a type given twice,
    raises bad(f"linux.namespaces[{i}].type", ...) or bad(f"linux.namespaces[{i}]", ...) (a ConfigError)."""
    ### BEGIN SOLUTION 10.2: the namespaces a bundle's config asks to create, and those it asks to join
    ### HINT: One entry at a time: check its type (known, not seen before), then put the runtime's name for it in one of two lists, depending on whether the entry names a path.
    ### HINT: NAMESPACES maps the spec's types to the runtime's names; enumerate() gives the index the error message names; raise bad(field, message) for a wrong entry.
    ### HINT: keep a set of the types seen; for i, ns in enumerate(...): check the type is in NAMESPACES and new; path -> join.append((NAMESPACES[t], path)) else new.append(NAMESPACES[t])
    new: list[str] = []
    join: list[tuple[str, str]] = []
    seen = set()
    for i, ns in enumerate(namespaces):
        kind = ns.get("type") if isinstance(ns, dict) else None
        if kind not in NAMESPACES:
            raise bad(f"linux.namespaces[{i}].type", f"unknown namespace type {kind!r}")
        if kind in seen:
            raise bad(f"linux.namespaces[{i}]", f"namespace type {kind!r} given twice")
        seen.add(kind)
        if ns.get("path"):
            join.append((NAMESPACES[kind], ns["path"]))
        else:
            new.append(NAMESPACES[kind])
    return new, join
    ### END SOLUTION


def state_document(c: Container, status: str) -> dict:
    """Exercise 10.3: the OCI state of container `c` whose status is `status`:
    {"ociVersion": OCI_VERSION, "id": c.id, "status": status, "pid": ..., "bundle": ..., "annotations": ...}.
    pid: c.pid while the container is "created" or "running" (or "creating" once c.pid is set), else 0.
    bundle and annotations come from c.spec["bundle"] and c.spec["annotations"] (a copy; {} if missing)."""
    ### BEGIN SOLUTION 10.3: the OCI state of a container, as `state` prints it and hooks read it
    ### HINT: Six fields, most of them copied from the record; the only decision is the pid: a container whose PID 1 is gone (or not there yet) shows 0.
    ### HINT: c.id, c.pid, c.spec.get("bundle", ""), dict(c.spec.get("annotations") or {}); OCI_VERSION is the spec's version.
    ### HINT: live = status in ("created", "running") or (status == "creating" and c.pid); build the dict with c.pid if live else 0
    live = status in ("created", "running") or (status == "creating" and c.pid)
    return {"ociVersion": OCI_VERSION, "id": c.id, "status": status, "pid": c.pid if live else 0,
            "bundle": c.spec.get("bundle", ""), "annotations": dict(c.spec.get("annotations") or {})}
    ### END SOLUTION


def run_hook(hook: dict, state: dict, default_timeout: float | None = None) -> int:
    """Exercise 10.4: run one hook {"path", "args", "env", "timeout"} with `state` as JSON on its stdin;
    return its exit status (os.waitstatus_to_exitcode). args is the whole argv (default [path]); env a list
    of "K=V" (the hook gets only those). Past its timeout (seconds; default_timeout if it has none; None =
    no limit) kill it with SIGKILL, reap it and raise ContainerError. Use os only: pipe, fork, dup2,
    execve, waitpid (PID 1 runs hooks too, after pivot_root, where no other module can be imported)."""
    ### BEGIN SOLUTION 10.4: run one hook with the container's state on its standard input, within its timeout
    ### HINT: A child process whose standard input is the read end of a pipe; the parent writes the state into the write end and closes it, then waits for the child, but not past the deadline.
    ### HINT: os.pipe, os.fork, os.dup2(read_end, 0), os.execve(path, argv, env) (os._exit(127) if it fails); os.waitpid(pid, os.WNOHANG) does not block; os.kill(pid, 9) then a last os.waitpid.
    ### HINT: pipe; fork: the child dup2s the read end to 0 and execve(path, args, env) (os._exit(127) if that fails); the parent writes quickjson.dumps(state), closes, polls os.waitpid(pid, os.WNOHANG) until done or past the deadline
    path, argv = hook["path"], list(hook.get("args") or [hook["path"]])
    env = dict(e.split("=", 1) for e in hook.get("env") or [] if "=" in e)
    timeout = hook.get("timeout", default_timeout)
    stdin_r, stdin_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(stdin_w)
            os.dup2(stdin_r, 0)
            os.execve(path, argv, env)
        except OSError:
            pass
        os._exit(127)
    os.close(stdin_r)
    try:
        os.write(stdin_w, quickjson.dumps(state).encode())
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
            raise ContainerError(f"hook {path} did not finish within its timeout of {timeout}s", step="run hooks")
        time.sleep(0.005)
    ### END SOLUTION
