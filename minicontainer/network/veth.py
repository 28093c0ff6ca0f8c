"""The veth pair: a virtual cable with one end in the container, one on the bridge (lesson 07).

A new network namespace has only a loopback device that is down. To connect it we create a veth
pair, two devices where what goes into one comes out of the other, put one end (eth0) into the
container's namespace and plug the other (mcv<id>) into the bridge:

    ip link add mcv3f2a type veth peer name eth0 netns PID
    ip link set mcv3f2a master mc0 up
    # inside the container's namespace:
    ip addr add 10.88.0.2/16 dev eth0; ip link set eth0 up; ip link set lo up
    ip route add default via 10.88.0.1

When the namespace dies (its last process exits), the kernel deletes eth0, and with it the whole
pair: a killed container cannot leak its veth.
"""

from __future__ import annotations

import errno
import ipaddress
import os
from pathlib import Path

HOST_PREFIX = "mcv"  # every host-side veth the runtime makes starts with this


def host_name(container_id: str) -> str:
    """The host end's device name: mcv + the first 12 characters of the container id (max 15)."""
    return f"{HOST_PREFIX}{container_id[:12]}"


def netns_path(pid: int) -> str:
    """The file that names a process's network namespace."""
    return f"/proc/{pid}/ns/net"


def create_pair(ipr, host: str, pid: int, bridge_index: int | None, inside: str = "eth0") -> int:
    """Create the pair with `inside` directly in pid's namespace; plug `host` into the bridge. Returns its index."""
    ipr.link("add", ifname=host, kind="veth", peer={"ifname": inside, "net_ns_pid": pid})
    index = ipr.link_lookup(ifname=host)[0]
    if bridge_index is not None:
        ipr.link("set", index=index, master=bridge_index)
        # "hairpin": let the bridge send a frame back out of the port it came in by, so that a
        # container reaches its own published port (through the host's DNAT) too.
        set_hairpin(ipr, host, index)
    ipr.link("set", index=index, state="up")
    return index


def set_hairpin(ipr, host: str, index: int) -> None:
    """hairpin_mode=1 on the bridge port `host`: over netlink when ipr speaks it (rtnl.RTNL), else by
    writing /sys/class/net/HOST/brport/hairpin_mode (that file shows only the devices of the network
    namespace that mounted /sys: the host's, not a lab machine's)."""
    if hasattr(ipr, "hairpin"):
        ipr.hairpin(index)
    else:
        Path(f"/sys/class/net/{host}/brport/hairpin_mode").write_text("1")


def configure_inside(pid: int, address: ipaddress.IPv4Interface | None, gateway: str | None,
                     inside: str = "eth0") -> None:
    """In pid's namespace: lo up; and if given, the address on `inside`, up, default route via gateway."""
    from .. import syscalls
    from .rtnl import RTNL  # pyroute2's IPRoute calls, without its import time (rtnl.py)

    # A netlink socket belongs to the network namespace it was created in. Create ours inside
    # pid's namespace (setns this thread there and straight back): the same as
    # IPRoute(netns=f"/proc/{pid}/ns/net"), without the helper process pyroute2 forks for that.
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(netns_path(pid), os.O_RDONLY)
    try:
        syscalls.setns(target, syscalls.CLONE_NEWNET)
        try:
            ns = RTNL()
            lo = ns.link_lookup(ifname="lo")[0]
        finally:
            syscalls.setns(own, syscalls.CLONE_NEWNET)
    finally:
        os.close(own)
        os.close(target)
    with ns:
        ns.link("set", index=lo, state="up")
        if address is None:
            return
        index = ns.link_lookup(ifname=inside)[0]
        ns.addr("add", index=index, address=str(address.ip), prefixlen=address.network.prefixlen)
        ns.link("set", index=index, state="up")
        if gateway:
            ns.route("add", dst="0.0.0.0/0", gateway=gateway)


def delete(ipr, name: str) -> bool:
    """Delete a host-side veth (its peer goes with it). False if it was already gone.

    The kernel deletes the pair by itself when the container's namespace dies, a moment after its
    last process: the device may vanish between our lookup and our request (ENODEV), which is fine.
    """
    found = ipr.link_lookup(ifname=name)
    if not found:
        return False
    try:
        ipr.link("del", index=found[0])
    except Exception as exc:  # NetlinkError, pyroute2's or rtnl's: `.code` is the errno
        if getattr(exc, "code", None) != errno.ENODEV:
            raise
        return False
    return True


def host_veths(ipr) -> list[str]:
    """Every mcv* device on the host."""
    names = [link.get_attr("IFLA_IFNAME") for link in ipr.get_links()]
    return sorted(n for n in names if n and n.startswith(HOST_PREFIX))
