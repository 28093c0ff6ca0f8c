"""Containers and their lifecycle: run, exec, stop, kill, rm, ps, logs, inspect (lesson 02).

How run works
=============
`run(spec)` is the runtime's side ("the monitor"); process.py is the container's side.

  1. validate     validate(): flags, network options, the image (image/run.py: name -> layers and
                  config defaults) or --rootfs DIR, the name. Nothing is created if this fails.
  2. create       create(): a state directory <containers_dir>/<id>/ with state.json, hostname,
                  hosts, resolv.conf and (with -d) container.log; status "created". It is made
                  as .new-PID-START-ID and renamed when complete, so a runtime killed half-way
                  leaves nothing that looks like a container (collect_unfinished removes it)
  3. rootfs       an image's layers become a copy-on-write overlay, mounted by PID 1 inside its own
                  mount namespace (process.setup_rootfs -> unionfs.mount_rootfs); --rootfs DIR as is
  4. helper       start_helper(): fork (or spawn `python -I -S` from a threaded caller) the helper,
                  which unshares the namespaces and forks PID 1. PID 1 then BLOCKS on the "go" pipe.
  5. userns       (rootless) the monitor writes the helper's uid_map/gid_map
  6. cgroups      supervise(): cgroups.create(id, limits) before step 4; PID 1 joins it itself
                  (cgroups.join_self) before it forks the workload
  7. network      supervise(): network.attach_container(...) into PID 1's network namespace
  8. go           the monitor writes "go"; PID 1 brings lo up, unshares the cgroup namespace, mounts
                  the rootfs, /proc /dev /sys, binds, pivot_root, masks, hostname; forks and execs
                  the workload. Errors come back on the report pipe as ContainerError with the step
                  (exit_status 127/126 for exec failures, as Docker).
  9. wait         foreground: forward SIGINT/SIGTERM/SIGHUP to PID 1, wait, record the exit code
                  (-d: a detached monitor process does the waiting and the recording)
 10. teardown     in a finally, in reverse order: network, cgroups, unionfs (teardown() below);
                  `sweep()` runs the same teardown for a runtime that was SIGKILLed.

Every mount of steps 4-8 happens inside the container's private mount namespace: when its last
process dies the kernel removes them, so the host's mount table never changes.

State lives in one JSON file per container, written atomically; the states are created -> running
-> exited (runc's state machine without "paused").
"""

from __future__ import annotations

import os
import sys
import time

# `signal` without its enum wrappers: the `signal` module is the C module `_signal` plus IntEnum
# classes for the names, and importing `enum` would cost every `run` ~3 ms. Same functions, same numbers.
import _signal as signal

from . import quickjson  # json's C parser without importing `json` (and `re`): see quickjson.py
from .atomic import write_atomic
from .errors import ContainerError, UsageError
from .launcher import ensure_site_packages
from .paths import Paths
from .proc import alive, start_time, wait
from .record import Record  # a dataclass without the 10-15 ms import of `dataclasses` (see record.py)

STATE_FILE = "state.json"
LOG_FILE = "container.log"
DEFAULT_IMAGE = "busybox"
ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))  # where a fresh helper finds the package


class RunSpec(Record):
    """What `minicontainer run` was asked for. Field names follow Docker's flags."""

    image: str = DEFAULT_IMAGE           # IMAGE: an image name, or a directory to use as the root
    command: list[str] = []  # COMMAND [ARG...]
    rootfs: str | None = None            # --rootfs DIR (minicontainer's own flag: a plain directory)
    name: str = ""                       # --name
    hostname: str = ""                   # -h, --hostname (default: the short id)
    env: list[str] = []      # -e, --env KEY=VALUE (or KEY: take the host's)
    workdir: str = ""                    # -w, --workdir
    user: str = ""                       # -u, --user uid[:gid] or name[:group]
    detach: bool = False                 # -d, --detach
    interactive: bool = False            # -i, --interactive
    tty: bool = False                    # -t, --tty
    rm: bool = False                     # --rm
    volume: list[str] = []   # -v, --volume HOST:CONTAINER[:ro]
    tmpfs: list[str] = []    # --tmpfs PATH[:OPTIONS]
    read_only: bool = False              # --read-only
    init: bool = True                    # --init / --no-init: a reaping PID 1 (Docker's default is off)
    network: str = "none"                # --network: "none" = loopback only (lesson 07 adds "bridge")
    publish: list[str] = []  # -p, --publish HOST:CONTAINER (lesson 07)
    resources: object | None = None      # --memory/--cpus/--pids-limit, filled by lesson 03 (cgroups)
    userns: str = ""                     # --userns: "" = a user namespace only when not root; "host"; "private"
    entrypoint: str | None = None        # --entrypoint (lesson 05: overrides the image's Entrypoint and Cmd)


