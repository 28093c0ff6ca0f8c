"""Control groups: limits a container cannot exceed, and what it uses (lesson 03).

A cgroup is a directory in a special filesystem. Put a process in it (write its PID to
`cgroup.procs`) and the kernel counts everything it and its children use, and enforces limits
written to the group's files. There are two generations of the interface:

  v1  one hierarchy per controller:   /sys/fs/cgroup/memory/minicontainer/<id>/memory.limit_in_bytes
                                      /sys/fs/cgroup/cpu/minicontainer/<id>/cpu.cfs_quota_us  ...
  v2  one unified hierarchy:          /sys/fs/cgroup/minicontainer/<id>/memory.max, cpu.max, pids.max

Hybrid hosts mount v1 controllers *and* a cgroup2 tree at /sys/fs/cgroup/unified that holds no
(or only some) controllers; the runtime then uses v1, as Docker and runc do.

This module is the one interface the runtime uses; `v1.py` and `v2.py` are the two drivers:

    limits = Limits.parse(memory="512m", cpus="0.5", pids_limit=20)   # Docker's flags and units
    group = create("my-container", limits)      # detects the host's version, picks the driver
    group.add(pid)                               # before the workload execs
    group.stats()                                # memory, CPU, pids, OOM kills
    group.remove()                               # kills what is left, removes the directories

Every container's group lives under one parent, `minicontainer` (paths.CGROUP_PARENT), so that
`sweep()` (called by `minicontainer reset`) finds what a crashed runtime left behind.

Every `run` of root goes through this package (a container always gets a group), so it works with
plain strings and `os.path` (as paths.Paths and unionfs do: lesson 02, "Why run starts fast"):
importing `pathlib` would cost every run ~8 ms, `re` ~4 ms (bench/bench_start_tricks.py). The
lesson's `pathlib` views are properties on top:
`Setup.root` and `Setup.controllers`, `Cgroup.dirs()` and `Cgroup.path` are `Path`s.

Lesson 03's exercises are steps of this package (seams.py): Docker's sizes (parse_bytes, 3.1), the
files a group's limits become on v1 (v1.limit_files, 3.2) and on v2 (v2.limit_files, 3.3), and what
`stats` and the OOM note read back (read_usage, 3.4).
"""

from __future__ import annotations

import _signal as signal  # `signal` without its enum classes: saves ~4 ms a run (bench/bench_start_tricks.py)
import errno
import os
import time

from ..errors import ContainerError, UsageError
from ..paths import CGROUP_PARENT, DEFAULT_RUN_DIR, Paths
from ..record import Record  # a dataclass without importing dataclasses: saves ~13 ms a run (bench/bench_start_tricks.py)

TYPE_CHECKING = False  # (typing.TYPE_CHECKING without importing typing)
if TYPE_CHECKING:
    from pathlib import Path  # for the annotations only: the run path never imports pathlib

CGROUP_ROOT = "/sys/fs/cgroup"

# The v1 controllers the runtime uses (each is its own hierarchy: /sys/fs/cgroup/<controller>).
# [security] lesson 08: `devices` holds the container's device allow list (security/devices.py).
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "cpuset", "pids", "devices")
# Other v1 hierarchies a host may mount; the runtime does not use them (the doctor lists them).
V1_OTHERS = ("freezer", "blkio")

# Docker's minimum memory limit: below this a container cannot even start its first process.
MIN_MEMORY = 6 * 1024 * 1024
CPU_PERIOD_US = 100_000          # the CFS period Docker uses: --cpus 0.5 = 50 ms of CPU every 100 ms
MIN_CPU_SHARES, MAX_CPU_SHARES = 2, 262_144

# Which flag needs which controller (for clear errors when the host lacks one).
FLAG_CONTROLLER = {"memory": "memory", "memory_swap": "memory", "cpus": "cpu", "cpu_shares": "cpu",
                   "cpuset_cpus": "cpuset", "pids_limit": "pids", "cpu_period": "cpu", "cpuset_mems": "cpuset"}
