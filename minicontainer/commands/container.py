"""Container commands with Docker's flags: run, create, start, restart, exec, ps, logs, stop, kill, rm, inspect
(lessons 02 and 09).

The handlers are thin: they turn flags into a RunSpec (or a container reference) and call
minicontainer.container, which a notebook can call directly too.
"""

from __future__ import annotations

import sys

from ..flags import Flag, add_to_argparse

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing)
if TYPE_CHECKING:
    import argparse  # for the annotations only: `run` never imports argparse

ORDER = 10


def register(sub: argparse._SubParsersAction, only: str | None = None) -> None:
    """Add the container commands, or only the one named `only` (building all costs ~4 ms of `run`)."""
    import argparse

    if only in (None, "run"):
        # add_help=False: Docker's -h is --hostname, so only --help prints help.
        p = sub.add_parser("run", help="create and start a container", add_help=False,
                           usage="minicontainer run [OPTIONS] IMAGE|--rootfs DIR COMMAND [ARG...]")
        p.add_argument("--help", action="help", help="show this help message and exit")
        add_run_options(p)
        p.add_argument("args", nargs=argparse.REMAINDER, metavar="IMAGE COMMAND [ARG...]")
        p.set_defaults(handler=_run)

    if only in (None, "create"):
        p = sub.add_parser("create", help="create a new container: PID 1 set up, waiting for `start`", add_help=False,
                           usage="minicontainer create [OPTIONS] IMAGE|--rootfs DIR COMMAND [ARG...]")
        p.add_argument("--help", action="help", help="show this help message and exit")
        add_run_options(p)
        p.add_argument("args", nargs=argparse.REMAINDER, metavar="IMAGE COMMAND [ARG...]")
        p.set_defaults(handler=_create)

    if only in (None, "start"):
        p = sub.add_parser("start", help="start one or more created or stopped containers")
        p.add_argument("-a", "--attach", action="store_true", help="attach STDOUT/STDERR and wait for the exit")
        p.add_argument("containers", nargs="+", metavar="CONTAINER")
        p.set_defaults(handler=_start)

    if only in (None, "restart"):
        p = sub.add_parser("restart", help="restart one or more containers (stop, then start)")
        p.add_argument("-t", "--time", "--timeout", type=float, default=10.0, dest="time",
                       help="seconds to wait before killing the container (default 10)")
        p.add_argument("containers", nargs="+", metavar="CONTAINER")
        p.set_defaults(handler=_restart)

    if only in (None, "exec"):
        p = sub.add_parser("exec", help="run a command in a running container")
        add_to_argparse(p, EXEC_FLAGS)
        p.add_argument("container", metavar="CONTAINER")
        p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]")
        p.set_defaults(handler=_exec)

    if only in (None, "ps"):
        p = sub.add_parser("ps", help="list containers")
        p.add_argument("-a", "--all", action="store_true", help="show all containers (default shows just running)")
        p.add_argument("-q", "--quiet", action="store_true", help="only display container IDs")
        p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
        p.set_defaults(handler=_ps)

    if only in (None, "logs"):
        p = sub.add_parser("logs", help="fetch the output of a detached container")
        p.add_argument("-f", "--follow", action="store_true", help="follow log output")
        p.add_argument("-n", "--tail", default="all", type=_tail, help="number of lines to show from the end (default all)")
        p.add_argument("-t", "--timestamps", action="store_true", help="show timestamps")
        p.add_argument("--since", default="", help="show logs since a time (2013-01-02T13:23:37Z) or a duration (42m)")
        p.add_argument("--until", default="", help="show logs before a time or a duration ago")
        p.add_argument("container", metavar="CONTAINER")
        p.set_defaults(handler=_logs)

    if only in (None, "stop"):
        p = sub.add_parser("stop", help="stop containers: SIGTERM, then SIGKILL after a timeout")
        p.add_argument("-t", "--time", "--timeout", type=float, default=10.0, dest="time",
                       help="seconds to wait before killing the container (default 10)")
        p.add_argument("containers", nargs="+", metavar="CONTAINER")
        p.set_defaults(handler=_stop)

    if only in (None, "kill"):
        p = sub.add_parser("kill", help="send a signal to containers (default SIGKILL)")
        p.add_argument("-s", "--signal", default="KILL", help="signal to send (name or number, default KILL)")
        p.add_argument("containers", nargs="+", metavar="CONTAINER")
        p.set_defaults(handler=_kill)

    if only in (None, "rm"):
        p = sub.add_parser("rm", help="remove containers")
        p.add_argument("-f", "--force", action="store_true", help="force the removal of a running container (SIGKILL)")
        p.add_argument("-v", "--volumes", action="store_true", help="remove its anonymous volumes too")
        p.add_argument("containers", nargs="+", metavar="CONTAINER")
        p.set_defaults(handler=_rm)

    if only in (None, "top"):
        p = sub.add_parser("top", help="display the running processes of a container (the host's ps)",
                           usage="minicontainer top CONTAINER [ps OPTIONS]")
        p.add_argument("container", metavar="CONTAINER")
        p.add_argument("ps_args", nargs=argparse.REMAINDER, metavar="ps OPTIONS")
        p.set_defaults(handler=_top)

    if only in (None, "cp"):
        p = sub.add_parser("cp", help="copy files between a container and the host (CONTAINER:PATH)",
                           usage="minicontainer cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH | SRC_PATH CONTAINER:DEST_PATH")
        p.add_argument("-a", "--archive", action="store_true", help="archive mode (copy all uid/gid information)")
        p.add_argument("-L", "--follow-link", action="store_true", help="always follow a symbol link in SRC_PATH")
        p.add_argument("src", metavar="SRC")
        p.add_argument("dest", metavar="DEST")
        p.set_defaults(handler=_cp)

    if only in (None, "inspect"):
        p = sub.add_parser("inspect", help="show containers as Docker does (JSON), or one field (-f)")
        p.add_argument("-f", "--format", default="", help="a Go template's field path, e.g. '{{.State.Status}}'")
        p.add_argument("containers", nargs="+", metavar="CONTAINER")
        p.set_defaults(handler=_inspect)


