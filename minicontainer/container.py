"""Running a container: what `run` was asked for, checked, created and started (lesson 02).

This module is the front door of the runtime: `run(spec)` here, and the container's other verbs
(stop, kill, rm, exec, logs, ps) below, each living in the module of its step of the container's life:

    container.py   RunSpec (Docker's flags), validate(), create(), run()         <- you are here
    state.py       the record (state.json) and its states: created -> running -> exited
    spawn.py       starting the helper, and the go/report handshake with it (run, run -d, exec)
    process.py     the container's side: the helper, PID 1 (mc-init), the workload
    monitor.py     supervise (wait, forward signals), teardown, collecting crashed runtimes
    detach.py      run -d: a monitor process of its own
    lifecycle.py   stop, kill, rm, exec, logs

How run works
=============
  1. validate     validate(): flags, network options, the image (image/run.py: name -> layers and
                  config defaults) or --rootfs DIR, the name. Nothing is created if this fails.
  2. create       create(): a state directory <containers_dir>/<id>/ with state.json, hostname,
                  hosts, resolv.conf and (with -d) container.log; status "created". It is made
                  as .new-PID-START-ID and renamed when complete (state.py), so a runtime killed
                  half-way leaves nothing that looks like a container
  3. supervise    monitor.supervise() (with -d in a monitor process of its own, detach.py):
                  [cgroups] the container's cgroup; the helper and PID 1 (spawn.py, process.py), which
                  unshares the namespaces and BLOCKS on the "go" pipe; (rootless) the uid/gid maps;
                  [network] a veth into PID 1's network namespace; then "go": PID 1 brings lo up,
                  joins its cgroup, mounts the rootfs ([unionfs] an overlay of the image's layers),
                  /proc /dev /sys, binds, pivot_root, masks, hostname; forks and execs the workload.
                  Errors come back on the report pipe as ContainerError with the step (exit_status
                  127/126 for exec failures, as Docker)
  4. wait         foreground: forward SIGINT/SIGTERM/SIGHUP to PID 1, wait, record the exit code
  5. teardown     in reverse order of set-up, whatever happened: network, cgroup, unionfs (monitor.py);
                  the next command does the same for a runtime that was SIGKILLed (collect_crashed)

Every mount of steps 3-4 happens inside the container's private mount namespace: when its last
process dies the kernel removes them, so the host's mount table never changes.
"""

from __future__ import annotations

import os
import time

from .errors import ContainerError, UsageError
from .launcher import ensure_site_packages
from .lifecycle import exec_in, kill, logs_path, restart, rm, start, stop, wait_exited
from .monitor import collect_crashed, supervise, sweep, teardown
from .paths import Paths, default_paths
from .proc import alive, start_time
from .record import Record  # a dataclass without importing dataclasses: saves ~13 ms a run (bench/bench_start_tricks.py)
from .state import (CREATED, SECCOMP_FILE, Container, all_containers, find, is_running, load, new_dir, publish, remove,
                    save_config, state_dir)

# The container's verbs by name, for Python callers (the CLI, notebooks, tests): `container.run(spec)`,
# `container.stop(paths, "web")`, `container.find(paths, "web")` ... each written in the module of its step.
__all__ = ["RunSpec", "Container", "validate", "create", "create_held", "run", "run_printed", "exec_in", "start",
           "restart", "stop", "kill", "rm",
           "wait_exited", "logs_path", "find", "load", "all_containers", "is_running", "alive", "collect_crashed",
           "sweep", "default_paths", "state_dir"]

DEFAULT_IMAGE = "busybox"


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
    no_pivot: bool = False               # --no-pivot: chroot into the root instead of pivot_root (runc's flag)
    init: bool = False                   # --init: mc-init as PID 1, reaping and forwarding (Docker's default: off)
    restart: str = "no"                  # --restart no|on-failure[:N]|always|unless-stopped (lesson 09)
    network: str = "default"             # --network: Docker's default, the bridge (see default_network); none,
                                         # host, container:NAME (lesson 07)
    publish: list[str] = []  # -p, --publish HOST:CONTAINER (lesson 07)
    publish_all: bool = False            # -P, --publish-all: each port the image EXPOSEs, on a free host port
    resources: object | None = None      # --memory/--cpus/--pids-limit, filled by lesson 03 (cgroups)
    userns: str = ""                     # --userns: "" = a user namespace only when not root; "host"; "private"
    entrypoint: str | None = None        # --entrypoint (lesson 05: overrides the image's Entrypoint and Cmd)
    privileged: bool = False             # --privileged (lesson 08: every capability, no filter, all devices)
    cap_add: list[str] = []  # --cap-add NAME (lesson 08)
    cap_drop: list[str] = []  # --cap-drop NAME
    security_opt: list[str] = []  # --security-opt seccomp=...|no-new-privileges[=...]
    device: list[str] = []   # --device HOST[:CONTAINER][:rwm]


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


