# Your exercises for lesson 09-lifecycle. Replace each `raise NotImplementedError(...)` with your code.
# Check your work with `make check EX=09` (or the check cells in notebooks/09-lifecycle.ipynb).
# This file was generated from the instructors' solutions by `make exercises`.

"""Lesson 09: the container's life, and what makes it Docker's.

Each function below is one step the runtime takes, with the same name and signature as the
package's own: state.transition (every change of a container's state), restart.should_restart
(the monitor, when a workload ends), rootfs.mount_point (PID 1, before each mount) and
cp.resolve_in_container (`cp`, both ways). Compare yours with them when you are done.
"""

from __future__ import annotations

import os
import time

from minicontainer.errors import ContainerError
from minicontainer.restart import parse
from minicontainer.rootfs import inside
from minicontainer.state import STAMPS, TRANSITIONS, Container


def transition(c: Container, event: str) -> Container:
    """Exercise 9.1: move the record `c` along the table TRANSITIONS (rows: source, event, target).
    Find the row whose source is c.status and whose event is `event`. None: raise ContainerError
    with the message f"container {c.short_id} is {c.status}: it cannot {event}" (and leave c as it
    is). Else set c.status to the row's target and, if the target is a key of STAMPS (running ->
    "started", exited and restarting -> "finished"), set that field of c to time.time(). Return c."""
    raise NotImplementedError("Exercise 9.1: move a container's record along one row of the table of states, or refuse")


def should_restart(policy: str, exit_code: int, restart_count: int, stopped: bool) -> bool:
    """Exercise 9.2: Docker's rule. `policy` is --restart's text ("no", "always", "unless-stopped",
    "on-failure" or "on-failure:N"; parse(policy) gives .name and .maximum, 0 for none); the workload
    just exited with `exit_code`, after `restart_count` restarts; `stopped`: `stop` or `kill` ended it.
    Never after a stop, never for "no"; always for "always" and "unless-stopped"; for on-failure only
    when exit_code is not 0, and (with a maximum) while restart_count < maximum."""
    raise NotImplementedError("Exercise 9.2: Docker's answer, when a workload ends: start it again or not")


def mount_point(rootfs: str, target: str, is_dir: bool = True) -> str:
    """Exercise 9.3: the host path of `target` (a path in the container, like "/proc" or "/data")
    under `rootfs`, made if it is missing: an empty directory, or with is_dir=False an empty file (and
    its parent directories). Use inside(rootfs, target) for the host path: it follows the image's
    symlinks as the container would, so an image cannot aim the mount at the host. Something already
    there (even a symlink, even a broken one) is left as it is. Return the host path."""
    raise NotImplementedError("Exercise 9.3: the host path of a mount's target, made inside the container's root if it is missing")


def resolve_in_container(root: str, path: str) -> str:
    """Exercise 9.4: `cp`'s path check. The host path of `path` (in the container) under `root`, with
    every symlink followed as the container sees it: take the components one by one; ".." removes the
    last one kept, but when there is none to remove the path leaves the container: raise
    ContainerError with "points out of the container" in its message; a component that is a symlink
    (os.path.islink of root + what you kept + it) is replaced by its target's components (an absolute
    target starts again from the root, so clear what you kept); after 40 symlinks raise ContainerError
    ("too many levels of symbolic links"). Return os.path.join(root, *kept)."""
    raise NotImplementedError("Exercise 9.4: where a path in the container is under its root, every symlink followed the container's way")
