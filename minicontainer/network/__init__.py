"""Container networking: how a container gets on the network, and how `-p 8080:80` works (lesson 07).

One module per step, in the order the lesson builds them:

    loopback.py   `lo` up in a new namespace (all --network none needs; one ioctl, no pyroute2)
    veth.py       the virtual cable: one end in the container (eth0), one on the bridge
    bridge.py     the virtual switch on the host (mc0, 10.88.0.1/16): the containers' gateway
    ipam.py       address leases, safe under concurrent starts, collected after crashes
    nat.py        nftables: one table `ip minicontainer`, rules tagged with their owner
    ports.py      `-p HOST:CONTAINER[/proto]` and the DNAT rules behind it
    hosts.py      /etc/hosts (peers by name) and /etc/resolv.conf
    connect.py    attach() / release() / detach() / sweep(): the steps put together for `run`

The names below are loaded on first use, so that PID 1 (which imports loopback.py) and `run
--network none` pay nothing for the rest.
"""

from __future__ import annotations

import importlib

_EXPORTS = {name: "connect" for name in (
    "NetworkOptions", "Attachment", "attach", "detach", "sweep", "remove_network", "parse_network",
    "parse_publish", "check_run_options", "attach_container", "bridge_from_env", "DEFAULT_BRIDGE", "MODES")}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
