"""`minicontainer oci ...`: runc's command line (lesson 10). cli.main hands it to oci/cli.py before
argparse runs; this entry only puts it in `minicontainer --help`."""

from __future__ import annotations

import argparse

ORDER = 80


def register(sub: argparse._SubParsersAction, only: str | None = None) -> None:
    if only not in (None, "oci"):
        return
    p = sub.add_parser("oci", help="the OCI runtime command line (runc's): spec, create, start, state, kill, delete, "
                                   "run, exec, list, features; also installed as minicontainer-oci",
                       add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(handler=_oci)


def _oci(args: argparse.Namespace) -> int:
    from ..oci.cli import main
    return main(args.rest)
