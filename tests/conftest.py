"""Fixtures shared by the package tests: private state directories and the default rootfs.

The tests run as root on the real kernel. Each test gets its own MC_LIB_DIR / MC_RUN_DIR so that
nothing it makes can touch the learner's containers, and so leftovers are easy to spot.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from minicontainer.paths import DEFAULT_LIB_DIR, Paths
from minicontainer.rootfs import ensure_default_rootfs


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    """A private lib/run directory pair, also exported to child processes via MC_LIB_DIR/MC_RUN_DIR."""
    p = Paths(lib_dir=tmp_path / "lib", run_dir=tmp_path / "run")
    p.lib_dir.mkdir()
    p.run_dir.mkdir()
    monkeypatch.setenv("MC_LIB_DIR", str(p.lib_dir))
    monkeypatch.setenv("MC_RUN_DIR", str(p.run_dir))
    return p


@pytest.fixture(scope="session")
def busybox_rootfs() -> Path:
    """The course's default busybox rootfs (built once by `make test`; built here if missing)."""
    return ensure_default_rootfs(Path(os.environ.get("MC_LIB_DIR", DEFAULT_LIB_DIR)) / "rootfs" / "busybox")
