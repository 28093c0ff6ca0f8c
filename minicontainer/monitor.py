"""The monitor: the runtime process that starts a container, waits for it, and cleans up (lesson 02).

A foreground `run` is its container's monitor; with `-d` a monitor process of its own does the same
job (detach.py, like Docker's containerd-shim or podman's conmon). `supervise()` is that job:

    set up (in this order)                       released (in reverse, by `undo`)
    ──────────────────────                       ────────────────────────────────
    the record names us as its monitor           the record says how it ended (or goes, with --rm)
    a terminal (-t)                              the terminal is restored
    [unionfs] the copy-on-write root             unionfs.release (PID 1 mounts it in its own
                                                 namespace: the kernel drops it; this is for one
                                                 left on the host)
    [cgroups] the container's cgroup             cgroups.remove (kills what is left, notes OOM kills)
    the helper and PID 1 (spawn.py)              killed if still there, reaped
    [network] a veth on the bridge, an address   network.detach
    "go": the workload runs; we wait
    signals forwarded to PID 1                   our own handlers back

Each resource has one release function here, in set-up order in RESOURCES; supervise() pushes it
on its undo stack the moment the resource exists, so whatever fails half-way, exactly what was made
is released, last made first. `teardown()` runs the same functions from a record alone: for a
runtime that was SIGKILLed (`collect_crashed`, called by the next command) and `minicontainer reset`.

Every mount of the container happens inside its private mount namespace: when its last process
dies the kernel removes them, so the host's mount table never changes.
"""

from __future__ import annotations

import os
import time

import _signal as signal  # `signal` without its enum classes: saves ~4 ms a run (bench/bench_start_tricks.py)

from . import spawn
from .launcher import ensure_site_packages
from .paths import Paths
from .proc import alive, start_time
from .state import EXITED, Container, all_containers, collect_unfinished, remove, save, state_dir, transition

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable


class Undo:
    """A stack of release functions, run last-in first-out when the `with` block ends (however it ends).

    One that fails does not stop the others; its error (`failed`) is raised after all have run (unless
    the block itself raised: that error says what went wrong first, and is the one that propagates)."""

    def __init__(self) -> None:
        self.steps: list[Callable[[], object]] = []
        self.failed: BaseException | None = None

    def push(self, release: Callable[[], object]) -> None:
        self.steps.append(release)

    def __enter__(self) -> "Undo":
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        while self.steps:
            try:
                self.steps.pop()()
            except BaseException as e:  # noqa: BLE001 - release the rest first
                self.failed = self.failed or e
        if self.failed is not None and kind is None:
            raise self.failed


# --- what a container holds on the host, and who releases it -----------------------------------

def release_rootfs(c: Container, paths: Paths) -> None:
    """[unionfs] An overlay root mounted on the host (a notebook, a test): unmount it; upper/ stays for diff."""
    if c.spec.get("layers"):
        from . import unionfs
        unionfs.release(state_dir(paths, c.id))


def release_cgroup(c: Container, paths: Paths) -> None:
    """[cgroups] Kill what is left in the container's cgroup, note OOM kills, remove the group."""
    if c.spec.get("cgroup") or c.spec.get("resources"):
        from . import cgroups
        last = cgroups.remove(c.id)
        if last is not None and last.oom_kills:
            c.oom_killed = True


def release_network(c: Container, paths: Paths) -> None:
    """[network] The veth, the address lease, the nft rules of published ports."""
    if c.spec.get("network") == "bridge":
        ensure_site_packages()  # pyroute2 lives in site-packages, which the fast launcher skips
        from .network import detach
        detach(c.id, paths)


RESOURCES = (release_rootfs, release_cgroup, release_network)  # in the order supervise() sets them up


def teardown(c: Container, paths: Paths) -> None:
    """Release everything the record says the container holds, last set up first. Idempotent."""
    for release in reversed(RESOURCES):
        release(c, paths)


# --- supervising ------------------------------------------------------------------------------

