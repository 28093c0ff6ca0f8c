"""`run`'s flags without argparse (minicontainer/flags.py): the same values as argparse, or None.

flags.parse is the fast path of `minicontainer run`; argparse (built from the same table) stays the
reference and the fallback. Each case below is parsed by both, and the values must be identical.
"""

from __future__ import annotations

import functools
import subprocess
import sys

import pytest

from minicontainer import flags
from minicontainer.cli import build_parser
from minicontainer.commands.container import parse_fast, run_flags
from minicontainer.image import prepare_default_image
from minicontainer.paths import repo_root


@functools.cache
def parser_of(command: str):
    return build_parser(only="container", command=command)


def by_argparse(argv: list[str]) -> dict:
    """What today's argparse parser of `minicontainer run` gives (without command/handler)."""
    values = vars(parser_of("run").parse_args(["run", *argv]))
    del values["command"], values["handler"]
    return values


def by_flags(argv: list[str]) -> dict | None:
    parsed = flags.parse(run_flags(), argv)
    return None if parsed is None else vars(parsed)


SAME = [
    [],
    ["busybox"],
    ["busybox", "/bin/true"],
    ["--rm", "busybox", "/bin/true"],
    ["--rm", "--no-pivot", "--rootfs", "/r", "ls"],
    ["busybox", "ls", "-la"],
    ["busybox", "ls", "-l", "--rm", "-e", "A=1", "--", "x"],
    ["--rm", "busybox", "sh", "-c", "echo $HOME"],
    ["-it", "busybox", "sh"],
    ["-dit", "busybox", "sh"],
    ["-d", "-i", "-t", "busybox"],
    ["--detach", "--interactive", "--tty", "busybox"],
    ["--name", "web", "busybox"],
    ["--name=web", "busybox"],
    ["--name=", "busybox"],
    ["--name", "", "busybox"],
    ["--name", "a", "--name", "b", "busybox"],
    ["-h", "box", "busybox"],
    ["-hbox", "busybox"],
    ["--hostname=box", "busybox"],
    ["-e", "A=1", "busybox"],
    ["-eA=1", "busybox"],
    ["-e=A=1", "busybox"],
    ["-e", "A=1", "-e", "B=2", "--env", "C=3", "--env=D=4", "-eE=5", "busybox", "env"],
    ["-ie", "A=1", "busybox"],
    ["-ieA=1", "busybox"],
    ["-ie=A", "busybox"],
    ["-dieA", "busybox"],
    ["-w", "/tmp", "-u", "1000:1000", "busybox", "id"],
    ["--workdir=/tmp", "--user=nobody", "busybox"],
    ["-w/tmp", "-u0", "busybox"],
    ["-v", "/srv:/srv:ro", "-v", "/a:/b", "--volume=/c:/d", "-v/e:/f", "busybox"],
    ["--tmpfs", "/tmp", "--tmpfs=/run:size=64m", "busybox"],
    ["--read-only", "busybox"],
    ["--init", "busybox"],
    ["--no-init", "busybox"],
    ["--no-init", "--init", "busybox"],
    ["--init", "--no-init", "busybox"],
    ["--restart", "on-failure:2", "busybox"],
    ["--restart=always", "-d", "busybox"],
    ["-P", "busybox"],
    ["-dP", "--publish-all", "busybox"],
    ["--network", "host", "busybox"],
    ["--net=bridge", "-p", "8080:80", "-p8443:443", "--publish=53:53", "busybox"],
    ["--userns", "host", "busybox"],
    ["--userns=private", "busybox"],
    ["--entrypoint", "/bin/sh", "busybox"],
    ["--entrypoint=", "busybox"],
    ["--rootfs", "/var/lib/minicontainer/rootfs/busybox", "/bin/true"],
    ["--rootfs=/tmp/r", "--read-only", "/bin/sh", "-c", "true"],
    ["--", "busybox", "ls"],
    ["--rm", "--", "busybox", "ls"],
    ["--rm", "--", "--rm"],
    ["busybox", "--", "ls"],
    ["--", "--"],
    ["-m", "64m", "busybox"],
    ["-m64m", "busybox"],
    ["--memory=1g", "busybox"],
    ["-dim64m", "busybox"],
    ["--memory-swap", "-1", "busybox"],
    ["--memory-swap=-1", "busybox"],
    ["--pids-limit", "-1", "busybox"],
    ["--pids-limit", "20", "--cpus", "0.5", "busybox"],
    ["--cpus", "-.5", "busybox"],
    ["--cpus", "-0.5", "busybox"],
    ["-c", "512", "busybox"],
    ["-c512", "--cpu-shares=256", "busybox"],
    ["--cpuset-cpus", "0-1", "busybox"],
    ["--cpuset-cpus=0,1", "-m", "32m", "--memory-swap", "64m", "busybox"],
    ["", "ls"],
    ["-e", "", "busybox"],
    ["-e", "A B", "busybox"],
    ["-e", "-1", "busybox"],
    ["--rm", "-d", "--name", "x", "-h", "y", "-e", "A=1", "-w", "/", "-u", "0", "-v", "/a:/a", "--tmpfs", "/t",
     "--read-only", "--no-init", "--net", "none", "-p", "1:1", "--userns", "host", "--entrypoint", "sh",
     "-m", "16m", "--memory-swap", "32m", "--cpus", "1", "-c", "100", "--cpuset-cpus", "0", "--pids-limit", "9",
     "busybox", "-c", "echo", "-e", "--rm"],
    ["--privileged", "--cap-add", "NET_ADMIN", "--cap-drop=ALL", "--security-opt", "seccomp=unconfined",
     "--security-opt=no-new-privileges", "--device", "/dev/null:/dev/n:r", "busybox"],
]


