"""A container's record, and its life as a small state machine (lesson 02; lesson 09 adds create/start/restart).

Everything the runtime knows about a container is one JSON file, <containers_dir>/<id>/state.json
(runc and youki keep the same: a state file per container, and states with allowed transitions):

    created ──start──> running ──exit──> exited
       └───────────────exit───────────────┘   (a start that failed, a runtime killed before it)

`TRANSITIONS` below is that picture as data: `transition(c, "start")` changes a record only along
a row of the table (and stamps the time), `describe()` prints it. A new verb is a new row, not a new
`c.status = ...` somewhere: Docker's `start` of a created container uses the `start` row as it is,
`restart` would add Transition(EXITED, "restart", RUNNING), and a checked `rm` rows to a removed state.

A container's processes are recorded as (PID, start time) pairs: its PID 1, and its monitor (the runtime process
that waits for it, monitor.py). PIDs are re-used, so a record is "running" only while that exact
PID 1 is alive (is_running), and a record whose monitor died is collected (monitor.collect_crashed).

Records are written atomically (atomic.py): a reader sees the old or the new file, never half. A
container's directory is made under a temporary name, `.new-PID-START-ID` (PID and START: the
runtime making it), and renamed to its id once state.json is in it: a runtime killed half-way
leaves no directory without a record, which no command would ever find; collect_unfinished()
removes those of runtimes that died.

(Paths here are strings joined with os.path: `run` does not import pathlib, see paths.py.)
"""

from __future__ import annotations

import os
import time

from . import quickjson  # json's C parser without json and re: saves ~8 ms a run (bench/bench_start_tricks.py)
from .atomic import write_atomic
from .errors import ContainerError, UsageError
from .paths import Paths
from .proc import alive
from .record import Record  # a dataclass without importing dataclasses: saves ~13 ms a run (bench/bench_start_tricks.py)

STATE_FILE = "state.json"
LOG_FILE = "container.log"
SECCOMP_FILE = "seccomp.bpf"  # [security] the container's filter program (hex), for exec (lesson 08)
NEW_PREFIX = ".new-"

CREATED, RUNNING, EXITED = "created", "running", "exited"


class Transition(Record, frozen=True):
    """One allowed change of a record: `event` takes a container from `source` to `target`."""

    source: str
    event: str
    target: str
    why: str = ""


TRANSITIONS = (
    Transition(CREATED, "start", RUNNING, "its PID 1 runs the workload"),
    Transition(RUNNING, "exit", EXITED, "the workload ended (or was killed)"),
    Transition(CREATED, "exit", EXITED, "the start failed, or its runtime was killed before it"),
)
# When a record enters a state, the time goes into this field.
STAMPS = {RUNNING: "started", EXITED: "finished"}


class Container(Record):
    """One container's state, saved as JSON in <containers_dir>/<id>/state.json."""

    id: str
    name: str
    image: str
    command: list[str]
    rootfs: str
    status: str = CREATED                # see TRANSITIONS
    pid: int = 0                         # host PID of the container's PID 1
    pid_start: int = 0                   # its start time (to tell it from a re-used PID)
    monitor_pid: int = 0                 # the runtime process that waits for it
    monitor_start: int = 0
    exit_code: int | None = None
    created: float = 0.0
    started: float = 0.0
    finished: float = 0.0
    error: str = ""
    spec: dict = {}
    oom_killed: bool = False             # the OOM killer killed a process of it (lesson 03: --memory)

    @property
    def short_id(self) -> str:
        return self.id[:12]


# --- the state machine ------------------------------------------------------------------------

def find_transition(status: str, event: str) -> Transition | None:
    """The row of TRANSITIONS for `event` from `status`, or None if the table does not allow it."""
    for t in TRANSITIONS:
        if t.source == status and t.event == event:
            return t
    return None


def can(c: Container, event: str) -> bool:
    return find_transition(c.status, event) is not None


def transition(c: Container, event: str) -> Container:
    """Move the record along the table (in memory: save() writes it); stamps the time of entering."""
    t = find_transition(c.status, event)
    if t is None:
        allowed = ", ".join(sorted({x.event for x in TRANSITIONS if x.source == c.status})) or "nothing"
        raise ContainerError(f"container {c.short_id} is {c.status}: it cannot {event} (from {c.status}: {allowed})",
                             step=event, fix="see `minicontainer ps -a` for its state")
    c.status = t.target
    if t.target in STAMPS:
        setattr(c, STAMPS[t.target], time.time())
    return c


