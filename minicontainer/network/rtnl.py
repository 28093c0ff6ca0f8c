"""rtnetlink by hand: the few requests a container's network needs, in the standard library (lesson 07).

`ip link`, `ip addr` and `ip route` talk to the kernel through a netlink socket: each request is a
small binary message, a header and a list of attributes (type, length, value), and the kernel
answers with an acknowledgement (an error code, 0 for success). Lesson 07 uses pyroute2 for this,
which speaks all of netlink; it also takes about a quarter of a second to import, which every
`minicontainer run` would pay now that Docker's default network, the bridge, is ours too. So the
runtime uses this module, which knows only the requests below, and offers them with pyroute2's
names, so that the same code (veth.py, bridge.py, exercise 7.4) works with either:

    RTNL().link("add", ifname="mcv1", kind="veth", peer={"ifname": "eth0", "net_ns_pid": PID})
    RTNL().link("set", index=7, master=3, state="up")         RTNL().link("del", index=7)
    RTNL().addr("add", index=2, address="10.88.0.2", prefixlen=16)
    RTNL().route("add", dst="0.0.0.0/0", gateway="10.88.0.1")
    RTNL().link_lookup(ifname="mc0") -> [3]                     RTNL().get_addr(family=AF_INET, index=3)
    RTNL().hairpin(index=7)                                    (`bridge link set dev mcv1 hairpin on`)

A message on the wire (all numbers in the host's byte order):

    nlmsghdr   length u32, type u16 (RTM_NEWLINK ...), flags u16 (REQUEST|ACK|CREATE|EXCL), seq u32, pid u32
    ifinfomsg  family u8, pad, device type u16, index i32, flags u32, change u32  (ifaddrmsg, rtmsg: others)
    rtattr...  length u16, type u16, value, padded to 4 bytes; a value may itself be a list of rtattrs

(`_socket` is the C module under `socket`: the same sockets without the enum classes that `socket`
builds on import.)
"""

from __future__ import annotations

import errno
import os
import struct

import _socket

AF_NETLINK, NETLINK_ROUTE, AF_INET = 16, 0, 2
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK, RTM_NEWADDR, RTM_GETADDR, RTM_NEWROUTE = 16, 17, 18, 19, 20, 22, 24
AF_BRIDGE, IFLA_PROTINFO, IFLA_BRPORT_MODE, NLA_F_NESTED = 7, 12, 4, 0x8000
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x1, 0x4, 0x200, 0x400, 0x300
IFLA_IFNAME, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_PID = 3, 10, 18, 19
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_DST, RTA_GATEWAY = 1, 5
IFF_UP = 0x1
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1

HEADER = struct.Struct("=IHHII")     # nlmsghdr
IFINFO = struct.Struct("=BxHiII")    # ifinfomsg
IFADDR = struct.Struct("=BBBBI")     # ifaddrmsg
RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg
ATTR = struct.Struct("=HH")          # rtattr


class NetlinkError(OSError):
    """The kernel refused a request (pyroute2 raises its NetlinkError the same way: `.code` is the errno)."""

    def __init__(self, code: int, what: str) -> None:
        super().__init__(code, f"{what}: {os.strerror(code)}")
        self.code = code


def attr(kind: int, value: bytes) -> bytes:
    """One rtattr: length, type, value, padded to a multiple of 4 bytes."""
    data = ATTR.pack(ATTR.size + len(value), kind) + value
    return data + b"\0" * (-len(data) % 4)


def text(value: str) -> bytes:
    return value.encode() + b"\0"


def ipv4(address: str) -> bytes:
    return bytes(int(part) for part in address.split("."))


def parse_attrs(data: bytes) -> dict[int, bytes]:
    """The rtattrs of a message body, by type (the last one wins)."""
    found, offset = {}, 0
    while offset + ATTR.size <= len(data):
        length, kind = ATTR.unpack_from(data, offset)
        if length < ATTR.size:
            break
        found[kind & 0x3FFF] = data[offset + ATTR.size:offset + length]  # (strip the NESTED/BYTEORDER bits)
        offset += (length + 3) & ~3
    return found