ENABLE_HINT = {"v1": "mount the controller's v1 hierarchy (mount -t cgroup -o CONTROLLER none /sys/fs/cgroup/CONTROLLER)",
               "v2": "boot with the controllers on the unified tree (systemd.unified_cgroup_hierarchy=1 "
                     "cgroup_no_v1=all) so that cgroup.controllers lists them"}
FLAG_NAME = {"memory": "--memory", "memory_swap": "--memory-swap", "cpus": "--cpus",
             "cpu_shares": "--cpu-shares", "cpuset_cpus": "--cpuset-cpus", "pids_limit": "--pids-limit",
             "cpu_period": "--cpu-period", "cpuset_mems": "--cpuset-mems"}


# --- detection ------------------------------------------------------------------------------

class Setup(Record, frozen=True):
    """What this host offers: the cgroup version and where each controller lives.

    version:         "v2" (unified), "v1" (per-controller hierarchies) or "hybrid" (v1 controllers
                     plus a cgroup2 mount with few or no controllers; the runtime uses v1 there).
    root_dir:        where the cgroup filesystems are mounted ("/sys/fs/cgroup").
    controller_dirs: controller name -> the directory of its hierarchy (all root_dir on v2).
    others:          v1: the other hierarchies mounted (V1_OTHERS), which the runtime does not use.
    unified:         hybrid: the controllers of the cgroup2 tree at root_dir/unified.
    """

    version: str
    root_dir: str
    controller_dirs: dict[str, str] = {}
    others: tuple[str, ...] = ()
    unified: tuple[str, ...] = ()

    @property
    def driver(self) -> str:
        return "v2" if self.version == "v2" else "v1"

    @property
    def root(self) -> Path:
        """root_dir as a pathlib Path."""
        from pathlib import Path
        return Path(self.root_dir)

    @property
    def controllers(self) -> dict[str, Path]:
        """controller_dirs with pathlib Paths: setup.controllers["pids"] / "minicontainer"."""
        from pathlib import Path
        return {name: Path(d) for name, d in self.controller_dirs.items()}

    def describe(self) -> str:
        names = ", ".join(sorted(self.controller_dirs)) or "no controllers"
        return f"cgroup {self.version} at {self.root_dir} ({names})"


def available(root: str | Path = CGROUP_ROOT) -> bool:
    """Does this host have a cgroup filesystem the runtime can use (detect() would succeed)?"""
    try:
        detect(root)
    except ContainerError:
        return False
    return True


def read_text(path: str | Path) -> str:
    with open(path) as f:
        return f.read()


def detect(root: str | Path = CGROUP_ROOT) -> Setup:
    """Find out how cgroups are mounted under `root` (a parameter, so tests can point at a fake tree)."""
    root = os.fspath(root)
    unified = os.path.join(root, "cgroup.controllers")
    if os.path.exists(unified):
        names = read_text(unified).split()
        return Setup("v2", root, {name: root for name in names})
    controllers = {name: os.path.join(root, name) for name in V1_CONTROLLERS
                   if os.path.exists(os.path.join(root, name, "cgroup.procs"))}
    if controllers:
        others = tuple(name for name in V1_OTHERS if os.path.exists(os.path.join(root, name, "cgroup.procs")))
        unified = os.path.join(root, "unified", "cgroup.controllers")
        if os.path.exists(unified):
            return Setup("hybrid", root, controllers, others, tuple(read_text(unified).split()))
        return Setup("v1", root, controllers, others)
    raise ContainerError("no cgroup filesystem found", step="cgroups: detect", path=root,
                         fix="mount cgroup2 on /sys/fs/cgroup (mount -t cgroup2 none /sys/fs/cgroup) "
                             "or boot a systemd-based distribution, which does it for you")


# --- limits, parsed like Docker's flags -----------------------------------------------------

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
DIGITS = "0123456789"

