"""Bringing a namespace's loopback device up without netlink (lesson 07).

A fresh network namespace has `lo`, but down: even 127.0.0.1 does not work until it is up. This
is the one network change `--network none` needs, so it uses a plain ioctl (the way `ifconfig lo
up` does it) and costs no import of pyroute2. `up_in(pid)` does it from outside, in a short-lived
forked helper that joins the namespace (setns) and exits.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct

from .. import syscalls

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def loopback_up() -> None:
    """Set IFF_UP on `lo` in the calling process's network namespace."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def up_in(pid: int) -> None:
    """Bring `lo` up in the network namespace of process pid (from a forked helper)."""
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        child = os.fork()
        if child == 0:  # the helper: join, switch lo on, exit without running any Python cleanup
            code = 1
            try:
                syscalls.setns(fd, syscalls.CLONE_NEWNET)
                loopback_up()
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(child, 0)
    finally:
        os.close(fd)
    if os.waitstatus_to_exitcode(status) != 0:
        from ..errors import ContainerError
        raise ContainerError("could not bring lo up", step="set up the loopback device",
                             path=f"/proc/{pid}/ns/net", fix="is the process still running?")
