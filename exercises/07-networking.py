# Your exercises for lesson 07-networking. Replace each `raise NotImplementedError(...)` with your code.
# Check your work with `make check EX=07` (or the check cells in notebooks/07-networking.ipynb).
# This file was generated from the instructors' solutions by `make exercises`.

"""Lesson 07: a container on the network: veth, addresses, DNAT, published ports.

Each function below is one step of the lesson. The package keeps its own versions in
minicontainer/network/ (veth.py, ipam.py, ports.py): compare yours with them when you are done.
"""

from __future__ import annotations

import ipaddress
import re


def parse_publish(spec: str) -> tuple[str, int, int, str]:
    """Exercise 7.1: parse a `-p` value into (host_ip, host_port, container_port, proto).
    "8080:80" -> ("", 8080, 80, "tcp"); "127.0.0.1:8080:80/udp" -> ("127.0.0.1", 8080, 80, "udp").
    The protocol defaults to "tcp". Raise ValueError for anything else: a missing port, a port
    outside 1..65535, a protocol other than tcp or udp."""
    raise NotImplementedError('Exercise 7.1: split off "/proto" (default "tcp"), then split the rest on ":" into 2 parts (host, container) or 3 (ip, host, container); check the ports are 1..65535')


def next_free_address(subnet: str, used: set[str]) -> str:
    """Exercise 7.2: the lowest address of `subnet` ("10.88.0.0/16") a new container may take.
    The first host address (10.88.0.1) belongs to the bridge (the gateway); addresses in `used`
    are taken; the network and broadcast addresses are never handed out. Raise RuntimeError when
    the subnet is full."""
    raise NotImplementedError('Exercise 7.2: walk ipaddress.ip_network(subnet).hosts(), skip the first (the gateway) and the used ones')


def dnat_rule(host_port: int, container_ip: str, container_port: int, proto: str = "tcp") -> str:
    """Exercise 7.3: the nftables rule (for a nat chain) that sends packets for `host_port` of any
    local address of the host to container_ip:container_port, e.g.
    "fib daddr type local tcp dport 8080 dnat to 10.88.0.2:80"."""
    raise NotImplementedError('Exercise 7.3: "fib daddr type local" matches the host\'s own addresses; then "{proto} dport {host_port} dnat to {ip}:{port}"')


def plug_veth(ipr, host_name: str, pid: int, address: str, gateway: str) -> None:
    """Exercise 7.4: connect the network namespace of process `pid` with a veth pair.
    `ipr` is a pyroute2 IPRoute on the host. Create the pair `host_name` <-> `eth0`, with eth0
    created directly in pid's namespace, and set host_name up. Then, inside the namespace
    (pyroute2.IPRoute(netns=f"/proc/{pid}/ns/net", flags=0)): put `address` ("10.250.0.2/24")
    on eth0, set eth0 and lo up, and add a default route via `gateway`."""
    raise NotImplementedError('Exercise 7.4: ipr.link("add", ifname=host_name, kind="veth", peer={"ifname": "eth0", "net_ns_pid": pid}); then in the namespace: ns.addr("add", ...), ns.link("set", ..., state="up"), ns.route("add", dst="0.0.0.0/0", gateway=gateway)')