# The formats below are what the regular expressions r"^(\d+(\.\d+)?)\s*([kmgtp]?)(i?b)?$" (sizes,
# any case) and r"^\d+(-\d+)?(,\d+(-\d+)?)*$" (cpusets) accept, read by hand: `re` would cost `run -m`
# ~4 ms of imports (bench/bench_start_tricks.py). tests/test_cgroups.py checks the two readings agree.


def is_number(text: str) -> bool:
    """'12' or '1.5': ASCII digits with at most one decimal point between them."""
    parts = text.split(".")
    return len(parts) <= 2 and all(part and all(c in DIGITS for c in part) for part in parts)


def is_cpu_list(text: str) -> bool:
    """'0-2,5': comma-separated CPU numbers and ranges."""
    return all(all(n and all(c in DIGITS for c in n) for n in part.split("-", 1)) for part in text.split(","))


def parse_bytes(text: str | int, flag: str = "--memory") -> int:
    """Docker's memory units: '512m', '1g', '1.5GiB', '64k', '1048576' (binary multiples, b optional)."""
    if isinstance(text, int):
        return text
    rest = str(text).strip().lower()
    rest = rest[:-2] if rest.endswith("ib") else rest[:-1] if rest.endswith("b") else rest
    unit = rest[-1:] if rest[-1:] in ("k", "m", "g", "t", "p") else ""
    number = rest[:len(rest) - len(unit)].rstrip()
    if not is_number(number):
        raise UsageError(f"invalid value {text!r} for {flag}: use a number with an optional unit b, k, m, g "
                         f"(for example 512m or 1g)")
    return int(float(number) * _UNITS[unit])


def cpu_list(text: str) -> list[int]:
    """The CPU numbers of a cpuset list like '0-2,5'."""
    cpus: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus.extend(range(int(low), int(high or low) + 1))
    return cpus


