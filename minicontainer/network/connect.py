"""Connecting one container: attach() / release(), detach(), sweep() (lesson 07).

    --network none        a private namespace with only `lo` (up)                 (the default)
    --network bridge      + a veth pair to the bridge mc0, an address, a default route, NAT
    --network host        no network namespace: the host's devices (nothing to do here)
    --network container:NAME   join another container's namespace (the child does the setns)

`attach(container_id, pid, options)` runs in the parent after the child has its own network
namespace and before it execs the workload, and returns an `Attachment` whose `release()` undoes
everything (also after a crash: `sweep(paths)`, and stale leases are collected at every attach).
Each step is one module: bridge.py, veth.py, ipam.py, nat.py, ports.py, hosts.py.
The requests go through rtnl.py (the standard library); pyroute2 only makes a missing bridge, once.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import ContainerError, UsageError
from ..paths import Paths
from .offloop import off_loop
from . import ports
from .ports import PortMapping

MODES = ("none", "bridge", "host")
DEFAULT_BRIDGE = "mc0"


def parse_publish(spec: str) -> "PortMapping":
    """Parse one -p value (see ports.py; looked up when called, so that --yours=07 uses the learner's)."""
    return ports.parse_publish(spec)


def bridge_from_env() -> tuple[str, str | None]:
    """The bridge `run --network bridge` uses: MC_BRIDGE (default mc0) and MC_SUBNET (default: detected)."""
    return os.environ.get("MC_BRIDGE", DEFAULT_BRIDGE), os.environ.get("MC_SUBNET") or None

__all__ = ["NetworkOptions", "Attachment", "attach", "detach", "sweep", "remove_network", "parse_network", "parse_publish",
           "check_run_options", "attach_container"]


def parse_network(value: str) -> str:
    """Check a --network value: none, bridge, host or container:NAME."""
    if value in MODES or (value.startswith("container:") and len(value) > len("container:")):
        return value
    raise UsageError(f"unknown network mode {value!r}", step="choose a network",
                     fix="use --network none, bridge, host or container:NAME")


@dataclass
class NetworkOptions:
    """How one container is to be connected."""

    mode: str = "none"
    publish: list[PortMapping] = field(default_factory=list)
    name: str = ""                   # the container's name: its peers reach it by this name
    hostname: str = ""               # its hostname (defaults to the name)
    etc_dir: Path | None = None      # where its `hosts` and `resolv.conf` are (rootfs/etc, or the files
                                     # the container bind-mounts); None: leave them alone
    bridge: str = DEFAULT_BRIDGE
    subnet: str | None = None        # None: the bridge's, or 10.88.0.0/16, or a free private range
    paths: Paths | None = None


@dataclass
class Attachment:
    """What attach() did for one container; release() undoes it (safe to call twice)."""

    container_id: str
    mode: str
    run_dir: Path
    bridge: str = ""
    address: str = ""                # "10.88.0.2/16"
    gateway: str = ""                # "10.88.0.1"
    host_veth: str = ""
    publish: list[PortMapping] = field(default_factory=list)
    released: bool = False

    @property
    def ip(self) -> str:
        """The container's address without the prefix length ('10.88.0.2'), or '' if it has none."""
        return self.address.split("/")[0]

    def to_dict(self) -> dict:
        """For the container's state.json."""
        return {"mode": self.mode, "bridge": self.bridge, "address": self.address, "gateway": self.gateway,
                "host_veth": self.host_veth, "publish": [str(p) for p in self.publish]}

    @off_loop
    def release(self) -> None:
        """Remove this container's rules, veth and lease, and drop it from its peers' /etc/hosts."""
        if self.released or self.mode != "bridge":
            self.released = True
            return
        from . import ipam

        pool_dir = self.run_dir / "network" / self.bridge
        with ipam.locked(pool_dir):
            _forget(pool_dir, self.container_id, self.ip, self.host_veth, rules=bool(self.publish))
            _update_peers(pool_dir)
        self.released = True

    def __enter__(self) -> "Attachment":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


@off_loop
def attach(container_id: str, pid: int, options: NetworkOptions) -> Attachment:
    """Connect the network namespace of process `pid` as options.mode says."""
    paths = options.paths or Paths.from_env()
    mode = parse_network(options.mode)
    if options.publish and mode != "bridge":
        raise UsageError(f"-p needs --network bridge, not {mode}", step="publish a port",
                         fix="add --network bridge (with --network host the container uses the host's ports)")
    if mode == "none":
        from .loopback import up_in
        up_in(pid)
        return Attachment(container_id, mode, paths.run_dir)
    if mode != "bridge":  # host: nothing to do; container:NAME: the child joined that namespace
        return Attachment(container_id, mode, paths.run_dir)
    return _attach_bridge(container_id, pid, options, paths)


def _attach_bridge(container_id: str, pid: int, options: NetworkOptions, paths: Paths) -> Attachment:
    import ipaddress

    from . import ipam, ports, veth
    from .rtnl import RTNL  # pyroute2's calls in the standard library: `run` does not wait for pyroute2's import

    pool_dir = paths.run_dir / "network" / options.bridge
    att = Attachment(container_id, "bridge", paths.run_dir, bridge=options.bridge,
                     publish=list(options.publish))
    with ipam.locked(pool_dir), RTNL() as ipr:
        _collect_stale(pool_dir)
        gateway = _ensure_bridge(ipr, options, pool_dir)
        if options.publish:
            from . import nat  # (nft: only for a container that publishes ports)
        taken = {r.tag("pub") for r in nat.rules()} if options.publish else set()
        options.publish = [ports.choose_host_port(m, taken) for m in options.publish]  # -p 80: a free one
        att.publish = list(options.publish)
        for mapping in options.publish:
            if mapping.key in taken or f"{mapping.proto}:0.0.0.0:{mapping.host_port}" in taken:
                raise ContainerError(f"Bind for {mapping.host_ip or '0.0.0.0'}:{mapping.host_port} failed: port is "
                                     "already allocated", step="publish a port",  # (Docker's words)
                                     fix="choose another host port, or stop the container that publishes it")
            ports.check_host_port_free(mapping)
        pool = ipam.Pool(pool_dir, gateway.network)
        name = options.name or ""
        lease = pool.take(container_id, pid, name=name, host_veth=veth.host_name(container_id),
                          extra={"hostname": options.hostname, "published": [str(m) for m in options.publish]},
                          hosts_path=str(Path(options.etc_dir) / "hosts") if options.etc_dir else "")
        att.address = f"{lease.address}/{gateway.network.prefixlen}"
        att.gateway = str(gateway.ip)
        try:
            att.host_veth = lease.host_veth
            veth.create_pair(ipr, att.host_veth, pid, ipr.link_lookup(ifname=options.bridge)[0])
            veth.configure_inside(pid, ipaddress.IPv4Interface(att.address), att.gateway)
            dnat = [(chain, rule, f"mc id={container_id} br={options.bridge} pub={m.key}")
                    for m in options.publish for chain, rule in ports.dnat_rules(m, lease.address)]
            if dnat:
                nat.add_rules(dnat)
            if options.etc_dir:
                from .hosts import write_name_files
                peers = {p.name: p.address for p in pool.leases() if p.name and p.alive()}
                write_name_files(Path(options.etc_dir), options.hostname or name or container_id[:12],
                                 lease.address, peers)
            _update_peers(pool_dir)
        except BaseException:
            _forget(pool_dir, container_id, lease.address, att.host_veth, ipr, rules=bool(options.publish))
            raise
    return att


def _ensure_bridge(ipr, options: NetworkOptions, pool_dir: Path):
    """The bridge's gateway address; create the bridge (and its NAT rules) first if it is missing.

    bridge.json records that we own the bridge (written first, so that a runtime killed half-way
    still leaves a record for sweep) and, once they are in place, its NAT rules.
    """
    from . import bridge

    record = pool_dir / "bridge.json"
    state = json.loads(record.read_text()) if record.exists() else {}
    existing = bridge.bridge_interface(ipr, options.bridge)
    if existing is not None and (state.get("rules") or not state):  # complete, or not ours
        return bridge.ensure_bridge(ipr, options.bridge, options.subnet)
    from ..launcher import ensure_site_packages
    ensure_site_packages()  # pyroute2 lives in site-packages, which the fast launcher skips
    from pyroute2 import IPRoute  # (making a bridge asks for the host's routes: pyroute2, once per bridge)

    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"bridge": options.bridge}))
    from . import nat
    with IPRoute() as full:
        gateway = bridge.ensure_bridge(full, options.bridge, options.subnet)
        try:
            nat.delete_rules("br", options.bridge)  # leftovers of an earlier bridge of the same name
            nat.add_rules([(c, r, f"mc br={options.bridge}")
                           for c, r in nat.masquerade_rules(options.bridge, str(gateway.network))])
        except BaseException:
            bridge.remove_bridge(full, options.bridge)
            record.unlink(missing_ok=True)
            raise
    record.write_text(json.dumps({"bridge": options.bridge, "subnet": str(gateway.network), "rules": True}))
    return gateway