class Container(Record):
    """One container's state, saved as JSON in <containers_dir>/<id>/state.json."""

    id: str
    name: str
    image: str
    command: list[str]
    rootfs: str
    status: str = "created"              # created -> running -> exited
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


def default_paths() -> Paths:
    """Paths.from_env(); when not root and MC_RUN_DIR is unset, a run directory the user may write."""
    paths = Paths.from_env()
    if os.geteuid() != 0 and "MC_RUN_DIR" not in os.environ:
        base = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/minicontainer-{os.getuid()}"
        paths = Paths(paths.lib_root, os.path.join(base, "minicontainer"))
    return paths


# --- state on disk --------------------------------------------------------------------------
# (Paths here are strings joined with os.path: `run` does not import pathlib, see paths.py.)

def state_dir(paths: Paths, cid: str) -> str:
    return os.path.join(paths.containers_root, cid)


def save(paths: Paths, c: Container) -> None:
    """Write state.json atomically (write a temporary file, then rename it over the old one)."""
    write_state(state_dir(paths, c.id), c)


def write_state(d: str, c: Container) -> None:
    write_atomic(os.path.join(d, STATE_FILE), quickjson.dumps(c.to_dict(), indent=1))


# A container's directory is made under a temporary name, `.new-PID-START-ID` (the runtime that makes
# it), and renamed to its id once state.json is in it: a runtime killed half-way leaves no directory
# without a state file, which no command would ever find. collect_unfinished() removes those of
# runtimes that died.
NEW_PREFIX = ".new-"


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


def is_running(c: Container) -> bool:
    return c.status == "running" and alive(c.pid, c.pid_start)


# --- validating and creating ----------------------------------------------------------------

def resolve_rootfs(spec: RunSpec, paths: Paths) -> str:
    """The directory the container's root will be. [images/unionfs: resolve image references here.]"""
    if spec.rootfs:
        candidate = spec.rootfs
    elif spec.image == DEFAULT_IMAGE or spec.image == "":
        candidate = os.path.join(paths.lib_root, "rootfs", "busybox")  # paths.default_rootfs
    elif "/" in spec.image or spec.image.startswith("."):
        candidate = spec.image
    else:
        raise ContainerError(f"Unable to find image '{spec.image}' locally", step="resolve image",
                             path=spec.image, fix="give a rootfs directory (--rootfs DIR), or use 'busybox'")
    if not os.path.isdir(candidate):
        raise ContainerError("root filesystem not found", step="resolve image", path=candidate,
                             fix="build the default one with `make lab` (minicontainer prepare), "
                                 "or give an existing directory")
    return os.path.realpath(candidate)


def _parse_volume(text: str) -> tuple[str, str, bool]:
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1] or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
        raise UsageError(f"invalid volume specification: '{text}'", step="parse -v",
                         fix="use -v /host/path:/container/path[:ro]")
    source, target = parts[0], parts[1]
    if not os.path.isabs(source) or not os.path.isabs(target):
        raise UsageError(f"invalid volume specification: '{text}': paths must be absolute", step="parse -v",
                         fix="use absolute paths: -v /host/path:/container/path")
    if not os.path.exists(source):
        raise ContainerError("bind source path does not exist", step="parse -v", path=source,
                             fix="create it on the host first")
    return os.path.realpath(source), os.path.normpath(target), len(parts) == 3 and parts[2] == "ro"


def _parse_tmpfs(text: str) -> tuple[str, str]:
    target, _, options = text.partition(":")
    if not os.path.isabs(target):
        raise UsageError(f"invalid tmpfs path '{target}': must be absolute", step="parse --tmpfs",
                         fix="use --tmpfs /path[:size=64m]")
    return os.path.normpath(target), options