class Limits(Record, frozen=True):
    """The resource limits of one container, in kernel units. None means "no limit"."""

    memory: int | None = None         # bytes                          -m, --memory 512m
    memory_swap: int | None = None    # bytes of memory + swap, -1 = unlimited swap   --memory-swap 1g
    cpus: float | None = None         # CPUs worth of time per period  --cpus 0.5
    cpu_shares: int | None = None     # relative weight (1024 = normal) --cpu-shares 512
    cpuset_cpus: str | None = None    # which CPUs                     --cpuset-cpus 0-1
    pids_limit: int | None = None     # max number of tasks            --pids-limit 20
    cpu_period: int | None = None     # µs; --cpus counts per period (None: 100 ms)  lesson 10: a bundle's cpu.period
    cpuset_mems: str | None = None    # which memory nodes             lesson 10: a bundle's cpu.mems

    @classmethod
    def parse(cls, memory: str | int | None = None, memory_swap: str | int | None = None,
              cpus: str | float | None = None, cpu_shares: str | int | None = None,
              cpuset_cpus: str | None = None, pids_limit: str | int | None = None,
              host_cpus: int | None = None) -> "Limits":
        """Limits from Docker-style flag values; raises UsageError for values Docker would refuse."""
        host_cpus = host_cpus or os.cpu_count() or 1
        mem = None if memory in (None, "") else parse_bytes(memory, "--memory")
        if mem is not None and mem < MIN_MEMORY:
            raise UsageError(f"--memory {memory}: the minimum memory limit is 6m (a container needs a few "
                             f"megabytes just to start its first process)")
        swap = None
        if memory_swap not in (None, ""):
            if str(memory_swap).strip() == "-1":
                swap = -1
            else:
                swap = parse_bytes(memory_swap, "--memory-swap")
            if mem is None:
                raise UsageError("--memory-swap needs --memory too (it is the total of memory and swap)")
            if swap != -1 and swap < mem:
                raise UsageError(f"--memory-swap {memory_swap} is smaller than --memory {memory}: it is the "
                                 f"total of memory and swap, so it must be at least as large")
        cpu = None
        if cpus not in (None, ""):
            try:
                cpu = float(cpus)
            except ValueError:
                raise UsageError(f"invalid value {cpus!r} for --cpus: use a number of CPUs such as 0.5 or 2") from None
            if not 0.01 <= cpu <= host_cpus:
                raise UsageError(f"--cpus {cpus}: the range of CPUs is from 0.01 to {host_cpus} "
                                 f"(this host has {host_cpus})")
        shares = None
        if cpu_shares not in (None, ""):
            try:
                shares = int(cpu_shares)
            except ValueError:
                raise UsageError(f"invalid value {cpu_shares!r} for --cpu-shares: use an integer (1024 = normal)") from None
            if not MIN_CPU_SHARES <= shares <= MAX_CPU_SHARES:
                raise UsageError(f"--cpu-shares {cpu_shares}: the range is {MIN_CPU_SHARES} to {MAX_CPU_SHARES}")
        cpuset = None
        if cpuset_cpus not in (None, ""):
            cpuset = str(cpuset_cpus).replace(" ", "")
            if not is_cpu_list(cpuset):
                raise UsageError(f"invalid value {cpuset_cpus!r} for --cpuset-cpus: use a list like 0-1,3")
            bad = [c for c in cpu_list(cpuset) if c >= host_cpus]
            if bad:
                raise UsageError(f"--cpuset-cpus {cpuset_cpus}: CPU {bad[0]} does not exist "
                                 f"(this host has CPUs 0-{host_cpus - 1})")
        pids = None
        if pids_limit not in (None, ""):
            try:
                pids = int(pids_limit)
            except ValueError:
                raise UsageError(f"invalid value {pids_limit!r} for --pids-limit: use an integer (-1 = unlimited)") from None
            if pids <= 0:  # Docker: 0 or -1 means unlimited
                pids = None
        return cls(mem, swap, cpu, shares, cpuset, pids)

    def is_empty(self) -> bool:
        return all(v is None for v in self.as_dict().values())

    @property
    def period(self) -> int:
        """The CFS period in µs that --cpus counts in (Docker's 100 ms unless a bundle says otherwise)."""
        return self.cpu_period or CPU_PERIOD_US

    def controllers(self) -> set[str]:
        """The controllers these limits need."""
        return {FLAG_CONTROLLER[k] for k, v in self.as_dict().items() if v is not None}

    def to_dict(self) -> dict:
        return {k: v for k, v in self.as_dict().items() if v is not None}

    @classmethod
    def from_dict(cls, d: dict | None) -> "Limits":
        return cls(**(d or {}))

    def describe(self) -> str:
        return " ".join(f"{FLAG_NAME[k]} {v}" for k, v in self.to_dict().items()) or "no limits"



# --- what a group has used ------------------------------------------------------------------

class Stats(Record):
    """One reading of a group's counters. None: this host does not count it."""

    time: float                       # time.monotonic() when read
    memory: int | None = None         # bytes in use now, without the cache below (what `docker stats` shows)
    memory_cache: int | None = None   # file cache the kernel can drop at once (inactive file pages): it
                                      # counts in the group's usage, but is reclaimed before an OOM kill
    memory_peak: int | None = None    # the most bytes ever in use
    memory_limit: int | None = None   # None = unlimited
    cpu_usage: float | None = None    # seconds of CPU time used, all CPUs together
    cpu_periods: int | None = None    # CFS periods with a quota that ran
    cpu_throttled: int | None = None  # of which the group ran out of quota
    cpu_throttled_time: float | None = None  # seconds the group waited for the next period
    pids: int | None = None           # tasks (processes and threads) now
    pids_limit: int | None = None     # None = unlimited
    pids_refused: int | None = None   # forks refused because pids.max was reached
    oom_kills: int | None = None      # processes the OOM killer killed in this group
    pressure: dict[str, float] = {}  # PSI avg10 per resource (v2), e.g. {"memory": 3.1}


