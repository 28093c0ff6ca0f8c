"""The cgroup v2 driver: one unified tree (lesson 03).

On v2 a container's group is a single directory, and every controller's files sit side by side:

    /sys/fs/cgroup/cgroup.subtree_control        "+cpu +memory +pids": hand controllers down (delegation)
    /sys/fs/cgroup/minicontainer/                the course's parent: holds groups, never processes
    /sys/fs/cgroup/minicontainer/<id>/
        cgroup.procs      PIDs in the group               cgroup.kill     write 1: SIGKILL them all
        cgroup.events     "populated 0|1"                  memory.events   "oom_kill N"
        memory.max        bytes or "max"                   memory.swap.max swap on top of memory.max
        cpu.max           "QUOTA PERIOD" (or "max PERIOD") cpu.weight      1-10000 (100 = normal)
        cpuset.cpus       "0-1"                            pids.max        tasks or "max"
        memory.current, memory.peak, cpu.stat, pids.current, *.pressure (PSI)

Two rules shape the code. A controller can only be used in a group if its parent lists it in
`cgroup.subtree_control`, so the runtime enables what it needs at the root and in its parent.
And the "no internal processes" rule: a group that hands controllers down to children may not
hold processes itself, so the parent `minicontainer` only ever contains groups.

limit_files() is lesson 03's exercise 3.3: the files a container's limits become here.
"""

from __future__ import annotations

import os
import time

from .. import cgroups  # the package itself: the runtime calls cgroups.read_usage (a seam: seams.py)
from . import (USAGE_FILES, Cgroup, ContainerError, Limits, Stats, kill_until_empty, read_files, usage_stats,
               read_int, read_keyed, read_text, write)


# Controllers every group gets, limits or not: `stats` reads memory.current, cpu.stat, pids.current.
STATS_CONTROLLERS = {"memory", "cpu", "pids"}


def shares_to_weight(shares: int) -> int:
    """Docker's --cpu-shares (2-262144, 1024 normal) as a v2 cpu.weight (1-10000, 100 normal), as runc converts it."""
    return 1 + ((shares - 2) * 9999) // 262142


def limit_files(limits: Limits, has_swap: bool) -> list[tuple[str, str, str]]:
    """The files a group's limits become on v2 (exercise 3.3): (file, value, flag) each, in the
    order to write them. None in `limits` means no limit: no file.

      --memory        memory.max; swap is limited on its own (memory.swap.max, when the host has swap
                      accounting: `has_swap`): --memory-swap minus --memory ("max" for -1), or
                      Docker's default, as much swap again as memory
      --cpus          cpu.max = "QUOTA PERIOD" in one file (quota = cpus x limits.period, 100 ms by default)
      --cpu-shares    cpu.weight, converted by shares_to_weight (1024 shares -> 100... as runc does)
      --cpuset-cpus   cpuset.cpus;   --pids-limit  pids.max"""
    files = []
    if limits.memory is not None:
        files.append(("memory.max", str(limits.memory), "--memory"))
        if limits.memory_swap is not None:
            swap = "max" if limits.memory_swap == -1 else str(limits.memory_swap - limits.memory)
            files.append(("memory.swap.max", swap, "--memory-swap"))
        elif has_swap:
            files.append(("memory.swap.max", str(limits.memory), "--memory"))
    if limits.cpus is not None:
        files.append(("cpu.max", f"{round(limits.cpus * limits.period)} {limits.period}", "--cpus"))
    if limits.cpu_shares is not None:
        files.append(("cpu.weight", str(shares_to_weight(limits.cpu_shares)), "--cpu-shares"))
    if limits.cpuset_cpus is not None:
        files.append(("cpuset.cpus", limits.cpuset_cpus, "--cpuset-cpus"))
    if limits.cpuset_mems is not None:  # (lesson 10: a bundle's cpu.mems)
        files.append(("cpuset.mems", limits.cpuset_mems, "--cpuset-mems"))
    if limits.pids_limit is not None:
        files.append(("pids.max", str(limits.pids_limit), "--pids-limit"))
    return files