# `run`'s flags as data (minicontainer/flags.py): argparse registers them for --help and errors,
# and cli.main parses the common case with flags.parse, without importing argparse.
RUN_FLAGS = (
    Flag(("--rootfs",), metavar="DIR", help="use this directory as the root filesystem (instead of an IMAGE)"),
    Flag(("--name",), default="", help="assign a name to the container"),
    Flag(("-h", "--hostname"), default="", help="container host name"),
    Flag(("-d", "--detach"), kind="bool", help="run in the background and print the container ID"),
    Flag(("-i", "--interactive"), kind="bool", help="keep STDIN open"),
    Flag(("-t", "--tty"), kind="bool", help="allocate a pseudo-TTY"),
    Flag(("--rm",), kind="bool", help="remove the container when it exits"),
    Flag(("-e", "--env"), kind="list", metavar="KEY=VALUE", help="set an environment variable"),
    Flag(("-w", "--workdir"), default="", help="working directory inside the container"),
    Flag(("-u", "--user"), default="", help="username or UID (format: <name|uid>[:<group|gid>])"),
    Flag(("-v", "--volume"), kind="list", metavar="HOST:CONTAINER[:ro]", help="bind mount a host file or directory"),
    Flag(("--tmpfs",), kind="list", metavar="PATH[:OPTIONS]", help="mount a tmpfs"),
    Flag(("--read-only",), kind="bool", help="mount the container's root filesystem read-only"),
    Flag(("--no-pivot",), kind="bool",
         help="chroot into the root instead of pivot_root (for a root on a ramdisk; less safe: lesson 01)"),
    Flag(("--init",), kind="negatable", default=False,
         help="run an init (mc-init) as PID 1 that forwards signals and reaps processes (default: the "
              "workload is PID 1, as in Docker)"),
    Flag(("--restart",), default="no", metavar="POLICY",
         help="what its monitor does when the workload exits (no, always, unless-stopped, on-failure[:N]: lesson 09)"),
    Flag(("--network", "--net"), default="default",
         help="network to connect to: bridge (the default, as Docker's; none when rootless), none, host, "
              "container:NAME"),
    Flag(("-p", "--publish"), kind="list", metavar="HOST:CONTAINER",
         help="publish a container's port to the host (lesson 07)"),
    Flag(("-P", "--publish-all"), kind="bool", help="publish every port the image exposes on a free host port"),
    Flag(("--userns",), default="", help="'host' or 'private' (default: private only when not root)"),
    Flag(("--entrypoint",), help="overwrite the default ENTRYPOINT of the image (lesson 05)"),
    Flag(("--privileged",), kind="bool",
         help="give extended privileges: every capability, no seccomp filter, every device (lesson 08)"),
    Flag(("--cap-add",), kind="list", metavar="CAP", help="add a Linux capability (NET_ADMIN, CAP_SYS_PTRACE, ALL)"),
    Flag(("--cap-drop",), kind="list", metavar="CAP", help="drop a Linux capability (MKNOD, ALL)"),
    Flag(("--security-opt",), kind="list", metavar="OPT",
         help="security options (seccomp=unconfined|PROFILE.json, no-new-privileges[=true|false])"),
    Flag(("--device",), kind="list", metavar="HOST[:CONTAINER][:rwm]", help="add a host device to the container"),
)