def _forget(pool_dir: Path, container_id: str, address: str, host_veth: str, ipr=None, rules: bool = True) -> None:
    """Remove one container's rules, veth and lease (call with the pool locked)."""
    from . import veth

    if rules:  # (an nft call: skipped for a container that published no port)
        from . import nat
        nat.delete_rules("id", container_id)
    if host_veth:  # (gone already if the container's namespace died: veth.delete says so, quietly)
        if ipr is None:
            from .rtnl import RTNL
            with RTNL() as own:
                veth.delete(own, host_veth)
        else:
            veth.delete(ipr, host_veth)
    if address:
        (pool_dir / "leases" / address).unlink(missing_ok=True)


def _collect_stale(pool_dir: Path) -> list[str]:
    """Forget every lease whose container is gone (killed runs); return what was collected."""
    from . import ipam

    pool = ipam.Pool(pool_dir, "0.0.0.0/32")
    gone = pool.stale()
    for lease in gone:
        _forget(pool_dir, lease.id, lease.address, lease.host_veth, rules=bool(lease.extra.get("published", True)))
    if gone:
        _update_peers(pool_dir)
    return [f"stale lease {lease.address} of {lease.id[:12]}" for lease in gone]


def _update_peers(pool_dir: Path) -> None:
    """Rewrite the /etc/hosts of every container on the bridge so that each knows the others' names."""
    from . import ipam
    from .hosts import hosts_file, write_in_place

    leases = [lease for lease in ipam.Pool(pool_dir, "0.0.0.0/32").leases() if lease.alive()]
    peers = {lease.name: lease.address for lease in leases if lease.name}
    for lease in leases:
        path = Path(lease.hosts_path) if lease.hosts_path else None
        if path is not None and path.parent.is_dir():
            write_in_place(path, hosts_file(lease.extra.get("hostname") or lease.name or lease.id[:12], lease.address, peers))


