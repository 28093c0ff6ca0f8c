"""The OCI lifecycle: create, start, state, kill, delete, run, exec (lesson 10).

    create  ID   config.json -> the runtime's config (config.py); the record; the cgroup; the helper
                 and PID 1 (spawn.py, process.py: the same as `run`), which set everything up and
                 then wait on the exec fifo; createRuntime hooks run here, createContainer hooks in
                 PID 1. `create` exits and leaves PID 1 waiting: there is no monitor, the caller is.
    start   ID   open the fifo: PID 1 (startContainer hooks, then) execs the program; poststart hooks.
    kill    ID   a signal to PID 1.
    delete  ID   kill what is left, remove the cgroup and the record; poststop hooks.
    run     ID   create + start + wait + delete, as `runc run`.

Where `run` has a monitor waiting (monitor.supervise), an OCI runtime has none: whoever called
`create` (podman's conmon, a subreaper) becomes PID 1's parent and reaps it, and the runtime learns
that the container stopped from its PID alone (state.status_of). So cleaning up the cgroup waits for
`delete`. A `create` that fails leaves nothing: no record, no cgroup, no process.
"""

from __future__ import annotations

import os
import time

import _signal as signal

from .. import spawn, state as records
from ..errors import ContainerError
from ..paths import Paths
from ..proc import alive, start_time
from ..state import Container, all_containers, load, new_dir, publish, remove, save, state_dir
from . import config as oci_config
from .hooks import run_hooks
from . import state as oci_state
from .state import CREATING, EXEC_FIFO, STOPPED, fifo_path, status_of

DEFAULT_CGROUP_PARENT = "minicontainer-oci"  # a bundle without linux.cgroupsPath: minicontainer-oci/<id>
ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


def check_id(cid: str) -> None:
    """runc's rule for IDs: letters, digits, _ + - . (no '/': an ID names a directory)."""
    if not cid or cid in (".", "..") or not set(cid) <= ID_CHARS:
        raise ContainerError(f"invalid container id {cid!r}: use letters, digits and _ + - . only",
                             step="check the id", fix="choose another id (runc's rule: no '/' and no spaces)")


def warn(message: str) -> None:
    os.write(2, f"minicontainer oci: warning: {message}\n".encode())


def find(paths: Paths, cid: str) -> Container:
    check_id(cid)
    try:
        return load(paths, cid)
    except FileNotFoundError:
        raise ContainerError(f"container does not exist: {cid}", step="find container",
                             fix="list them with `minicontainer oci list`") from None


def state(paths: Paths, cid: str) -> dict:
    c = find(paths, cid)
    return oci_state.state_document(c, status_of(c))


# --- create --------------------------------------------------------------------------------------

