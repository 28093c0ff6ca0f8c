"""A tiny Docker-style flag parser for `minicontainer run`, with flags as data (issue 3: run latency).

Why not argparse? Importing it (with `gettext`, `locale` and `re`, which pulls `enum`, `functools`
and `collections`) costs several milliseconds of every `minicontainer run`, and `runc run` takes
~30 ms in all. Docker's CLI does not use a general-purpose parser either: it uses spf13/pflag, a
small parser of GNU-style flags. This module parses `run`'s flags the same way, in about a hundred lines of code.

Each flag is a row of a table (a `Flag` record), and the same table serves twice:

    RUN_FLAGS = (Flag(("-e", "--env"), kind="list", metavar="KEY=VALUE", help="set an environment variable"), ...)
    add_to_argparse(parser, RUN_FLAGS)    # --help, errors and every unusual case: argparse, as before
    args = parse(RUN_FLAGS, argv)         # the common case, fast; None when unsure -> use argparse

Kinds of flags:  "bool" (-d, --rm: True when given),  "value" (--name x: the last one wins),
"list" (-e A=1 -e B=2: appended),  "negatable" (--init / --no-init: True / False).

The rules (those of pflag and argparse, for what `run` needs):

    --name x   --name=x      a long flag; its value is the next word, or what follows "="
    -e A=1   -eA=1   -e=A=1  a short flag; its value is the next word, or the rest of the word
                             (a "=" right after the letter is dropped)
    -it   -dit   -dim64m     short bool flags in a cluster; a flag that takes a value ends the cluster
    --no-init                the negative form of a negatable flag
    busybox ls -l            the first word that is not a flag, and every word after it (flags of the
                             command included), go to `args` untouched
    -- busybox               "--" ends the flags: it and every word after it go to `args`

parse() returns None, and the caller falls back to argparse, whenever it is not sure that argparse
would read the words the same way: an unknown or abbreviated flag (--nam), --help, a missing value,
a value that starts with "-" (except a negative number: --pids-limit -1), a value given to a bool
flag (--rm=yes). So the fast path never prints an error: argparse prints the proper one.
tests/test_flags.py checks, case by case, that both parsers give the same values.
"""

from __future__ import annotations

from .record import Record

KINDS = ("bool", "value", "list", "negatable")


class Flag(Record, frozen=True):
    """One flag: its names (short and/or long), where its value goes (dest) and how it is shown in --help."""

    names: tuple = ()
    kind: str = "value"  # one of KINDS
    default: object = None
    metavar: object = None  # the name of the value in --help (None: argparse derives it from dest)
    help: str = ""
    dest: str = ""  # "" : from the first long name, as argparse does (--read-only -> read_only)

    def key(self) -> str:
        """The attribute the value is stored in."""
        if self.dest:
            return self.dest
        long = [n for n in self.names if n.startswith("--")]
        return (long or self.names)[0].lstrip("-").replace("-", "_")

    def takes_value(self) -> bool:
        return self.kind in ("value", "list")

    def initial(self) -> object:
        """The value before any flag is read (a fresh list for list flags, never a shared one)."""
        if self.kind == "list":
            return list(self.default or [])
        if self.kind == "bool":
            return bool(self.default)
        return self.default


class Parsed:
    """What parse() returns: one attribute per flag, plus `args` (like argparse's Namespace)."""

    def __init__(self, **values: object) -> None:
        self.__dict__.update(values)

    def __repr__(self) -> str:
        return "Parsed(" + ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items()) + ")"


def add_to_argparse(parser, flags: tuple) -> None:
    """Register the table with an argparse parser (or argument group): the slow path and --help."""
    import argparse

    actions = {"bool": "store_true", "list": "append", "negatable": argparse.BooleanOptionalAction}
    for f in flags:
        options: dict = {"dest": f.key(), "help": f.help}
        if f.kind in actions:
            options["action"] = actions[f.kind]
        if f.kind != "bool":
            options["default"] = f.initial()
        if f.metavar is not None:
            options["metavar"] = f.metavar
        parser.add_argument(*f.names, **options)


def _is_negative_number(word: str) -> bool:
    """-1, -0.5, -.5: argparse reads these as values, not flags (its regex `^-\\d+$|^-\\d*\\.\\d+$`)."""
    digits = word[1:]
    if not digits.isascii():
        return False
    whole, dot, fraction = digits.partition(".")
    if not dot:
        return whole.isdigit()
    return (whole == "" or whole.isdigit()) and fraction.isdigit()


def _table(flags: tuple) -> dict:
    """{"-e": flag, "--env": flag, "--no-init": flag, ...}"""
    by_name = {}
    for f in flags:
        for name in f.names:
            by_name[name] = f
            if f.kind == "negatable" and name.startswith("--"):
                by_name["--no-" + name[2:]] = f
    return by_name


def parse(flags: tuple, argv: list[str]) -> Parsed | None:
    """The flags' values and `args` (the first non-flag word and all after it), or None when unsure."""
    by_name = _table(flags)
    values = {f.key(): f.initial() for f in flags}
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--" or not word.startswith("-"):
            break  # the image (or "--"): the rest belongs to the container
        if word == "-":
            return None
        i += 1
        # (flag, value given in the same word or None) for each flag in the word
        if word.startswith("--"):
            name, eq, value = word.partition("=")
            found = [(by_name.get(name), value if eq else None)]
        else:
            name, eq, value = word.partition("=")
            if eq and name in by_name:  # -e=A=1
                found = [(by_name[name], value)]
            else:  # -dit, -eA=1, -m64m
                found = []
                for j in range(1, len(word)):
                    flag = by_name.get("-" + word[j])
                    if flag is not None and flag.takes_value():
                        found.append((flag, word[j + 1:] or None))
                        break
                    found.append((flag, None))
                name = ""  # short flags are never negated
        for flag, value in found:
            if flag is None:
                return None  # unknown (or abbreviated) flag, or --help: argparse knows
            key = flag.key()
            if not flag.takes_value():
                if value is not None:
                    return None  # --rm=yes: argparse reports the error
                values[key] = not name.startswith("--no-") if flag.kind == "negatable" else True
                continue
            if value is None:
                if i == len(argv):
                    return None  # a missing value
                value = argv[i]
                if value.startswith("-") and not _is_negative_number(value):
                    return None  # --name -x: argparse calls that a missing value
                i += 1
            if flag.kind == "list":
                values[key].append(value)
            else:
                values[key] = value
    values["args"] = argv[i:]
    return Parsed(**values)
