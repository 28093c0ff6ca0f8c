"""Address leases: which container holds which address of a bridge's subnet (lesson 07).

IPAM ("IP address management") must hand out each address once, even when two containers start
at the same moment, and must get addresses back from containers that were killed. The state is
one small file per address under RUN_DIR/network/BRIDGE/leases/, changed only while holding a
file lock (flock), so concurrent `minicontainer run`s take turns:

    leases/10.88.0.2   {"id": "3f2a...", "pid": 4242, "start": 123456, "name": "web", ...}

A lease whose process is gone (or whose PID now belongs to another process: the start time in
/proc/PID/stat differs) is stale and may be collected. `.1` is the bridge (the gateway).
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

from ..atomic import write_atomic
from ..errors import ContainerError
from ..proc import alive, start_time


@dataclass
class Lease:
    """One address held by one container."""

    address: str
    id: str
    pid: int
    start: int = 0             # the process start time (/proc/PID/stat field 22), to detect PID reuse
    name: str = ""             # the container's name, for /etc/hosts of its peers
    host_veth: str = ""        # the host end of its veth pair
    hosts_path: str = ""       # its /etc/hosts, rewritten when peers come and go
    extra: dict = field(default_factory=dict)

    def alive(self) -> bool:
        """Is the process that took this lease still running (and the same process)?"""
        return alive(self.pid, self.start)


class Pool:
    """The leases of one bridge's subnet, kept in `directory`."""

    def __init__(self, directory: Path, subnet: ipaddress.IPv4Network | str) -> None:
        self.directory = Path(directory)
        self.subnet = ipaddress.IPv4Network(subnet)
        self.gateway = next(iter(self.subnet.hosts()))

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the pool's lock (an flock on a file beside the leases) for the duration of the block."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _file(self, address: str) -> Path:
        return self.directory / "leases" / address

    def leases(self) -> list[Lease]:
        """Every lease on disk (alive or stale)."""
        folder = self.directory / "leases"
        found = []
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            try:
                found.append(Lease(**json.loads(path.read_text())))
            except (ValueError, TypeError, FileNotFoundError):
                path.unlink(missing_ok=True)  # a half-written file from a crash: nobody holds it
        return found

    def take(self, container_id: str, pid: int, **details) -> Lease:
        """Lease the lowest free address to container_id (call inside `locked()`)."""
        used = {lease.address for lease in self.leases()}
        address = free_address(str(self.subnet), str(self.gateway), used)
        lease = Lease(address, container_id, pid, start_time(pid), **details)
        self.save(lease)
        return lease

    def save(self, lease: Lease) -> None:
        """Write a lease atomically (a reader never sees half a file)."""
        path = self._file(lease.address)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(asdict(lease)))

    def release(self, address: str) -> None:
        """Give an address back (call inside `locked()`)."""
        self._file(address).unlink(missing_ok=True)

    def stale(self) -> list[Lease]:
        """The leases whose process is gone."""
        return [lease for lease in self.leases() if not lease.alive()]


def free_address(subnet: str, gateway: str, used: set[str]) -> str:
    """The lowest address of `subnet` a new container may take (lesson 07, exercise 7.1): a host
    address (never the network or broadcast address), not the gateway (the bridge's), not `used`."""
    for host in ipaddress.IPv4Network(subnet).hosts():
        address = str(host)
        if address != gateway and address not in used:
            return address
    raise ContainerError(f"no free address left in {subnet}", step="allocate an address",
                         fix="stop some containers, or run `minicontainer reset` to collect stale leases")


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold the lock of the pool kept in `directory` (also used before the subnet is known)."""
    with Pool(directory, "0.0.0.0/32").locked():
        yield
