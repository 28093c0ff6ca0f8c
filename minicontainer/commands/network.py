"""`minicontainer network ls | rm BRIDGE` and `port CONTAINER`: the container networks on this host (lesson 07)."""

from __future__ import annotations

import argparse

ORDER = 70


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("network", help="show or remove the container networks (bridges)")
    net = p.add_subparsers(dest="network_command", metavar="SUBCOMMAND")
    ls = net.add_parser("ls", help="draw each mc* bridge with its containers, addresses and published ports")
    ls.set_defaults(handler=_ls)
    rm = net.add_parser("rm", help="remove a bridge network no running container uses")
    rm.add_argument("bridge", metavar="BRIDGE")
    rm.set_defaults(handler=_rm)
    p.set_defaults(handler=_ls)

    p = sub.add_parser("port", help="list a container's published ports (the host ports -p 80 chose)")
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(handler=_port)


def _port(args: argparse.Namespace) -> int:
    """Docker's format: `80/tcp -> 0.0.0.0:49153`, one line per published port."""
    from ..container import collect_crashed, default_paths, find
    from ..network import parse_publish

    paths = default_paths()
    collect_crashed(paths)
    c = find(paths, args.container)
    for spec in (c.spec.get("network_state") or {}).get("publish", []):
        m = parse_publish(spec)
        print(f"{m.container_port}/{m.proto} -> {m.host_ip or '0.0.0.0'}:{m.host_port}")
    return 0


def _ls(args: argparse.Namespace) -> int:
    from ..container import default_paths
    from ..widgets.network import render_text, snapshot

    print(render_text(snapshot(default_paths())))
    return 0


def _rm(args: argparse.Namespace) -> int:
    from ..container import collect_crashed, default_paths
    from ..errors import ContainerError
    from ..network import remove_network
    from ..network.ipam import Pool
    from ..privileges import require_root

    require_root("remove a network")
    paths = default_paths()
    collect_crashed(paths)
    users = [lease for lease in Pool(paths.run_dir / "network" / args.bridge, "0.0.0.0/32").leases() if lease.alive()]
    if users:
        raise ContainerError(f"network {args.bridge} is used by {len(users)} running container(s): "
                             + ", ".join(lease.name or lease.id[:12] for lease in users),
                             step="remove a network", fix="stop them first (minicontainer rm -f NAME)")
    removed = remove_network(args.bridge, paths)
    from ..network import nat
    nat.delete_table_if_empty()
    for line in removed:
        print(line)
    if not removed:
        print(f"no network {args.bridge} made by minicontainer here")
    return 0
