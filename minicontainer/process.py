"""The container's side of `run`: PID 1 and the workload, and the helper when one is needed (lesson 02).

The runtime's process (the monitor, monitor.py) starts the container's first process, PID 1, in a
new PID namespace. unshare(CLONE_NEWPID) moves only the caller's *children* into a new PID
namespace, so the monitor calls it and forks: its child is PID 1 (spawn.start). Then:

    monitor (the runtime, on the host: monitor.supervise)
      └─ PID 1   pid1(): unshare(mnt, uts, ipc, net); "pid N"; waits for "go"; sets up the root
                 filesystem, pivot_root, hostname; then, as Docker does by default, *becomes* the
                 workload (execve). With --init it stays, as `mc-init`: forks the workload,
                 forwards signals, reaps zombies (Docker's --init runs tini there).

Two cases need a *helper* process between them (helper()): a monitor with several threads (a
Jupyter kernel) must not unshare or fork, so spawn.py starts a fresh single-threaded Python that
does it; and a rootless container needs its user namespace first, made by a process that then
waits for its uid/gid maps (the monitor must stay in the host's user namespace to write them).

spawn.py holds the runtime's end of two pipes; the functions here are the container's end:
  go      runtime -> container: "maps" (after writing uid/gid maps), "go" (cgroup and network are ready)
  report  container -> runtime: "userns", "pid N", or one JSON error line. The write end is
          close-on-exec: when the workload's execve succeeds, the runtime reads end-of-file.

`exec` is the same with exec_helper: setns() into a running container's namespaces instead of
unshare(), and the command instead of PID 1.

Lesson 02's exercises are steps of this module and of namespaces.py (seams.py): the flags the helper
unshares (namespaces.clone_flags, 2.1), PID 1's loop (init_loop, 2.2), PID 1's set-up (set_up, 2.3),
the uid/gid maps (namespaces.write_id_maps, 2.4), and joining for `exec` (namespaces.join, 2.5).

This module imports only the standard library's small modules: it is on the path of every `run`.
"""

from __future__ import annotations

import os

import _signal as signal  # `signal` without its enum classes: saves ~4 ms a run (bench/bench_start_tricks.py)

# Everything PID 1 and the workload use is imported here, by the runtime, before the fork: after
# pivot_root the host's Python library is out of reach.
from . import devfs, namespaces
from . import rootfs as rootfs_mod
from . import security  # [security] lesson 08: capabilities, no_new_privs, seccomp (before the fork, as all)
from . import syscalls
from .proc import exit_status, parent_pid, wait
from .spawn import read_line, send, send_error
from .workload import DEFAULT_PATH, StepError, find_executable, lookup_user

# Signals PID 1 passes on to the workload (PID 1 of a namespace gets no signal it has no handler for).
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
             signal.SIGWINCH)


# --- the helper -----------------------------------------------------------------------------