def describe() -> str:
    """The table as text, one transition per line."""
    return "\n".join(f"{t.source:8} --{t.event}-->{'':{9 - len(t.event)}}{t.target:9} {t.why}" for t in TRANSITIONS)


def is_running(c: Container) -> bool:
    """Running, and its PID 1 is that exact process still."""
    return c.status == RUNNING and alive(c.pid, c.pid_start)


# --- on disk ----------------------------------------------------------------------------------

def state_dir(paths: Paths, cid: str) -> str:
    return os.path.join(paths.containers_root, cid)


def save(paths: Paths, c: Container) -> None:
    """Write state.json atomically."""
    write_state(state_dir(paths, c.id), c)


def write_state(directory: str, c: Container) -> None:
    write_atomic(os.path.join(directory, STATE_FILE), quickjson.dumps(c.to_dict(), indent=1))


def load(paths: Paths, cid: str) -> Container:
    with open(os.path.join(state_dir(paths, cid), STATE_FILE)) as f:
        data = quickjson.loads(f.read())
    return Container(**data)


def all_containers(paths: Paths) -> list[Container]:
    """Every container with a state file, oldest first."""
    found = []
    try:
        entries = os.listdir(paths.containers_root)
    except FileNotFoundError:
        return []
    for cid in entries:
        if cid.startswith("."):
            continue  # a directory being made (NEW_PREFIX)
        try:
            found.append(load(paths, cid))
        except (OSError, ValueError, TypeError):
            continue  # being created or removed right now
    return sorted(found, key=lambda c: c.created)


def find(paths: Paths, ref: str) -> Container:
    """A container by name, full id or unique id prefix (Docker's rules)."""
    every = all_containers(paths)
    for c in every:
        if c.name == ref or c.id == ref:
            return c
    matches = [c for c in every if c.id.startswith(ref)] if ref else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise UsageError(f"multiple IDs found with provided prefix: {ref}", step="find container",
                         fix="give more characters of the id, or the name")
    raise ContainerError(f"No such container: {ref}", step="find container",
                         fix="list containers with `minicontainer ps -a`")


def new_dir(paths: Paths, cid: str, pid: int, start: int) -> str:
    """Make the directory for container `cid` under its temporary name (see publish())."""
    building = os.path.join(paths.containers_root, f"{NEW_PREFIX}{pid}-{start}-{cid}")
    os.makedirs(building, mode=0o711)
    return building


def publish(paths: Paths, building: str, c: Container) -> None:
    """Write the record into the directory new_dir() made, then give the directory its real name."""
    write_state(building, c)
    os.rename(building, state_dir(paths, c.id))


def collect_unfinished(paths: Paths) -> list[str]:
    """Remove the half-made directories (`.new-PID-START-ID`) of runtimes that were killed while making them."""
    done = []
    try:
        names = [n for n in os.listdir(paths.containers_root) if n.startswith(NEW_PREFIX)]
    except FileNotFoundError:
        return done
    for name in names:
        pid, _, rest = name[len(NEW_PREFIX):].partition("-")
        start = rest.partition("-")[0]
        if not (pid.isdigit() and start.isdigit()):
            continue  # not one of ours
        if not alive(int(pid), int(start)):
            remove_tree(os.path.join(paths.containers_root, name))
            done.append(f"removed the unfinished container directory {name}")
    return done


def remove(paths: Paths, c: Container) -> None:
    """Delete the container's directory: state.json, the /etc files, an empty upper/ and work/."""
    remove_tree(state_dir(paths, c.id))


def remove_tree(path: str) -> None:
    """`rm -rf` for a container's own small directory; what is already gone is fine (`rm -f` and a
    --rm monitor may both be removing it).

    (shutil.rmtree would do, but importing shutil, which imports fnmatch and so re, costs every
    `run --rm` ~8 ms: bench/bench_start_tricks.py.)"""
    try:
        entries = list(os.scandir(path))
    except FileNotFoundError:
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                remove_tree(entry.path)
            else:
                os.unlink(entry.path)
        except FileNotFoundError:
            pass
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
