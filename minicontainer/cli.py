"""The Docker-shaped command line: a thin front end over the library (every lesson adds commands).

Each topic keeps its commands in `minicontainer/commands/<topic>.py`, with a function
`register(subparsers)` that adds them. Handlers import what they need when they run, so that
`minicontainer run` does not pay for importing the registry client or the network code.
Errors the runtime raises on purpose are printed on one line, never as a traceback.

`minicontainer run` and `exec` do not even import argparse (with gettext, locale and re: 15 ms of
every run): their flags are a table (commands/container.py RUN_FLAGS) that minicontainer/flags.py parses.
Whenever that small parser is not sure (--help, an unknown flag, a missing value ...), the argparse
parser built from the same table reads the command line instead, and prints help or the error.
"""

from __future__ import annotations

import os
import sys

from . import __version__
from .errors import ContainerError, UsageError

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing)
if TYPE_CHECKING:
    import argparse  # for the annotations only: `run` never imports argparse

# Docker's exit statuses for errors of the runtime itself (not of the workload): `run` exits 125
# (126/127 for a command that cannot run, as `exec`); `create` 125 for a bad flag or value, 1 for the
# rest; every other command 1 (docker/cli: a plain error is 1, its StatusErrors carry 125); a flag
# the parser does not know, or a value it cannot read, 125 everywhere (cobra's FlagErrorFunc).
EXIT_RUNTIME_ERROR = 125
EXIT_ERROR = 1


def exit_status(command: str, exc: BaseException) -> int:
    """The exit status of `minicontainer COMMAND` that failed with `exc`, as Docker's for the same failure."""
    explicit = getattr(exc, "exit_status", None)  # 126/127 from the workload's start; 1 for a missing argument
    if command in ("run", "exec") and explicit is not None:
        return explicit
    if command == "run" or (command == "create" and isinstance(exc, UsageError)):
        return EXIT_RUNTIME_ERROR
    return explicit if explicit == EXIT_ERROR else EXIT_ERROR


# The container commands (commands/container.py) are the latency of `run`: for them, only that
# module's subcommands are built (the others' parsers cost several ms of start-up).
CONTAINER_COMMANDS = ("run", "create", "start", "restart", "exec", "ps", "logs", "stop", "kill", "rm", "inspect",
                      "top", "cp")


def _parser_class() -> type:
    """argparse.ArgumentParser with a help formatter that does not import shutil (made on first use)."""
    import argparse

    class _HelpFormatter(argparse.HelpFormatter):
        """argparse's formatter, told the terminal width itself: by default it imports `shutil` to ask
        (with zlib, bz2 and lzma: ~2.5 ms of every `run`, for help text that `run` never prints)."""

        def __init__(self, prog: str, **kwargs) -> None:
            if kwargs.get("width") is None:
                try:
                    kwargs["width"] = int(os.environ.get("COLUMNS", "")) or os.get_terminal_size(sys.__stdout__.fileno()).columns
                except (ValueError, OSError, AttributeError):
                    kwargs["width"] = 80
            super().__init__(prog, **kwargs)

    class _Parser(argparse.ArgumentParser):
        """An ArgumentParser (and subcommand parser) using _HelpFormatter unless told otherwise, which
        exits as Docker's parser does: 125 for a flag it does not know or cannot read, 1 for a
        missing argument (argparse itself exits 2)."""

        def __init__(self, *args, formatter_class=_HelpFormatter, **kwargs) -> None:
            super().__init__(*args, formatter_class=formatter_class, **kwargs)

        def error(self, message: str) -> None:
            self.print_usage(sys.stderr)
            missing = message.startswith("the following arguments are required")
            self.exit(EXIT_ERROR if missing else EXIT_RUNTIME_ERROR, f"{self.prog}: error: {message}\n")

    return _Parser


def build_parser(only: str | None = None, command: str | None = None) -> argparse.ArgumentParser:
    """The `minicontainer` parser with every topic's subcommands (or only those of commands/<only>.py)."""
    _Parser = _parser_class()
    parser = _Parser(
        prog="minicontainer",
        description="A small, real container runtime built in the minicontainer course.",
    )
    parser.add_argument("--version", action="version", version=f"minicontainer {__version__}")
    import argparse
    parser.add_argument("--yours", nargs="?", const="", metavar="NN", default=argparse.SUPPRESS,
                        help="run the runtime on your exercise files (the lessons you started; =NN: lesson NN too, "
                             "and none after it; a part not written yet stops the command); MC_IMPL=yours does the same")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    import importlib

    from . import commands

    names = sorted(f[:-3] for f in os.listdir(commands.__path__[0]) if f.endswith(".py") and not f.startswith("_"))
    names = [only] if only else names
    modules = [importlib.import_module(f"{commands.__name__}.{name}") for name in names]  # (pkgutil: +4 ms)
    for module in sorted(modules, key=lambda m: getattr(m, "ORDER", 50)):
        if command:
            module.register(sub, only=command)
        else:
            module.register(sub)
    return parser


def _parse_fast(argv: list[str]):
    """`run` and `exec` read by minicontainer/flags.py (no argparse), or None when argparse must read them."""
    if argv[:1] not in (["run"], ["create"], ["exec"]):
        return None
    from .commands import container

    return container.parse_fast(argv[0], argv[1:])


def _choose_implementation(argv: list[str]) -> list[str]:
    """`--yours` / `--yours=NN` before the command: the runtime calls the learner's functions (seams.py).

    It goes into the environment (MC_IMPL), so every process the command starts does the same."""
    if argv[:1] and (argv[0] == "--yours" or argv[0].startswith("--yours=")):
        _, _, upto = argv[0].partition("=")
        os.environ["MC_IMPL"] = f"yours:{upto}" if upto else "yours"
        argv = argv[1:]
    return argv


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the handler, and turn runtime errors into one line on stderr."""
    argv = _choose_implementation(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["oci"]:  # [oci] lesson 10: runc's command line, parsed by oci/cli.py (= minicontainer-oci,
        from .oci.cli import main as oci_main  # which loads the learner's functions itself under MC_IMPL)
        return oci_main(argv[1:])
    if os.environ.get("MC_IMPL"):  # the learner's functions replace the package's (only then: seams is not
        from . import seams        # imported on the reference path)
        try:
            seams.use()
        except ContainerError as exc:
            print(f"minicontainer {argv[0] if argv else ''}: error: {exc}", file=sys.stderr)
            return EXIT_RUNTIME_ERROR
    args = _parse_fast(argv)
    if args is None:
        fast = bool(argv[:1]) and argv[0] in CONTAINER_COMMANDS
        parser = build_parser(only="container", command=argv[0]) if fast else build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "handler", None):
            parser.print_help()
            return 0
    try:
        result = args.handler(args)
    except (ContainerError, OSError) as exc:  # (a SyscallError already names the call and the fix)
        print(f"minicontainer {args.command}: error: {exc}", file=sys.stderr)
        return exit_status(args.command, exc)
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
