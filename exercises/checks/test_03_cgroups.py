"""Checks for lesson 03 (cgroups). Run them with `make check EX=03`, or `check("3.2")` in the notebook.

The v1 checks use real groups on this host's v1 controllers (made and removed by the fixture). The v2
checks use a FAKE group directory (a temporary directory with the files a v2 group has), because a
v1 host has no v2 memory or cpu controller to write to.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from minicontainer import cgroups


@pytest.fixture
def v1_group():
    """A real cgroup for this check (v1 or v2, whatever the host has), removed afterwards.

    Made with generous limits so that on v2 the memory and cpu controllers are delegated to it."""
    group = cgroups.create(f"check-{os.getpid()}", cgroups.Limits.parse(memory="1g", cpus="1"))
    try:
        yield group
    finally:
        group.remove()


def fake_v2(tmp_path: Path) -> Path:
    """FAKE: the files of a v2 group, as a plain directory (this host's cgroup2 has no memory controller)."""
    (tmp_path / "memory.max").write_text("max\n")
    (tmp_path / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n")
    return tmp_path


@pytest.mark.exercise("3.1")
@pytest.mark.parametrize("text, expected", [("512m", 512 * 2**20), ("1g", 2**30), ("64K", 64 * 1024),
                                            ("100", 100), ("512mb", 512 * 2**20), ("2G", 2 * 2**30)])
def test_parse_memory_reads_dockers_units(ex, text, expected):
    got = ex.parse_memory(text)
    assert got == expected, f"parse_memory({text!r}) returned {got!r}, expected {expected} bytes"


@pytest.mark.exercise("3.1")
@pytest.mark.parametrize("text", ["12x", "m", "", "1.5.3g"])
def test_parse_memory_refuses_unknown_units(ex, text):
    with pytest.raises(ValueError):
        ex.parse_memory(text)


@pytest.mark.exercise("3.2")
def test_join_moves_a_process_into_the_group(ex, v1_group):
    proc = subprocess.Popen(["sleep", "30"])
    try:
        for directory in v1_group.dirs():
            ex.join(directory, proc.pid)
        assert proc.pid in v1_group.procs(), (
            f"after join(..., {proc.pid}) the group's cgroup.procs lists {v1_group.procs()}: write the PID to cgroup.procs")
        lines = Path(f"/proc/{proc.pid}/cgroup").read_text()
        assert f"/minicontainer/{v1_group.name}" in lines, f"/proc/{proc.pid}/cgroup says:\n{lines}"
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.exercise("3.3")
def test_set_memory_limit_on_v1_is_enforced(ex, v1_group):
    memory = v1_group.setup.controllers.get("memory")
    directory = memory / "minicontainer" / v1_group.name if v1_group.setup.driver == "v1" else v1_group.path
    ex.set_memory_limit(directory, 16 * 2**20, v1_group.setup.driver)
    assert v1_group.stats().memory_limit == 16 * 2**20, "the kernel does not show the 16 MiB limit"
    hog = subprocess.Popen([sys.executable, "-c", "x = bytearray(64 << 20)"],
                           preexec_fn=lambda: v1_group.add(os.getpid()))
    assert hog.wait(timeout=30) == -9, "a process using 64 MiB survived a 16 MiB limit"


@pytest.mark.exercise("3.3")
def test_set_memory_limit_on_v2_writes_memory_max(ex, tmp_path):
    group = fake_v2(tmp_path)
    ex.set_memory_limit(group, 32 * 2**20, "v2")
    got = (group / "memory.max").read_text().strip()
    assert got == str(32 * 2**20), f"memory.max contains {got!r}, expected '{32 * 2**20}'"


@pytest.mark.exercise("3.4")
def test_cpu_limit_files_for_v1_and_v2(ex):
    v1 = ex.cpu_limit_files(0.5, "v1")
    assert v1 == {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "50000"}, f"cpu_limit_files(0.5, 'v1') = {v1}"
    v2 = ex.cpu_limit_files(1.5, "v2")
    assert v2 == {"cpu.max": "150000 100000"}, f"cpu_limit_files(1.5, 'v2') = {v2}"
    assert ex.cpu_limit_files(0.25, "v2", period=200_000) == {"cpu.max": "50000 200000"}


@pytest.mark.exercise("3.4")
def test_cpu_limit_files_are_accepted_by_the_kernel(ex, v1_group):
    if v1_group.setup.driver != "v1":
        pytest.skip("the v2 files are checked above")
    directory = v1_group.setup.controllers["cpu"] / "minicontainer" / v1_group.name
    for name, value in ex.cpu_limit_files(0.5, "v1").items():
        (directory / name).write_text(value)
    assert (directory / "cpu.cfs_quota_us").read_text().strip() == "50000"


@pytest.mark.exercise("3.5")
def test_oom_kills_counts_a_real_oom_kill_on_v1(ex, v1_group):
    if v1_group.setup.driver != "v1":
        pytest.skip("a v2 host: see the v2 check")
    memory = v1_group.setup.controllers["memory"] / "minicontainer" / v1_group.name
    assert ex.oom_kills(memory, "v1") == 0, "a new group has had no OOM kill"
    (memory / "memory.limit_in_bytes").write_text(str(16 * 2**20))
    hog = subprocess.Popen([sys.executable, "-c", "x = bytearray(64 << 20)"],
                           preexec_fn=lambda: v1_group.add(os.getpid()))
    hog.wait(timeout=30)
    got = ex.oom_kills(memory, "v1")
    assert got == 1, f"oom_kills returned {got} after one OOM kill (memory.oom_control: {(memory / 'memory.oom_control').read_text()!r})"


@pytest.mark.exercise("3.5")
def test_oom_kills_reads_memory_events_on_v2(ex, tmp_path):
    got = ex.oom_kills(fake_v2(tmp_path), "v2")
    assert got == 2, f"oom_kills on a v2 group whose memory.events says 'oom_kill 2' returned {got}"