# --- what `minicontainer run` calls (container.py) ---------------------------------------------

def check_run_options(network: str, publish: list[str], running_pid: Callable[[str], int]) -> int:
    """Validate --network and -p before anything is created. For container:NAME, return that
    container's PID 1 (the new container joins its network namespace); otherwise 0.

    `running_pid(NAME)`: the PID 1 of that container, 0 if it is not running (the caller, container.py,
    knows containers; this module only networks)."""
    mode = parse_network(network)
    for spec in publish:
        parse_publish(spec)
    if publish and mode != "bridge":
        raise UsageError(f"-p needs --network bridge, not {mode}", step="publish a port",
                         fix="add --network bridge (with --network host the container uses the host's ports)")
    if not mode.startswith("container:"):
        return 0
    pid = running_pid(mode.split(":", 1)[1])
    if not pid:
        raise ContainerError(f"container {mode.split(':', 1)[1]} is not running", step="join a network namespace",
                             fix="start it first (minicontainer run -d --name NAME ...)")
    return pid


def attach_container(container_id: str, pid: int, name: str, hostname: str, publish: list[str],
                     etc_dir: Path, paths: Paths) -> dict:
    """`run --network bridge`: attach PID 1 to the bridge named by MC_BRIDGE; returns the state to save."""
    bridge, subnet = bridge_from_env()
    options = NetworkOptions("bridge", [parse_publish(p) for p in publish], name=name, hostname=hostname,
                             etc_dir=etc_dir, bridge=bridge, subnet=subnet, paths=paths)
    return attach(container_id, pid, options).to_dict()


@off_loop
def detach(container_id: str, paths: Paths) -> list[str]:
    """Undo attach() for a container known only by its id (teardown, crashed runs). Idempotent."""
    from . import ipam

    done = []
    network_dir = paths.run_dir / "network"
    for pool_dir in sorted(network_dir.iterdir()) if network_dir.is_dir() else []:
        if not (pool_dir / "leases").is_dir():
            continue
        with ipam.locked(pool_dir):
            for lease in ipam.Pool(pool_dir, "0.0.0.0/32").leases():
                if lease.id == container_id:
                    _forget(pool_dir, lease.id, lease.address, lease.host_veth,
                            rules=bool(lease.extra.get("published", True)))
                    _update_peers(pool_dir)
                    done.append(f"released {lease.address}")
    return done


@off_loop
def remove_network(bridge: str, paths: Paths) -> list[str]:
    """Remove one bridge network: its leases, veths, nft rules and (if we created it) the bridge."""
    import shutil

    from . import ipam, nat

    removed: list[str] = []
    pool_dir = paths.run_dir / "network" / bridge
    if not pool_dir.is_dir():
        return removed
    owned = (pool_dir / "bridge.json").exists()  # we made the bridge: its rules all go by their br= tag below
    with ipam.locked(pool_dir):
        for lease in ipam.Pool(pool_dir, "0.0.0.0/32").leases():
            _forget(pool_dir, lease.id, lease.address, lease.host_veth, rules=not owned)
            removed.append(f"released {lease.address} ({lease.id[:12]})")
        if owned:
            for rule in nat.delete_rules("br", bridge):
                removed.append(f"removed nft rule {rule.chain} {rule.comment}")
            from .bridge import remove_bridge
            from .rtnl import RTNL
            with RTNL() as ipr:
                if remove_bridge(ipr, bridge):
                    removed.append(f"removed bridge {bridge}")
    shutil.rmtree(pool_dir, ignore_errors=True)
    return removed


@off_loop
def sweep(paths: Paths) -> list[str]:
    """Remove what networking left for these paths: leases, veths, nft rules, bridges; the table if empty."""
    from . import nat

    removed: list[str] = []
    network_dir = paths.run_dir / "network"
    for pool_dir in sorted(network_dir.iterdir()) if network_dir.is_dir() else []:
        if pool_dir.is_dir():
            removed.extend(remove_network(pool_dir.name, paths))
    if nat.delete_table_if_empty():
        removed.append(f"removed nft table {nat.FAMILY} {nat.TABLE}")
    return removed