def _environment(spec: RunSpec, hostname: str) -> list[str]:
    from .process import DEFAULT_PATH
    env = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname}
    if spec.tty:
        env["TERM"] = "xterm"
    for item in spec.env:
        key, eq, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid environment variable: {item}", step="parse -e", fix="use -e KEY=VALUE")
        if eq:
            env[key] = value
        elif key in os.environ:
            env[key] = os.environ[key]
    return [f"{k}={v}" for k, v in env.items()]


def _uses_userns(spec: RunSpec) -> bool:
    if spec.userns not in ("", "host", "private"):
        raise UsageError(f"invalid --userns value {spec.userns!r}", step="parse --userns",
                         fix="use --userns=host or --userns=private")
    return spec.userns == "private" or (spec.userns == "" and os.geteuid() != 0)


def validate(spec: RunSpec, paths: Paths) -> dict:
    """Check every flag before anything is created; returns the parsed pieces."""
    from_image = None  # [images] lesson 05: an image name -> its unpacked layers and config defaults
    if not spec.rootfs and spec.image and not spec.image.startswith(("/", ".")):
        from .image.run import for_run
        from_image = for_run(paths, spec.image, spec.command, spec.entrypoint)
        if from_image is None:  # [registry] lesson 06: pull a missing image named with a registry host
            ensure_site_packages()  # the fast launcher skipped site-packages; a pull may need them
            from .registry.pull import pull_if_missing
            if pull_if_missing(paths, spec.image):
                from_image = for_run(paths, spec.image, spec.command, spec.entrypoint)
        if from_image is not None:
            spec.command = from_image.argv
            spec.env = from_image.env + list(spec.env)
            spec.workdir = spec.workdir or from_image.workdir
            spec.user = spec.user or from_image.user
    if not spec.command:
        raise UsageError("requires at least a command to run", step="parse arguments",
                         fix="minicontainer run [OPTIONS] IMAGE COMMAND [ARG...]")
    if spec.name and not _valid_name(spec.name):
        raise UsageError(f"Invalid container name ({spec.name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                         step="parse --name", fix="pick a name made of letters, digits, '_', '.' and '-'")
    if spec.detach and spec.rm is None:
        pass
    network_pid = 0
    if spec.network != "none" or spec.publish:  # lesson 07: --network and -p (nothing imported for "none")
        ensure_site_packages()  # pyroute2 lives in site-packages, which the fast launcher skips
        from .network import check_run_options
        network_pid = check_run_options(spec.network, spec.publish, lambda ref: find(paths, ref))
    userns = _uses_userns(spec)
    if spec.network == "host" and userns:
        raise UsageError("--network host is not available in rootless mode", step="parse --network",
                         fix="run as root, or use --network none")
    if _resources(spec) and userns:  # [cgroups] lesson 03
        raise UsageError("resource limits (--memory, --cpus, --pids-limit ...) need root", step="parse resource flags",
                         fix="run as root, or without the resource flags")
    rootfs = str(from_image.layers[-1]) if from_image else resolve_rootfs(spec, paths)
    # [unionfs] lesson 04: an image gets a copy-on-write root, an overlay of its layers (bottom first)
    # with the upper dir in the container's state dir; --rootfs DIR (and rootless mode) stays a plain
    # directory. [images: an image reference resolves to its layer directories here.]
    layers = None if spec.rootfs or userns else [rootfs]
    if from_image is not None and not userns:
        layers = [str(p) for p in from_image.layers]
    elif from_image is not None:  # [images] without overlay the container would write into shared layers
        raise ContainerError(f"image {spec.image!r} cannot run in a user namespace yet (its layers are shared "
                             "and need an overlay)", step="resolve image",
                             fix="run as root without --userns private, or use --rootfs DIR with a copy")
    binds = [_parse_volume(v) for v in spec.volume]
    tmpfs = [_parse_tmpfs(t) for t in spec.tmpfs]
    if spec.name:
        for other in all_containers(paths):
            if other.name == spec.name:
                raise ContainerError(f'Conflict. The container name "/{spec.name}" is already in use by container '
                                     f'"{other.id}"', step="name the container",
                                     fix="remove that container (minicontainer rm) or choose another --name")
    return {"rootfs": rootfs, "binds": binds, "tmpfs": tmpfs, "userns": userns, "layers": layers,
            "cgroup": not userns and (bool(_resources(spec)) or _cgroups_available()),
            "network_pid": network_pid, "image_digest": from_image.manifest_digest if from_image else ""}


def _resources(spec: RunSpec) -> dict | None:
    """[cgroups] spec.resources (a cgroups.Limits, or a dict of its fields) as a plain dict, None if empty."""
    r = spec.resources
    if r is None:
        return None
    d = r.to_dict() if hasattr(r, "to_dict") else {k: v for k, v in dict(r).items() if v is not None}
    return d or None


def _cgroups_available() -> bool:
    """[cgroups] Whether this host has a cgroup filesystem (a container without limits runs without one)."""
    from . import cgroups
    return cgroups.available()


def _valid_name(name: str) -> bool:
    ok = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
    return name[0].isalnum() and all(ch in ok for ch in name)


def create(spec: RunSpec, paths: Paths) -> tuple[Container, dict]:
    """Steps 1-2: validate, then make the state directory. Returns the container and the helper's config."""
    parsed = validate(spec, paths)
    cid = os.urandom(32).hex()
    name = spec.name or f"mc_{cid[:8]}"
    hostname = spec.hostname or cid[:12]
    d = state_dir(paths, cid)  # where the directory will be: its files are named by this path
    me, my_start = os.getpid(), start_time(os.getpid())  # we supervise it until a monitor takes over
    building = os.path.join(paths.containers_root, f"{NEW_PREFIX}{me}-{my_start}-{cid}")  # renamed to d below
    os.makedirs(building, mode=0o711)
    from .rootfs import etc_files
    etc = {}
    for fname, text in etc_files(hostname).items():
        etc[fname] = os.path.join(d, fname)
        with open(os.path.join(building, fname), "w") as f:
            f.write(text)
    spec_dict = spec.to_dict()
    spec_dict["resources"] = _resources(spec)  # [cgroups] the limits as a dict (JSON), or None
    spec_dict["cgroup"] = parsed["cgroup"]  # [cgroups] whether the container gets a group of its own
    spec_dict["env_resolved"] = _environment(spec, hostname)  # what `exec` starts with too
    spec_dict["image_digest"] = parsed["image_digest"]  # [images] what `commit` builds on
    if parsed["layers"]:  # [unionfs] PID 1 mounts the layers here, in its own mount namespace
        parsed["rootfs"] = os.path.join(d, "rootfs")
        spec_dict["layers"] = parsed["layers"]
    c = Container(id=cid, name=name, image=spec.rootfs or spec.image, command=list(spec.command),
                  rootfs=parsed["rootfs"], created=time.time(), spec=spec_dict, monitor_pid=me,
                  monitor_start=my_start)
    namespaces = ["mnt", "uts", "ipc", "pid", "cgroup"]
    if spec.network != "host" and not parsed["network_pid"]:  # container:NAME joins that one's instead
        namespaces.append("net")
    if parsed["userns"]:
        namespaces.append("user")
    cfg = {
        "rootfs": parsed["rootfs"], "argv": list(spec.command), "env": _environment(spec, hostname),
        "workdir": spec.workdir, "user": spec.user, "hostname": hostname, "namespaces": namespaces,
        "userns": parsed["userns"], "init": spec.init, "tty": spec.tty, "binds": parsed["binds"],
        "tmpfs": parsed["tmpfs"], "etc_files": etc, "read_only": spec.read_only, "console": "",
        "runtime_pid": os.getpid(), "layers": parsed["layers"], "container_dir": str(d),
        "network_pid": parsed["network_pid"],
    }
    if parsed["layers"]:  # [unionfs] decided here, where it is cheaper than in PID 1 (see unionfs.plan)
        from . import unionfs
        cfg.update(unionfs.plan(building))
    write_state(building, c)
    os.rename(building, d)
    return c, cfg


# --- running --------------------------------------------------------------------------------

def run(spec: RunSpec, paths: Paths | None = None, output: int | None = None) -> Container:
    """Create and start a container. Foreground: wait and return its final state; -d: return once started.

    `output`: a file descriptor for the workload's stdout and stderr (default: ours)."""
    paths = paths or default_paths()
    collect_crashed(paths)
    c, cfg = create(spec, paths)
    try:
        if spec.detach:
            from .detach import start_detached  # -d: a monitor process waits for the container
            return start_detached(c, cfg, paths)
        stdio = (0 if spec.interactive or spec.tty else _devnull(), 1 if output is None else output,
                 2 if output is None else output)
        return supervise(c, cfg, paths, stdio)
    except BaseException:
        if spec.rm or c.status == "created":
            remove_state(paths, c)
        raise


def run_printed(image: str = DEFAULT_IMAGE, command: list[str] | None = None, paths: Paths | None = None,
                **flags: object) -> Container:
    """`minicontainer.run(...)` for notebooks: run (with --rm unless rm=False), print the output, return the state.

    A notebook shows what Python prints, not what a child process writes on the kernel's own
    stdout; so the workload writes to a temporary file, printed when it exits."""
    import tempfile
    flags.setdefault("rm", True)
    if image.startswith("/") and "rootfs" not in flags:
        flags["rootfs"] = image
    spec = RunSpec(image=image, command=list(command or []), **flags)
    with tempfile.TemporaryFile() as out:
        c = run(spec, paths, output=None if spec.detach else out.fileno())
        out.seek(0)
        print(out.read().decode(errors="replace"), end="")
    return c


def _devnull() -> int:
    return os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)


