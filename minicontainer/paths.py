"""Where the runtime keeps things on the host (all lessons).

Paths are parameters, never constants buried in code: tests and notebooks point them at a
temporary directory, and an instructor's `minicontainer reset` knows exactly what to remove.

  lib_dir   /var/lib/minicontainer   images, layers, the default busybox rootfs   (MC_LIB_DIR)
  run_dir   /run/minicontainer       state of running containers (gone at reboot)  (MC_RUN_DIR)
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # (the type checker's view; at run time `run` never imports pathlib: see below)
    from pathlib import Path

DEFAULT_LIB_DIR = "/var/lib/minicontainer"
DEFAULT_RUN_DIR = "/run/minicontainer"

# The cgroup every container's group lives under (v1: in each controller; v2: in the unified tree).
CGROUP_PARENT = "minicontainer"


class Paths:
    """The host directories one runtime instance uses.

    The directories are kept as plain strings (`lib_root`, `run_root`, `containers_root`): `run`
    works with strings and os.path only, because importing `pathlib` (it imports `re`, `fnmatch`
    and `urllib.parse`) costs every `run` ~8 ms. `lib_dir`, `run_dir`,
    `containers_dir` and `default_rootfs` give the same directories as `pathlib.Path` objects, for
    everything that is not on the path of `run` (lessons, tests, the image store).
    (A plain class rather than a dataclass for the same reason: `dataclasses` costs ~13 ms.
    Both measured by bench/bench_start_tricks.py.)
    """

    def __init__(self, lib_dir: str | os.PathLike, run_dir: str | os.PathLike) -> None:
        self.lib_root = os.fspath(lib_dir)
        self.run_root = os.fspath(run_dir)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Paths) and (self.lib_root, self.run_root) == (other.lib_root, other.run_root)

    def __hash__(self) -> int:
        return hash((self.lib_root, self.run_root))

    def __repr__(self) -> str:
        return f"Paths(lib_dir={self.lib_root!r}, run_dir={self.run_root!r})"

    @classmethod
    def from_env(cls) -> "Paths":
        """The default paths, or the ones the MC_LIB_DIR / MC_RUN_DIR environment variables name."""
        return cls(os.environ.get("MC_LIB_DIR", DEFAULT_LIB_DIR), os.environ.get("MC_RUN_DIR", DEFAULT_RUN_DIR))

    @property
    def containers_root(self) -> str:
        """One directory per container: state.json, logs, its upper/work dirs."""
        return os.path.join(self.run_root, "containers")

    @property
    def lib_dir(self) -> Path:
        from pathlib import Path
        return Path(self.lib_root)

    @property
    def run_dir(self) -> Path:
        from pathlib import Path
        return Path(self.run_root)

    @property
    def default_rootfs(self) -> Path:
        """The busybox root filesystem that `make lab` / `make test` build once (lesson 01)."""
        return self.lib_dir / "rootfs" / "busybox"

    @property
    def containers_dir(self) -> Path:
        """containers_root as a Path."""
        return self.run_dir / "containers"


def default_paths() -> Paths:
    """Paths.from_env(); when not root and MC_RUN_DIR is unset, a run directory the user may write."""
    paths = Paths.from_env()
    if os.geteuid() != 0 and "MC_RUN_DIR" not in os.environ:
        base = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/minicontainer-{os.getuid()}"
        paths = Paths(paths.lib_root, os.path.join(base, "minicontainer"))
    return paths


def repo_root() -> Path:
    """The course checkout this package was installed (editable) from."""
    from pathlib import Path
    return Path(__file__).resolve().parent.parent