def _parse_volume(text: str) -> tuple[str, str, bool, str, bool]:
    """-v HOST:CONTAINER[:ro], -v NAME:CONTAINER[:ro] (a named volume, lesson 09) or -v CONTAINER (an
    anonymous one). Returns (host source, target, read-only, volume name, anonymous); a volume's
    source is "" until create() makes it."""
    parts = text.split(":")
    fix = "use -v /host/path:/container/path[:ro], -v NAME:/container/path or -v /container/path"
    if len(parts) == 1 and parts[0].startswith("/"):  # -v /data: an anonymous volume
        return "", os.path.normpath(parts[0]), False, os.urandom(32).hex(), True
    if len(parts) not in (2, 3) or not parts[0] or not parts[1] or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
        raise UsageError(f"invalid volume specification: '{text}'", step="parse -v", fix=fix)
    source, target, read_only = parts[0], parts[1], len(parts) == 3 and parts[2] == "ro"
    if not os.path.isabs(target):
        raise UsageError(f"invalid volume specification: '{text}': paths must be absolute", step="parse -v", fix=fix)
    if not source.startswith(("/", ".")):  # a name: a volume the runtime keeps (volumes.py)
        from .volumes import check_name
        check_name(source)
        return "", os.path.normpath(target), read_only, source, False
    source = os.path.abspath(source)  # (Docker's CLI makes ./dir absolute too)
    if not os.path.exists(source):
        raise ContainerError("bind source path does not exist", step="parse -v", path=source,
                             fix="create it on the host first")
    return os.path.realpath(source), os.path.normpath(target), read_only, "", False


