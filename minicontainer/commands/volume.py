"""`minicontainer volume create|ls|rm|inspect`: named volumes, data that outlives containers (lesson 09)."""

from __future__ import annotations

import argparse
import sys

ORDER = 15


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("volume", help="manage volumes: data kept apart from any container")
    vol = p.add_subparsers(dest="volume_command", metavar="SUBCOMMAND")
    c = vol.add_parser("create", help="create a volume (a random name if none is given)")
    c.add_argument("name", nargs="?", default="", metavar="VOLUME")
    c.set_defaults(handler=_create)
    ls = vol.add_parser("ls", help="list volumes")
    ls.add_argument("-q", "--quiet", action="store_true", help="only display volume names")
    ls.set_defaults(handler=_ls)
    rm = vol.add_parser("rm", help="remove volumes (not one a container uses)")
    rm.add_argument("-f", "--force", action="store_true", help="remove it even if a container uses it")
    rm.add_argument("names", nargs="+", metavar="VOLUME")
    rm.set_defaults(handler=_rm)
    ins = vol.add_parser("inspect", help="show volumes as JSON")
    ins.add_argument("names", nargs="+", metavar="VOLUME")
    ins.set_defaults(handler=_inspect)
    p.set_defaults(handler=_ls, quiet=False)


def _paths():
    from ..container import collect_crashed, default_paths
    paths = default_paths()
    collect_crashed(paths)
    return paths


def _create(args: argparse.Namespace) -> int:
    from .. import volumes
    print(volumes.create(_paths(), args.name))
    return 0


def _ls(args: argparse.Namespace) -> int:
    from .. import volumes
    names = volumes.names(_paths())
    if args.quiet:
        for name in names:
            print(name)
        return 0
    print(f"{'DRIVER':<10}VOLUME NAME")
    for name in names:
        print(f"{'local':<10}{name}")
    return 0


def _rm(args: argparse.Namespace) -> int:
    from .. import volumes
    from ..errors import ContainerError
    paths, status = _paths(), 0
    for name in args.names:
        try:
            volumes.remove(paths, name, args.force)
            print(name)
        except ContainerError as exc:
            print(f"minicontainer volume: error: {exc}", file=sys.stderr)
            status = 1
    return status


def _inspect(args: argparse.Namespace) -> int:
    import json

    from .. import volumes
    from ..errors import ContainerError
    paths, found, status = _paths(), [], 0
    for name in args.names:
        try:
            found.append(volumes.inspect(paths, name))
        except ContainerError as exc:
            print(f"minicontainer volume: error: {exc}", file=sys.stderr)
            status = 1
    print(json.dumps(found, indent=4))
    return status
