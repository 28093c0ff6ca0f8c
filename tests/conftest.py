"""Fixtures shared by the package tests: private state directories and the default rootfs.

The tests run as root on the real kernel. Each test gets its own MC_LIB_DIR / MC_RUN_DIR so that
nothing it makes can touch the learner's containers, and so leftovers are easy to spot.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hypothesis import HealthCheck, settings

from minicontainer.paths import DEFAULT_LIB_DIR, Paths
from minicontainer.rootfs import ensure_default_rootfs

# Property tests: no per-example deadline and no "too slow to generate" health check. Both time the
# machine, not the code, and fail a property that holds when a busy CI runner is slow.
settings.register_profile("minicontainer", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("minicontainer")


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    """A private lib/run directory pair, also exported to child processes via MC_LIB_DIR/MC_RUN_DIR.

    And a daemon.json (MC_DAEMON_JSON) with `"bridge": "none"`, Docker's setting for a daemon without
    a default bridge: a `run` that names no --network gets none here. Every test has its own run
    directory, so its own address leases; tests running at the same time must not share one default
    bridge (mc0) with separate leases. The tests of the network use their own bridges (MC_BRIDGE), and
    the tests of the default itself clear this (test_default_network.py)."""
    p = Paths(lib_dir=tmp_path / "lib", run_dir=tmp_path / "run")
    p.lib_dir.mkdir()
    p.run_dir.mkdir()
    monkeypatch.setenv("MC_LIB_DIR", str(p.lib_dir))
    monkeypatch.setenv("MC_RUN_DIR", str(p.run_dir))
    daemon_json = tmp_path / "daemon.json"
    daemon_json.write_text('{"bridge": "none"}\n')
    monkeypatch.setenv("MC_DAEMON_JSON", str(daemon_json))
    return p


@pytest.fixture(scope="session")
def busybox_rootfs():
    """A copy of the course's default busybox rootfs (built once by `make test`; built here if missing).

    A copy: `run --rootfs DIR -v SRC:/www` makes the mount point /www in DIR, as runc does in a
    bundle's rootfs. On the shared rootfs that would change the default image (it follows its
    rootfs): a lesson would then see an image with a /www that a fresh machine's has not."""
    import shutil
    import tempfile

    shared = ensure_default_rootfs(Path(os.environ.get("MC_LIB_DIR", DEFAULT_LIB_DIR)) / "rootfs" / "busybox")
    top = Path(tempfile.mkdtemp(prefix="mc-rootfs-"))
    top.chmod(0o755)   # tests that run as nobody use it too
    shutil.copytree(shared, top / "busybox", symlinks=True)
    yield top / "busybox"
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="session")
def readable_root():
    """A copy of the package that any user can import, for tests that run commands as `nobody`.

    A learner's checkout may sit under /root (mode 700, as in `make test-vm`): there `nobody` could
    not even import the package, and a test would see Python's error instead of ours."""
    import shutil
    import tempfile
    top = Path(tempfile.mkdtemp(prefix="mc-readable-"))
    top.chmod(0o755)
    shutil.copytree(Path(__file__).resolve().parents[1] / "minicontainer", top / "minicontainer",
                    ignore=shutil.ignore_patterns("__pycache__"))
    yield str(top)
    shutil.rmtree(top, ignore_errors=True)


# --- nothing left behind ------------------------------------------------------------------------

def leftovers() -> dict[str, list[str]]:
    """What the runtime could leave on the host: mounts, populated minicontainer cgroups, veths, netns."""
    import subprocess

    mounts = [line.split(" - ")[0].split()[4] for line in open("/proc/self/mountinfo")
              if "minicontainer" in line or " - overlay " in line]
    cgroups = []
    for base in [*Path("/sys/fs/cgroup").glob("*/minicontainer*"), *Path("/sys/fs/cgroup").glob("minicontainer*")]:
        # os.walk, not rglob: a group that goes while we walk (another runtime's) is skipped, not an error
        cgroups += [top for top, _, _ in os.walk(base) if top != str(base)]
    veths = subprocess.run(["ip", "-o", "link", "show", "type", "veth"], capture_output=True, text=True).stdout.splitlines()
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.splitlines()
    return {"mounts": sorted(mounts), "cgroups": sorted(cgroups), "veths": veths, "netns": netns}


def pytest_sessionstart(session):
    session.config._mc_leftovers_before = leftovers()
    if os.environ.get("MC_IMPL"):  # the second pass of tests/test_seams.py: the runtime runs the solutions
        from minicontainer import seams
        seams.use()


def pytest_sessionfinish(session, exitstatus):
    """Fail the run if the tests left mounts, cgroups or network devices on the host."""
    before = getattr(session.config, "_mc_leftovers_before", None)
    if before is None:
        return
    import time
    deadline = time.monotonic() + 3  # the kernel frees a dead network namespace's veth a moment later (a workqueue)
    while True:
        after = leftovers()
        new = {kind: [x for x in items if x not in before[kind]] for kind, items in after.items()}
        new = {kind: items for kind, items in new.items() if items}
        if not new or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if new:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.write_line(f"LEFTOVERS after the tests (a cleanup bug): {new}", red=True)
        session.exitstatus = 1