def cpu_percent(before: Stats, after: Stats) -> float | None:
    """CPU use between two readings, in percent of one CPU (200% = two CPUs busy), like `docker stats`."""
    if before.cpu_usage is None or after.cpu_usage is None or after.time <= before.time:
        return None
    return 100.0 * (after.cpu_usage - before.cpu_usage) / (after.time - before.time)


# v1 reports "no limit" as a huge number (PAGE_COUNTER_MAX pages, rounded to pages).
V1_UNLIMITED = 1 << 62

# The files read_usage() needs, by version (v1: by controller, each in its own hierarchy).
USAGE_FILES = {
    "v1": {"memory": ("memory.usage_in_bytes", "memory.stat", "memory.limit_in_bytes", "memory.oom_control"),
           "cpuacct": ("cpuacct.usage",), "pids": ("pids.current", "pids.max")},
    "v2": {"": ("memory.current", "memory.stat", "memory.max", "memory.events", "cpu.stat", "pids.current",
                "pids.max")},
}


def read_usage(files: dict[str, str], version: str) -> dict[str, int | float | None]:
    """What a group uses now (exercise 3.4), from the text of its files (USAGE_FILES; a file this host
    lacks is missing from `files`). Returns, None for what the files do not tell:

      memory        bytes in use without the inactive file cache (what `docker stats` shows)
      memory_limit  bytes, None when unlimited ("max" on v2, a huge number on v1)
      cpu_usage     seconds of CPU used (v1 cpuacct.usage counts nanoseconds, v2 usage_usec microseconds)
      pids, pids_limit, oom_kills   (oom_kill in memory.oom_control on v1, memory.events on v2)

    `stats` shows these; the runtime reads oom_kills when it removes the group (OOMKilled, exit 137)."""
    def number(name: str) -> int | None:
        text = files.get(name, "").strip()
        return None if text in ("", "max") else int(text)

    def keyed(name: str) -> dict[str, int]:
        return parse_keyed(files.get(name, ""))

    if version == "v2":
        usage, inactive = number("memory.current"), keyed("memory.stat").get("inactive_file")
        limit, oom_kills = number("memory.max"), keyed("memory.events").get("oom_kill")
        usec = keyed("cpu.stat").get("usage_usec")
        cpu = None if usec is None else usec / 1e6
    else:
        usage, inactive = number("memory.usage_in_bytes"), keyed("memory.stat").get("total_inactive_file")
        limit, oom_kills = number("memory.limit_in_bytes"), keyed("memory.oom_control").get("oom_kill")
        limit = None if limit is not None and limit >= V1_UNLIMITED else limit
        nsec = number("cpuacct.usage")
        cpu = None if nsec is None else nsec / 1e9
    return {"memory": without_cache(usage, inactive), "memory_limit": limit, "cpu_usage": cpu,
            "pids": number("pids.current"), "pids_limit": number("pids.max"), "oom_kills": oom_kills}


def usage_stats(usage: dict) -> Stats:
    """A Stats reading made of read_usage()'s answer (the drivers add what else they read)."""
    return Stats(time=time.monotonic(), **{key: usage.get(key) for key in
                                           ("memory", "memory_limit", "cpu_usage", "pids", "pids_limit", "oom_kills")})


def read_files(directory: str, names: tuple[str, ...], into: dict[str, str]) -> None:
    """The text of each file that exists (a host may lack some: swap, pressure, a controller)."""
    for name in names:
        try:
            into[name] = read_text(os.path.join(directory, name))
        except (FileNotFoundError, NotADirectoryError):
            pass


def read_int(path: str | Path) -> int | None:
    """An integer cgroup file, None when the host does not have it; 'max' (v2) is None too."""
    try:
        text = read_text(path).strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return None if text in ("max", "") else int(text)


