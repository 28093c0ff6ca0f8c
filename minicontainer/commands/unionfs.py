"""`minicontainer diff CONTAINER`: what a container changed in its copy-on-write root (lesson 04)."""

from __future__ import annotations

import argparse

ORDER = 40


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diff", help="show what a container added (A), changed (C) and deleted (D)")
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(handler=_diff)


def _diff(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..container import default_paths, find, state_dir
    from ..errors import ContainerError
    from ..unionfs import container_changes

    paths = default_paths()
    c = find(paths, args.container)
    layers = c.spec.get("layers")
    if not layers:
        raise ContainerError("this container's root is a plain directory (--rootfs): it has no layers to compare",
                             step="diff", path=c.rootfs, fix="run an image (not --rootfs DIR) to get a copy-on-write root")
    for line in container_changes(state_dir(paths, c.id), [Path(p) for p in layers]).lines():
        print(line)
    return 0