def pressure_avg10(path: str) -> float | None:
    """The 'some avg10' figure of a PSI file: the % of the last 10 s some task waited for the resource."""
    try:
        first = read_text(path).splitlines()[0]
    except (FileNotFoundError, IndexError, OSError):
        return None
    fields = dict(f.split("=") for f in first.split()[1:])
    return float(fields.get("avg10", 0.0))


class V2Cgroup(Cgroup):
    """A container's group on a v2 host: one directory in the unified tree."""

    def group_dirs(self) -> list[str]:
        return [os.path.join(self.setup.root_dir, self.parent, self.name)]

    def enable(self, directory: str, controllers: set[str]) -> None:
        """Delegate `controllers` to the children of `directory` (write +name to cgroup.subtree_control)."""
        control = os.path.join(directory, "cgroup.subtree_control")
        enabled = set(read_text(control).split()) if os.path.exists(control) else set()
        wanted = sorted(c for c in controllers if c not in enabled)
        if wanted:
            write(control, " ".join(f"+{c}" for c in wanted), self.setup, "controller delegation")

    def make(self, limits: Limits) -> None:
        root = self.setup.root_dir
        parent = os.path.join(root, self.parent)
        d = os.path.join(parent, self.name)

        # what the limits need, plus what `stats` counts (as Docker enables them for every container),
        # and only what this host has (a hybrid host's cgroup2 tree may carry only hugetlb)
        needed = (limits.controllers() | STATS_CONTROLLERS) & set(self.setup.controller_dirs)
        os.makedirs(parent, exist_ok=True)
        self.enable(root, needed)
        level = root
        for part in self.parent.strip("/").split("/"):  # (lesson 10: a bundle's cgroupsPath may be a/b/c)
            level = os.path.join(level, part)
            self.enable(level, needed)
        os.mkdir(d)
        for name, value, flag in limit_files(limits, os.path.exists(os.path.join(d, "memory.swap.max"))):
            write(os.path.join(d, name), value, self.setup, flag)

    def populated(self) -> bool:
        """Whether any process is in the group (from cgroup.events, which the kernel keeps current)."""
        return read_keyed(os.path.join(self.main_dir, "cgroup.events")).get("populated", 0) == 1

    def stats(self) -> Stats:
        d = self.main_dir + "/"
        files: dict[str, str] = {}
        read_files(self.main_dir, USAGE_FILES["v2"][""], files)
        cpu = read_keyed(d + "cpu.stat")
        s = usage_stats(cgroups.read_usage(files, "v2"))
        s.memory_cache = read_keyed(d + "memory.stat").get("inactive_file")
        s.memory_peak = read_int(d + "memory.peak")
        s.pids_refused = read_keyed(d + "pids.events").get("max")
        s.cpu_periods, s.cpu_throttled = cpu.get("nr_periods"), cpu.get("nr_throttled")
        if "throttled_usec" in cpu:
            s.cpu_throttled_time = cpu["throttled_usec"] / 1e6
        for resource in ("cpu", "memory", "io"):
            value = pressure_avg10(d + f"{resource}.pressure")
            if value is not None:
                s.pressure[resource] = value
        return s

    def kill(self, timeout: float = 5.0) -> None:
        """Write 1 to cgroup.kill (Linux 5.14+): the kernel kills every process, forks included."""
        kill_file = os.path.join(self.main_dir, "cgroup.kill")
        if os.path.exists(kill_file) and self.procs():
            write(kill_file, "1", self.setup, "cgroup.kill")
            deadline = time.monotonic() + timeout
            while self.populated():
                if time.monotonic() > deadline:
                    raise ContainerError("the group is still populated after cgroup.kill", step="cgroups: kill",
                                         path=self.main_dir, fix="processes stuck in the kernel (state D)?")
                time.sleep(0.002)
        kill_until_empty(self, timeout)
