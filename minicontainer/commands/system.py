"""`minicontainer version` and `info`: the runtime and its host, as Docker shows them (lesson 09)."""

from __future__ import annotations

import argparse
import json

ORDER = 85


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("version", help="show the runtime's version (and the kernel: there is no server)")
    p.add_argument("-f", "--format", default="", help="a Go template's field path, e.g. '{{.Client.Version}}'")
    p.set_defaults(handler=_version)
    p = sub.add_parser("info", help="display system-wide information: containers, images, storage, cgroups, kernel")
    p.add_argument("-f", "--format", default="", help="a Go template's field path, e.g. '{{.CgroupVersion}}'")
    p.set_defaults(handler=_info)


def _print(data: dict, template: str, render) -> int:
    from ..inspection import render as fill
    if template == "json" or template == "{{json .}}":
        print(json.dumps(data))
    elif template:
        print(fill(template, data))
    else:
        print(render(data))
    return 0


def _version(args: argparse.Namespace) -> int:
    from ..system import render_version, version
    return _print(version(), args.format, render_version)


def _info(args: argparse.Namespace) -> int:
    from ..container import collect_crashed, default_paths
    from ..system import info, render_info
    paths = default_paths()
    collect_crashed(paths)
    return _print(info(paths), args.format, render_info)
