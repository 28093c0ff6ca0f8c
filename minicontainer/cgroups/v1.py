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

limit_files() is lesson 03's exercise 3.2: the files a container's limits become here.
"""

from __future__ import annotations

import os
import time

from .. import cgroups  # the package itself: the runtime calls cgroups.read_usage (a seam: seams.py)
from . import (USAGE_FILES, Cgroup, Limits, Stats, kill_until_empty, read_files, usage_stats,
               read_int, read_keyed, read_text, write)


def limit_files(limits: Limits, swap_accounting: bool) -> list[tuple[str, str, str, str]]:
    """The files a group's limits become on v1 (exercise 3.2): (controller, file, value, flag) each,
    in the order to write them. None in `limits` means no limit: no file.

      --memory        memory.limit_in_bytes; with swap accounting (the file memory.memsw.limit_in_bytes
                      exists) also memsw = memory + swap: --memory-swap, or Docker's default 2 x memory
      --cpus          cpu.cfs_period_us (limits.period: 100 ms unless a bundle says), then cpu.cfs_quota_us = cpus x period
      --cpu-shares    cpu.shares;   --cpuset-cpus  cpuset.cpus;   --pids-limit  pids.max"""
    files = []
    if limits.memory is not None:
        files.append(("memory", "memory.limit_in_bytes", str(limits.memory), "--memory"))
        if swap_accounting:
            total = limits.memory_swap if limits.memory_swap is not None else 2 * limits.memory
            files.append(("memory", "memory.memsw.limit_in_bytes", str(total), "--memory-swap"))
    if limits.cpus is not None:
        files.append(("cpu", "cpu.cfs_period_us", str(limits.period), "--cpus"))
        files.append(("cpu", "cpu.cfs_quota_us", str(round(limits.cpus * limits.period)), "--cpus"))
    if limits.cpu_shares is not None:
        files.append(("cpu", "cpu.shares", str(limits.cpu_shares), "--cpu-shares"))
    if limits.cpuset_cpus is not None:
        files.append(("cpuset", "cpuset.cpus", limits.cpuset_cpus, "--cpuset-cpus"))
    if limits.cpuset_mems is not None:  # (lesson 10: a bundle's cpu.mems)
        files.append(("cpuset", "cpuset.mems", limits.cpuset_mems, "--cpuset-mems"))
    if limits.pids_limit is not None:
        files.append(("pids", "pids.max", str(limits.pids_limit), "--pids-limit"))
    return files


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
        for controller, d in dirs.items():
            parent = os.path.dirname(d)
            os.makedirs(d, exist_ok=True)  # co-mounted controllers (cpu,cpuacct) share a directory
            if controller == "cpuset":
                # a new v1 cpuset group starts with no CPUs and no memory nodes: no process could run in it
                for f in ("cpuset.cpus", "cpuset.mems"):
                    write(os.path.join(d, f), self.inherit(parent, f), self.setup, f)
        swap_accounting = "memory" in dirs and os.path.exists(os.path.join(dirs["memory"], "memory.memsw.limit_in_bytes"))
        for controller, name, value, flag in limit_files(limits, swap_accounting):
            write(os.path.join(dirs[controller], name), value, self.setup, flag)

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
        files: dict[str, str] = {}
        for controller, names in USAGE_FILES["v1"].items():
            if controller in d:
                read_files(d[controller], names, files)
        s = usage_stats(cgroups.read_usage(files, "v1"))
        if "memory" in d:
            m = d["memory"] + "/"
            s.memory_cache = read_keyed(m + "memory.stat").get("total_inactive_file")
            s.memory_peak = read_int(m + "memory.max_usage_in_bytes")
        if "cpu" in d:
            stat = read_keyed(d["cpu"] + "/cpu.stat")
            s.cpu_periods, s.cpu_throttled = stat.get("nr_periods"), stat.get("nr_throttled")
            if "throttled_time" in stat:
                s.cpu_throttled_time = stat["throttled_time"] / 1e9
        if "pids" in d:
            s.pids_refused = read_keyed(d["pids"] + "/pids.events").get("max")
        return s

    def kill(self) -> None:
        kill_until_empty(self)
