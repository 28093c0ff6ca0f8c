"""Published ports: parsing `-p HOSTPORT:CONTAINERPORT[/tcp|udp]` and the DNAT rules behind it (lesson 07).

`-p 8080:80` does not start a proxy. It adds destination NAT rules: a packet that arrives for
port 8080 of any host address gets its destination rewritten to CONTAINER_IP:80 before routing.
`-p 80` (or `-p 127.0.0.1::80`) lets the kernel choose a free host port, as Docker does;
`minicontainer port NAME` shows which.

  prerouting   packets from other machines (and from containers) for a host address
  output       packets the host itself sends, e.g. `curl 127.0.0.1:8080`, as Docker users expect

A packet from 127.0.0.1 may not normally leave the loopback device; the bridge gets
`route_localnet=1` and such packets are masqueraded to the bridge address (see bridge.py).
This module builds the rule text; nat.py installs it.
"""

from __future__ import annotations

import errno
import ipaddress
import re
import socket
from dataclasses import dataclass

from ..errors import ContainerError, UsageError

PROTOCOLS = ("tcp", "udp")
_SPEC = re.compile(r"^(?:(?:(?P<ip>\d{1,3}(?:\.\d{1,3}){3}):)?(?P<host>\d*):)?(?P<cont>\d+)(?:/(?P<proto>\w+))?$")


@dataclass(frozen=True)
class PortMapping:
    """One `-p` option: host_ip:host_port -> the container's container_port, for one protocol.

    host_port 0: not chosen yet (`-p 80`); choose_host_port() picks one."""

    host_port: int
    container_port: int
    proto: str = "tcp"
    host_ip: str = ""  # "" means every address of the host

    def __str__(self) -> str:
        ip = f"{self.host_ip}:" if self.host_ip else ""
        return f"{ip}{self.host_port}:{self.container_port}/{self.proto}"

    @property
    def key(self) -> str:
        """The tag that marks this port's rules, e.g. 'tcp:0.0.0.0:8080' (used to find clashes)."""
        return f"{self.proto}:{self.host_ip or '0.0.0.0'}:{self.host_port}"


def parse_publish(spec: str) -> PortMapping:
    """Parse one `-p` value: '8080:80', '8080:80/udp', '127.0.0.1:8080:80/tcp', '80', '127.0.0.1::80'."""
    fix = ("write -p HOSTPORT:CONTAINERPORT[/tcp|udp] or -p IP:HOSTPORT:CONTAINERPORT, e.g. -p 8080:80 "
           "(or -p 80: any free host port)")
    match = _SPEC.match(spec.strip())
    if not match:
        raise UsageError(f"malformed port mapping {spec!r}", step="publish a port", fix=fix)
    proto = (match["proto"] or "tcp").lower()
    if proto not in PROTOCOLS:
        raise UsageError(f"unknown protocol {proto!r} in {spec!r}", step="publish a port", fix="use /tcp or /udp")
    host_port, container_port = int(match["host"] or 0), int(match["cont"])
    for port in (host_port, container_port) if match["host"] else (container_port,):
        if not 1 <= port <= 65535:
            raise UsageError(f"port {port} in {spec!r} is out of range", step="publish a port",
                             fix="ports are 1..65535")
    host_ip = match["ip"] or ""
    if host_ip:
        try:
            ipaddress.IPv4Address(host_ip)
        except ValueError:
            raise UsageError(f"{host_ip!r} in {spec!r} is not an IPv4 address", step="publish a port", fix=fix) from None
    return PortMapping(host_port, container_port, proto, host_ip)


def check_host_port_free(mapping: PortMapping) -> None:
    """Fail clearly if a program on the host already listens on the host port (bind it for a moment)."""
    kind = socket.SOCK_STREAM if mapping.proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((mapping.host_ip or "0.0.0.0", mapping.host_port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:  # (Docker's words)
                raise ContainerError(f"failed to bind host port {mapping.host_ip or '0.0.0.0'}:{mapping.host_port}/"
                                     f"{mapping.proto}: address already in use", step="publish a port",
                                     fix=f"choose another host port, or stop what listens there "
                                         f"(ss -lntup | grep :{mapping.host_port})") from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise ContainerError(f"{mapping.host_ip} is not an address of this host",
                                     step="publish a port", fix="use 127.0.0.1, an address `ip -br addr` shows, "
                                                                "or leave the IP out") from None
            raise


def choose_host_port(mapping: PortMapping, taken: set[str] = frozenset()) -> PortMapping:
    """`-p 80`: the mapping with a free host port the kernel picks (bind to port 0, read it back).

    A port another container's rules already use (`taken`: PortMapping keys) is skipped. Nothing
    holds the port afterwards (the DNAT rule needs no listening socket), as with `-p 8080:80`."""
    if mapping.host_port:
        return mapping
    kind = socket.SOCK_STREAM if mapping.proto == "tcp" else socket.SOCK_DGRAM
    for _ in range(20):
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.bind((mapping.host_ip or "0.0.0.0", 0))
            chosen = PortMapping(probe.getsockname()[1], mapping.container_port, mapping.proto, mapping.host_ip)
        if chosen.key not in taken and f"{chosen.proto}:0.0.0.0:{chosen.host_port}" not in taken:
            return chosen
    raise ContainerError("no free host port found", step="publish a port", fix="give one: -p HOSTPORT:CONTAINERPORT")


def dnat_rules(mapping: PortMapping, container_ip: str) -> list[tuple[str, str]]:
    """The nft rules (chain, rule) that send mapping's host port to container_ip:container_port."""
    match = f"ip daddr {mapping.host_ip}" if mapping.host_ip else "fib daddr type local"
    rule = f"{match} {mapping.proto} dport {mapping.host_port} dnat to {container_ip}:{mapping.container_port}"
    return [("prerouting", rule), ("output", rule)]