def helper(cfg: dict) -> int:
    """Only when needed (see above): the user namespace (rootless), then the PID namespace for its
    child, PID 1; wait for it and exit with its status. Runs in a fresh single-threaded process."""
    go_r, report_w = cfg["go_fd"], cfg["report_fd"]
    step = "create namespaces"
    try:
        # the runtime (with -d: the monitor) dies -> so do we, and PID 1 with us: a container
        # nobody supervises would never be waited for or torn down
        syscalls.prctl(syscalls.PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != cfg["runtime_pid"]:
            return 137
        os.setsid()  # a terminal's Ctrl-C reaches the runtime only; it forwards it to PID 1
        if cfg.get("join"):  # [oci] lesson 10: namespaces given by path (config.json's linux.namespaces),
            from .namespaces import join_paths  # joined first: a new user namespace would lose the right to
            join_paths(cfg["join"])             # join the host's others
        if cfg["userns"]:
            syscalls.unshare(syscalls.CLONE_NEWUSER)
            send(report_w, "userns")
            if read_line(go_r) != "maps":
                return 125
        if "pid" in cfg["namespaces"]:  # (a bundle may join a PID namespace by path instead: above)
            syscalls.unshare(syscalls.CLONE_NEWPID)
        cfg["parent_pid"] = os.getpid()  # PID 1 checks that we are still its parent (pid1 below)
        pid = os.fork()
    except BaseException as exc:  # noqa: BLE001 - everything must reach the runtime
        return send_error(report_w, step, exc)
    if pid == 0:
        code = 125
        try:
            code = pid1(cfg)
        finally:
            os._exit(code)
    os.close(go_r)
    os.close(report_w)
    if cfg.get("leave_init"):  # [oci] `create` returns leaving PID 1 waiting: whoever called the runtime
        return 0               # (podman's conmon, a subreaper) inherits it and reaps it, not us
    return wait(pid)


def host_parent_pid() -> int:
    """Our parent's PID as /proc's PID namespace sees it: for PID 1, before pivot_root, the host's
    /proc shows the helper's host PID, where os.getppid() says 0 (the parent is outside our namespace)."""
    return parent_pid("self")


def host_pid() -> int:
    """Our own PID as the host sees it (os.getpid() says 1 in PID 1): /proc/self, before pivot_root."""
    return int(os.readlink("/proc/self"))


# --- PID 1 ----------------------------------------------------------------------------------

def pid1(cfg: dict) -> int:
    """PID 1 from its first instruction: its own namespaces, then init(). `cfg` names our ends of the
    two pipes (go_fd, report_fd) and the process that forked us (parent_pid)."""
    go_r, report_w = cfg["go_fd"], cfg["report_fd"]
    step = "create namespaces"
    try:
        if not cfg.get("leave_init"):  # [oci] a PID 1 left behind by `create` outlives the helper
            syscalls.prctl(syscalls.PR_SET_PDEATHSIG, signal.SIGKILL)
            # Our parent (the monitor, or the helper) may have died before that prctl: then no signal
            # comes, and "go" may already be waiting in the pipe. So check that it is still our parent
            # (os.getppid() says 0 in a new PID namespace; /proc is still the host's here).
            if host_parent_pid() != cfg["parent_pid"]:
                return 137
        os.setsid()  # our own session: a terminal's Ctrl-C reaches the runtime, which forwards it
        if cfg.get("network_pid"):  # --network container:NAME: share that container's network namespace
            namespaces.join(cfg["network_pid"], ["net"])
        # user: the helper made it; pid: our parent did (we are its first child); cgroup: init, once in its group
        syscalls.unshare(namespaces.clone_flags([n for n in cfg["namespaces"] if n not in ("user", "pid", "cgroup")]))
        send(report_w, f"pid {host_pid()}")  # the runtime attaches the network now, then says "go"
    except BaseException as exc:  # noqa: BLE001 - everything must reach the runtime
        return send_error(report_w, step, exc)
    return init(cfg, go_r, report_w)


def init(cfg: dict, go_r: int, report_w: int) -> int:
    """PID 1: wait for "go", build the container's view of the world, start the workload, reap."""
    step = "wait for the runtime"
    try:
        if read_line(go_r) != "go":
            return 125  # (also when the runtime died: end-of-file)
        os.close(go_r)
        if cfg.get("exec_fifo"):  # [oci] the fifo `start` opens, by an O_PATH descriptor: after
            cfg["exec_fifo_fd"] = os.open(cfg["exec_fifo"], os.O_PATH | os.O_CLOEXEC)  # pivot_root its
        if cfg.get("oom_score_adj") is not None:                                       # path is gone
            step = "set oom_score_adj"
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write(str(cfg["oom_score_adj"]))
        if cfg.get("rlimits"):  # [oci] imported now: after pivot_root the host's library is out of reach
            import resource  # noqa: F401
        if cfg["tty"]:  # (the same for the workload's terminal; `run -t` imported it in terminal.py already)
            import termios  # noqa: F401
        if cfg.get("exec_fifo"):  # [oci] the bundle's side of the container (and its hooks)
            from .oci import inside  # noqa: F401
        if cfg.get("cgroup_files"):  # [cgroups] step 6: join our cgroup, so the workload is born in it
            step = "join the cgroup"
            from .cgroups import join_self
            join_self(cfg["cgroup_files"])
        if "net" in cfg["namespaces"]:  # a new network namespace's lo is down: even 127.0.0.1 fails
            namespaces.loopback_up()
        if "cgroup" in cfg["namespaces"]:  # after the runtime put us in our cgroup: that becomes our "/"
            step = "create the cgroup namespace"
            syscalls.unshare(syscalls.CLONE_NEWCGROUP)
        step = "set up the root filesystem"
        if cfg.get("mounts") is not None:  # [oci] lesson 10: a bundle says every mount itself (oci/inside.py)
            from .oci.inside import setup_bundle_rootfs
            setup_bundle_rootfs(cfg)
            if cfg["hostname"] and ("uts" in cfg["namespaces"] or "uts" in dict(cfg.get("join", ()))):
                syscalls.sethostname(cfg["hostname"])
        else:
            set_up(cfg)
    except BaseException as exc:  # noqa: BLE001
        return send_error(report_w, step, exc)
    if not cfg["init"]:
        return start_workload(cfg, report_w)  # the workload replaces us as PID 1
    syscalls.set_process_name("mc-init")
    syscalls.set_command_line("mc-init")  # `ps` in the container shows PID 1 as mc-init, not the runtime's argv
    # Blocked from before the fork until init_loop has its handlers: a signal that comes meanwhile
    # waits (pending) instead of being lost (PID 1 ignores a signal it has no handler for).
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    pid = os.fork()
    if pid == 0:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)  # the workload starts with none blocked
        os._exit(start_workload(cfg, report_w))
    if cfg.get("security"):  # [security] PID 1 gets what the workload gets (Docker's init does too)
        try:
            security.confine_init(cfg["security"])
        except BaseException as exc:  # noqa: BLE001 - a refused call, or an error of the learner's code (--yours)
            os.kill(pid, signal.SIGKILL)  # never leave a workload beside an unconfined PID 1
            send_error(report_w, "confine PID 1", exc)
    os.close(report_w)
    try:
        return init_loop(pid, FORWARDED)
    except BaseException as exc:  # noqa: BLE001 - the report pipe is closed: say it on the container's stderr
        os.kill(pid, signal.SIGKILL)
        os.write(2, f"minicontainer: error: PID 1: {exc}\n".encode())
        return 125