# `exec` has these flags of `run`, with the same meaning (Docker's too).
EXEC_FLAGS = tuple(f for f in RUN_FLAGS if f.names[0] in ("-i", "-t", "-e", "-w", "-u"))


def parse_fast(command: str, argv: list[str]):
    """`run`, `create` or `exec` read by flags.parse, without argparse: the values argparse would give
    (as attributes, with `command` and `handler`), or None when argparse must read the line."""
    from ..flags import parse

    if command in ("run", "create"):
        args, handler = parse(run_flags(), argv), (_run if command == "run" else _create)
    else:
        args, handler = parse(EXEC_FLAGS, argv), _exec
        if args is None or not args.args or args.args[0] == "--":
            return None  # no CONTAINER (argparse reports it), or an unusual "--" before it
        args.container, args.cmd = args.args[0], args.args[1:]
        if args.cmd[:1] == ["--"]:  # `exec web -- ls`: argparse drops that "--" too
            del args.cmd[0]
        del args.args
    if args is not None:
        args.command, args.handler = command, handler
    return args


def run_flags() -> tuple:
    """Every flag of `run`: RUN_FLAGS, then the resource flags of lesson 03 (commands/cgroups.py)."""
    from .cgroups import RESOURCE_FLAGS

    return RUN_FLAGS + RESOURCE_FLAGS


def add_run_options(p: argparse.ArgumentParser) -> None:
    """`run`'s flags (lessons 03 and 07 add --memory/--cpus and --network/-p here)."""
    add_to_argparse(p, RUN_FLAGS)
    from .cgroups import add_resource_options  # lesson 03: -m, --cpus, --pids-limit ...
    add_resource_options(p)


def _paths():
    """The state directories, after collecting the leftovers of runtimes that were killed."""
    from .. import container

    paths = container.default_paths()
    container.collect_crashed(paths)
    return paths


def spec_from_args(args: argparse.Namespace):
    """Turn `run`'s parsed flags into a RunSpec."""
    from ..container import RunSpec
    from ..errors import UsageError

    rest = list(args.args)
    if rest and rest[0] == "--":
        rest = rest[1:]
    if args.rootfs:
        image, command = "", rest
    elif rest:
        image, command = rest[0], rest[1:]
    else:
        err = UsageError(f"'minicontainer {args.command}' requires at least 1 argument", step="parse arguments",
                         fix=f"minicontainer {args.command} [OPTIONS] IMAGE COMMAND [ARG...]  (or --rootfs DIR COMMAND)")
        err.exit_status = 1  # (Docker's cobra: a missing argument is a plain error)
        raise err
    fields = {k: v for k, v in vars(args).items() if k in RunSpec.FIELDS and k not in ("image", "command")}
    from .cgroups import limits_from_args  # lesson 03: the resource flags become a cgroups.Limits
    fields["resources"] = limits_from_args(args)
    return RunSpec(image=image, command=command, **fields)