class Message:
    """One answer of a dump, readable the way pyroute2's are: msg["index"], msg.get_attr("IFA_ADDRESS")."""

    NAMES = {"IFLA_IFNAME": IFLA_IFNAME, "IFA_ADDRESS": IFA_ADDRESS, "IFA_LOCAL": IFA_LOCAL}

    def __init__(self, fields: dict, attrs: dict[int, bytes]) -> None:
        self.fields, self.attrs = fields, attrs

    def __getitem__(self, key: str):
        return self.fields[key]

    def get_attr(self, name: str):
        raw = self.attrs.get(self.NAMES[name])
        if raw is None:
            return None
        if name == "IFLA_IFNAME":
            return raw.rstrip(b"\0").decode()
        return ".".join(str(b) for b in raw)

    def kind(self) -> str:
        """A device's kind ("bridge", "veth"; "" for a plain one): IFLA_LINKINFO's IFLA_INFO_KIND."""
        info = parse_attrs(self.attrs.get(IFLA_LINKINFO, b"")).get(IFLA_INFO_KIND, b"")
        return info.rstrip(b"\0").decode()


class RTNL:
    """A netlink route socket in the network namespace of the process that makes it (pyroute2's IPRoute calls)."""

    def __init__(self) -> None:
        self.sock = _socket.socket(AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "RTNL":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one request, its answers ----------------------------------------------------------------

    def request(self, kind: int, flags: int, body: bytes, what: str) -> list[tuple[int, bytes]]:
        """Send one message; return the answers' (type, body) until the ack (or the end of a dump)."""
        self.seq += 1
        self.sock.send(HEADER.pack(HEADER.size + len(body), kind, NLM_F_REQUEST | flags, self.seq, 0) + body)
        answers = []
        while True:
            data = self.sock.recv(65536)
            offset = 0
            while offset + HEADER.size <= len(data):
                length, mtype, _, seq, _ = HEADER.unpack_from(data, offset)
                payload = data[offset + HEADER.size:offset + length]
                offset += (length + 3) & ~3
                if seq != self.seq:
                    continue
                if mtype == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", payload)[0]
                    if code:
                        raise NetlinkError(code, what)
                    return answers
                if mtype == NLMSG_DONE:
                    return answers
                answers.append((mtype, payload))

    # -- links: ip link ----------------------------------------------------------------------------

    def link_lookup(self, ifname: str) -> list[int]:
        """[index] of the device named ifname in our namespace, [] if there is none."""
        try:
            answers = self.request(RTM_GETLINK, NLM_F_ACK, IFINFO.pack(0, 0, 0, 0, 0) + attr(IFLA_IFNAME, text(ifname)),
                                   f"look up {ifname}")
        except NetlinkError as exc:
            if exc.code == errno.ENODEV:
                return []
            raise
        return [IFINFO.unpack_from(body)[2] for kind, body in answers if kind == RTM_NEWLINK]

    def link(self, command: str, index: int = 0, ifname: str = "", kind: str = "", peer: dict | None = None,
             master: int | None = None, state: str = "") -> None:
        """`ip link add|set|del`: add (ifname, kind, a veth's peer: {"ifname", "net_ns_pid"}), set (master,
        state="up"), del (index)."""
        if command == "del":
            self.request(RTM_DELLINK, NLM_F_ACK, IFINFO.pack(0, 0, index, 0, 0), f"delete link {index}")
            return
        up = (IFF_UP, IFF_UP) if state == "up" else (0, 0)
        attrs = b""
        if ifname:
            attrs += attr(IFLA_IFNAME, text(ifname))
        if master is not None:
            attrs += attr(IFLA_MASTER, struct.pack("=I", master))
        if kind:
            data = b""
            if peer:  # a veth's other end: an ifinfomsg and its attributes, nested
                other = IFINFO.pack(0, 0, 0, 0, 0) + attr(IFLA_IFNAME, text(peer["ifname"]))
                if "net_ns_pid" in peer:
                    other += attr(IFLA_NET_NS_PID, struct.pack("=I", peer["net_ns_pid"]))
                data = attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, other))
            attrs += attr(IFLA_LINKINFO, attr(IFLA_INFO_KIND, text(kind)) + data)
        if command == "add":
            self.request(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                         IFINFO.pack(0, 0, 0, up[0], up[1]) + attrs, f"add link {ifname}")
        elif command == "set":
            self.request(RTM_NEWLINK, NLM_F_ACK, IFINFO.pack(0, 0, index, up[0], up[1]) + attrs, f"set link {index}")
        else:
            raise ValueError(f"link command {command!r}: add, set or del")

    def hairpin(self, index: int, on: bool = True) -> None:
        """`bridge link set dev INDEX hairpin on`: the bridge port's IFLA_BRPORT_MODE. The same switch as
        /sys/class/net/DEV/brport/hairpin_mode, which works only where /sys was mounted in our network
        namespace; netlink works in any (lesson 11 runs a second machine in a namespace of its own)."""
        body = IFINFO.pack(AF_BRIDGE, 0, index, 0, 0)
        body += attr(IFLA_PROTINFO | NLA_F_NESTED, attr(IFLA_BRPORT_MODE, struct.pack("=B", int(on))))
        self.request(RTM_SETLINK, NLM_F_ACK, body, f"set hairpin on link {index}")

    def get_links(self) -> list[Message]:
        """Every device (index and name), like `ip link`."""
        out = []
        for kind, body in self.request(RTM_GETLINK, NLM_F_DUMP, IFINFO.pack(0, 0, 0, 0, 0), "list links"):
            _, _, index, flags, _ = IFINFO.unpack_from(body)
            out.append(Message({"index": index, "flags": flags}, parse_attrs(body[IFINFO.size:])))
        return out

    # -- addresses and routes: ip addr, ip route ----------------------------------------------------

    def addr(self, command: str, index: int, address: str, prefixlen: int) -> None:
        """`ip addr add ADDRESS/PREFIXLEN dev INDEX` (IPv4)."""
        if command != "add":
            raise ValueError("addr: only add")
        body = IFADDR.pack(AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE, index)
        body += attr(IFA_LOCAL, ipv4(address)) + attr(IFA_ADDRESS, ipv4(address))
        self.request(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body, f"add address {address}/{prefixlen}")

    def get_addr(self, family: int = AF_INET, index: int | None = None) -> list[Message]:
        """The IPv4 addresses (of one device, given its index), like `ip -4 addr`."""
        out = []
        for kind, body in self.request(RTM_GETADDR, NLM_F_DUMP, IFADDR.pack(family, 0, 0, 0, 0), "list addresses"):
            fam, prefixlen, _, _, where = IFADDR.unpack_from(body)
            if fam == family and (index is None or where == index):
                out.append(Message({"index": where, "prefixlen": prefixlen}, parse_attrs(body[IFADDR.size:])))
        return out

    def route(self, command: str, dst: str = "0.0.0.0/0", gateway: str = "") -> None:
        """`ip route add DST via GATEWAY` (IPv4; the default route when dst is 0.0.0.0/0)."""
        if command != "add":
            raise ValueError("route: only add")
        net, _, length = dst.partition("/")
        prefix = int(length or 32)
        body = RTMSG.pack(AF_INET, prefix, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0)
        if prefix:
            body += attr(RTA_DST, ipv4(net))
        if gateway:
            body += attr(RTA_GATEWAY, ipv4(gateway))
        self.request(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body, f"add route {dst} via {gateway}")
