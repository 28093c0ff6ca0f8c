"""runc's command line: `minicontainer oci COMMAND` and the `minicontainer-oci` binary (lesson 10).

    minicontainer-oci [--root DIR] [--log FILE] [--log-format text|json] COMMAND [OPTIONS] ARGS

    spec [--rootless] [--bundle DIR]              write a default config.json
    create [--bundle DIR] [--pid-file F] [--console-socket S] ID
    start ID          state ID          kill ID [SIGNAL]          delete [--force] ID
    run [--bundle DIR] [--detach] [--keep] [--pid-file F] [--console-socket S] ID
    exec [--process F | ARGS...] [--cwd D] [--env K=V] [--tty --console-socket S] [--user U] [--detach] ID
    list [--format table|json] [--quiet]        features

Engines run the binary with the flags runc has, so this parser reads runc's spellings (flags before or
after the arguments, `--flag=value` or `--flag value`, runc's short forms) and nothing else: an
unknown flag is an error naming it. No argparse: `minicontainer-oci run` is timed against `runc run`
(bench/bench_oci.py), and argparse costs ~15 ms of imports.

Errors are one line on stderr and, with --log, a line in the log file (JSON with --log-format json:
podman's conmon reads the runtime's error from there). Exit status 1, as runc's.
"""

from __future__ import annotations

import os
import sys

from ..errors import ContainerError

# command -> {flag: (name, takes a value, repeated)}; short forms alias long ones.
GLOBAL = {"--root": ("root", True), "--log": ("log", True), "--log-format": ("log_format", True),
          "--systemd-cgroup": ("systemd_cgroup", False), "--debug": ("debug", False),
          "--rootless": ("rootless_mode", True), "--criu": ("criu", True)}
COMMON_CREATE = {"--bundle": "bundle", "-b": "bundle", "--pid-file": "pid_file", "--console-socket": "console_socket",
                 "--no-pivot": "no_pivot!", "--no-new-keyring": "no_new_keyring!", "--preserve-fds": "preserve_fds"}
COMMANDS = {
    "spec": {"--bundle": "bundle", "-b": "bundle", "--rootless": "rootless!"},
    "create": COMMON_CREATE,
    "run": dict(COMMON_CREATE, **{"--detach": "detach!", "-d": "detach!", "--keep": "keep!"}),
    "start": {}, "state": {}, "features": {},
    "kill": {"--all": "all!", "-a": "all!"},
    "delete": {"--force": "force!", "-f": "force!"},
    "exec": {"--process": "process", "-p": "process", "--console-socket": "console_socket", "--cwd": "cwd",
             "--env": "env*", "-e": "env*", "--tty": "tty!", "-t": "tty!", "--user": "user", "-u": "user",
             "--additional-gids": "gids*", "-g": "gids*", "--detach": "detach!", "-d": "detach!",
             "--pid-file": "pid_file", "--cap": "cap*", "-c": "cap*", "--no-new-privs": "no_new_privs!",
             "--preserve-fds": "preserve_fds"},
    "list": {"--format": "format", "-f": "format", "--quiet": "quiet!", "-q": "quiet!"},
}
USAGE = __doc__.split("\n\n")[1]


class CliError(ContainerError):
    pass


