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

The rest of the runtime uses connect.py's functions, named here. (`run --network none` imports
none of this package: PID 1 brings `lo` up with namespaces.loopback_up.)
"""

from __future__ import annotations

from .connect import (DEFAULT_BRIDGE, MODES, Attachment, NetworkOptions, attach, attach_container,
                      bridge_from_env, check_run_options, detach, parse_network, parse_publish, remove_network,
                      sweep)

__all__ = ["NetworkOptions", "Attachment", "attach", "detach", "sweep", "remove_network", "parse_network",
           "parse_publish", "check_run_options", "attach_container", "bridge_from_env", "DEFAULT_BRIDGE", "MODES"]