def without_cache(usage: int | None, inactive_file: int | None) -> int | None:
    """Docker's memory figure: the usage minus the inactive file cache (memory.stat)."""
    if usage is None or inactive_file is None or inactive_file > usage:
        return usage
    return usage - inactive_file


def read_keyed(path: str | Path) -> dict[str, int]:
    """A flat keyed file like memory.events or cpu.stat: 'key value' per line."""
    try:
        return parse_keyed(read_text(path))
    except (FileNotFoundError, NotADirectoryError):
        return {}


def parse_keyed(text: str) -> dict[str, int]:
    """The text of a flat keyed file: {key: value} for each 'key value' line with an integer value."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


def write(path: str | Path, value: str, setup: Setup, what: str = "") -> None:
    """Write one cgroup file; a refusal becomes a ContainerError naming the file and the host's setup."""
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        hint = {errno.EBUSY: "the group already uses more than this limit, or has processes that forbid it",
                errno.EINVAL: "the kernel refused this value",
                errno.ENOSPC: "the group has no CPUs or memory nodes (v1 cpuset) or too many descendants",
                errno.EACCES: "run as root", errno.EPERM: "run as root"}.get(exc.errno, "check the value")
        raise ContainerError(f"could not write {value!r}{' for ' + what if what else ''}: {reason} "
                             f"[{setup.describe()}]", step="cgroups: set a limit", path=str(path), fix=hint) from None


# --- one container's group ------------------------------------------------------------------

class Cgroup:
    """One container's cgroup. The drivers (v1.V1Cgroup, v2.V2Cgroup) fill in the files."""

    def __init__(self, name: str, setup: Setup, parent: str = CGROUP_PARENT) -> None:
        check_name(name)
        self.name = name
        self.setup = setup
        self.parent = parent

    # the driver's side
    def group_dirs(self) -> list[str]:
        """Every directory of this group (one per hierarchy on v1, one on v2)."""
        raise NotImplementedError

    def make(self, limits: "Limits") -> None:
        """Create the directories and write the limits."""
        raise NotImplementedError

    def stats(self) -> Stats:
        raise NotImplementedError

    def kill(self) -> None:
        """Kill every process in the group and wait until it is empty."""
        raise NotImplementedError

    # the same on both versions
    @property
    def main_dir(self) -> str:
        """The group's main directory (v1: the one in the memory hierarchy, or the first one)."""
        return self.group_dirs()[0]

    def dirs(self) -> list[Path]:
        """group_dirs() as pathlib Paths."""
        from pathlib import Path
        return [Path(d) for d in self.group_dirs()]

    @property
    def path(self) -> Path:
        """main_dir as a pathlib Path: group.path / "memory.max"."""
        from pathlib import Path
        return Path(self.main_dir)

    def exists(self) -> bool:
        return any(os.path.isdir(d) for d in self.group_dirs())

    def add(self, pid: int) -> None:
        """Move a process (and, from then on, all its children) into the group."""
        for d in self.group_dirs():
            write(os.path.join(d, "cgroup.procs"), str(pid), self.setup, f"process {pid}")

    def join_files(self) -> list[str]:
        """The files a process writes "0" to in order to move *itself* in (see `join_self`).

        v1: `tasks` (one thread: the caller), which skips the kernel's global lock and its RCU
        grace period (~10 ms here) that a write of another PID to cgroup.procs waits for.
        v2: `cgroup.procs`.
        """
        name = "tasks" if self.setup.driver == "v1" else "cgroup.procs"
        return [os.path.join(d, name) for d in self.group_dirs()]

    def procs(self) -> list[int]:
        """The PIDs in the group (as seen from the host)."""
        pids: set[int] = set()
        for d in self.group_dirs():
            try:
                pids.update(int(p) for p in read_text(os.path.join(d, "cgroup.procs")).split())
            except FileNotFoundError:
                pass
        return sorted(pids)

    def remove(self, timeout: float = 5.0) -> Stats | None:
        """Kill what is left, then remove the directories. Returns the last stats (OOM kills...)."""
        if not self.exists():
            return None
        try:
            last, error = self.stats(), None
        except Exception as exc:  # noqa: BLE001 - (a learner's read_usage with --yours): remove the group first
            last, error = None, exc
        self.kill()
        deadline = time.monotonic() + timeout
        for d in self.group_dirs():
            while os.path.isdir(d):
                try:
                    os.rmdir(d)
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise ContainerError(f"could not remove the group: {os.strerror(exc.errno)} "
                                             f"(processes left: {self.procs()})", step="cgroups: remove",
                                             path=d, fix="minicontainer reset") from None
                    time.sleep(0.01)
        if error is not None:
            raise error
        return last

    def __repr__(self) -> str:
        return f"<Cgroup {self.name} {self.setup.version} {self.main_dir}>"