def parse(argv: list[str]) -> tuple[dict, str, dict, list[str]]:
    """argv -> (global options, command, its options, positional arguments)."""
    glob: dict = {}
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        flag, eq, value = argv[i].partition("=")
        if flag in ("-h", "--help"):
            return glob, "help", {}, []
        if flag in ("-v", "--version"):
            return glob, "version", {}, []
        if flag not in GLOBAL:
            raise CliError(f"flag provided but not defined: {flag}", step="parse arguments", fix=USAGE)
        name, takes = GLOBAL[flag]
        if takes and not eq:
            i += 1
            if i >= len(argv):
                raise CliError(f"flag needs an argument: {flag}", step="parse arguments")
            value = argv[i]
        glob[name] = value if takes else (value.lower() != "false" if eq else True)
        i += 1
    if i >= len(argv):
        return glob, "help", {}, []
    command = argv[i]
    if command == "ps":
        command = "list"
    if command not in COMMANDS:
        raise CliError(f"no such command: {command}", step="parse arguments", fix=USAGE)
    table = COMMANDS[command]
    opts: dict = {}
    args: list[str] = []
    rest = argv[i + 1:]
    j = 0
    while j < len(rest):
        word = rest[j]
        if word == "--":
            args += rest[j + 1:]
            break
        if command == "exec" and args:  # exec ID CMD ARGS...: the command's own flags are not ours
            args += rest[j:]
            break
        if word.startswith("-") and word != "-":
            flag, eq, value = word.partition("=")
            if flag not in table:
                raise CliError(f"flag provided but not defined: {flag}", step=f"parse {command}", fix=USAGE)
            spec = table[flag]
            name = spec.rstrip("!*")
            if spec.endswith("!"):
                opts[name] = value.lower() != "false" if eq else True
            else:
                if not eq:
                    j += 1
                    if j >= len(rest):
                        raise CliError(f"flag needs an argument: {flag}", step=f"parse {command}")
                    value = rest[j]
                if spec.endswith("*"):
                    opts.setdefault(name, []).append(value)
                else:
                    opts[name] = value
        else:
            args.append(word)
        j += 1
    return glob, command, opts, args


def need_id(args: list[str], command: str, most: int = 1) -> str:
    if not args or len(args) > most:
        raise CliError(f"\"{command}\" requires {'exactly 1' if most == 1 else 'at least 1'} argument(s): the "
                       "container id", step=f"parse {command}", fix=f"minicontainer-oci {command} [OPTIONS] ID")
    return args[0]


def log_error(glob: dict, message: str) -> None:
    """runc's --log: errors go to the log file too, as JSON lines with --log-format json."""
    path = glob.get("log")
    if not path:
        return
    import time
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if glob.get("log_format") == "json":
        from .. import quickjson
        line = quickjson.dumps({"level": "error", "msg": message, "time": stamp})
    else:
        line = f'time="{stamp}" level=error msg="{message}"'
    try:
        with open(path, "a") as f:
            f.write(line + "\n")
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    glob: dict = {}
    try:
        if os.environ.get("MC_IMPL"):  # `minicontainer --yours=10 oci ...`: the learner's functions (seams.py)
            from .. import seams
            seams.use()
        glob, command, opts, args = parse(argv)
        return dispatch(glob, command, opts, args)
    except ContainerError as exc:
        message = str(exc)
        print(f"minicontainer-oci: {message}", file=sys.stderr)
        log_error(glob, message)
        return 1
    except OSError as exc:
        print(f"minicontainer-oci: {exc}", file=sys.stderr)
        log_error(glob, str(exc))
        return 1
    except KeyboardInterrupt:
        return 130


