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
    ### BEGIN SOLUTION 9.1: move a container's record along one row of the table of states, or refuse
    ### HINT: The table is data: look for the one row that starts at the record's status with this event. No such row: the change is refused and the record stays as it is.
    ### HINT: Each row has .source, .event and .target; STAMPS maps a target to the field that records when it was entered ("started", "finished"); setattr(c, name, time.time()) sets a field by its name.
    ### HINT: row = next((t for t in TRANSITIONS if t.source == c.status and t.event == event), None); no row: raise ContainerError(...); c.status = row.target; if row.target in STAMPS: setattr(c, STAMPS[row.target], time.time())
    row = next((t for t in TRANSITIONS if t.source == c.status and t.event == event), None)
    if row is None:
        allowed = ", ".join(sorted({t.event for t in TRANSITIONS if t.source == c.status})) or "nothing"
        raise ContainerError(f"container {c.short_id} is {c.status}: it cannot {event} (from {c.status}: {allowed})",
                             step=event, fix="see `minicontainer ps -a` for its state")
    c.status = row.target
    if row.target in STAMPS:
        setattr(c, STAMPS[row.target], time.time())
    return c
    ### END SOLUTION


def should_restart(policy: str, exit_code: int, restart_count: int, stopped: bool) -> bool:
    """Exercise 9.2: Docker's rule. `policy` is --restart's text ("no", "always", "unless-stopped",
    "on-failure" or "on-failure:N"; parse(policy) gives .name and .maximum, 0 for none); the workload
    just exited with `exit_code`, after `restart_count` restarts; `stopped`: `stop` or `kill` ended it.
    Never after a stop, never for "no"; always for "always" and "unless-stopped"; for on-failure only
    when exit_code is not 0, and (with a maximum) while restart_count < maximum."""
    ### BEGIN SOLUTION 9.2: Docker's answer, when a workload ends: start it again or not
    ### HINT: Decide the cases that need no counting first (a stop, the policy "no", the policies that always restart); only on-failure looks at the exit code and the count.
    ### HINT: parse(policy) reads the text: .name is "no", "always", "unless-stopped" or "on-failure", .maximum the N of "on-failure:N" (0: no maximum).
    ### HINT: rule = parse(policy); stopped or rule.name == "no" -> False; "always"/"unless-stopped" -> True; on-failure: exit_code != 0 and (rule.maximum == 0 or restart_count < rule.maximum)
    rule = parse(policy)
    if stopped or rule.name == "no":
        return False
    if rule.name in ("always", "unless-stopped"):
        return True
    return exit_code != 0 and (rule.maximum == 0 or restart_count < rule.maximum)
    ### END SOLUTION


def mount_point(rootfs: str, target: str, is_dir: bool = True) -> str:
    """Exercise 9.3: the host path of `target` (a path in the container, like "/proc" or "/data")
    under `rootfs`, made if it is missing: an empty directory, or with is_dir=False an empty file (and
    its parent directories). Use inside(rootfs, target) for the host path: it follows the image's
    symlinks as the container would, so an image cannot aim the mount at the host. Something already
    there (even a symlink, even a broken one) is left as it is. Return the host path."""
    ### BEGIN SOLUTION 9.3: the host path of a mount's target, made inside the container's root if it is missing
    ### HINT: Two steps: find the host path as the container would (never by joining strings: the image's symlinks must be followed inside it), then make what is missing there, and only that.
    ### HINT: inside(rootfs, target) gives the host path; os.path.lexists is True even for a broken symlink; os.makedirs makes a directory with its parents; os.open with O_CREAT makes an empty file.
    ### HINT: where = inside(rootfs, target); if not os.path.lexists(where): os.makedirs(where) for a directory, or os.makedirs(os.path.dirname(where), exist_ok=True) and os.close(os.open(where, os.O_CREAT | os.O_WRONLY, 0o644)); return where
    where = inside(rootfs, target)
    if not os.path.lexists(where):
        if is_dir:
            os.makedirs(where, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(where), exist_ok=True)
            os.close(os.open(where, os.O_CREAT | os.O_WRONLY, 0o644))
    return where
    ### END SOLUTION


def resolve_in_container(root: str, path: str) -> str:
    """Exercise 9.4: `cp`'s path check. The host path of `path` (in the container) under `root`, with
    every symlink followed as the container sees it: take the components one by one; ".." removes the
    last one kept, but when there is none to remove the path leaves the container: raise
    ContainerError with "points out of the container" in its message; a component that is a symlink
    (os.path.islink of root + what you kept + it) is replaced by its target's components (an absolute
    target starts again from the root, so clear what you kept); after 40 symlinks raise ContainerError
    ("too many levels of symbolic links"). Return os.path.join(root, *kept)."""
    ### BEGIN SOLUTION 9.4: where a path in the container is under its root, every symlink followed the container's way
    ### HINT: Keep two lists: the components still to walk and those already kept. Walk one component at a time, as the kernel does; a symlink puts its target's components in front of those still to walk.
    ### HINT: os.path.islink(os.path.join(root, *kept, part)) tells whether a component is a link, os.readlink gives its target; an absolute target starts again from the root (empty the kept list); count the links.
    ### HINT: todo = components (skip "" and "."); done = []; pop from todo: ".." -> pop done or raise; islink(join(root, *done, part)) -> count, readlink, absolute: done = [], todo = its parts + todo; else done.append(part)
    todo = [p for p in path.split("/") if p and p != "."]
    done: list[str] = []
    links = 0
    while todo:
        part = todo.pop(0)
        if part == "..":
            if not done:
                raise ContainerError(f"{path!r} points out of the container", step="copy", path=path,
                                     fix="give a path inside the container")
            done.pop()
            continue
        here = os.path.join(root, *done, part)
        if os.path.islink(here):
            links += 1
            if links > 40:
                raise ContainerError("too many levels of symbolic links", step="copy", path=path,
                                     fix="the container has a symlink loop on this path")
            target = os.readlink(here)
            if target.startswith("/"):
                done = []
            todo = [p for p in target.split("/") if p and p != "."] + todo
            continue
        done.append(part)
    return os.path.join(root, *done)
    ### END SOLUTION