def join_self(files: list[str]) -> None:
    """Move the calling (single-threaded) process into a group: write "0" to each of `files`
    (Cgroup.join_files()). For a container's PID 1, before it forks the workload: its children
    are born in the group, and nobody pays for migrating another process."""
    for name in files:
        with open(name, "w") as f:
            f.write("0")


def kill_until_empty(group: Cgroup, timeout: float = 5.0) -> None:
    """SIGKILL every process in the group until none is left (v1 has no cgroup.kill; forks may race)."""
    deadline = time.monotonic() + timeout
    while True:
        pids = group.procs()
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            raise ContainerError(f"processes {pids} survive SIGKILL", step="cgroups: kill", path=group.main_dir,
                                 fix="they may be stuck in the kernel (state D); try again, or reboot")
        time.sleep(0.005)


def check_name(name: str) -> None:
    if not name or "/" in name or name in (".", "..") or "\n" in name:
        raise UsageError(f"invalid cgroup name {name!r}: use letters, digits, - and _")


def driver_for(setup: Setup):
    """The Cgroup class for this host's version."""
    if setup.driver == "v2":
        from .v2 import V2Cgroup
        return V2Cgroup
    from .v1 import V1Cgroup
    return V1Cgroup


def group(name: str, *, root: str | Path = CGROUP_ROOT, parent: str = CGROUP_PARENT,
          setup: Setup | None = None) -> Cgroup:
    """The group `name` (it may or may not exist)."""
    setup = setup or detect(root)
    return driver_for(setup)(name, setup, parent)


def create(name: str, limits: Limits | None = None, *, root: str | Path = CGROUP_ROOT,
           parent: str = CGROUP_PARENT, setup: Setup | None = None) -> Cgroup:
    """Create the group `name` under the course's parent with `limits`; nothing is left if it fails."""
    limits = limits or Limits()
    setup = setup or detect(root)
    missing = sorted(limits.controllers() - set(setup.controller_dirs))
    if missing:
        flags = [FLAG_NAME[k] for k, v in limits.to_dict().items() if FLAG_CONTROLLER[k] in missing]
        raise ContainerError(f"the {', '.join(missing)} controller is not available for {', '.join(flags)}: "
                             f"this host has {setup.describe()}", step="cgroups: create", path=setup.root_dir,
                             fix=f"run without {', '.join(flags)}, or enable the controller "
                                 f"({'cgroup_enable=' + missing[0] + ' on the kernel command line' if setup.driver == 'v1' else 'echo +' + missing[0] + ' > ' + setup.root_dir + '/cgroup.subtree_control'})")
    g = driver_for(setup)(name, setup, parent)
    if g.exists():
        raise ContainerError(f"a cgroup named {name!r} already exists", step="cgroups: create", path=g.main_dir,
                             fix="choose another name, or `minicontainer reset` to remove leftovers")
    try:
        g.make(limits)
    except BaseException:
        g.remove()
        raise
    return g


