"""The monitor: the runtime process that starts a container, waits for it, and cleans up (lesson 02).

A foreground `run` is its container's monitor; with `-d` (and `create`, `start`) a monitor process
of its own does the same job (detach.py, like Docker's containerd-shim or podman's conmon). There
is no daemon: one monitor per container, and only while the container lives. `supervise()` is
its job, one *run* of PID 1 after the other while the restart policy asks for another (lesson 09):

    set up (in this order)                       released (in reverse, by `undo`)
    ──────────────────────                       ────────────────────────────────
    the record names us as its monitor           the record says how it ended (or goes, with --rm)
    a terminal (-t)                              the terminal is restored
      each run:  prepare()
    [unionfs] the copy-on-write root             unionfs.release (PID 1 mounts it in its own
                                                 namespace: the kernel drops it; this is for one
                                                 left on the host)
    [cgroups] the container's cgroup             cgroups.remove (kills what is left, notes OOM kills)
    PID 1, waiting for "go" (spawn.py)           killed if still there, reaped
    [network] a veth on the bridge, an address   network.detach
                 launch()
    "go": the workload runs; we wait
    signals forwarded to PID 1                   our own handlers back
      then restart.should_restart()? wait (back-off), next run

`prepare()` and `launch()` are runc's `create` and `start`: after prepare() the container exists
(namespaces, cgroup, network) and PID 1 waits; launch() lets it run the workload. A container made
by `minicontainer create` stays between the two (hold_until_start) until `start` asks.

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

from . import spawn, state
from .errors import ContainerError
from .paths import Paths
from .proc import alive, start_time
from .state import (CREATED, EXITED, START_FIFO, Container, all_containers, collect_unfinished, remove, save,
                    state_dir, was_stopped)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable


class Undo:
    """A stack of release functions, run last-in first-out when the `with` block ends (however it ends).

    One that fails does not stop the others; its error (`failed`) is raised after all have run (unless
    the block itself raised: that error says what went wrong first, and is the one that propagates)."""

    def __init__(self, outer: "Undo | None" = None) -> None:
        self.steps: list[Callable[[], object]] = []
        self.failed: BaseException | None = None
        self.outer = outer  # a stack around this one (a run's inside the container's): told of a failure

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
        if self.failed is not None and self.outer is not None:
            self.outer.failed = self.outer.failed or self.failed
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
        from .network import detach
        detach(c.id, paths)


RESOURCES = (release_rootfs, release_cgroup, release_network)  # in the order supervise() sets them up


def teardown(c: Container, paths: Paths) -> None:
    """Release everything the record says the container holds, last set up first. Idempotent."""
    for release in reversed(RESOURCES):
        release(c, paths)


# --- supervising ------------------------------------------------------------------------------

def supervise(c: Container, cfg: dict, paths: Paths, stdio: tuple[int, int, int],
              notify: int | None = None, hold: bool = False, log_fd: int | None = None) -> Container:
    """Start the container created by container.create(), wait for it, release everything; again
    while its restart policy says so (restart.py). Returns the record as it ended.

    `notify` (a detached monitor's pipe to `run -d` or `start`) gets "started" once the workload
    runs. `hold` (`create`): stop after prepare(), tell `notify` "created", and wait for `start`.
    `log_fd` (-d): the workload's stdout and stderr come to us through pipes and go there, each line
    with its time (logs.py)."""
    with Undo() as undo:
        # Who supervises, on disk before anything else exists: a later command that finds this record
        # with a dead monitor collects it at once (collect_crashed). create() wrote our PID already; a
        # detached monitor (detach.py) takes over from the `run -d` here.
        if c.monitor_pid != os.getpid():
            c.monitor_pid, c.monitor_start = os.getpid(), start_time(os.getpid())
            save(paths, c)
        undo.push(lambda: finish(c, paths, undo))
        tty = None
        if cfg["tty"]:
            from .terminal import Terminal
            tty = Terminal.open(stdio)
            undo.push(tty.close)
            cfg["console"] = os.ttyname(tty.slave)
            os.close(tty.slave)  # each run opens it again by name (run_once)
            tty.slave = -1
        policy, pause = c.spec.get("restart") or "no", 0.0
        while True:
            ran_for = run_once(c, cfg, paths, stdio, tty, notify, hold, log_fd, outer=undo)
            notify, hold = None, False
            if ran_for is None:
                break  # a held container that was removed before `start`
            from . import restart  # (9.2: restart.should_restart, called through the module: --yours replaces it)
            if not restart.should_restart(policy, c.exit_code or 0, c.restart_count, was_stopped(paths, c)):
                break
            state.transition(c, "restart")
            save(paths, c)
            pause = restart.delay(pause, ran_for)
            if not sleep_unless_stopped(c, paths, pause):
                break
            c.restart_count += 1
    return c


def run_once(c: Container, cfg: dict, paths: Paths, stdio: tuple[int, int, int], tty, notify: int | None,
             hold: bool, log_fd: int | None = None, outer: Undo | None = None) -> float | None:
    """One run of PID 1: prepare, (hold,) launch, wait. Returns how long the workload ran, in
    seconds; None when it never started (a held container that was removed). A release that fails
    counts for `outer` (supervise's stack) too: finish() then leaves the record for collect_crashed."""
    with Undo(outer) as undo:
        ours: list[int] = []  # the ends PID 1 gets, which we close once it has them
        if tty is not None:  # each run's PID 1 gets the terminal's slave side: pump() ends when the
            slave = os.open(cfg["console"], os.O_RDWR | os.O_NOCTTY)  # last holder of a slave closes it
            stdio, ours = (slave, slave, slave), [slave]
        elif log_fd is not None:  # [lesson 09] -d: its output through us, into the log with times (logs.py)
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            undo.push(lambda: [os.close(fd) for fd in (out_r, err_r) if _is_open(fd)])
            stdio, ours = (stdio[0], out_w, err_w), [out_w, err_w]
        try:
            helper = prepare(c, cfg, paths, stdio, undo, lean=notify is not None or log_fd is not None)
        finally:
            for fd in ours:
                os.close(fd)
        if hold:
            save(paths, c)  # the record names PID 1 while it waits: `rm` and collect_crashed find it
            tell(notify, "created")
            notify = None
            if not hold_until_start(c, paths):
                return None
        launch(c, helper, paths)
        tell(notify, "started")
        undo.push(forward_signals(c.pid))
        if tty is not None:
            tty.pump()
        elif log_fd is not None:
            from .logs import pump
            pump(out_r, err_r, log_fd)  # (it closes them at their end)
        c.exit_code = helper.wait()
    return time.time() - c.started


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def prepare(c: Container, cfg: dict, paths: Paths, stdio: tuple[int, int, int], undo: Undo,
            lean: bool = False) -> spawn.Helper:
    """runc's `create`: everything a run needs, up to PID 1 waiting for "go". What is made goes on `undo`.

    Afterwards c.pid is PID 1 (on the host); the record is not saved (the caller decides when).
    `lean` (a detached monitor): the network is attached by a short-lived child (attach_in_child)."""
    from . import process
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
    helper = spawn.start(process.helper, cfg, stdio, pid1=process.pid1)
    undo.push(helper.close)
    c.pid = helper.child_pid("create namespaces", on_userns=write_rootless_maps)
    c.pid_start = start_time(c.pid)
    undo.push(lambda: kill_container(c))  # (if it is still there when we leave)
    if c.spec["network"] == "bridge":  # [network] PID 1's network namespace exists now
        undo.push(lambda: release_network(c, paths))
        args = (c.id, c.pid, c.name, cfg["hostname"], c.spec["publish"], state_dir(paths, c.id), paths)
        c.spec["network_state"] = attach_in_child(args) if lean and spawn.single_threaded() else attach(args)
    return helper


def attach(args: tuple) -> dict:
    """[network] Connect PID 1 to the bridge (network/connect.py); the state to save in the record."""
    from .network import attach_container
    return attach_container(*args)


def attach_in_child(args: tuple) -> dict:
    """attach() in a forked child, its answer back through a pipe: a detached monitor stays as long as
    its container, and the network code (about 3 MB of Python objects) then never enters it."""
    from . import quickjson
    from .proc import wait
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(r)
            spawn.send(w, "ok " + quickjson.dumps(attach(args)))
        except BaseException as exc:  # noqa: BLE001 - everything reaches the monitor
            code = spawn.send_error(w, "connect to the network", exc)
        finally:
            os._exit(code)
    os.close(w)
    try:
        answer = spawn.read_all(r)
    finally:
        os.close(r)
        wait(pid)
    if not answer.startswith("ok "):
        raise spawn.child_error(answer.splitlines()[0] if answer else "", "connect to the network")
    return quickjson.loads(answer[3:])


def launch(c: Container, helper: spawn.Helper, paths: Paths) -> None:
    """runc's `start`: "go" to PID 1; return once the workload runs (its execve), the record saved as running.

    A workload that cannot start (command not found: Docker's 127) raises, with c.exit_code set."""
    helper.go()
    try:
        helper.started("start the container")
    except BaseException as exc:
        c.error = str(exc)  # for `inspect`, and for a `start` that waits on the record (detach.request_start)
        raise
    finally:
        c.exit_code = helper.exit_code  # a start that failed: the helper's status (Docker's 126/127)
    state.transition(c, "start")
    c.exit_code, c.error, c.oom_killed = None, "", False
    save(paths, c)


def tell(fd: int | None, message: str) -> None:
    """One line to the process waiting for this monitor (`run -d`, `create`, `start`); it reads no more."""
    if fd is not None:
        try:
            spawn.send(fd, message)
        except OSError:  # it is gone (killed): nobody to tell
            pass


def hold_until_start(c: Container, paths: Paths) -> bool:
    """`create`: PID 1 waits; so do we, on the container's START_FIFO, until `start` writes "start"
    (True) or `rm` writes "stop" (False). False too if PID 1 was killed meanwhile."""
    import select  # (a created container's monitor only)
    fifo = os.path.join(state_dir(paths, c.id), START_FIFO)
    try:
        os.mkfifo(fifo, 0o600)
    except FileExistsError:
        pass
    fd = os.open(fifo, os.O_RDWR | os.O_CLOEXEC)  # read and write: the open never blocks, no end-of-file
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                line = spawn.read_line(fd)
                if line in ("start", "stop"):
                    return line == "start"
            if not alive(c.pid, c.pid_start):
                return False
    finally:
        os.close(fd)
        try:
            os.unlink(fifo)
        except FileNotFoundError:
            pass


def sleep_unless_stopped(c: Container, paths: Paths, seconds: float) -> bool:
    """The restart policy's pause. False if `stop`/`kill`/`rm` asked for the end meanwhile."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if was_stopped(paths, c) or not os.path.isdir(state_dir(paths, c.id)):
            return False
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
    return not was_stopped(paths, c)


def write_rootless_maps(helper_pid: int) -> None:
    """Rootless: the helper made a user namespace; as its parent we may write its uid/gid maps."""
    from . import namespaces
    namespaces.write_id_maps(helper_pid, *namespaces.rootless_maps())


def finish(c: Container, paths: Paths, undo: Undo) -> None:
    """The bottom of supervise's undo stack: record how it ended, or remove the record (--rm).

    If a release above it failed, the record stays as it is, naming us (soon gone) as its monitor:
    the next command's collect_crashed() tries the teardown again, then records the exit."""
    if undo.failed is not None:
        return
    if c.status != EXITED:
        try:
            state.transition(c, "exit")
        except ContainerError as exc:  # (--yours: your transition, 9.1, failed: the record keeps the first
            c.error = c.error or str(exc)  # error, for `inspect` and for a `start` waiting on it)
            save(paths, c)
            raise
    if c.spec.get("rm"):
        remove(paths, c)
        if c.spec.get("anonymous_volumes"):  # [lesson 09] --rm takes its anonymous volumes too
            from .volumes import remove_anonymous
            remove_anonymous(paths, c.spec["anonymous_volumes"])
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
            state.transition(c, "exit")
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
