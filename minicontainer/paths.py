"""Where the runtime keeps things on the host (all lessons).

Paths are parameters, never constants buried in code: tests and notebooks point them at a
temporary directory, and an instructor's `minicontainer reset` knows exactly what to remove.

  lib_dir   /var/lib/minicontainer   images, layers, the default busybox rootfs   (MC_LIB_DIR)
  run_dir   /run/minicontainer       state of running containers (gone at reboot)  (MC_RUN_DIR)
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_LIB_DIR = "/var/lib/minicontainer"
DEFAULT_RUN_DIR = "/run/minicontainer"

# The cgroup every container's group lives under (v1: in each controller; v2: in the unified tree).
CGROUP_PARENT = "minicontainer"


class Paths:
    """The host directories one runtime instance uses.

    (A plain class rather than a dataclass: `run` imports this, and `dataclasses` costs it 10-15 ms.)
    """

    def __init__(self, lib_dir: Path, run_dir: Path) -> None:
        self.lib_dir = Path(lib_dir)
        self.run_dir = Path(run_dir)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Paths) and (self.lib_dir, self.run_dir) == (other.lib_dir, other.run_dir)

    def __hash__(self) -> int:
        return hash((self.lib_dir, self.run_dir))

    def __repr__(self) -> str:
        return f"Paths(lib_dir={self.lib_dir!r}, run_dir={self.run_dir!r})"

    @classmethod
    def from_env(cls) -> "Paths":
        """The default paths, or the ones the MC_LIB_DIR / MC_RUN_DIR environment variables name."""
        return cls(
            lib_dir=Path(os.environ.get("MC_LIB_DIR", DEFAULT_LIB_DIR)),
            run_dir=Path(os.environ.get("MC_RUN_DIR", DEFAULT_RUN_DIR)),
        )

    @property
    def default_rootfs(self) -> Path:
        """The busybox root filesystem that `make lab` / `make test` build once (lesson 01)."""
        return self.lib_dir / "rootfs" / "busybox"

    @property
    def containers_dir(self) -> Path:
        """One directory per container: state.json, logs, its upper/work dirs."""
        return self.run_dir / "containers"


def repo_root() -> Path:
    """The course checkout this package was installed (editable) from."""
    return Path(__file__).resolve().parent.parent