def namespace_mounts(setup: Setup) -> list[tuple[str, str, str]]:
    """What a container mounts at /sys/fs/cgroup to see its own group, as Docker's containers do.

    Inside a cgroup namespace, a cgroup filesystem mounted by PID 1 shows PID 1's group as its root:
    the container sees its own limits (memory.max, pids.max ...) and nothing of the host's groups.
    Returns (directory under /sys/fs/cgroup, filesystem type, mount options) for each mount:

      v2          [("", "cgroup2", "")]                       the unified tree at /sys/fs/cgroup itself
      v1, hybrid  [("memory", "cgroup", "memory"), ("cpu", "cgroup", "cpu"), ...]
                  one per hierarchy the container's group is in, on a tmpfs (the host's options:
                  co-mounted controllers such as "cpu,cpuacct" must be mounted together)
    """
    if setup.driver == "v2":
        return [("", "cgroup2", "")]
    from ..mountinfo import read
    options = {}
    for m in read():
        if m.fstype == "cgroup":
            keep = [o for o in m.super_options.split(",") if o not in ("rw", "ro") and not o.startswith("release_agent=")]
            options[m.point] = ",".join(keep)
    out, seen = [], set()
    for controller, d in sorted(setup.controller_dirs.items()):
        real = os.path.realpath(d)
        if real not in seen:
            seen.add(real)
            out.append((os.path.basename(d), "cgroup", options.get(d) or options.get(real) or controller))
    return out


def remove(name: str, *, root: str | Path = CGROUP_ROOT, parent: str = CGROUP_PARENT) -> Stats | None:
    """Kill and remove the group `name` if it exists (idempotent). Returns its last stats."""
    try:
        setup = detect(root)
    except ContainerError:
        return None
    return group(name, setup=setup, parent=parent).remove()


def names(*, root: str | Path = CGROUP_ROOT, parent: str = CGROUP_PARENT) -> list[str]:
    """The groups under the course's parent, in every hierarchy."""
    found: set[str] = set()
    for base in parent_dirs(detect(root), parent):
        if os.path.isdir(base):
            found.update(e.name for e in os.scandir(base) if e.is_dir(follow_symlinks=False))
    return sorted(found)


def parent_dirs(setup: Setup, parent: str = CGROUP_PARENT) -> set[str]:
    """The course's parent directory in every hierarchy (and at the root of a cgroup2 mount)."""
    return {os.path.join(d, parent) for d in setup.controller_dirs.values()} | {os.path.join(setup.root_dir, parent)}


def sweep(paths: Paths | None = None, *, root: str | Path = CGROUP_ROOT, parent: str = CGROUP_PARENT,
          everything: bool | None = None) -> list[str]:
    """`minicontainer reset`: kill and remove the course's groups that a crashed runtime left.

    With the machine's default state directory (or `everything=True`) every group under the parent
    goes, then the parent itself. A private instance (tests, MC_RUN_DIR elsewhere) removes only the
    groups of its own containers, so that it never kills the containers of another instance.
    """
    try:
        setup = detect(root)
    except ContainerError:
        return []
    if everything is None:
        everything = (paths is None or os.path.normpath(paths.run_root) == os.path.normpath(DEFAULT_RUN_DIR)
                      or parent != CGROUP_PARENT)
    done = []
    for name in names(root=root, parent=parent):
        if everything or (paths is not None and os.path.exists(os.path.join(paths.containers_root, name))):
            group(name, setup=setup, parent=parent).remove()
            done.append(f"removed cgroup {parent}/{name}")
    if not everything:
        return done
    bases = parent_dirs(setup, parent)
    if setup.version == "hybrid":
        bases.add(os.path.join(setup.root_dir, "unified", parent))
    for base in sorted(bases):
        try:
            os.rmdir(base)
        except OSError:  # missing, or another runtime made a group meanwhile
            pass
    return done


def human_bytes(n: int | None) -> str:
    """1536 -> '1.5KiB', as `docker stats` shows sizes."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{n}B"
