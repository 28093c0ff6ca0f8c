"""The mount table, read from /proc/self/mountinfo (lessons 01, 02 and 04).

Every line of /proc/PID/mountinfo describes one mount of that process's mount namespace:

    36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
    |  |  |    |     |     |          |          | |    |         |
    id parent  root  mount options    optional   - type source    super options
          dev        point (per mount) fields      (per filesystem)

Spaces, tabs, newlines and backslashes in paths are written as octal escapes (`\\040` for a space).
This is the one reader of that file in the package: runtime, doctor, union filesystems and tests.
"""

from __future__ import annotations

from .record import Record  # a dataclass without importing dataclasses: saves ~13 ms a run (bench/bench_start_tricks.py)


class Mount(Record, frozen=True):
    """One line of mountinfo."""

    point: str            # where it is mounted
    fstype: str           # "ext4", "overlay", "cgroup2", ...
    source: str           # "/dev/vda", "overlay", "tmpfs", ...
    options: str = ""     # per-mount options: "rw,nosuid,nodev,noexec,relatime"
    super_options: str = ""  # the filesystem's own: "rw,memory" for a cgroup v1 hierarchy
    root: str = "/"       # the directory of the filesystem mounted there (a bind mount's source)


def unescape(text: str) -> str:
    """Undo the kernel's octal escapes (`\\040` -> space, `\\011` tab, `\\012` newline, `\\134` backslash)."""
    return text.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def parse(text: str) -> list[Mount]:
    """The mounts of a mountinfo text, in the order the kernel lists them (parents before children)."""
    out = []
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields, after = left.split(), right.split()
        if len(fields) < 6 or not after:
            continue
        fstype, source, super_options = (after + ["", "", ""])[:3]
        out.append(Mount(unescape(fields[4]), fstype, unescape(source), fields[5], super_options,
                         unescape(fields[3])))
    return out


def read(path: str = "/proc/self/mountinfo") -> list[Mount]:
    """The mounts of this process's mount namespace (or of another process: /proc/PID/mountinfo)."""
    with open(path) as f:
        return parse(f.read())


def mount_of(path: str, mounts: list[Mount] | None = None) -> Mount | None:
    """The mount that holds `path`: the last-listed one with the longest mount point above it."""
    import os
    path = os.path.realpath(path)
    best = None
    for m in read() if mounts is None else mounts:
        if path == m.point or path.startswith(m.point.rstrip("/") + "/"):
            if best is None or len(m.point) >= len(best.point):
                best = m
    return best
