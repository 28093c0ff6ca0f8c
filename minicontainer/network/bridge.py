"""The bridge: a virtual switch on the host that every container's veth plugs into (lesson 07).

A Linux bridge forwards Ethernet frames between the devices attached to it, like a switch. Given
an address (10.88.0.1/16 for `mc0`), it is also the host's own port on that switch, and so the
containers' default gateway. Creating one takes three netlink requests, the same as

    ip link add mc0 type bridge
    ip addr add 10.88.0.1/16 dev mc0
    ip link set mc0 up

Before that we check that the subnet does not clash with a route the host already has (two routes
for the same addresses would cut the host off from one of them). Two sysctls matter:
`net.ipv4.ip_forward=1` lets the host route the containers' packets out (outbound NAT), and
`route_localnet=1` on the bridge lets packets from 127.0.0.1 be sent to it (published ports
reached via 127.0.0.1, like Docker).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

from ..errors import ContainerError

DEFAULT_BRIDGE = "mc0"
DEFAULT_SUBNET = ipaddress.IPv4Network("10.88.0.0/16")
# Where to look for a free range when 10.88.0.0/16 is taken: 10.89..10.99, then 172.30, 172.31.
CANDIDATES = [ipaddress.IPv4Network(f"10.{n}.0.0/16") for n in range(88, 100)] + \
    [ipaddress.IPv4Network(f"172.{n}.0.0/16") for n in (30, 31)]
SYSCTL = Path("/proc/sys/net/ipv4")


def host_networks(ipr, ignore: str = "") -> list[tuple[ipaddress.IPv4Network, str]]:
    """The IPv4 networks the host already routes (except the default route), with the device name."""
    names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
    found = []
    for route in ipr.get_routes(family=socket.AF_INET):
        dst, length = route.get_attr("RTA_DST"), route["dst_len"]
        device = names.get(route.get_attr("RTA_OIF"), "?")
        if dst is None or length == 0 or device == ignore or route.get_attr("RTA_TABLE") == 255:
            continue
        found.append((ipaddress.IPv4Network(f"{dst}/{length}", strict=False), device))
    for addr in ipr.get_addr(family=socket.AF_INET):
        device = names.get(addr["index"], "?")
        if device != ignore and device != "lo":
            found.append((ipaddress.IPv4Network(f"{addr.get_attr('IFA_ADDRESS')}/{addr['prefixlen']}", strict=False),
                          device))
    return found


def check_no_clash(ipr, subnet: ipaddress.IPv4Network, bridge: str) -> None:
    """Refuse a subnet that overlaps a network the host already uses."""
    for network, device in host_networks(ipr, ignore=bridge):
        if network.overlaps(subnet):
            raise ContainerError(f"subnet {subnet} overlaps {network} of device {device}",
                                 step=f"create bridge {bridge}",
                                 fix="choose another private range (e.g. --subnet 10.99.0.0/16), "
                                     "or leave it out to let minicontainer pick a free one")


def free_subnet(ipr, bridge: str = DEFAULT_BRIDGE) -> ipaddress.IPv4Network:
    """The first candidate range that no host route or address overlaps."""
    used = [network for network, _ in host_networks(ipr, ignore=bridge)]
    for candidate in CANDIDATES:
        if not any(candidate.overlaps(network) for network in used):
            return candidate
    raise ContainerError("no free private range for the bridge", step=f"create bridge {bridge}",
                         fix="pass a free subnet explicitly")


def bridge_interface(ipr, name: str) -> ipaddress.IPv4Interface | None:
    """The address of an existing bridge (10.88.0.1/16), or None if it does not exist / has none."""
    found = ipr.link_lookup(ifname=name)
    if not found:
        return None
    for addr in ipr.get_addr(family=socket.AF_INET, index=found[0]):
        return ipaddress.IPv4Interface(f"{addr.get_attr('IFA_ADDRESS')}/{addr['prefixlen']}")
    return None


def ensure_bridge(ipr, name: str = DEFAULT_BRIDGE,
                  subnet: ipaddress.IPv4Network | str | None = None) -> ipaddress.IPv4Interface:
    """Create the bridge with its gateway address if missing; return the gateway (10.88.0.1/16)."""
    existing = bridge_interface(ipr, name)
    if existing is not None:
        if subnet is not None and existing.network != ipaddress.IPv4Network(subnet):
            raise ContainerError(f"bridge {name} exists with subnet {existing.network}, not {subnet}",
                                 step=f"create bridge {name}", fix=f"use --subnet {existing.network} or another bridge name")
        return existing
    if len(name) > 15:
        raise ContainerError(f"bridge name {name!r} is longer than 15 characters", step="create a bridge",
                             fix="use a shorter name (Linux device names have at most 15)")
    subnet = ipaddress.IPv4Network(subnet) if subnet is not None else free_subnet(ipr, name)
    check_no_clash(ipr, subnet, name)
    gateway = ipaddress.IPv4Interface(f"{next(iter(subnet.hosts()))}/{subnet.prefixlen}")
    if not ipr.link_lookup(ifname=name):
        ipr.link("add", ifname=name, kind="bridge")
    index = ipr.link_lookup(ifname=name)[0]
    try:
        ipr.addr("add", index=index, address=str(gateway.ip), prefixlen=subnet.prefixlen)
        ipr.link("set", index=index, state="up")
        set_sysctl(f"conf/{name}/route_localnet", "1")
        enable_forwarding()
    except Exception:
        ipr.link("del", index=index)
        raise
    return gateway


def remove_bridge(ipr, name: str) -> bool:
    """Delete the bridge (the veths still plugged into it are unplugged, not deleted)."""
    found = ipr.link_lookup(ifname=name)
    if found:
        ipr.link("del", index=found[0])
        restore_forwarding()
    return bool(found)


# ip_forward is one switch for a whole network namespace (the host's, or a lab machine's): remember
# its value before the first minicontainer bridge there turns it on, and put it back when the last
# one (any mc* bridge) there is gone. The saved value is kept per namespace (its inode number).
def forward_saved() -> Path:
    """The file that keeps this network namespace's ip_forward from before our first bridge."""
    return Path(f"/run/lock/minicontainer-ip_forward.{os.stat('/proc/self/ns/net').st_ino}.orig")


def enable_forwarding() -> None:
    """net.ipv4.ip_forward=1, saving the value it had before (once)."""
    saved = forward_saved()
    if not saved.exists():
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text((SYSCTL / "ip_forward").read_text().strip())
    set_sysctl("ip_forward", "1")


def restore_forwarding() -> None:
    """Put ip_forward back as it was, once no mc* bridge is left in this network namespace."""
    from .rtnl import RTNL

    saved = forward_saved()
    if not saved.exists():
        return
    with RTNL() as ipr:
        bridges = [link.get_attr("IFLA_IFNAME") for link in ipr.get_links() if link.kind() == "bridge"]
    if not any(name.startswith("mc") for name in bridges):
        set_sysctl("ip_forward", saved.read_text().strip() or "0")
        saved.unlink(missing_ok=True)


def set_sysctl(key: str, value: str) -> None:
    """Write /proc/sys/net/ipv4/KEY (e.g. 'ip_forward', 'conf/mc0/route_localnet')."""
    (SYSCTL / key).write_text(value)
