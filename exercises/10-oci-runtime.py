# Your exercises for lesson 10-oci-runtime. Replace each `raise NotImplementedError(...)` with your code.
# Check your work with `make check EX=10` (or the check cells in notebooks/10-oci-runtime.ipynb).
# This file was generated from the instructors' solutions by `make exercises`.

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
    raise NotImplementedError("Exercise 10.1: a mount's option words as the mount's flags, its propagation and the filesystem's data")


def namespace_plan(namespaces: list[dict]) -> tuple[list[str], list[tuple[str, str]]]:
    """Exercise 10.2: linux.namespaces -> (names to create, [(name, path)] to join), in the runtime's names.
    NAMESPACES maps the spec's types to the runtime's ("network" -> "net", "mount" -> "mnt").
    An entry with a "path" is joined, the others are created. An unknown type, or a type given twice,
    raises bad(f"linux.namespaces[{i}].type", ...) or bad(f"linux.namespaces[{i}]", ...) (a ConfigError)."""
    raise NotImplementedError("Exercise 10.2: the namespaces a bundle's config asks to create, and those it asks to join")


def state_document(c: Container, status: str) -> dict:
    """Exercise 10.3: the OCI state of container `c` whose status is `status`:
    {"ociVersion": OCI_VERSION, "id": c.id, "status": status, "pid": ..., "bundle": ..., "annotations": ...}.
    pid: c.pid while the container is "created" or "running" (or "creating" once c.pid is set), else 0.
    bundle and annotations come from c.spec["bundle"] and c.spec["annotations"] (a copy; {} if missing)."""
    raise NotImplementedError('Exercise 10.3: the OCI state of a container, as `state` prints it and hooks read it')


def run_hook(hook: dict, state: dict, default_timeout: float | None = None) -> int:
    """Exercise 10.4: run one hook {"path", "args", "env", "timeout"} with `state` as JSON on its stdin;
    return its exit status (os.waitstatus_to_exitcode). args is the whole argv (default [path]); env a list
    of "K=V" (the hook gets only those). Past its timeout (seconds; default_timeout if it has none; None =
    no limit) kill it with SIGKILL, reap it and raise ContainerError. Use os only: pipe, fork, dup2,
    execve, waitpid (PID 1 runs hooks too, after pivot_root, where no other module can be imported)."""
    raise NotImplementedError("Exercise 10.4: run one hook with the container's state on its standard input, within its timeout")
