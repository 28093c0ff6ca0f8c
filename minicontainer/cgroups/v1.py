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

from pathlib import Path

from . import (CPU_PERIOD_US, Cgroup, Limits, Stats, kill_until_empty, read_int, read_keyed, without_cache,
               write)

# v1 reports "no limit" as a huge number (PAGE_COUNTER_MAX pages, rounded to pages).
UNLIMITED = 1 << 62


class V1Cgroup(Cgroup):
    """A container's group on a v1 host: the same name in every controller's hierarchy."""

    def controller_dirs(self) -> dict[str, Path]:
        """controller -> this group's directory in its hierarchy (co-mounted controllers share one)."""
        return {c: hierarchy / self.parent / self.name for c, hierarchy in self.setup.controllers.items()}

    def dirs(self) -> list[Path]:
        unique: dict[Path, Path] = {}
        for d in self.controller_dirs().values():
            unique.setdefault(d.resolve() if d.exists() else d, d)
        return list(unique.values())

    @property
    def path(self) -> Path:
        d = self.controller_dirs()
        return d.get("memory") or next(iter(d.values()))

    def make(self, limits: Limits) -> None:
        dirs = self.controller_dirs()
        for controller, d in dirs.items():
            parent = d.parent
            parent.mkdir(exist_ok=True)
            d.mkdir(exist_ok=True)  # co-mounted controllers (cpu,cpuacct) share a directory
            if controller == "cpuset":
                # a new v1 cpuset group starts with no CPUs and no memory nodes: no process could run in it
                for f in ("cpuset.cpus", "cpuset.mems"):
                    if not (parent / f).read_text().strip():
                        write(parent / f, (parent.parent / f).read_text().strip(), self.setup, f)
                    write(d / f, (parent / f).read_text().strip(), self.setup, f)
        if limits.memory is not None:
            write(dirs["memory"] / "memory.limit_in_bytes", str(limits.memory), self.setup, "--memory")
            memsw = dirs["memory"] / "memory.memsw.limit_in_bytes"
            if memsw.exists():  # swap accounting on: Docker's default swap is as much again as memory
                total = limits.memory_swap if limits.memory_swap is not None else 2 * limits.memory
                write(memsw, str(total), self.setup, "--memory-swap")
        if limits.cpus is not None:
            write(dirs["cpu"] / "cpu.cfs_period_us", str(CPU_PERIOD_US), self.setup, "--cpus")
            write(dirs["cpu"] / "cpu.cfs_quota_us", str(round(limits.cpus * CPU_PERIOD_US)), self.setup, "--cpus")
        if limits.cpu_shares is not None:
            write(dirs["cpu"] / "cpu.shares", str(limits.cpu_shares), self.setup, "--cpu-shares")
        if limits.cpuset_cpus is not None:
            write(dirs["cpuset"] / "cpuset.cpus", limits.cpuset_cpus, self.setup, "--cpuset-cpus")
        if limits.pids_limit is not None:
            write(dirs["pids"] / "pids.max", str(limits.pids_limit), self.setup, "--pids-limit")

    def stats(self) -> Stats:
        import time
        d = self.controller_dirs()
        s = Stats(time=time.monotonic())
        if "memory" in d:
            m = d["memory"]
            s.memory_cache = read_keyed(m / "memory.stat").get("total_inactive_file")
            s.memory = without_cache(read_int(m / "memory.usage_in_bytes"), s.memory_cache)
            s.memory_peak = read_int(m / "memory.max_usage_in_bytes")
            limit = read_int(m / "memory.limit_in_bytes")
            s.memory_limit = None if limit is None or limit >= UNLIMITED else limit
            s.oom_kills = read_keyed(m / "memory.oom_control").get("oom_kill")
        if "cpuacct" in d:
            usage = read_int(d["cpuacct"] / "cpuacct.usage")
            s.cpu_usage = None if usage is None else usage / 1e9
        if "cpu" in d:
            stat = read_keyed(d["cpu"] / "cpu.stat")
            s.cpu_periods, s.cpu_throttled = stat.get("nr_periods"), stat.get("nr_throttled")
            if "throttled_time" in stat:
                s.cpu_throttled_time = stat["throttled_time"] / 1e9
        if "pids" in d:
            s.pids = read_int(d["pids"] / "pids.current")
            s.pids_limit = read_int(d["pids"] / "pids.max")
            s.pids_refused = read_keyed(d["pids"] / "pids.events").get("max")
        return s

    def kill(self) -> None:
        kill_until_empty(self)