def _run(args: argparse.Namespace) -> int:
    from .. import container

    spec = spec_from_args(args)
    c = container.run(spec)
    if spec.detach:
        print(c.id)
        return 0
    if getattr(c, "oom_killed", False):  # lesson 03: say why a process died
        print("minicontainer run: a process of the container was killed by the OOM killer "
              "(memory limit reached)", file=sys.stderr)
    return c.exit_code or 0


def _create(args: argparse.Namespace) -> int:
    """`create`: print the new container's id (its PID 1 waits for `start`)."""
    from .. import container

    print(container.create_held(spec_from_args(args)).id)
    return 0


def _start(args: argparse.Namespace) -> int:
    """`start`: print each container's name as given; `-a`: follow its output and exit with its status."""
    from .. import container
    from ..lifecycle import AlreadyRunning

    paths = _paths()
    if args.attach:
        if len(args.containers) > 1:
            from ..errors import ContainerError
            raise ContainerError("you cannot start and attach multiple containers at once", step="start")
        c = container.find(paths, args.containers[0])
        log = container.logs_path(paths, c)
        offset = log.stat().st_size if log.exists() else 0  # what this start writes, not the earlier runs'
        try:
            container.start(paths, c.id)
        except AlreadyRunning:
            pass
        _follow(paths, c, offset=offset)
        return container.wait_exited(paths, c).exit_code or 0

    def start_one(ref: str) -> None:
        try:
            container.start(paths, ref)
        except AlreadyRunning as exc:  # Docker: 304 Not Modified, the name printed, exit 0
            print(f"minicontainer start: {ref}: {exc.message}", file=sys.stderr)
    return _each(args, start_one)


def _restart(args: argparse.Namespace) -> int:
    from .. import container

    paths = _paths()
    return _each(args, lambda ref: container.restart(paths, ref, args.time))


def _exec(args: argparse.Namespace) -> int:
    from .. import container

    return container.exec_in(_paths(), args.container, args.cmd, env=args.env,
                             workdir=args.workdir, user=args.user, tty=args.tty, interactive=args.interactive)