@pytest.mark.parametrize("argv", SAME, ids=lambda a: " ".join(a) or "(empty)")
def test_flags_parse_as_argparse_does(argv):
    assert by_flags(argv) == by_argparse(argv)


def test_every_run_flag_is_covered():
    """Each flag of the table appears in the cases above (a new flag needs a case)."""
    words = {w.partition("=")[0] for case in SAME for w in case}
    for f in run_flags():
        assert words & set(f.names), f"no case uses {f.names}"


# Unsure: flags.parse says None, and argparse reads the command line instead (an error or help here).
REFUSED = [
    ["--no-such-flag", "busybox"],
    ["-x", "busybox"],
    ["-ix", "busybox"],
    ["--help"],
    ["--rm", "--help", "busybox"],
    ["--name"],
    ["-e"],
    ["-ie"],
    ["--rm", "--name"],
    ["--name", "-x", "busybox"],
    ["--name", "--rm", "busybox"],
    ["-e", "--", "busybox"],
    ["--rm=yes", "busybox"],
    ["-d=1", "busybox"],
    ["-dit=x", "busybox"],
    ["--init=no", "busybox"],
    ["--no-init=1", "busybox"],
    ["--no-rm", "busybox"],
    ["--cpus", "-1e3", "busybox"],
]


@pytest.mark.parametrize("argv", REFUSED, ids=lambda a: " ".join(a))
def test_flags_refuse_what_argparse_must_read(argv, capsys):
    assert by_flags(argv) is None
    with pytest.raises(SystemExit):  # argparse prints the help or the error (tested in test_cli.py)
        by_argparse(argv)


# Unsure, but valid for argparse: the fallback gives the same command line its meaning.
FALLBACK = [
    ["--nam", "web", "busybox"],  # argparse accepts unambiguous abbreviations
    ["--read", "busybox"],
    ["-e", "-x y", "busybox"],  # a value starting with "-" that argparse takes because of the space
    ["-1", "ls"],  # a negative number is a positional word for argparse
    ["-", "busybox"],  # so is a lone "-"
]


@pytest.mark.parametrize("argv", FALLBACK, ids=lambda a: " ".join(a))
def test_unusual_but_valid_lines_go_to_argparse(argv):
    assert by_flags(argv) is None
    by_argparse(argv)  # no error


def test_flag_table_is_plain_data():
    f = flags.Flag(("-e", "--env"), kind="list", metavar="KEY=VALUE", help="set an environment variable")
    assert f.key() == "env" and f.initial() == [] and f.initial() is not f.initial()
    assert flags.Flag(("--read-only",), kind="bool").key() == "read_only"
    assert flags.Flag(("-t", "--time", "--timeout"), dest="time").key() == "time"
    assert all(f.kind in flags.KINDS for f in run_flags())


def test_help_still_shows_the_table():
    parser = build_parser(only="container", command="run")
    text = parser._subparsers._group_actions[0].choices["run"].format_help()
    assert "resource limits (lesson 03, cgroups)" in text
    for f in run_flags():
        assert f.names[-1] in text and f.help.split("(")[0].strip() in " ".join(text.split())
    assert "--init, --no-init" in text and "-e KEY=VALUE, --env KEY=VALUE" in text


SCRIPT = """
import sys
sys.path.insert(0, {root!r})
from minicontainer.cli import main
code = main(sys.argv[1:])
print(code, sorted(m for m in sys.modules if m in ("argparse", "gettext", "locale", "minicontainer.flags")))
sys.exit(code)
"""


def launcher(*argv: str) -> subprocess.CompletedProcess:
    """What the fast launcher (.venv/bin/minicontainer, `python -I -S`) does, then what it loaded."""
    return subprocess.run([sys.executable, "-I", "-S", "-c", SCRIPT.format(root=str(repo_root())), *argv],
                          capture_output=True, text=True, timeout=60)


def test_modules_of_flags_py_are_tiny():
    code = "import sys; sys.path.insert(0, {root!r}); import minicontainer.flags; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code.format(root=str(repo_root()))],
                         capture_output=True, text=True, timeout=60, check=True).stdout.split()
    heavy = {"re", "argparse", "enum", "typing", "functools", "collections", "dataclasses"}
    assert sorted(heavy & set(out)) == []


def test_run_does_not_import_argparse(paths):
    prepare_default_image(paths)
    out = launcher("run", "--rm", "-e", "A=1", "busybox", "/bin/true")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "['minicontainer.flags']"]