def _single_threaded() -> bool:
    """fork() is safe only in a process with one thread (a Jupyter kernel has several)."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def fork_child(target, cfg: dict, go_r: int, report_w: int, stdio: tuple[int, int, int],
               close: tuple[int, ...] = ()) -> int:
    """Fork; the child drops our pipe ends, takes `stdio` as fds 0-2 and runs target(cfg, go_r, report_w).

    The child never returns into the caller's code: it leaves with os._exit (125 if target raised)."""
    pid = os.fork()
    if pid == 0:
        code = 125
        try:
            for fd in close:
                os.close(fd)
            for fd_number, fd in enumerate(stdio):
                if fd != fd_number:
                    os.dup2(fd, fd_number)
            code = target(cfg, go_r, report_w)
        finally:
            os._exit(code)
    return pid


def start_helper(cfg: dict, stdio: tuple[int, int, int], go_r: int, report_w: int,
                 close: tuple[int, ...] = (), entry: str = "helper") -> int:
    """Step 4: a fresh process for the namespace work. Returns its PID.

    `entry`: the function of process.py it runs: "helper" (run) or "exec_helper" (exec).
    `close`: our ends of the pipes, which the child must not keep (or it would never see EOF)."""
    if _single_threaded():
        from . import process
        return fork_child(getattr(process, entry), cfg, go_r, report_w, stdio, close)
    import subprocess
    cfg_r, cfg_w = os.pipe()
    cfg = dict(cfg, go_fd=go_r, report_fd=report_w, runtime_pid=os.getpid(), entry=entry)
    boot = (f"import sys; sys.path.insert(0, {ROOT!r}); import os; os.set_inheritable({report_w}, False); "
            "from minicontainer.process import main; main()")
    proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", boot, str(cfg_r)], pass_fds=(cfg_r, go_r, report_w),
                            stdin=stdio[0], stdout=stdio[1], stderr=stdio[2])
    os.close(cfg_r)
    with os.fdopen(cfg_w, "w") as f:
        f.write(quickjson.dumps(cfg))
    proc.returncode = 0  # we reap it ourselves with waitpid; stop Popen from trying again
    return proc.pid


