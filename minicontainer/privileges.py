"""Who we are and what we may do: root, capabilities, rootless (lesson 00).

A learner who forgets `sudo` gets one clear sentence, never a traceback from deep in a syscall.
"""

from __future__ import annotations

import os

from .errors import NeedsRoot

CAP_SYS_ADMIN = 21


def is_root() -> bool:
    """True when the effective user is root."""
    return os.geteuid() == 0


def has_capability(cap: int, pid: str = "self") -> bool:
    """Whether the process has `cap` in its effective set (read from /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> cap & 1)
    return False


def require_root(step: str) -> None:
    """Raise NeedsRoot (with the fix) unless we are root with CAP_SYS_ADMIN."""
    if not is_root() or not has_capability(CAP_SYS_ADMIN):
        raise NeedsRoot(step)