def test_run_with_a_bad_flag_falls_back_to_argparse_errors(paths):
    """argparse prints the error; the status is Docker's for a flag error (125), not argparse's 2."""
    out = launcher("run", "--no-such-flag", "busybox", "/bin/true")
    assert out.returncode == 125
    assert "error: unrecognized arguments: --no-such-flag" in out.stderr
    out = launcher("run", "--name")
    assert out.returncode == 125 and "argument --name: expected one argument" in out.stderr


def test_run_errors_stay_one_line(paths):
    out = launcher("run", "--rm")
    assert out.returncode == 1  # Docker: a missing argument is a plain error (cobra's Args check)
    assert out.stderr.strip().count("\n") == 0 and out.stderr.startswith("minicontainer run: error:")
    assert "'minicontainer run' requires at least 1 argument" in out.stderr


WORDS = ["--rm", "-d", "-i", "-t", "-it", "-dit", "-e", "-eA=1", "-e=B", "--env", "--env=C=3", "A=1", "--name",
         "--name=n", "-h", "-hbox", "--no-init", "--init", "--read-only", "-m", "-m64m", "--memory-swap", "-1",
         "--cpus=-.5", "-c", "-v", "/a:/b", "--tmpfs", "-p", "8080:80", "--net", "--", "-", "", "busybox", "ls",
         "-la", "--nam", "--help", "-x", "-ie", "-de", "--rm=1", "-d=1", "-1e3", "x y", "-x y", "--rootfs", "/r"]


def agreements(words: list[str], fast, slow, lines: int, longest: int, seed: int) -> int:
    """Random command lines from `words`: the fast parser agrees with argparse, or says None.
    Returns how many lines the fast parser read (the test must exercise it)."""
    import random

    rng = random.Random(seed)
    agreed = 0
    for _ in range(lines):
        argv = [rng.choice(words) for _ in range(rng.randint(0, longest))]
        mine = fast(argv)
        if mine is None:
            continue
        try:
            theirs = slow(argv)
        except SystemExit:
            pytest.fail(f"the fast path accepted {argv}, argparse refuses it")
        assert mine == theirs, argv
        agreed += 1
    return agreed


def test_random_lines_give_argparse_values_or_none(capsys):
    """2000 random command lines from the words above: flags.parse agrees with argparse, or says None."""
    assert agreements(WORDS, by_flags, by_argparse, lines=2000, longest=6, seed=3) > 300


# --- `exec`: its flags are rows of run's table, and the same fast path reads them -------------------

def exec_by_argparse(argv: list[str]) -> dict:
    values = vars(parser_of("exec").parse_args(["exec", *argv]))
    del values["command"], values["handler"]
    return values


def exec_by_flags(argv: list[str]) -> dict | None:
    parsed = parse_fast("exec", argv)
    if parsed is None:
        return None
    values = vars(parsed)
    assert values.pop("command") == "exec" and values.pop("handler").__name__ == "_exec"
    return values


EXEC_SAME = [
    ["web"],
    ["web", "sh"],
    ["-it", "web", "sh"],
    ["-i", "-t", "web", "sh", "-c", "echo -it --rm"],
    ["-e", "A=1", "-eB=2", "--env=C", "-w", "/tmp", "-u", "0:0", "web", "env"],
    ["--interactive", "--tty", "--workdir=/", "--user=nobody", "web", "id"],
    ["web", "--", "ls", "-l"],
    ["-ie", "A=1", "web", "sh"],
]


@pytest.mark.parametrize("argv", EXEC_SAME, ids=lambda a: " ".join(a))
def test_exec_flags_parse_as_argparse_does(argv):
    assert exec_by_flags(argv) == exec_by_argparse(argv)


@pytest.mark.parametrize("argv", [[], ["-it"], ["--help"], ["-d", "web", "sh"], ["--rm", "web", "sh"], ["-e"]],
                         ids=lambda a: " ".join(a) or "(empty)")
def test_exec_flags_refuse_what_argparse_must_read(argv, capsys):
    assert exec_by_flags(argv) is None
    with pytest.raises(SystemExit):
        exec_by_argparse(argv)


def test_exec_lines_only_argparse_reads_keep_their_meaning():
    assert exec_by_flags(["--", "web", "sh"]) is None
    assert exec_by_argparse(["--", "web", "sh"])["container"] == "web"


def test_random_exec_lines_give_argparse_values_or_none(capsys):
    words = ["-i", "-t", "-it", "-e", "A=1", "-eA=1", "--env", "-w", "/", "-u", "0", "--user=1", "web", "sh",
             "-c", "--", "-", "-x", "--help", "--tty=1", ""]
    assert agreements(words, exec_by_flags, exec_by_argparse, lines=1000, longest=5, seed=5) > 150


def test_exec_does_not_import_argparse_and_names_itself_in_errors(paths):
    out = launcher("exec", "-it", "no-such-container", "sh")
    assert out.returncode == 1  # Docker's `exec` of a missing container: 1 (only `run` says 125)
    assert out.stderr.startswith("minicontainer exec: error:") and "No such container" in out.stderr
    assert out.stdout.split() == ["1", "['minicontainer.flags']"]
