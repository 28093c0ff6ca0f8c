"""The cgroup v1 driver: one directory per controller hierarchy (lesson 03).

On a v1 (or hybrid) host each controller is its own tree, so one container's group is several
directories with the same name, and the runtime writes the PID into each of them:

    /sys/fs/cgroup/memory/minicontainer/<id>/   memory.limit_in_bytes     memory.usage_in_bytes
                                                memory.memsw.limit_in_bytes  memory.oom_control (oom_kill N)
    /sys/fs/cgroup/cpu/minicontainer/<id>/      cpu.cfs_quota_us / cpu.cfs_period_us  cpu.shares  cpu.stat
    /sys/fs/cgroup/cpuacct/minicontainer/<id>/  cpuacct.usage (nanoseconds of CPU)
    /sys/fs/cgroup/cpuset/minicontainer/<id>/   cpuset.cpus  cpuset.mems (empty in a new group!)
    /sys/fs/cgroup/pids/minicontainer/<id>/     pids.max  pids.current

v1 has no `cgroup.kill`: removing a group means SIGKILL-ing its processes until none is left.
"""

from __future__ import annotations

import os
import time

from . import (Cgroup, Limits, Stats, kill_until_empty, read_int, read_keyed, read_text,
               without_cache, write)

# v1 reports "no limit" as a huge number (PAGE_COUNTER_MAX pages, rounded to pages).
UNLIMITED = 1 << 62


class V1Cgroup(Cgroup):
    """A container's group on a v1 host: the same name in every controller's hierarchy."""

    def controller_dirs(self) -> dict[str, str]:
        """controller -> this group's directory in its hierarchy (co-mounted controllers share one)."""
        return {c: os.path.join(hierarchy, self.parent, self.name)
                for c, hierarchy in self.setup.controller_dirs.items()}

    def group_dirs(self) -> list[str]:
        unique: dict[str, str] = {}
        for d in self.controller_dirs().values():
            unique.setdefault(os.path.realpath(d) if os.path.exists(d) else d, d)
        return list(unique.values())

    @property
    def main_dir(self) -> str:
        d = self.controller_dirs()
        return d.get("memory") or next(iter(d.values()))

    def make(self, limits: Limits) -> None:
        dirs = self.controller_dirs()

        def put(controller: str, name: str, value: object, flag: str) -> None:
            write(os.path.join(dirs[controller], name), str(value), self.setup, flag)

        for controller, d in dirs.items():
            parent = os.path.dirname(d)
            os.makedirs(d, exist_ok=True)  # co-mounted controllers (cpu,cpuacct) share a directory
            if controller == "cpuset":
                # a new v1 cpuset group starts with no CPUs and no memory nodes: no process could run in it
                for f in ("cpuset.cpus", "cpuset.mems"):
                    write(os.path.join(d, f), self.inherit(parent, f), self.setup, f)
        if limits.memory is not None:
            put("memory", "memory.limit_in_bytes", limits.memory, "--memory")
            if os.path.exists(os.path.join(dirs["memory"], "memory.memsw.limit_in_bytes")):
                # swap accounting on: Docker's default swap is as much again as memory
                total = limits.memory_swap if limits.memory_swap is not None else 2 * limits.memory
                put("memory", "memory.memsw.limit_in_bytes", total, "--memory-swap")
        if limits.cpus is not None:
            put("cpu", "cpu.cfs_period_us", limits.period, "--cpus")
            put("cpu", "cpu.cfs_quota_us", round(limits.cpus * limits.period), "--cpus")
        if limits.cpu_shares is not None:
            put("cpu", "cpu.shares", limits.cpu_shares, "--cpu-shares")
        if limits.cpuset_cpus is not None:
            put("cpuset", "cpuset.cpus", limits.cpuset_cpus, "--cpuset-cpus")
        if limits.cpuset_mems is not None:
            put("cpuset", "cpuset.mems", limits.cpuset_mems, "--cpuset-mems")
        if limits.pids_limit is not None:
            put("pids", "pids.max", limits.pids_limit, "--pids-limit")

    def inherit(self, directory: str, name: str) -> str:
        """A cpuset file's value for a new child of `directory`: its own, or (an empty new parent, such as
        a bundle's cgroupsPath a/b/c makes) its nearest ancestor's, copied down on the way."""
        value = read_text(os.path.join(directory, name)).strip()
        if not value and directory != self.setup.controller_dirs["cpuset"]:
            value = self.inherit(os.path.dirname(directory), name)
            write(os.path.join(directory, name), value, self.setup, name)
        return value

    def stats(self) -> Stats:
        d = self.controller_dirs()
        s = Stats(time=time.monotonic())
        if "memory" in d:
            m = d["memory"] + "/"
            s.memory_cache = read_keyed(m + "memory.stat").get("total_inactive_file")
            s.memory = without_cache(read_int(m + "memory.usage_in_bytes"), s.memory_cache)
            s.memory_peak = read_int(m + "memory.max_usage_in_bytes")
            limit = read_int(m + "memory.limit_in_bytes")
            s.memory_limit = None if limit is None or limit >= UNLIMITED else limit
            s.oom_kills = read_keyed(m + "memory.oom_control").get("oom_kill")
        if "cpuacct" in d:
            usage = read_int(d["cpuacct"] + "/cpuacct.usage")
            s.cpu_usage = None if usage is None else usage / 1e9
        if "cpu" in d:
            stat = read_keyed(d["cpu"] + "/cpu.stat")
            s.cpu_periods, s.cpu_throttled = stat.get("nr_periods"), stat.get("nr_throttled")
            if "throttled_time" in stat:
                s.cpu_throttled_time = stat["throttled_time"] / 1e9
        if "pids" in d:
            p = d["pids"] + "/"
            s.pids = read_int(p + "pids.current")
            s.pids_limit = read_int(p + "pids.max")
            s.pids_refused = read_keyed(p + "pids.events").get("max")
        return s

    def kill(self) -> None:
        kill_until_empty(self)
