"""The course's footprint on a machine: what `make lab` prepares and what `reset` removes (lesson 00).

`prepare()` builds what the lessons need offline (the default busybox image) once.
`reset()` removes everything the course made: it asks each part of the runtime to sweep what it
owns (containers first, then mounts, cgroups, network devices, the lab registry), then deletes
the state directories. It is also how a crashed runtime's leftovers are collected.
"""

from __future__ import annotations

import importlib
import shutil

from .paths import Paths

# Each module may define `sweep(paths) -> list[str]`: remove what it owns, say what it removed.
# Order matters: processes before the mounts they hold, mounts before the directories under them.
SWEEPERS = ["machine", "monitor", "oci.runtime", "unionfs", "cgroups", "network", "registry", "image"]


def prepare(paths: Paths | None = None) -> list[str]:
    """Build the offline default image if it is missing. Returns what was done."""
    from .rootfs import ensure_default_rootfs

    paths = paths or Paths.from_env()
    done = []
    existed = (paths.default_rootfs / "bin" / "busybox").is_file()
    ensure_default_rootfs(paths.default_rootfs)
    done.append(f"default rootfs {'present' if existed else 'built'} at {paths.default_rootfs}")
    try:
        image = importlib.import_module(".image", __package__)
    except ModuleNotFoundError:
        image = None
    if image is not None and hasattr(image, "prepare_default_image"):
        done.append(image.prepare_default_image(paths))
    return done


def reset(paths: Paths | None = None, remove_images: bool = True) -> list[str]:
    """Remove every container, mount, cgroup, network device and file the course made."""
    paths = paths or Paths.from_env()
    removed: list[str] = []
    for name in SWEEPERS:
        try:
            module = importlib.import_module(f".{name}", __package__)
        except ModuleNotFoundError:
            continue
        sweep = getattr(module, "sweep", None)
        if sweep is not None:
            removed.extend(sweep(paths))
    for directory in [paths.run_dir] + ([paths.lib_dir] if remove_images else []):
        if directory.exists():
            shutil.rmtree(directory)
            removed.append(f"removed {directory}")
    return removed
