"""The OCI state of a container, and where the runtime keeps it (lesson 10).

`minicontainer oci state ID` prints what the runtime spec calls the state (runtime-spec, runtime.md):

    {"ociVersion": "1.0.2", "id": "web", "status": "running", "pid": 4242,
     "bundle": "/srv/bundles/web", "annotations": {...}}

status is one of creating, created, running, stopped. Hooks read the same document on their stdin.

The record behind it is the one `run` keeps (minicontainer/state.py: a state.json per container,
created -> running -> exited as a table); an OCI runtime's containers live in a directory of their own,
`--root` (runc: /run/runc; here MC_RUN_DIR/oci, /run/minicontainer/oci by default), so runc's
and Docker's commands never see each other's containers. What the table calls `exited`, the OCI
spec calls `stopped`: with no monitor waiting, a container is stopped once its PID 1 is gone.
"""

from __future__ import annotations

import os

from ..paths import DEFAULT_RUN_DIR, Paths
from ..proc import alive
from ..state import CREATED, RUNNING, Container, state_dir

OCI_VERSION = "1.0.2"
EXEC_FIFO = "exec.fifo"
CREATING, STOPPED = "creating", "stopped"


def default_root() -> str:
    """runc's --root default is /run/runc; ours sits beside `run`'s state (MC_RUN_DIR/oci)."""
    return os.path.join(os.environ.get("MC_RUN_DIR", DEFAULT_RUN_DIR), "oci")


def paths_for(root: str) -> Paths:
    """The runtime's Paths for an OCI --root: containers in ROOT/containers/<id>/state.json."""
    return Paths(os.environ.get("MC_LIB_DIR", "/var/lib/minicontainer"), root)


def fifo_path(paths: Paths, cid: str) -> str:
    return os.path.join(state_dir(paths, cid), EXEC_FIFO)


def status_of(c: Container) -> str:
    """The spec's status from the record and the process: creating (no PID 1 yet), created (PID 1
    waits for `start`), running, stopped (PID 1 is gone)."""
    if c.spec.get("no_process"):  # (config.json without a process: nothing ever runs)
        return "created" if c.status == CREATED else STOPPED
    if c.pid == 0:
        return CREATING
    if not alive(c.pid, c.pid_start):
        return STOPPED
    return "created" if c.status == CREATED else "running" if c.status == RUNNING else STOPPED


def state_document(c: Container, status: str) -> dict:
    """The state the spec defines, for `state ID` and for hooks' stdin. `pid`: PID 1 on the host while
    it exists, 0 once stopped (as runc prints it)."""
    live = status in ("created", "running") or (status == CREATING and c.pid)
    return {"ociVersion": OCI_VERSION, "id": c.id, "status": status, "pid": c.pid if live else 0,
            "bundle": c.spec.get("bundle", ""), "annotations": dict(c.spec.get("annotations") or {})}
