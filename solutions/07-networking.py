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
    ### BEGIN SOLUTION 7.1: the lowest free address of the bridge's subnet for a new container
    ### HINT: Walk the subnet's usable host addresses from the lowest, and take the first that is neither the bridge's nor leased.
    ### HINT: ipaddress.IPv4Network(subnet).hosts() leaves out the network and broadcast addresses; compare str(host) with gateway and with the strings in used.
    ### HINT: for host in ipaddress.IPv4Network(subnet).hosts(): if str(host) != gateway and str(host) not in used: return str(host) — after the loop: raise ContainerError(f"no free address left in {subnet}", step="allocate an address")
    for host in ipaddress.IPv4Network(subnet).hosts():
        if str(host) != gateway and str(host) not in used:
            return str(host)
    raise ContainerError(f"no free address left in {subnet}", step="allocate an address",
                         fix="stop some containers, or run `minicontainer reset` to collect stale leases")
    ### END SOLUTION


def parse_publish(spec: str) -> PortMapping:
    """Exercise 7.2: read one `-p` value into a PortMapping(host_port, container_port, proto, host_ip):
      "8080:80"                -> PortMapping(8080, 80, "tcp", "")
      "8080:80/udp"            -> PortMapping(8080, 80, "udp", "")
      "127.0.0.1:8080:80/tcp"  -> PortMapping(8080, 80, "tcp", "127.0.0.1")
      "80"                     -> PortMapping(0, 80, "tcp", "")     (0: the runtime picks a free host port)
      "127.0.0.1::80"          -> PortMapping(0, 80, "tcp", "127.0.0.1")
    The protocol is tcp or udp (any case, default tcp); ports are 1..65535 (a given host port too);
    the host IP an IPv4 address. Raise UsageError (step "publish a port") for anything else."""
    ### BEGIN SOLUTION 7.2: a -p value read into host IP, host port, container port and protocol
    ### HINT: Split the protocol off after '/', then the rest on ':' into one, two or three fields (container port; host port and container port; IP, host port, container port). Check each piece.
    ### HINT: rest, _, proto = spec.partition("/"); fields = rest.split(":"); an empty host port means 0; str.isdigit() for ports; ipaddress.IPv4Address(ip) raises ValueError for a bad IP; raise UsageError(message, step="publish a port").
    ### HINT: proto = (proto or "tcp").lower(); ip, host, cont = ([""] * (3 - len(fields)) + fields) when 1 <= len(fields) <= 3; check cont.isdigit() and host == "" or host.isdigit(), the ranges, the IP; return PortMapping(int(host or 0), int(cont), proto, ip)
    rest, slash, proto = spec.strip().partition("/")
    proto = proto.lower() if slash else "tcp"
    if proto not in ("tcp", "udp"):
        raise UsageError(f"unknown protocol {proto!r} in {spec!r}", step="publish a port", fix="use /tcp or /udp")
    fields = rest.split(":")
    if not 1 <= len(fields) <= 3:
        raise UsageError(f"malformed port mapping {spec!r}", step="publish a port", fix="-p HOSTPORT:CONTAINERPORT")
    ip, host, cont = [""] * (3 - len(fields)) + fields
    if not re.fullmatch(r"\d+", cont) or not re.fullmatch(r"\d*", host) or (ip and not re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", ip)):
        raise UsageError(f"malformed port mapping {spec!r}", step="publish a port", fix="-p HOSTPORT:CONTAINERPORT")
    for port in [int(cont)] + ([int(host)] if host else []):
        if not 1 <= port <= 65535:
            raise UsageError(f"port {port} in {spec!r} is out of range", step="publish a port", fix="ports are 1..65535")
    if ip:
        try:
            ipaddress.IPv4Address(ip)
        except ValueError:
            raise UsageError(f"{ip!r} in {spec!r} is not an IPv4 address", step="publish a port",
                             fix="-p IP:HOSTPORT:CONTAINERPORT") from None
    return PortMapping(int(host or 0), int(cont), proto, ip)
    ### END SOLUTION


def dnat_rules(mapping: PortMapping, container_ip: str) -> list[tuple[str, str]]:
    """Exercise 7.3: the nftables rules (chain, rule) that send `mapping`'s host port to
    container_ip:container_port: the same rule in the "prerouting" chain (packets from outside)
    and in the "output" chain (connections the host itself makes, to 127.0.0.1 say). The rule
    matches the destination: `ip daddr IP` if the mapping names a host IP, else every address of
    the host (`fib daddr type local`); then `PROTO dport HOSTPORT dnat to CONTAINERIP:PORT`."""
    ### BEGIN SOLUTION 7.3: the DNAT rules that send a published host port to the container
    ### HINT: One rule, used twice: which packets (the destination address, the protocol and the port), then where they go (dnat to). The kernel's nat hooks see outside packets in prerouting and the host's own in output.
    ### HINT: "fib daddr type local" matches any address of the host; nft writes the port match as "tcp dport 8080" and the action as "dnat to 10.88.0.2:80".
    ### HINT: match = f"ip daddr {mapping.host_ip}" if mapping.host_ip else "fib daddr type local"; rule = f"{match} {mapping.proto} dport {mapping.host_port} dnat to {container_ip}:{mapping.container_port}"; return [("prerouting", rule), ("output", rule)]
    match = f"ip daddr {mapping.host_ip}" if mapping.host_ip else "fib daddr type local"
    rule = f"{match} {mapping.proto} dport {mapping.host_port} dnat to {container_ip}:{mapping.container_port}"
    return [("prerouting", rule), ("output", rule)]
    ### END SOLUTION


def create_pair(ipr, host: str, pid: int, bridge_index: int | None, inside: str = "eth0") -> int:
    """Exercise 7.4: the virtual cable. `ipr` is a pyroute2 IPRoute on the host. Create a veth pair
    named `host` on the host's side and `inside` directly in the network namespace of process `pid`
    (the kernel moves it there as it creates it); if `bridge_index` is not None, plug the host end
    into that bridge (its "master"), and let the bridge send a frame back out of the port it came in
    by: write "1" to /sys/class/net/HOST/brport/hairpin_mode (a container then reaches its own
    published port). Set the host end up. Return the host end's index."""
    ### BEGIN SOLUTION 7.4: a veth pair with one end in the container's network namespace, the other on the bridge
    ### HINT: Three netlink requests (create the pair with its peer in the namespace, plug it into the bridge, bring it up), and one sysfs file between the last two.
    ### HINT: ipr.link("add", ifname=host, kind="veth", peer={"ifname": inside, "net_ns_pid": pid}); ipr.link_lookup(ifname=host)[0] is its index; ipr.link("set", index=..., master=bridge_index); ipr.link("set", index=..., state="up").
    ### HINT: add the pair; index = ipr.link_lookup(ifname=host)[0]; if bridge_index is not None: set master, Path(f"/sys/class/net/{host}/brport/hairpin_mode").write_text("1"); set state up; return index
    ipr.link("add", ifname=host, kind="veth", peer={"ifname": inside, "net_ns_pid": pid})
    index = ipr.link_lookup(ifname=host)[0]
    if bridge_index is not None:
        ipr.link("set", index=index, master=bridge_index)
        Path(f"/sys/class/net/{host}/brport/hairpin_mode").write_text("1")
    ipr.link("set", index=index, state="up")
    return index
    ### END SOLUTION


def configure_inside(pid: int, address: ipaddress.IPv4Interface | None, gateway: str | None,
                     inside: str = "eth0") -> None:
    """Exercise 7.5: inside the network namespace of process `pid`: bring `lo` up; and, if `address`
    (an IPv4Interface like 10.88.0.2/16) is given, put it on `inside`, bring `inside` up, and, if
    `gateway` is given, add a default route via it. Open the netlink socket *inside* that namespace:
    pyroute2.IPRoute(netns=f"/proc/{pid}/ns/net", flags=0) does (the package's own way is faster:
    see veth.py)."""
    ### BEGIN SOLUTION 7.5: the container's side of the cable: lo up, its address, eth0 up, the default route
    ### HINT: A netlink socket talks to the namespace it was made in: open one for the container's namespace, then the same requests as `ip link set lo up`, `ip addr add`, `ip link set eth0 up`, `ip route add default via`.
    ### HINT: with IPRoute(netns=f"/proc/{pid}/ns/net", flags=0) as ns: ns.link_lookup(ifname="lo")[0]; ns.link("set", index=..., state="up"); ns.addr("add", index=..., address=str(address.ip), prefixlen=address.network.prefixlen); ns.route("add", dst="0.0.0.0/0", gateway=gateway).
    ### HINT: with IPRoute(netns=...) as ns: lo up; if address is None: return; index = ns.link_lookup(ifname=inside)[0]; ns.addr(...); ns.link("set", index=index, state="up"); if gateway: ns.route(...)
    from pyroute2 import IPRoute  # (here: pyroute2 is big, and this runs in the runtime, not after pivot_root)

    with IPRoute(netns=f"/proc/{pid}/ns/net", flags=0) as ns:
        ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")
        if address is None:
            return
        index = ns.link_lookup(ifname=inside)[0]
        ns.addr("add", index=index, address=str(address.ip), prefixlen=address.network.prefixlen)
        ns.link("set", index=index, state="up")
        if gateway:
            ns.route("add", dst="0.0.0.0/0", gateway=gateway)
    ### END SOLUTION
