"""Lesson 03: cgroups, the limits a container cannot exceed, on v1 and on v2.

Each function below is one step of the lesson. The package keeps its own versions in
minicontainer/cgroups/ (__init__.py: units and the interface; v1.py and v2.py: the two drivers):
compare yours with them when you are done. A cgroup is a directory; everything here is reading
and writing small files in it.
"""

from __future__ import annotations

import re
from pathlib import Path

UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_memory(text: str) -> int:
    """Exercise 3.1: Docker's memory sizes in bytes: '512m' -> 536870912, '1g', '64k', '100' (bytes),
    upper or lower case, with an optional trailing 'b' ('512mb'). Raise ValueError for anything else
    ('12x', 'm', '')."""
    ### BEGIN SOLUTION 3.1: match r"^(\d+)([kmg]?)b?$" on text.strip().lower(), then int(number) * UNITS[unit]
    match = re.match(r"^(\d+)([kmg]?)b?$", text.strip().lower())
    if not match:
        raise ValueError(f"invalid memory size {text!r}: use a number with an optional unit k, m or g")
    return int(match[1]) * UNITS[match[2]]
    ### END SOLUTION


def join(group: Path, pid: int) -> None:
    """Exercise 3.2: move process `pid` into the cgroup directory `group` (v1 and v2 alike)."""
    ### BEGIN SOLUTION 3.2: write str(pid) to group / "cgroup.procs"
    (Path(group) / "cgroup.procs").write_text(str(pid))
    ### END SOLUTION


def set_memory_limit(group: Path, limit: int, version: str) -> None:
    """Exercise 3.3: limit the group's memory to `limit` bytes. version is "v1" (the file is
    memory.limit_in_bytes) or "v2" (the file is memory.max)."""
    ### BEGIN SOLUTION 3.3: write str(limit) to group / ("memory.max" if version == "v2" else "memory.limit_in_bytes")
    name = "memory.max" if version == "v2" else "memory.limit_in_bytes"
    (Path(group) / name).write_text(str(limit))
    ### END SOLUTION


def cpu_limit_files(cpus: float, version: str, period: int = 100_000) -> dict[str, str]:
    """Exercise 3.4: the files (name -> content) that give a group `cpus` CPUs of time per `period`
    microseconds. v1: {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "50000"} for 0.5;
    v2: {"cpu.max": "50000 100000"} ("QUOTA PERIOD" in one file)."""
    ### BEGIN SOLUTION 3.4: quota = round(cpus * period); v2 -> {"cpu.max": f"{quota} {period}"}; v1 -> the two files
    quota = round(cpus * period)
    if version == "v2":
        return {"cpu.max": f"{quota} {period}"}
    return {"cpu.cfs_period_us": str(period), "cpu.cfs_quota_us": str(quota)}
    ### END SOLUTION


def oom_kills(group: Path, version: str) -> int:
    """Exercise 3.5: how many processes the OOM killer killed in the group. v1: the line 'oom_kill N'
    of memory.oom_control; v2: the line 'oom_kill N' of memory.events."""
    ### BEGIN SOLUTION 3.5: read group / ("memory.events" if v2 else "memory.oom_control"); find the line starting "oom_kill "; int of its second word
    name = "memory.events" if version == "v2" else "memory.oom_control"
    for line in (Path(group) / name).read_text().splitlines():
        key, value = line.split()
        if key == "oom_kill":
            return int(value)
    return 0
    ### END SOLUTION
