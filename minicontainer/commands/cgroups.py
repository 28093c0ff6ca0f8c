"""`minicontainer stats`: live resource use of running containers, like `docker stats` (lesson 03).

    CONTAINER ID   NAME      CPU %    MEM USAGE / LIMIT     MEM %    PIDS   OOM KILLS
    3f2a9c01b7e4   hog       0.0%     31.9MiB / 32.0MiB     99.7%    1      1

The figures come from each container's cgroup (minicontainer.cgroups.Cgroup.stats()); CPU % is the
CPU time used between two readings divided by the time between them (100% = one CPU).
"""

from __future__ import annotations

import sys
import time

from ..flags import Flag, add_to_argparse

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing)
if TYPE_CHECKING:
    import argparse  # for the annotations only: `run` never imports argparse

ORDER = 30


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stats", help="show the live resource use of running containers (like docker stats)")
    p.add_argument("containers", nargs="*", metavar="CONTAINER", help="containers to show (default: all running)")
    p.add_argument("--no-stream", action="store_true", help="print one reading and exit")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between readings (default 1)")
    p.set_defaults(handler=_stats)


def targets(refs: list[str]) -> list[tuple[str, str, object]]:
    """(id, name, group) for each running container that has a cgroup (or each course group, by name)."""
    from .. import cgroups
    try:
        from .. import container
    except ImportError:
        container = None
    if container is None or not hasattr(container, "all_containers"):
        wanted = refs or cgroups.names()
        return [(n[:12], n, cgroups.group(n)) for n in wanted if cgroups.group(n).exists()]
    paths = container.default_paths()
    container.collect_crashed(paths)  # a runtime that was killed leaves a group: collect it first
    found = [container.find(paths, r) for r in refs] if refs else container.all_containers(paths)
    out = []
    for c in found:
        g = cgroups.group(c.id)
        if g.exists():
            out.append((c.id[:12], c.name, g))
    return out


def table(rows: list[tuple[str, str, object, object]]) -> str:
    """The `docker stats` table for (id, name, first Stats, second Stats) rows."""
    from ..cgroups import cpu_percent, human_bytes
    lines = [f"{'CONTAINER ID':<14} {'NAME':<16} {'CPU %':>7}   {'MEM USAGE / LIMIT':<22} {'MEM %':>7}   "
             f"{'PIDS':>5}   {'OOM KILLS':>9}"]
    for cid, name, before, after in rows:
        cpu = cpu_percent(before, after)
        limit = after.memory_limit
        mem_pct = f"{100 * after.memory / limit:.1f}%" if limit and after.memory is not None else "-"
        usage = f"{human_bytes(after.memory)} / {human_bytes(limit) if limit else 'unlimited'}"
        lines.append(f"{cid:<14} {name[:16]:<16} {'-' if cpu is None else f'{cpu:.1f}%':>7}   {usage:<22} "
                     f"{mem_pct:>7}   {'-' if after.pids is None else after.pids:>5}   "
                     f"{'-' if after.oom_kills is None else after.oom_kills:>9}")
    return "\n".join(lines)


def sample(found: list[tuple[str, str, object]], interval: float) -> list[tuple[str, str, object, object]]:
    """Two readings of each group, `interval` seconds apart (groups that vanish in between are left out)."""
    first = {}
    for cid, name, g in found:
        try:
            first[cid] = g.stats()
        except OSError:
            pass
    time.sleep(interval)
    rows = []
    for cid, name, g in found:
        if cid in first and g.exists():
            try:
                rows.append((cid, name, first[cid], g.stats()))
            except OSError:
                pass
    return rows


def _stats(args: argparse.Namespace) -> int:
    from ..privileges import require_root

    require_root("read container stats")
    while True:
        found = targets(args.containers)
        rows = sample(found, min(args.interval, 0.5) if args.no_stream else args.interval)
        text = table(rows)
        if args.no_stream:
            print(text)
            return 0
        if sys.stdout.isatty():
            sys.stdout.write("\033[H\033[J")
        print(text, flush=True)
        if not rows and args.containers:
            return 0


# --- the resource flags of `run` (added to its parser by commands/container.py) ---------------

RESOURCE_GROUP = "resource limits (lesson 03, cgroups)"
RESOURCE_FLAGS = (
    Flag(("-m", "--memory"), help="memory limit (e.g. 512m, 1g; minimum 6m)"),
    Flag(("--memory-swap",), help="memory plus swap limit (-1: unlimited swap)"),
    Flag(("--cpus",), help="number of CPUs (e.g. 0.5: half of one CPU's time)"),
    Flag(("-c", "--cpu-shares"), help="CPU shares, a relative weight (1024 = normal)"),
    Flag(("--cpuset-cpus",), help="CPUs in which to allow execution (e.g. 0-1, 0,3)"),
    Flag(("--pids-limit",), help="maximum number of processes (-1: unlimited)"),
)


def add_resource_options(p: argparse.ArgumentParser) -> None:
    """Docker's resource flags: -m/--memory, --memory-swap, --cpus, --cpu-shares, --cpuset-cpus, --pids-limit."""
    add_to_argparse(p.add_argument_group(RESOURCE_GROUP), RESOURCE_FLAGS)


def limits_from_args(args: argparse.Namespace):
    """A cgroups.Limits from the flags, or None when no resource flag was given (no cgroup is made)."""
    names = ("memory", "memory_swap", "cpus", "cpu_shares", "cpuset_cpus", "pids_limit")
    values = {n: getattr(args, n, None) for n in names}
    if all(v is None for v in values.values()):
        return None
    from ..cgroups import Limits
    limits = Limits.parse(**values)
    return None if limits.is_empty() else limits
