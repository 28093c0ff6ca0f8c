"""The resource monitor widget on real containers: it samples in the background, marks OOM kills,
stops when the container exits, and falls back to text without ipywidgets (lesson 03)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from minicontainer import cgroups, container
from minicontainer.widgets import resources
from minicontainer.widgets.resources import render_png, resource_monitor

# The shell grows a variable by 1 MB per step and forks nothing while it grows: a fork of a big shell
# (a `$(...)` in the loop) is as big as the shell, so the OOM killer could pick the fork first and a
# second kill followed (seen under load: "OOM kills 2").
HOG = "sleep 2; y=$(head -c 1000000 /dev/zero | tr '\\000' a); x=; while :; do x=\"$x$y\"; done"


@pytest.fixture(autouse=True)
def _cleanup(paths):
    yield
    container.sweep(paths)


def run_detached(rootfs: Path, *args: str) -> str:
    launcher = Path(sys.executable).parent / "minicontainer"
    out = subprocess.run([str(launcher), "run", "-d", *args[:-1], "--rootfs", str(rootfs), "sh", "-c", args[-1]],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_monitor_marks_the_oom_kill_and_stops_when_the_container_exits(paths, busybox_rootfs):
    run_detached(busybox_rootfs, "--name", "hog", "-m", "32m", HOG)
    monitor = resource_monitor("hog", interval=0.05, redraw=0.2)
    monitor.wait(timeout=30)
    assert not monitor.running and monitor.status == "exited"
    assert monitor.oom_times, f"no OOM kill marked: {monitor.text()}"
    assert monitor.memory_limit == 32 << 20
    assert max(s.memory or 0 for s in monitor.samples) <= 32 << 20
    assert render_png(monitor).startswith(b"\x89PNG")
    assert "OOM kills 1" in monitor.summary()  # one big process (HOG forks nothing while it grows): one kill


def test_monitor_returns_at_once_and_can_be_stopped(paths, busybox_rootfs):
    cid = run_detached(busybox_rootfs, "--pids-limit", "30", "sleep 30")
    monitor = resource_monitor(cid, interval=0.05)
    assert monitor.running  # the caller (the notebook's kernel) is not blocked
    monitor.stop()
    assert not monitor.running and monitor.status == "stopped"
    assert monitor.samples and monitor.samples[-1].pids >= 1 and monitor.pids_limit == 30
    bundle = monitor._repr_mimebundle_()
    assert bundle["text/plain"].startswith("resource monitor for")


def test_without_ipywidgets_the_monitor_is_text(paths, busybox_rootfs, monkeypatch):
    monkeypatch.setattr(resources, "_make_widgets", lambda monitor: None)
    cid = run_detached(busybox_rootfs, "-m", "64m", "sleep 30")
    monitor = resource_monitor(cid, interval=0.05)
    monitor.stop()
    assert monitor._repr_mimebundle_() == {"text/plain": monitor.text()}
    assert "memory" in monitor.text() and "of 64.0MiB" in monitor.text()
    assert cgroups.group(cid).exists()