def supervise(c: Container, cfg: dict, paths: Paths, stdio: tuple[int, int, int],
              notify: int | None = None) -> Container:
    """Steps 4-10: start the container, wait for it, tear down. `notify` gets "started" (detached)."""
    from .process import read_line, send
    go_r, go_w = os.pipe()
    report_r, report_w = os.pipe()
    helper_pid = 0
    old_handlers: dict = {}
    tty = None
    try:
        # Who supervises, on disk before anything else exists: a later command that finds this record
        # with a dead monitor collects it at once (cgroup, veth, lease) (collect_crashed). create()
        # wrote our PID already; a detached monitor (detach.py) takes over from the `run -d` here.
        if c.monitor_pid != os.getpid():
            c.monitor_pid, c.monitor_start = os.getpid(), start_time(os.getpid())
            save(paths, c)
        if cfg["tty"]:
            from .terminal import Terminal
            tty = Terminal.open(stdio)
            stdio = (tty.slave, tty.slave, tty.slave)
            cfg["console"] = os.ttyname(tty.slave)
        # ---- [cgroups] step 6: the container's cgroup exists before PID 1 does; PID 1 joins it itself
        #      (writing "0" moves the writer: no waiting for the kernel as when we move another process)
        #      Every container of the real root gets one, with or without limits (as Docker's do):
        #      `stats` counts what it uses, and it sees its own group at /sys/fs/cgroup.
        if c.spec.get("cgroup"):
            from . import cgroups
            group = cgroups.create(c.id, cgroups.Limits.from_dict(c.spec["resources"]))
            cfg["cgroup_files"] = group.join_files()
            cfg["cgroup_mounts"] = cgroups.namespace_mounts(group.setup)
        if cfg.get("layers"):  # [unionfs] imported once, here: PID 1 (a fork of us) mounts with it, we tear down
            from . import unionfs  # noqa: F401
        helper_pid = start_helper(cfg, stdio, go_r, report_w, close=(go_w, report_r))
        os.close(go_r)
        os.close(report_w)
        if tty:
            os.close(tty.slave)
        message = read_line(report_r)
        if message == "userns":                                    # step 5
            from .namespaces import rootless_maps, write_id_maps
            write_id_maps(helper_pid, *rootless_maps())
            send(go_w, "maps")
            message = read_line(report_r)
        if not message.startswith("pid "):
            raise _child_error(message, "create namespaces")
        c.pid = int(message.split()[1])
        c.pid_start = start_time(c.pid)
        # ---- [network] step 7: PID 1's network namespace exists (PID 1 brings lo up itself):
        if c.spec["network"] == "bridge":
            from .network import attach_container
            c.spec["network_state"] = attach_container(c.id, c.pid, c.name, cfg["hostname"], c.spec["publish"],
                                                       state_dir(paths, c.id), paths)
        send(go_w, "go")                                           # step 8
        os.close(go_w)
        go_w = -1
        c.status, c.started = "running", time.time()
        save(paths, c)  # (after "go": PID 1 sets up the container meanwhile)
        rest = _read_all(report_r)
        if rest:
            line = rest.splitlines()[0]
            c.exit_code = wait(helper_pid)
            helper_pid = 0
            raise _child_error(line, "start the container")
        if notify is not None:
            send(notify, "started")
            os.close(notify)
            notify = None
        old_handlers = _forward_signals(c.pid)                     # step 9
        if tty:
            tty.pump()
        c.exit_code = wait(helper_pid)
        helper_pid = 0
        c.status, c.finished = "exited", time.time()
        return c
    finally:
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
        if tty:
            tty.close()
        if helper_pid:  # something failed half-way: nothing may stay behind
            _kill_and_reap(helper_pid, c)
        elif c.pid and alive(c.pid, c.pid_start):  # the helper is gone but PID 1 is not (killed by hand?)
            _kill_container(c)
        for fd in (go_w, report_r):
            if fd >= 0:
                os.close(fd)
        teardown(c, paths)                                         # step 10
        if c.status != "exited":
            c.status = "exited"
            c.finished = time.time()
        if c.spec.get("rm"):
            remove_state(paths, c)
        else:
            save(paths, c)


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks).decode()
        chunks.append(chunk)