def init_loop(workload: int, forwarded: tuple[int, ...]) -> int:
    """PID 1's loop (exercise 2.2): pass signals on to the workload, reap every child, return its status.

    `forwarded` are blocked when we are called (init blocked them before forking the workload):
    a handler for each that sends it to the workload, then unblock them (a signal that came in the
    meantime is delivered now). Then wait for any child: orphans of the container are re-parented to
    PID 1 and stay zombies until it waits for them. When the workload itself exits, return its
    status as a shell shows it: its exit code, or 128 + the signal that killed it."""
    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(workload, signum)
        except ProcessLookupError:
            pass

    for sig in forwarded:
        signal.signal(sig, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, forwarded)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 125
        if pid == workload:
            return exit_status(status)


def set_up(cfg: dict) -> None:
    """PID 1's set-up after "go" (exercise 2.3): the container's own view of the world, in order.

    1. every mount private: nothing that follows may propagate to the host's mount table;
    2. the root, a mount point (an overlay of the image's layers, or the rootfs bound onto itself);
    3. a /proc of the container's PID namespace, and a minimal /dev;
    4. the rest (/sys, cgroups, devices, /etc files, volumes, tmpfs), which may need /dev;
    5. into the root (pivot_root, or --no-pivot's chroot), then the masks over /proc and /sys;
    6. the hostname, in the container's UTS namespace (if it has one)."""
    rootfs_mod.make_mounts_private()
    root = mount_root(cfg)
    rootfs_mod.mount_proc(root)
    devfs.mount_dev(root)
    mount_the_rest(root, cfg)
    enter_root(root, cfg)
    if "uts" in cfg["namespaces"]:
        syscalls.sethostname(cfg["hostname"])


