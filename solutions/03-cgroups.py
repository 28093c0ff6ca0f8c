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
    ### BEGIN SOLUTION 3.1: Docker's memory sizes (512m, 1g, 1.5GiB) in bytes
    ### HINT: Normalise first (strip, lower case), then split the text into a number and a unit; everything else is refused with the flag's name in the message.
    ### HINT: A regular expression does it in one match: digits with an optional fraction, optional spaces, an optional unit letter of k m g t p, then an optional "b" or "ib". int(float(number) * UNITS[unit]).
    ### HINT: if isinstance(text, int): return text; m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?", str(text).strip().lower()); if not m: raise UsageError(f"invalid value {text!r} for {flag}..."); return int(float(m[1]) * UNITS[m[2]])
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?", str(text).strip().lower())
    if not match:
        raise UsageError(f"invalid value {text!r} for {flag}: use a number with an optional unit b, k, m, g "
                         f"(for example 512m or 1g)")
    return int(float(match[1]) * UNITS[match[2]])
    ### END SOLUTION


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
    ### BEGIN SOLUTION 3.2: the files a container's limits become on cgroup v1
    ### HINT: One entry per limit that is set, in the order above; each names its controller, because on v1 every controller is a tree of its own.
    ### HINT: Test each field against None; the quota of --cpus 0.5 is round(0.5 * CPU_PERIOD_US) = 50000 microseconds per 100000; the period is written before the quota (the kernel checks quota against the period).
    ### HINT: files = []; if limits.memory is not None: files.append(("memory", "memory.limit_in_bytes", str(limits.memory), "--memory")) and, with swap_accounting, the memsw line; if limits.cpus is not None: the period then the quota; ... return files
    files = []
    if limits.memory is not None:
        files.append(("memory", "memory.limit_in_bytes", str(limits.memory), "--memory"))
        if swap_accounting:
            total = limits.memory_swap if limits.memory_swap is not None else 2 * limits.memory
            files.append(("memory", "memory.memsw.limit_in_bytes", str(total), "--memory-swap"))
    if limits.cpus is not None:
        files.append(("cpu", "cpu.cfs_period_us", str(CPU_PERIOD_US), "--cpus"))
        files.append(("cpu", "cpu.cfs_quota_us", str(round(limits.cpus * CPU_PERIOD_US)), "--cpus"))
    if limits.cpu_shares is not None:
        files.append(("cpu", "cpu.shares", str(limits.cpu_shares), "--cpu-shares"))
    if limits.cpuset_cpus is not None:
        files.append(("cpuset", "cpuset.cpus", limits.cpuset_cpus, "--cpuset-cpus"))
    if limits.pids_limit is not None:
        files.append(("pids", "pids.max", str(limits.pids_limit), "--pids-limit"))
    return files
    ### END SOLUTION


def v2_limit_files(limits: Limits, has_swap: bool) -> list[tuple[str, str, str]]:
    """Exercise 3.3: the same on cgroup v2, one directory for every controller: a list of
    (file, value, flag). (The runtime calls this as cgroups.v2.limit_files.)
      memory       -> ("memory.max", bytes, "--memory"); then swap, limited on its own in v2:
                      memory_swap given: ("memory.swap.max", memory_swap - memory, or "max" for -1,
                      "--memory-swap"); else, if has_swap: ("memory.swap.max", memory, "--memory")
      cpus         -> ("cpu.max", "QUOTA PERIOD", "--cpus")   one file: "50000 100000" for 0.5
      cpu_shares   -> ("cpu.weight", shares_to_weight(shares), "--cpu-shares")
      cpuset_cpus  -> ("cpuset.cpus", ...);  pids_limit -> ("pids.max", ..., "--pids-limit")"""
    ### BEGIN SOLUTION 3.3: the files a container's limits become on cgroup v2
    ### HINT: The same limits as 3.2, in v2's file names and formats: swap is its own limit (not memory + swap), the CPU quota and period share one file, and shares become a weight.
    ### HINT: f"{round(limits.cpus * CPU_PERIOD_US)} {CPU_PERIOD_US}" is cpu.max; --memory-swap -1 means unlimited swap: "max"; shares_to_weight(1024) == 39 (runc's conversion).
    ### HINT: files = []; if limits.memory is not None: files.append(("memory.max", str(limits.memory), "--memory")); then the memory.swap.max line from memory_swap, or has_swap; ...; return files
    files = []
    if limits.memory is not None:
        files.append(("memory.max", str(limits.memory), "--memory"))
        if limits.memory_swap is not None:
            swap = "max" if limits.memory_swap == -1 else str(limits.memory_swap - limits.memory)
            files.append(("memory.swap.max", swap, "--memory-swap"))
        elif has_swap:
            files.append(("memory.swap.max", str(limits.memory), "--memory"))
    if limits.cpus is not None:
        files.append(("cpu.max", f"{round(limits.cpus * CPU_PERIOD_US)} {CPU_PERIOD_US}", "--cpus"))
    if limits.cpu_shares is not None:
        files.append(("cpu.weight", str(shares_to_weight(limits.cpu_shares)), "--cpu-shares"))
    if limits.cpuset_cpus is not None:
        files.append(("cpuset.cpus", limits.cpuset_cpus, "--cpuset-cpus"))
    if limits.pids_limit is not None:
        files.append(("pids.max", str(limits.pids_limit), "--pids-limit"))
    return files
    ### END SOLUTION


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
    ### BEGIN SOLUTION 3.4: what a group uses (memory, CPU, tasks, OOM kills), for stats and the OOM note
    ### HINT: Two small readers do it all: one for files that hold one number (or "max"), one for "key value" files (memory.stat, cpu.stat, memory.events, memory.oom_control). Then pick the file names by version.
    ### HINT: files.get(name, "").strip() is "" for a missing file; "max" means no limit; a keyed file is {key: int(value)} over text.splitlines() and line.split(); nanoseconds / 1e9 and microseconds / 1e6 are seconds.
    ### HINT: number = lambda n: None if files.get(n, "").strip() in ("", "max") else int(files[n]); keyed = lambda n: {k: int(v) for k, v in (line.split() for line in files.get(n, "").splitlines())}; then for v2: memory=without_cache(number("memory.current"), keyed("memory.stat").get("inactive_file")), ...
    def number(name: str) -> int | None:
        text = files.get(name, "").strip()
        return None if text in ("", "max") else int(text)

    def keyed(name: str) -> dict[str, int]:
        out = {}
        for line in files.get(name, "").splitlines():
            key, _, value = line.partition(" ")
            if value.strip().isdigit():
                out[key] = int(value)
        return out

    if version == "v2":
        usage, inactive = number("memory.current"), keyed("memory.stat").get("inactive_file")
        limit, oom_kills = number("memory.max"), keyed("memory.events").get("oom_kill")
        usec = keyed("cpu.stat").get("usage_usec")
        cpu = None if usec is None else usec / 1e6
    else:
        usage, inactive = number("memory.usage_in_bytes"), keyed("memory.stat").get("total_inactive_file")
        limit, oom_kills = number("memory.limit_in_bytes"), keyed("memory.oom_control").get("oom_kill")
        if limit is not None and limit >= V1_UNLIMITED:
            limit = None
        nsec = number("cpuacct.usage")
        cpu = None if nsec is None else nsec / 1e9
    return {"memory": without_cache(usage, inactive), "memory_limit": limit, "cpu_usage": cpu,
            "pids": number("pids.current"), "pids_limit": number("pids.max"), "oom_kills": oom_kills}
    ### END SOLUTION