def _parse_tmpfs(text: str) -> tuple[str, str]:
    target, _, options = text.partition(":")
    if not os.path.isabs(target):
        raise UsageError(f"invalid tmpfs path '{target}': must be absolute", step="parse --tmpfs",
                         fix="use --tmpfs /path[:size=64m]")
    return os.path.normpath(target), options


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
            if spec.publish_all:  # -P: every exposed port on a host port the kernel picks (as `-p 80`)
                spec.publish = list(spec.publish) + list(from_image.exposed)
    if not spec.command:
        raise UsageError("requires at least a command to run", step="parse arguments",
                         fix="minicontainer run [OPTIONS] IMAGE COMMAND [ARG...]")
    if spec.restart not in ("", "no"):  # [lesson 09] a restart policy, kept by the container's monitor
        from .restart import parse
        parse(spec.restart)
        if spec.rm:
            raise UsageError("can't create 'AutoRemove' container with restart policy", step="parse --restart",
                             fix="use --rm or --restart, not both")
    if spec.name and not _valid_name(spec.name):
        raise UsageError(f"Invalid container name ({spec.name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                         step="parse --name", fix="pick a name made of letters, digits, '_', '.' and '-'")
    network_pid = 0
    if spec.network == "default":
        spec.network = default_network(_uses_userns(spec))
    if spec.network != "none" or spec.publish:  # lesson 07: --network and -p (nothing imported for "none")
        from .network import check_run_options
        network_pid = check_run_options(spec.network, spec.publish, lambda ref: _running_pid(paths, ref))
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
    if layers is None:  # [lesson 09] --rootfs DIR is shared: a mount point it lacks must not be made in it,
        from .rootfs import MOUNT_POINTS, missing_mount_points  # so it gets a layer of its own (an overlay
        targets = [*MOUNT_POINTS, *(b[1] for b in binds), *(t for t, _ in tmpfs)]  # with DIR as its only
        if missing_mount_points(rootfs, targets):  # lower layer) to make them in, as an image does
            layers = [rootfs]
    # [security] lesson 08: capabilities, the seccomp program, no_new_privs, device rules (security/)
    from . import security
    sec = security.plan(spec.privileged, spec.cap_add, spec.cap_drop, spec.security_opt, spec.device,
                        rootless=userns, init=spec.init)
    if spec.name:
        for other in all_containers(paths):
            if other.name == spec.name:
                raise ContainerError(f'Conflict. The container name "/{spec.name}" is already in use by container '
                                     f'"{other.id}"', step="name the container",
                                     fix="remove that container (minicontainer rm) or choose another --name")
    return {"rootfs": rootfs, "binds": binds, "tmpfs": tmpfs, "userns": userns, "layers": layers,
            "cgroup": not userns and (bool(_resources(spec)) or _cgroups_available()),
            "network_pid": network_pid, "image_digest": from_image.manifest_digest if from_image else "",
            "security": sec}


def default_network(rootless: bool, daemon_json: str | None = None) -> str:
    """--network's default: the bridge, as Docker's. "none" when rootless (a bridge needs root; Docker's
    rootless mode brings slirp4netns instead), or when daemon.json says `"bridge": "none"` (Docker's
    knob for a daemon without a default bridge: dockerd --bridge=none; MC_DAEMON_JSON names the file)."""
    if rootless:
        return "none"
    path = daemon_json or os.environ.get("MC_DAEMON_JSON") or "/etc/docker/daemon.json"
    try:
        with open(path, "rb") as f:
            from .quickjson import loads
            settings = loads(f.read())
    except (OSError, ValueError):
        settings = {}
    return "none" if isinstance(settings, dict) and settings.get("bridge") == "none" else "bridge"


def _running_pid(paths: Paths, ref: str) -> int:
    """[network] --network container:NAME: the PID 1 of that container, 0 if it is not running."""
    c = find(paths, ref)
    return c.pid if is_running(c) else 0


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
    from .workload import environment
    env = environment(spec.env, spec.tty, hostname)  # (checks -e before anything is made)
    d = state_dir(paths, cid)  # where the directory will be: its files are named by this path
    me, my_start = os.getpid(), start_time(os.getpid())  # we supervise it until a monitor takes over
    building = new_dir(paths, cid, me, my_start)  # renamed to d by publish() below
    from .rootfs import etc_files
    etc = {}
    for fname, text in etc_files(hostname).items():
        etc[fname] = os.path.join(d, fname)
        with open(os.path.join(building, fname), "w") as f:
            f.write(text)
    spec_dict = spec.to_dict()
    spec_dict["resources"] = _resources(spec)  # [cgroups] the limits as a dict (JSON), or None
    spec_dict["cgroup"] = parsed["cgroup"]  # [cgroups] whether the container gets a group of its own
    spec_dict["env_resolved"] = env  # what `exec` starts with too
    spec_dict["image_digest"] = parsed["image_digest"]  # [images] what `commit` builds on
    sec = parsed["security"]  # [security] what inspect shows; the program is kept beside, for exec
    spec_dict["security"] = {k: v for k, v in sec.items() if k != "program"}
    if sec["program"]:
        with open(os.path.join(building, SECCOMP_FILE), "w") as f:
            f.write(sec["program"])
    if parsed["layers"]:  # [unionfs] PID 1 mounts the layers here, in its own mount namespace
        parsed["rootfs"] = os.path.join(d, "rootfs")
        spec_dict["layers"] = parsed["layers"]
    binds, volume_dirs, anonymous = [], {}, []
    for source, target, read_only, volume, unnamed in parsed["binds"]:  # [lesson 09] named and anonymous volumes
        if volume:
            from . import volumes
            source = volume_dirs[volume] = volumes.data_dir(paths, volumes.create(paths, volume))
            if unnamed:
                anonymous.append(volume)  # (`run --rm` and `rm -v` delete it with the container)
        binds.append((source, target, read_only))
    spec_dict["volume_dirs"], spec_dict["anonymous_volumes"] = volume_dirs, anonymous
    c = Container(id=cid, name=name, image=spec.rootfs or spec.image, command=list(spec.command),
                  rootfs=parsed["rootfs"], created=time.time(), spec=spec_dict, monitor_pid=me,
                  monitor_start=my_start)
    namespaces = ["mnt", "uts", "ipc", "pid", "cgroup"]
    if spec.network != "host" and not parsed["network_pid"]:  # container:NAME joins that one's instead
        namespaces.append("net")
    if parsed["userns"]:
        namespaces.append("user")
    cfg = {
        "rootfs": parsed["rootfs"], "argv": list(spec.command), "env": env,
        "workdir": spec.workdir, "user": spec.user, "hostname": hostname, "namespaces": namespaces,
        "userns": parsed["userns"], "init": spec.init, "tty": spec.tty, "binds": binds,
        "volumes": [[source, target] for source, target, _ in binds if source in volume_dirs.values()],
        "tmpfs": parsed["tmpfs"], "etc_files": etc, "read_only": spec.read_only, "console": "",
        "no_pivot": spec.no_pivot,
        "layers": parsed["layers"], "container_dir": str(d),
        "network_pid": parsed["network_pid"], "security": sec,
    }
    if parsed["layers"]:  # [unionfs] decided here, where it is cheaper than in PID 1 (see unionfs.plan)
        from . import unionfs
        cfg.update(unionfs.plan(building))
    save_config(building, cfg)  # [lesson 09] every later `start` begins from it
    publish(paths, building, c)
    return c, cfg


# --- running --------------------------------------------------------------------------------

def use_implementation() -> None:
    """MC_IMPL=yours (a notebook sets it, or `--yours`): the runtime calls the learner's functions
    (seams.py). Without it nothing happens, and seams.py is not even imported."""
    import sys
    if os.environ.get("MC_IMPL") or "minicontainer.seams" in sys.modules:
        from . import seams
        seams.use()


def run(spec: RunSpec, paths: Paths | None = None, output: int | None = None) -> Container:
    """Create and start a container. Foreground: wait and return its final state; -d: return once started.

    `output`: a file descriptor for the workload's stdout and stderr (default: ours)."""
    paths = paths or default_paths()
    use_implementation()
    collect_crashed(paths)
    c, cfg = create(spec, paths)
    try:
        if spec.detach:
            from .detach import start_detached  # -d: a monitor process waits for the container
            return start_detached(c, cfg, paths)
        stdin = 0 if spec.interactive or spec.tty else os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        stdio = (stdin, 1 if output is None else output, 2 if output is None else output)
        return supervise(c, cfg, paths, stdio)
    except BaseException:
        if spec.rm or c.status == CREATED:
            try:
                teardown(c, paths)  # (idempotent: what the monitor could not release is tried once more)
            except ContainerError:
                pass  # the record stays, for the next command's collect_crashed
            else:
                remove(paths, c)
        raise


def create_held(spec: RunSpec, paths: Paths | None = None) -> Container:
    """`minicontainer create` (lesson 09): the container made, its PID 1 waiting for `start` (runc's
    create): a monitor of its own holds it (detach.py). `lifecycle.start()` lets it run."""
    from .detach import start_detached
    paths = paths or default_paths()
    collect_crashed(paths)
    c, cfg = create(spec, paths)
    try:
        return start_detached(c, cfg, paths, hold=True)
    except BaseException:
        remove(paths, c)
        raise


def run_printed(image: str = DEFAULT_IMAGE, command: list[str] | None = None, paths: Paths | None = None,
                **flags: object) -> Container:
    """`minicontainer.run(...)` for notebooks: run (with --rm unless rm=False), print the output, return the state.

    A notebook shows what Python prints, not what a child process writes on the kernel's own
    stdout; so the workload writes to a temporary file, printed when it exits."""
    import tempfile
    flags.setdefault("rm", True)
    flags.setdefault("network", "none")  # the lessons' containers get a network when they ask (lesson 07)
    if image.startswith("/") and "rootfs" not in flags:
        flags["rootfs"] = image
    spec = RunSpec(image=image, command=list(command or []), **flags)
    with tempfile.TemporaryFile() as out:
        c = run(spec, paths, output=None if spec.detach else out.fileno())
        out.seek(0)
        print(out.read().decode(errors="replace"), end="")
    return c