def dispatch(glob: dict, command: str, opts: dict, args: list[str]) -> int:
    from .. import __version__
    if command == "help":  # (as argparse's --help: print and exit)
        print(USAGE)
        raise SystemExit(0)
    if command == "version":
        from .state import OCI_VERSION
        print(f"minicontainer-oci version {__version__}\nspec: {OCI_VERSION}")
        return 0
    if glob.get("log_format", "text") not in ("text", "json"):
        raise CliError(f"unknown --log-format {glob['log_format']!r}", step="parse arguments", fix="use text or json")
    if glob.get("systemd_cgroup"):
        raise CliError("--systemd-cgroup is not supported: minicontainer manages cgroups through the cgroup "
                       "filesystem only", step="parse arguments",
                       fix="drop the flag (podman: --cgroup-manager cgroupfs)")
    if glob.get("criu"):
        raise CliError("checkpoint/restore (--criu) is not supported", step="parse arguments")
    if opts.get("no_pivot"):
        raise CliError("--no-pivot is not supported: minicontainer always uses pivot_root", step=f"parse {command}")
    if opts.get("preserve_fds") not in (None, "0"):
        raise CliError("--preserve-fds is not supported by minicontainer", step=f"parse {command}")
    from . import runtime
    from .state import default_root, paths_for
    paths = paths_for(os.path.abspath(glob.get("root") or default_root()))
    if command == "spec":
        from .. import quickjson
        from .spec import default_config
        target = os.path.join(opts.get("bundle") or ".", "config.json")
        if os.path.exists(target):
            raise CliError("File config.json exists. Remove it first", step="spec", path=target)
        with open(target, "w") as f:
            f.write(quickjson.dumps(default_config(bool(opts.get("rootless"))), indent=2) + "\n")
        return 0
    if command == "features":
        from .spec import features
        return print_json(features())
    if command == "list":
        rows = runtime.containers(paths)
        if opts.get("quiet"):
            for r in rows:
                print(r["id"])
        elif opts.get("format") == "json":
            print_json(rows)
        else:
            print(f"{'ID':<24}{'PID':<10}{'STATUS':<10}{'BUNDLE':<40}{'CREATED':<22}OWNER")
            for r in rows:
                print(f"{r['id']:<24}{r.get('pid', 0):<10}{r['status']:<10}{r['bundle']:<40}{r['created']:<22}root")
        return 0
    if command == "create":
        runtime.create(paths, need_id(args, command), opts.get("bundle") or ".",
                       console_socket=opts.get("console_socket", ""), pid_file=opts.get("pid_file", ""))
        return 0
    if command == "run":
        return runtime.run(paths, need_id(args, command), opts.get("bundle") or ".", detach=opts.get("detach", False),
                           keep=opts.get("keep", False), pid_file=opts.get("pid_file", ""),
                           console_socket=opts.get("console_socket", ""))
    if command == "start":
        runtime.start(paths, need_id(args, command))
        return 0
    if command == "state":
        return print_json(runtime.state(paths, need_id(args, command)), indent=2)
    if command == "kill":
        cid = need_id(args, command, 2)
        runtime.kill(paths, cid, runtime.parse_signal(args[1] if len(args) > 1 else "TERM"))
        return 0
    if command == "delete":
        runtime.delete(paths, need_id(args, command), force=opts.get("force", False))
        return 0
    if command == "exec":
        return exec_command(paths, opts, args)
    raise CliError(f"no such command: {command}", step="parse arguments")


def exec_command(paths, opts: dict, args: list[str]) -> int:
    from . import runtime
    if not args:
        raise CliError('"exec" requires a container id', step="parse exec", fix="minicontainer-oci exec ID CMD...")
    cid, command = args[0], args[1:]
    if opts.get("process"):
        from .. import quickjson
        with open(opts["process"], "rb") as f:
            process = quickjson.loads(f.read())
    else:
        if not command:
            raise CliError("exec needs a command, or --process FILE", step="parse exec")
        state_env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
        uid, _, gid = (opts.get("user") or "0:0").partition(":")
        process = {"args": command, "env": state_env + opts.get("env", []), "cwd": opts.get("cwd") or "/",
                   "terminal": bool(opts.get("tty")),
                   "user": {"uid": int(uid), "gid": int(gid or 0),
                            "additionalGids": [int(g) for g in opts.get("gids", [])]}}
        if opts.get("no_new_privs"):
            process["noNewPrivileges"] = True
    return runtime.exec_process(paths, cid, process, detach=opts.get("detach", False),
                                pid_file=opts.get("pid_file", ""), console_socket=opts.get("console_socket", ""))


def print_json(value: object, indent: int | None = None) -> int:
    from .. import quickjson
    print(quickjson.dumps(value, indent=indent) if indent else quickjson.dumps(value))
    return 0


if __name__ == "__main__":
    sys.exit(main())