def supervise(c: Container, cfg: dict, paths: Paths, stdio: tuple[int, int, int],
              notify: int | None = None) -> Container:
    """Start the container created by container.create(), wait for it, release everything.

    `notify` (the detached monitor's pipe to `run -d`) gets "started" once the workload runs."""
    from . import process
    with Undo() as undo:
        # Who supervises, on disk before anything else exists: a later command that finds this record
        # with a dead monitor collects it at once (collect_crashed). create() wrote our PID already; a
        # detached monitor (detach.py) takes over from the `run -d` here.
        if c.monitor_pid != os.getpid():
            c.monitor_pid, c.monitor_start = os.getpid(), start_time(os.getpid())
            save(paths, c)
        undo.push(lambda: finish(c, paths, undo))
        if cfg["tty"]:
            from .terminal import Terminal
            tty = Terminal.open(stdio)
            undo.push(tty.close)
            stdio = (tty.slave, tty.slave, tty.slave)
            cfg["console"] = os.ttyname(tty.slave)
        if cfg.get("layers"):  # [unionfs] PID 1 mounts the layers; imported here, before the fork
            from . import unionfs  # noqa: F401
            undo.push(lambda: release_rootfs(c, paths))
        if c.spec.get("cgroup"):  # [cgroups] the group exists before PID 1 does; PID 1 joins it itself
            from . import cgroups  # (writing "0" moves the writer: no waiting, as when moving another process)
            group = cgroups.create(c.id, cgroups.Limits.from_dict(c.spec["resources"]))
            undo.push(lambda: release_cgroup(c, paths))
            cfg["cgroup_files"] = group.join_files()
            cfg["cgroup_mounts"] = cgroups.namespace_mounts(group.setup)  # its own group at /sys/fs/cgroup
            rules = security_rules(c.spec)  # [security] lesson 08: the device allow list, before PID 1 joins
            if rules is not None:
                from .security import devices
                devices.apply(group, rules)
        helper = spawn.start(process.helper, cfg, stdio)
        undo.push(helper.close)
        if cfg["tty"]:
            os.close(tty.slave)  # (the workload has it now)
        c.pid = helper.child_pid("create namespaces", on_userns=write_rootless_maps)
        c.pid_start = start_time(c.pid)
        undo.push(lambda: kill_container(c))  # (if it is still there when we leave)
        if c.spec["network"] == "bridge":  # [network] PID 1's network namespace exists now
            from .network import attach_container
            undo.push(lambda: release_network(c, paths))
            c.spec["network_state"] = attach_container(c.id, c.pid, c.name, cfg["hostname"], c.spec["publish"],
                                                       state_dir(paths, c.id), paths)
        helper.go()
        transition(c, "start")
        save(paths, c)  # (after "go": PID 1 sets up the container meanwhile)
        try:
            helper.started("start the container")
        finally:
            c.exit_code = helper.exit_code  # a start that failed: the helper's status (Docker's 126/127)
        if notify is not None:
            spawn.send(notify, "started")
            os.close(notify)
        undo.push(forward_signals(c.pid))
        if cfg["tty"]:
            tty.pump()
        c.exit_code = helper.wait()
        transition(c, "exit")
    return c


def write_rootless_maps(helper_pid: int) -> None:
    """Rootless: the helper made a user namespace; as its parent we may write its uid/gid maps."""
    from .namespaces import rootless_maps, write_id_maps
    write_id_maps(helper_pid, *rootless_maps())


def finish(c: Container, paths: Paths, undo: Undo) -> None:
    """The bottom of supervise's undo stack: record how it ended, or remove the record (--rm).

    If a release above it failed, the record stays as it is, naming us (soon gone) as its monitor:
    the next command's collect_crashed() tries the teardown again, then records the exit."""
    if undo.failed is not None:
        return
    if c.status != EXITED:
        transition(c, "exit")
    if c.spec.get("rm"):
        remove(paths, c)
    else:
        save(paths, c)


def forward_signals(pid: int) -> Callable[[], None]:
    """Foreground runs: the terminal's Ctrl-C (and kill of the runtime) goes on to the container's PID 1.

    Returns the function that puts our own handlers back."""
    old = {}

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        try:
            old[sig] = signal.signal(sig, forward)
        except ValueError:  # not the main thread (a notebook's background thread): no forwarding
            break

    def restore() -> None:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return restore


def kill_container(c: Container, sig: int = signal.SIGKILL, timeout: float = 5.0) -> None:
    """Kill PID 1 (the kernel then kills everything in its PID namespace) and wait until it is gone."""
    if not alive(c.pid, c.pid_start):
        return
    try:
        os.kill(c.pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while alive(c.pid, c.pid_start) and time.monotonic() < deadline:
        time.sleep(0.005)


# --- runtimes that were killed, and `minicontainer reset` ------------------------------------------

def collect_crashed(paths: Paths) -> list[str]:
    """Containers whose monitor was killed: kill what is left, tear down, mark exited. Returns what was done."""
    done = collect_unfinished(paths)
    for c in all_containers(paths):
        if c.status == EXITED or alive(c.monitor_pid, c.monitor_start):
            continue  # (every record names its monitor from the start: create() writes it)
        kill_container(c)
        teardown(c, paths)
        if c.spec.get("rm"):
            remove(paths, c)
            done.append(f"removed crashed container {c.short_id}")
        else:
            c.exit_code = 137 if c.exit_code is None else c.exit_code
            transition(c, "exit")
            c.error = "the runtime that supervised this container was killed"
            save(paths, c)
            done.append(f"collected crashed container {c.short_id}")
    return done


def sweep(paths: Paths) -> list[str]:
    """`minicontainer reset`: kill every container of this course, tear each down, remove all state."""
    done = collect_unfinished(paths)
    for c in all_containers(paths):
        if alive(c.pid, c.pid_start):
            kill_container(c)
            done.append(f"killed container {c.short_id} ({c.name})")
        if c.monitor_pid and c.monitor_pid != os.getpid():
            deadline = time.monotonic() + 2
            while alive(c.monitor_pid, c.monitor_start) and time.monotonic() < deadline:
                time.sleep(0.005)
        teardown(c, paths)
        remove(paths, c)
        done.append(f"removed container {c.short_id}")
    return done


def security_rules(spec: dict):
    """[security] The container's device rules (None: --privileged, every device)."""
    from .security import rules_of
    return rules_of(spec.get("security") or {})