def _child_error(line: str, step: str) -> ContainerError:
    """Turn the container's JSON error line into a ContainerError (exit_status: Docker's code)."""
    if line.startswith("error "):
        info = quickjson.loads(line[6:])
        err = ContainerError(info["message"], step=info["step"], path=info.get("path", ""), fix=info.get("fix", ""))
        err.exit_status = info.get("exit", 125)
        return err
    err = ContainerError("the container's helper exited before it was ready", step=step,
                         fix="run `minicontainer doctor` to check this host supports namespaces")
    err.exit_status = 125
    return err


def _kill_and_reap(helper_pid: int, c: Container) -> None:
    if c.pid and alive(c.pid, c.pid_start):
        try:
            os.kill(c.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.kill(helper_pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    wait(helper_pid)


def _forward_signals(pid: int) -> dict:
    """Foreground runs: the terminal's Ctrl-C (and kill of the runtime) goes on to the container's PID 1."""
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
    return old


# --- teardown and crashed runs --------------------------------------------------------------

def teardown(c: Container, paths: Paths) -> None:
    """Step 10, in reverse order of set-up. Must be idempotent: sweep() may call it again.

    The mounts need nothing: they lived in the container's mount namespace.
    """
    if c.spec.get("network") == "bridge":  # step 7 in reverse: veth, address lease, nft rules
        ensure_site_packages()
        from .network import detach
        detach(c.id, paths)
    if c.spec.get("cgroup") or c.spec.get("resources"):  # step 6 in reverse: kill what is left, note OOM
        # kills, remove the group
        from . import cgroups
        last = cgroups.remove(c.id)
        if last is not None and last.oom_kills:
            c.oom_killed = True
    # ---- [unionfs] step 3 in reverse: the overlay lived in the container's mount namespace; this
    #      only unmounts one left on the host (a rootfs mounted by hand there); upper/ stays for diff.
    if c.spec.get("layers"):
        from . import unionfs
        unionfs.release(state_dir(paths, c.id))
    return None


def remove_state(paths: Paths, c: Container) -> None:
    """Delete the container's directory: state.json, the /etc files, an empty upper/ and work/."""
    remove_tree(state_dir(paths, c.id))


def remove_tree(path: str) -> None:
    """`rm -rf` for a container's own small directory; what is already gone is fine (`rm -f` and a
    --rm monitor may both be removing it).

    (shutil.rmtree would do, but importing shutil costs every `run --rm` ~1 ms: it imports zlib, bz2, lzma.)"""
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


def _kill_container(c: Container, sig: int = signal.SIGKILL, wait: float = 5.0) -> None:
    """Kill PID 1 (the kernel then kills everything in its PID namespace) and wait until it is gone."""
    if not alive(c.pid, c.pid_start):
        return
    try:
        os.kill(c.pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + wait
    while alive(c.pid, c.pid_start) and time.monotonic() < deadline:
        time.sleep(0.005)


def collect_crashed(paths: Paths) -> list[str]:
    """Containers whose runtime was killed: kill what is left, tear down, mark exited. Returns what was done."""
    done = collect_unfinished(paths)
    for c in all_containers(paths):
        if c.status == "exited" or alive(c.monitor_pid, c.monitor_start):
            continue  # (every record names its monitor from the start: create() writes it)
        _kill_container(c)
        teardown(c, paths)
        if c.spec.get("rm"):
            remove_state(paths, c)
            done.append(f"removed crashed container {c.short_id}")
        else:
            c.status, c.exit_code, c.finished = "exited", 137 if c.exit_code is None else c.exit_code, time.time()
            c.error = "the runtime that supervised this container was killed"
            save(paths, c)
            done.append(f"collected crashed container {c.short_id}")
    return done


def sweep(paths: Paths) -> list[str]:
    """`minicontainer reset`: kill every container of this course, tear each down, remove all state."""
    done = collect_unfinished(paths)
    for c in all_containers(paths):
        if alive(c.pid, c.pid_start):
            _kill_container(c)
            done.append(f"killed container {c.short_id} ({c.name})")
        if c.monitor_pid and c.monitor_pid != os.getpid():
            deadline = time.monotonic() + 2
            while alive(c.monitor_pid, c.monitor_start) and time.monotonic() < deadline:
                time.sleep(0.005)
        teardown(c, paths)
        remove_state(paths, c)
        done.append(f"removed container {c.short_id}")
    return done


def __getattr__(name: str):
    """The other lifecycle commands live in lifecycle.py, loaded only when used (`run` does not need them)."""
    if name in ("wait_exited", "kill", "stop", "rm", "logs_path", "exec_in"):
        from . import lifecycle
        return getattr(lifecycle, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