def mount_root(cfg: dict) -> str:
    """Step 2 of set_up: the container's root as a mount point of its own, with the right flags. Returns it."""
    root = cfg["rootfs"]
    if cfg.get("layers"):  # [unionfs] lesson 04: a copy-on-write root, in the container's own mount
        from . import unionfs  # namespace, so the kernel removes it with the container's last process
        root = unionfs.mount_layers(cfg["layers"], cfg["container_dir"], cfg.get("unionfs_driver", "auto"),
                                    cfg.get("upper_on_tmpfs"), upper_fstype=cfg.get("upper_fstype"),
                                    volatile=True).target
    rootfs_mod.bind_root(root, cfg.get("read_only", False), cfg.get("userns", False))
    return root


def mount_the_rest(root: str, cfg: dict) -> None:
    """Step 4 of set_up: /sys, the cgroups, --device nodes, /etc files, -v volumes, --tmpfs, the console."""
    sec = cfg.get("security") or {}
    privileged = sec.get("privileged", False)  # [security] --privileged: /sys and cgroups writable, no masks
    for target, kind, major, minor in sec.get("device_nodes", ()):  # [security] --device
        devfs.make_device_node(root, target, kind, major, minor)
    rootfs_mod.mount_sys(root, read_only=not privileged)
    if cfg.get("cgroup_mounts"):  # [cgroups] the container's own group at /sys/fs/cgroup, read-only
        rootfs_mod.mount_cgroups(root, cfg["cgroup_mounts"], read_only=not privileged)
    rootfs_mod.bind_etc_files(root, cfg["etc_files"], create=bool(cfg.get("layers")))
    if cfg.get("volumes"):  # [lesson 09] a new, empty volume gets what the image has there (Docker's rule)
        from .volumes import populate
        for source, target in cfg["volumes"]:
            populate(source, rootfs_mod.mount_point(root, target))
    for source, target, read_only in cfg["binds"]:
        rootfs_mod.bind_mount(root, source, target, read_only)
    for target, options in cfg["tmpfs"]:
        rootfs_mod.mount_tmpfs(root, target, options)
    if cfg.get("console"):
        console = f"{root}/dev/console"
        os.close(os.open(console, os.O_CREAT | os.O_WRONLY, 0o600))
        syscalls.mount(cfg["console"], console, None, syscalls.MS_BIND)


def enter_root(root: str, cfg: dict) -> None:
    """Step 5 of set_up: pivot_root into the root (lesson 01), then mask what the host's /proc and /sys reveal."""
    if cfg.get("no_pivot"):  # --no-pivot: runc's fallback for a root pivot_root cannot take (a ramdisk)
        rootfs_mod.chroot_into(root)
    else:
        rootfs_mod.pivot_without_old_dir(root)
    if not (cfg.get("security") or {}).get("privileged", False):
        rootfs_mod.mask_paths()


# --- the workload ---------------------------------------------------------------------------

