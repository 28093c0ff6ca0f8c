# Your exercises for lesson 03-cgroups. Replace each `raise NotImplementedError(...)` with your code.
# Check your work with `make check EX=03` (or the check cells in notebooks/03-cgroups.ipynb).
# This file was generated from the instructors' solutions by `make exercises`.

"""Lesson 03: cgroups, the limits a container cannot exceed, on v1 and on v2.

Each function below is a step the runtime takes, with the same name and arguments as the package's
own in minicontainer/cgroups/ (__init__.py: parse_bytes, read_usage; v1.py and v2.py: limit_files).
`minicontainer --yours run -m 32m ...` and `minicontainer --yours stats` run yours. A cgroup is a
directory; a limit is a small file in it: these functions say which files, with what in them.
"""

from __future__ import annotations

import re

from minicontainer.cgroups import CPU_PERIOD_US, V1_UNLIMITED, Limits, without_cache
from minicontainer.cgroups.v2 import shares_to_weight
from minicontainer.errors import UsageError

UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_bytes(text: str | int, flag: str = "--memory") -> int:
    """Exercise 3.1: Docker's memory sizes in bytes: '512m' -> 536870912, '1g', '64k', '100'
    (bytes), '1.5g', upper or lower case, spaces around, an optional 'b' or 'ib' after the unit
    ('512mb', '1GiB'); units are binary (k = 1024). An int is already bytes. Raise UsageError naming
    `flag` for anything else ('12x', 'm', '', '1.5.3g')."""
    raise NotImplementedError("Exercise 3.1: Docker's memory sizes (512m, 1g, 1.5GiB) in bytes")


def v1_limit_files(limits: Limits, swap_accounting: bool) -> list[tuple[str, str, str, str]]:
    """Exercise 3.2: the files a container's limits become on cgroup v1, one hierarchy per
    controller: a list of (controller, file, value, flag) in the order to write them. A field of
    `limits` that is None means no limit, no file. (The runtime calls this as cgroups.v1.limit_files.)
      memory       -> ("memory", "memory.limit_in_bytes", bytes, "--memory"); with swap_accounting also
                      ("memory", "memory.memsw.limit_in_bytes", memory + swap, "--memory-swap"): that is
                      memory_swap if given, else Docker's default 2 x memory
      cpus         -> ("cpu", "cpu.cfs_period_us", CPU_PERIOD_US, "--cpus"), then ("cpu", "cpu.cfs_quota_us",
                      cpus x period rounded, "--cpus")
      cpu_shares   -> ("cpu", "cpu.shares", ...);  cpuset_cpus -> ("cpuset", "cpuset.cpus", ...)
      pids_limit   -> ("pids", "pids.max", ..., "--pids-limit")
    Values are strings, flags are run's flags (--cpu-shares, --cpuset-cpus)."""
    raise NotImplementedError("Exercise 3.2: the files a container's limits become on cgroup v1")


def v2_limit_files(limits: Limits, has_swap: bool) -> list[tuple[str, str, str]]:
    """Exercise 3.3: the same on cgroup v2, one directory for every controller: a list of
    (file, value, flag). (The runtime calls this as cgroups.v2.limit_files.)
      memory       -> ("memory.max", bytes, "--memory"); then swap, limited on its own in v2:
                      memory_swap given: ("memory.swap.max", memory_swap - memory, or "max" for -1,
                      "--memory-swap"); else, if has_swap: ("memory.swap.max", memory, "--memory")
      cpus         -> ("cpu.max", "QUOTA PERIOD", "--cpus")   one file: "50000 100000" for 0.5
      cpu_shares   -> ("cpu.weight", shares_to_weight(shares), "--cpu-shares")
      cpuset_cpus  -> ("cpuset.cpus", ...);  pids_limit -> ("pids.max", ..., "--pids-limit")"""
    raise NotImplementedError("Exercise 3.3: the files a container's limits become on cgroup v2")


def read_usage(files: dict[str, str], version: str) -> dict[str, int | float | None]:
    """Exercise 3.4: what a group uses now, from the text of its files ({file name: its text}; a
    file the host lacks is missing). `version` is "v1" or "v2". Return a dict with:
      memory        bytes in use minus the inactive file cache (memory.stat's total_inactive_file on
                    v1, inactive_file on v2): v1 memory.usage_in_bytes, v2 memory.current;
                    without_cache(usage, inactive) does the subtraction
      memory_limit  v1 memory.limit_in_bytes, v2 memory.max; None when unlimited ("max", or on v1 a
                    number >= V1_UNLIMITED)
      cpu_usage     seconds: v1 cpuacct.usage (nanoseconds), v2 usage_usec in cpu.stat (microseconds)
      pids, pids_limit   pids.current, pids.max ("max": None)
      oom_kills     the oom_kill line of v1 memory.oom_control, v2 memory.events
    Anything a missing file should tell is None. `minicontainer stats` shows these, and the runtime
    reads oom_kills when it removes the group (exit 137: "killed by the OOM killer")."""
    raise NotImplementedError('Exercise 3.4: what a group uses (memory, CPU, tasks, OOM kills), for stats and the OOM note')
