"""Bringing a namespace's loopback device up without netlink (lesson 07).

A fresh network namespace has `lo`, but down: even 127.0.0.1 does not work until it is up. This
is the one network change `--network none` needs, so it uses a plain ioctl (the way `ifconfig lo
up` does it: namespaces.loopback_up, which PID 1 of every container calls too) and costs no import
of pyroute2. `up_in(pid)` does it from outside, in a short-lived forked helper that joins the
namespace (setns) and exits.
"""

from __future__ import annotations

import os

from .. import syscalls
from ..namespaces import loopback_up
from ..proc import wait


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
        status = wait(child)
    finally:
        os.close(fd)
    if status != 0:
        from ..errors import ContainerError
        raise ContainerError("could not bring lo up", step="set up the loopback device",
                             path=f"/proc/{pid}/ns/net", fix="is the process still running?")