def _ps(args: argparse.Namespace) -> int:
    import time

    from .. import container

    paths = _paths()
    shown = [c for c in container.all_containers(paths) if args.all or container.is_running(c)]
    if args.quiet:
        for c in shown:
            print(c.id if args.no_trunc else c.short_id)
        return 0
    rows = [("CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES")]
    for c in reversed(shown):
        command = " ".join(c.command)
        if not args.no_trunc and len(command) > 20:
            command = command[:19] + "…"
        status = _status(c)
        rows.append((c.id if args.no_trunc else c.short_id, c.image or c.rootfs, f'"{command}"',
                     f"{_ago(time.time() - c.created)} ago", status, _ports(c), c.name))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("   ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    return 0


def _ports(c) -> str:
    """Docker's PORTS column: `0.0.0.0:8080->80/tcp, ...` while the container runs."""
    from .. import container

    published = (c.spec.get("network_state") or {}).get("publish") or []
    if not published or not container.is_running(c):
        return ""
    from ..network.ports import parse_publish
    return ", ".join(f"{m.host_ip or '0.0.0.0'}:{m.host_port}->{m.container_port}/{m.proto}"
                     for m in map(parse_publish, published))


def _status(c) -> str:
    """Docker's STATUS column: Created, Up 5 seconds, Restarting (1) 2 seconds ago, Exited (0) 3 minutes ago."""
    import time

    from .. import container
    from ..state import CREATED, RESTARTING

    if container.is_running(c):
        return f"Up {_ago(time.time() - c.started)}"
    if c.status == CREATED:
        return "Created"
    if c.status == RESTARTING:
        return f"Restarting ({c.exit_code}) {_ago(time.time() - (c.finished or c.created))} ago"
    return f"Exited ({c.exit_code}) {_ago(time.time() - (c.finished or c.created))} ago"


def _ago(seconds: float) -> str:
    if seconds < 60:
        return f"{int(seconds)} seconds"
    if seconds < 3600:
        return f"{int(seconds // 60)} minutes"
    return f"{int(seconds // 3600)} hours"


def _logs(args: argparse.Namespace) -> int:
    """`logs [-f] [-t] [--tail N] [--since T] [--until T]`: the lines its monitor kept (logs.py)."""
    from .. import container
    from ..logs import parse_since

    paths = _paths()
    c = container.find(paths, args.container)
    tail = -1 if args.tail in ("all", "-1") else int(args.tail)
    return _follow(paths, c, args.follow, tail=tail, timestamps=args.timestamps,
                   since=parse_since(args.since), until=parse_since(args.until))


def _tail(text: str) -> str:
    if text != "all" and not text.lstrip("-").isdigit():
        import argparse
        raise argparse.ArgumentTypeError(f"invalid tail value {text!r}: a number of lines, or all")
    return text


def _follow(paths, c, follow: bool = True, offset: int = 0, **options) -> int:
    """Print the container's log from `offset`; `follow`: until the container has exited."""
    from .. import container
    from ..logs import show
    from ..state import has_monitor

    def done() -> bool:
        try:
            now = container.load(paths, c.id)
        except FileNotFoundError:
            return True
        return now.status == "exited" or not has_monitor(now)  # (ended; or created and never to run)

    show(str(container.logs_path(paths, c)), follow=follow, done=done, offset=offset, **options)
    return 0


def _parse_signal(text: str) -> int:
    import signal

    from ..errors import UsageError

    if text.isdigit():
        return int(text)
    name = text.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    try:
        return int(getattr(signal, name))
    except AttributeError:
        raise UsageError(f"invalid signal: {text}", step="parse --signal", fix="use a name like TERM or a number") from None


def _each(args: argparse.Namespace, action) -> int:
    from ..errors import ContainerError

    status = 0
    for ref in args.containers:
        try:
            action(ref)
            print(ref)
        except ContainerError as exc:
            print(f"minicontainer {args.command}: error: {exc}", file=sys.stderr)
            status = 1
    return status


def _stop(args: argparse.Namespace) -> int:
    from .. import container

    paths = _paths()
    return _each(args, lambda ref: container.stop(paths, ref, args.time))


def _kill(args: argparse.Namespace) -> int:
    from .. import container

    paths = _paths()
    sig = _parse_signal(args.signal)
    return _each(args, lambda ref: container.kill(paths, ref, sig))


def _rm(args: argparse.Namespace) -> int:
    from .. import container

    paths = _paths()
    return _each(args, lambda ref: container.rm(paths, ref, args.force, args.volumes))


def _top(args: argparse.Namespace) -> int:
    """`top`: Docker's table, the host's ps rows of the container's processes (system.top)."""
    from .. import container
    from ..errors import ContainerError
    from ..system import top

    paths = _paths()
    c = container.find(paths, args.container)
    if not container.is_running(c):
        raise ContainerError(f"container {c.id} is not running", step="top", fix="start it first")
    rows = top(c.pid, args.ps_args)
    widths = [max(len(r[i]) for r in rows if len(r) > i) for i in range(len(rows[0]))]
    for r in rows:
        print("   ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    return 0


def _cp(args: argparse.Namespace) -> int:
    """`cp`: one of SRC and DEST is CONTAINER:PATH (cp.py)."""
    from ..cp import copy

    copy(_paths(), args.src, args.dest, archive=args.archive, follow=args.follow_link)
    return 0


def _inspect(args: argparse.Namespace) -> int:
    """Docker's shape (inspection.py); `-f`: one line per container from the template."""
    import json

    from .. import container
    from ..errors import ContainerError
    from ..inspection import TemplateError, docker_view, render

    paths = _paths()
    found, status = [], 0
    for ref in args.containers:  # as Docker: the ones found, an error line for each other, exit 1
        try:
            view = docker_view(container.find(paths, ref))
            if args.format:
                print(render(args.format, view))
            else:
                found.append(view)
        except (ContainerError, TemplateError) as exc:
            print(f"minicontainer inspect: error: {exc}", file=sys.stderr)
            status = 1
    if not args.format:
        print(json.dumps(found, indent=4))
    return status