def create(paths: Paths, cid: str, bundle: str, *, console_socket: str = "", pid_file: str = "",
           keep_helper: bool = False, stdio: tuple[int, int, int] = (0, 1, 2)):
    """Create the container and leave its PID 1 waiting for `start`. Returns (record, helper): the
    helper is still ours only with keep_helper (`run` waits for it), else it has exited."""
    check_id(cid)
    if os.path.exists(state_dir(paths, cid)):
        raise ContainerError(f"container with id exists: {cid}", step="check the id",
                             fix=f"delete it first (minicontainer oci delete {cid}) or choose another id")
    bundle = os.path.abspath(bundle)
    config = oci_config.load(bundle)
    if config.get("process") is None:  # the spec allows it: `create` works, `start` is then an error
        return create_without_process(paths, cid, bundle, config), None
    plan = oci_config.translate(config, bundle)  # (nothing is made if this fails)
    for note in plan["notes"]:
        warn(note)
    cfg = plan["cfg"]
    if cfg["tty"] and not console_socket:
        raise ContainerError("process.terminal is true: give --console-socket (the engine's unix socket that "
                             "receives the terminal)", step="console socket")
    if console_socket and not cfg["tty"]:
        raise ContainerError("--console-socket is for containers with process.terminal true", step="console socket")
    os.makedirs(paths.containers_root, mode=0o711, exist_ok=True)
    me, my_start = os.getpid(), start_time(os.getpid())
    building = new_dir(paths, cid, me, my_start)
    os.mkfifo(os.path.join(building, EXEC_FIFO), 0o622)
    c = Container(id=cid, name=cid, image=bundle, command=list(cfg["argv"]), rootfs=cfg["rootfs"],
                  created=time.time(), monitor_pid=me, monitor_start=my_start,
                  spec={"oci": True, "bundle": bundle, "annotations": plan["annotations"], "hooks": plan["hooks"],
                        "cgroup": None, "namespaces": cfg["namespaces"], "security": cfg["security"],
                        "userns": cfg["userns"], "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    publish(paths, building, c)
    helper = None
    try:
        cfg.update(exec_fifo=fifo_path(paths, cid), leave_init=not keep_helper, container_dir=state_dir(paths, cid),
                   hook_state=oci_state.state_document(c, CREATING))
        setup_cgroup(c, cfg, plan, paths)
        master = -1
        if cfg["tty"]:
            from .console import open_pty
            master, slave = open_pty(plan["console_size"])
            stdio = (slave, slave, slave)
            cfg["console"] = os.ttyname(slave)
        helper = spawn.start(spawn_target(), cfg, stdio)
        if cfg["tty"]:
            os.close(slave)
            from .console import send_fd
            try:
                send_fd(console_socket, master)
            finally:
                os.close(master)
        c.pid = helper.child_pid("create namespaces", on_userns=lambda pid: write_maps(pid, plan))
        c.pid_start = start_time(c.pid)
        save(paths, c)
        for phase in ("prestart", "createRuntime"):  # the runtime's namespaces, PID 1 exists (the validation
            run_hooks(plan["hooks"].get(phase) or [], oci_state.state_document(c, "created"), phase)  # suite wants "created")
        helper.go()
        helper.created("create the container")
        if not keep_helper:
            helper.wait()  # it exited once PID 1 was made: reap it
        if pid_file:
            from ..atomic import write_atomic
            write_atomic(os.path.abspath(pid_file), str(c.pid))
    except BaseException:
        if helper is not None:
            helper.close()
        destroy(paths, c)
        remove(paths, c)
        raise
    if not keep_helper:
        helper.close()
    return c, helper


def create_without_process(paths: Paths, cid: str, bundle: str, config: dict) -> Container:
    """A config.json without `process`: a record only (no PID 1: there is nothing to run)."""
    os.makedirs(paths.containers_root, mode=0o711, exist_ok=True)
    building = new_dir(paths, cid, os.getpid(), start_time(os.getpid()))
    c = Container(id=cid, name=cid, image=bundle, command=[], rootfs="", created=time.time(),
                  spec={"oci": True, "bundle": bundle, "annotations": config.get("annotations") or {},
                        "no_process": True, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    publish(paths, building, c)
    return c


def spawn_target():
    from .. import process
    return process.helper


def write_maps(helper_pid: int, plan: dict) -> None:
    """A new user namespace: write config.json's uid/gid maps (as root: setgroups stays allowed)."""
    from ..namespaces import IdMap, write_id_maps
    write_id_maps(helper_pid, [IdMap(*m) for m in plan["uid_maps"]], [IdMap(*m) for m in plan["gid_maps"]],
                  deny_setgroups=os.geteuid() != 0)


def cgroup_name(c: Container, plan: dict) -> tuple[str, str]:
    """(parent, name) of the container's group: linux.cgroupsPath a/b/c -> ("a/b", "c")."""
    path = plan["cgroups_path"]
    if not path:
        return DEFAULT_CGROUP_PARENT, c.id
    parent, _, name = path.rpartition("/")
    return parent, name


def setup_cgroup(c: Container, cfg: dict, plan: dict, paths: Paths) -> None:
    """The container's cgroup with its limits and device rules, before PID 1 exists (it joins it itself)."""
    from .. import cgroups
    if os.geteuid() != 0 or not cgroups.available():
        if plan["limits"] or plan["cgroups_path"]:
            raise ContainerError("linux.resources and linux.cgroupsPath need root and a cgroup filesystem",
                                 step="cgroups", fix="run as root, or remove them from config.json")
        return
    parent, name = cgroup_name(c, plan)
    c.spec["cgroup"] = [parent, name]
    save(paths, c)  # (before the group exists: a failed create's clean-up finds it by the record)
    group = cgroups.create(name, cgroups.Limits(**plan["limits"]), parent=parent)
    rules = cfg["security"]["devices"]
    if rules is not None:
        from ..security import devices, rules_of
        devices.apply(group, rules_of(cfg["security"]))
    cfg["cgroup_files"] = group.join_files()
    cfg["cgroup_mounts"] = cgroups.namespace_mounts(group.setup)


# --- start, kill, delete ------------------------------------------------------------------------

def start(paths: Paths, cid: str) -> Container:
    """Let PID 1 exec the program: open the exec fifo and read the byte it writes."""
    c = find(paths, cid)
    status = status_of(c)
    if status != "created":
        raise ContainerError(f"cannot start a container that is {status} (only a created one can start)",
                             step="start", fix=f"see `minicontainer oci state {cid}`")
    if c.spec.get("no_process"):
        records.transition(c, "exit")
        save(paths, c)
        raise ContainerError("config.json has no process: there is nothing to start", step="start",
                             fix="add a process to config.json, delete this container and create it again")
    fifo = fifo_path(paths, cid)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        while True:  # PID 1's blocked open() for writing returns now; it writes one byte
            try:
                if os.read(fd, 1):
                    break
            except BlockingIOError:
                pass
            if not alive(c.pid, c.pid_start):
                raise ContainerError("the container's PID 1 exited before it could start", step="start")
            time.sleep(0.0005)
    finally:
        os.close(fd)
    os.unlink(fifo)
    records.transition(c, "start")
    save(paths, c)
    hooks = c.spec.get("hooks") or {}
    try:
        run_hooks(hooks.get("poststart") or [], oci_state.state_document(c, "running"), "poststart")
    except ContainerError as exc:  # the spec: after start, a failing hook is only a warning
        warn(str(exc))
    return c


SIGNALS = {name: getattr(signal, name) for name in dir(signal) if name.startswith("SIG") and not name.startswith("SIG_")
           and isinstance(getattr(signal, name), int)}


def parse_signal(text: str) -> int:
    """'KILL', 'SIGKILL', '9' -> 9 (runc accepts all three)."""
    if text.isdigit():
        return int(text)
    name = text.upper() if text.upper().startswith("SIG") else "SIG" + text.upper()
    if name not in SIGNALS:
        raise ContainerError(f"unknown signal {text!r}", step="kill", fix="use a name like TERM or KILL, or a number")
    return SIGNALS[name]


def kill(paths: Paths, cid: str, sig: int = signal.SIGTERM) -> None:
    c = find(paths, cid)
    if status_of(c) not in ("created", "running"):
        raise ContainerError("container not running", step="kill", fix="a stopped container only needs `delete`")
    os.kill(c.pid, sig)


def delete(paths: Paths, cid: str, force: bool = False) -> None:
    """Remove a stopped container; --force kills a created or running one first (the spec: deleting a
    container that is not stopped MUST be an error and change nothing)."""
    c = find(paths, cid)
    status = status_of(c)
    if status in ("created", "running") and not force:
        raise ContainerError(f"cannot delete container {cid} that is not stopped: {status}", step="delete",
                             fix=f"stop it first (minicontainer oci kill {cid} KILL), or delete --force")
    destroy(paths, c)
    remove(paths, c)
    hooks = c.spec.get("hooks") or {}
    try:
        run_hooks(hooks.get("poststop") or [], oci_state.state_document(c, STOPPED), "poststop")
    except ContainerError as exc:
        warn(str(exc))


def destroy(paths: Paths, c: Container) -> None:
    """Kill PID 1 (and so its PID namespace), wait until it is gone, remove the cgroup."""
    from ..monitor import kill_container
    kill_container(c)
    if c.spec.get("cgroup"):
        from .. import cgroups
        parent, name = c.spec["cgroup"]
        try:
            cgroups.remove(name, parent=parent)
        except ContainerError as exc:
            warn(str(exc))
        if parent == DEFAULT_CGROUP_PARENT:  # ours: remove it once empty (another create may be using it)
            for d in cgroups.parent_dirs(cgroups.detect(), parent):
                try:
                    os.rmdir(d)
                except OSError:
                    pass


# --- run and exec --------------------------------------------------------------------------------

def run(paths: Paths, cid: str, bundle: str, *, detach: bool = False, keep: bool = False, pid_file: str = "",
        console_socket: str = "") -> int:
    """`runc run`: create, start, wait for the program, delete. Returns its exit status."""
    c, helper = create(paths, cid, bundle, console_socket=console_socket, pid_file=pid_file, keep_helper=not detach)
    try:
        start(paths, cid)
        if detach:
            return 0
        from ..monitor import forward_signals
        restore = forward_signals(c.pid)
        try:
            return helper.wait()
        finally:
            restore()
    except BaseException:
        if not detach:
            keep = False
        raise
    finally:
        if helper is not None:
            helper.close()
        if not detach and not keep:
            delete(paths, cid, force=True)


def exec_process(paths: Paths, cid: str, process: dict, *, detach: bool = False, pid_file: str = "",
                 console_socket: str = "") -> int:
    """`exec`: another process in the container (config.json's `process` object), as `run`'s exec does."""
    from .. import process as process_mod
    c = find(paths, cid)
    status = status_of(c)
    if status not in ("created", "running"):
        raise ContainerError(f"cannot exec in a {status} container", step="exec")
    wrapped = {"ociVersion": "1.0.2", "process": process, "root": {"path": c.rootfs},
               "linux": {"namespaces": [{"type": "mount"}]}}
    plan = oci_config.translate(wrapped, c.spec["bundle"])["cfg"]
    sec = dict(c.spec.get("security") or {})
    if process.get("capabilities") is not None:
        sec.update(plan["security"], program=sec.get("program", ""))
    if "noNewPrivileges" in process:
        sec["no_new_privs"] = bool(process["noNewPrivileges"])
    cfg = {"pid": c.pid, "argv": plan["argv"], "env": plan["env"], "workdir": plan["workdir"], "user": plan["user"],
           "groups": plan["groups"], "umask": plan["umask"], "rlimits": plan["rlimits"], "tty": plan["tty"],
           "userns": c.spec.get("userns", False), "init": False, "security": sec, "leave_init": detach}
    if c.spec.get("cgroup"):
        from .. import cgroups
        parent, name = c.spec["cgroup"]
        group = cgroups.group(name, parent=parent)
        if group.exists():
            cfg["cgroup_files"] = group.join_files()
    if cfg["rlimits"]:
        import resource  # noqa: F401  (the exec'd process sets them after joining the mount namespace)
    stdio: tuple[int, int, int] = (0, 1, 2)
    master = -1
    if cfg["tty"]:
        if not console_socket:
            raise ContainerError("process.terminal is true: give --console-socket", step="console socket")
        from .console import open_pty
        master, slave = open_pty(process.get("consoleSize"))
        stdio = (slave, slave, slave)
    helper = spawn.start(process_mod.exec_helper, cfg, stdio)
    try:
        if cfg["tty"]:
            os.close(stdio[0])
            from .console import send_fd
            try:
                send_fd(console_socket, master)
            finally:
                os.close(master)
        pid = helper.child_pid("exec")
        if pid_file:
            from ..atomic import write_atomic
            write_atomic(os.path.abspath(pid_file), str(pid))
        helper.go()
        helper.started("exec")
        if detach:
            helper.wait()
            return 0
        from ..monitor import forward_signals
        restore = forward_signals(pid)
        try:
            return helper.wait()
        finally:
            restore()
    finally:
        helper.close()


def containers(paths: Paths) -> list[dict]:
    """Every container under --root, as `list` shows them."""
    return [dict(oci_state.state_document(c, status_of(c)), created=c.spec.get("created_at", ""))
            for c in all_containers(paths) if c.spec.get("oci")]


def sweep(paths: Paths) -> list[str]:
    """`minicontainer reset`: delete every OCI container under the default --root (MC_RUN_DIR/oci)."""
    from .state import paths_for
    oci_paths = paths_for(os.path.join(paths.run_root, "oci"))
    done = []
    for c in all_containers(oci_paths):
        destroy(oci_paths, c)
        remove(oci_paths, c)
        done.append(f"deleted OCI container {c.id}")
    return done

