# Your exercises for lesson 07-networking. Replace each `raise NotImplementedError(...)` with your code.
# Check your work with `make check EX=07` (or the check cells in notebooks/07-networking.ipynb).
# This file was generated from the instructors' solutions by `make exercises`.

"""Lesson 07: a container on the network: addresses, published ports, DNAT, the veth pair.

Each function below is a step the runtime takes for `run --network bridge -p`, with the same name
and arguments as the package's own in minicontainer/network/: free_address (ipam.py), parse_publish
and dnat_rules (ports.py), create_pair and configure_inside (veth.py). `minicontainer --yours run
--network bridge -p 8080:80 ...` runs yours.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from minicontainer.errors import ContainerError, UsageError
from minicontainer.network.ports import PortMapping


def free_address(subnet: str, gateway: str, used: set[str]) -> str:
    """Exercise 7.1: the lowest address of `subnet` ("10.88.0.0/16") a new container may take. The
    network and broadcast addresses are never handed out, `gateway` is the bridge's, and the
    addresses in `used` are leased to other containers. Raise ContainerError (step "allocate an
    address") when the subnet is full."""
    raise NotImplementedError("Exercise 7.1: the lowest free address of the bridge's subnet for a new container")


def parse_publish(spec: str) -> PortMapping:
    """Exercise 7.2: read one `-p` value into a PortMapping(host_port, container_port, proto, host_ip):
      "8080:80"                -> PortMapping(8080, 80, "tcp", "")
      "8080:80/udp"            -> PortMapping(8080, 80, "udp", "")
      "127.0.0.1:8080:80/tcp"  -> PortMapping(8080, 80, "tcp", "127.0.0.1")
      "80"                     -> PortMapping(0, 80, "tcp", "")     (0: the runtime picks a free host port)
      "127.0.0.1::80"          -> PortMapping(0, 80, "tcp", "127.0.0.1")
    The protocol is tcp or udp (any case, default tcp); ports are 1..65535 (a given host port too);
    the host IP an IPv4 address. Raise UsageError (step "publish a port") for anything else."""
    raise NotImplementedError('Exercise 7.2: a -p value read into host IP, host port, container port and protocol')


def dnat_rules(mapping: PortMapping, container_ip: str) -> list[tuple[str, str]]:
    """Exercise 7.3: the nftables rules (chain, rule) that send `mapping`'s host port to
    container_ip:container_port: the same rule in the "prerouting" chain (packets from outside)
    and in the "output" chain (connections the host itself makes, to 127.0.0.1 say). The rule
    matches the destination: `ip daddr IP` if the mapping names a host IP, else every address of
    the host (`fib daddr type local`); then `PROTO dport HOSTPORT dnat to CONTAINERIP:PORT`."""
    raise NotImplementedError('Exercise 7.3: the DNAT rules that send a published host port to the container')


def create_pair(ipr, host: str, pid: int, bridge_index: int | None, inside: str = "eth0") -> int:
    """Exercise 7.4: the virtual cable. `ipr` is a pyroute2 IPRoute on the host. Create a veth pair
    named `host` on the host's side and `inside` directly in the network namespace of process `pid`
    (the kernel moves it there as it creates it); if `bridge_index` is not None, plug the host end
    into that bridge (its "master"), and let the bridge send a frame back out of the port it came in
    by: write "1" to /sys/class/net/HOST/brport/hairpin_mode (a container then reaches its own
    published port). Set the host end up. Return the host end's index."""
    raise NotImplementedError("Exercise 7.4: a veth pair with one end in the container's network namespace, the other on the bridge")


def configure_inside(pid: int, address: ipaddress.IPv4Interface | None, gateway: str | None,
                     inside: str = "eth0") -> None:
    """Exercise 7.5: inside the network namespace of process `pid`: bring `lo` up; and, if `address`
    (an IPv4Interface like 10.88.0.2/16) is given, put it on `inside`, bring `inside` up, and, if
    `gateway` is given, add a default route via it. Open the netlink socket *inside* that namespace:
    pyroute2.IPRoute(netns=f"/proc/{pid}/ns/net", flags=0) does (the package's own way is faster:
    see veth.py)."""
    raise NotImplementedError("Exercise 7.5: the container's side of the cable: lo up, its address, eth0 up, the default route")