def start_workload(cfg: dict, report_w: int) -> int:
    """Become the workload: session and terminal, working directory, user, environment, execve."""
    step = "start the workload"
    try:
        if cfg["tty"]:
            import fcntl
            import termios
            if os.getsid(0) != os.getpid():  # (a workload that is PID 1 made its session already: pid1)
                os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in cfg["env"])
        if cfg.get("rlimits"):  # [oci] process.rlimits, while we may still raise hard limits
            step = "set the resource limits"
            import resource  # (imported by PID 1 before pivot_root: see init)
            for name, soft, hard in cfg["rlimits"]:
                resource.setrlimit(getattr(resource, name), (soft, hard))
        if "umask" in cfg:  # [oci] process.user.umask (runc's default: 0022)
            os.umask(0o022 if cfg["umask"] is None else cfg["umask"])
        sec = cfg.get("security")
        if sec:  # [security] lesson 08, in runc's order: bounding set (and a filter without no_new_privs)
            step = "drop capabilities"
            security.before_user(sec, changes_user=bool(cfg["user"]))
        if cfg["user"]:
            uid, gid, home = lookup_user(cfg["user"])
            env.setdefault("HOME", home)
            step = "set the user"
            if "groups" in cfg:  # [oci] process.user.additionalGids
                os.setgroups(cfg["groups"])
            elif not cfg["userns"]:
                os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        else:
            env.setdefault("HOME", "/root")
        if sec:  # [security] then the sets themselves (a non-root user ends up with none after execve)
            step = "drop capabilities"
            security.after_user(sec, changes_user=bool(cfg["user"]))
        step = "change to the working directory"
        cwd = cfg["workdir"] or "/"
        try:
            os.chdir(cwd)
        except OSError as exc:
            raise StepError(step, f"chdir to cwd ({cwd!r}) set in config.json failed: {exc.strerror.lower()}",
                            path=cwd, fix="create the directory in the image, or pick another -w/--workdir",
                            exit_status=126 if isinstance(exc, PermissionError) else 127) from None
        step = "start the workload"
        argv = cfg["argv"]
        program = find_executable(argv[0], env.get("PATH", DEFAULT_PATH))
        if cfg.get("exec_fifo"):  # [oci] `create` ends here: everything is ready, the program exists
            from .oci.inside import created_wait_for_start
            report_w = created_wait_for_start(cfg, report_w)
        if sec:  # [security] last: no_new_privs and the seccomp filter; execve is the next call
            step = "install the seccomp filter"
            security.before_exec(sec)
            step = "start the workload"
        if cfg.get("hooks", {}).get("startContainer"):  # [oci] after `start`, in the container, before execve
            step = "run the startContainer hooks"
            from .oci.hooks import run_hooks
            run_hooks(cfg["hooks"]["startContainer"], dict(cfg["hook_state"], pid=os.getpid()), "startContainer")
            step = "start the workload"
        os.execve(program, argv, env)
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, OSError) and not isinstance(exc, StepError) and step == "start the workload":
            exc = StepError(step, f'exec: "{cfg["argv"][0]}": {exc.strerror.lower()}', path=cfg["argv"][0],
                            fix="check that the file is a program for this machine", exit_status=126)
        return send_error(report_w, step, exc)
    return 125  # not reached: execve does not return


# --- exec: a new process in a running container ----------------------------------------------

def exec_helper(cfg: dict) -> int:
    """setns(2) into PID 1's namespaces, fork (to enter its PID namespace), wait for "go", exec."""
    go_r, report_w = cfg["go_fd"], cfg["report_fd"]
    step = "join the container's namespaces"
    try:
        syscalls.prctl(syscalls.PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != cfg["runtime_pid"]:  # the runtime died before the prctl: nobody waits for us
            return 137
        os.setsid()
        if cfg.get("cgroup_files"):  # [cgroups] first, while the host's /sys/fs/cgroup is in view; the
            step = "join the cgroup"  # command, forked below, is born in the group
            from .cgroups import join_self
            join_self(cfg["cgroup_files"])
            step = "join the container's namespaces"
        namespaces.join(cfg["pid"])
        helper_pid = os.getpid()
        pid = os.fork()
    except BaseException as exc:  # noqa: BLE001
        return send_error(report_w, step, exc)
    if pid == 0:
        code = 125
        try:
            if not cfg.get("leave_init"):  # [oci] `exec -d` leaves the process to whoever called the runtime
                syscalls.prctl(syscalls.PR_SET_PDEATHSIG, signal.SIGKILL)
            # If the exec helper died before that prctl, we were handed to the container's PID 1 and
            # "go" may be in the pipe already. While it lives, our parent is the helper (shown as 0
            # when it is outside the PID namespace we were forked into).
            if (cfg.get("leave_init") or os.getppid() in (0, helper_pid)) and read_line(go_r) == "go":
                os.close(go_r)
                code = start_workload(cfg, report_w)
        finally:
            os._exit(code)
    os.close(go_r)
    send(report_w, f"pid {pid}")
    os.close(report_w)
    if cfg.get("leave_init"):
        return 0
    return wait(pid)
