"""Checks for lesson 03 (cgroups). Run them with `make check EX=03`, or `check("3.2")` in the notebook.

3.2 and 3.3 give exact files for Docker's flags, and on a host of that version the kernel gets them:
a real group, made and removed by the check, limited by your files. (This host has one version:
the other one's real check is skipped, and counts neither way.) 3.4 reads a real group too, and
files as a v2 or v1 host writes them. The milestone runs your runtime: `minicontainer --yours=03`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from minicontainer import cgroups
from minicontainer.cgroups import Limits
from minicontainer.errors import UsageError

SETUP = cgroups.detect() if cgroups.available() else None


@pytest.mark.exercise("3.1")
@pytest.mark.parametrize("text, expected", [("512m", 512 << 20), ("1g", 1 << 30), ("64K", 64 << 10), ("100", 100),
                                            ("512mb", 512 << 20), ("2G", 2 << 30), ("1.5g", 3 << 29),
                                            (" 32 MiB ", 32 << 20), (4096, 4096)])
def test_parse_bytes_reads_dockers_units(ex, text, expected):
    got = ex.parse_bytes(text)
    assert got == expected, f"parse_bytes({text!r}) returned {got!r}, expected {expected} bytes"


@pytest.mark.exercise("3.1")
@pytest.mark.parametrize("text", ["12x", "m", "", "1.5.3g", "-5m", "5mm"])
def test_parse_bytes_refuses_what_docker_refuses(ex, text):
    with pytest.raises(UsageError, match="--memory-swap"):
        ex.parse_bytes(text, "--memory-swap")
        pytest.fail(f"parse_bytes({text!r}) returned a size; expected a UsageError naming the flag")


V1_ALL = [("memory", "memory.limit_in_bytes", str(64 << 20), "--memory"),
          ("memory", "memory.memsw.limit_in_bytes", str(128 << 20), "--memory-swap"),
          ("cpu", "cpu.cfs_period_us", "100000", "--cpus"), ("cpu", "cpu.cfs_quota_us", "50000", "--cpus"),
          ("cpu", "cpu.shares", "512", "--cpu-shares"), ("cpuset", "cpuset.cpus", "0", "--cpuset-cpus"),
          ("pids", "pids.max", "20", "--pids-limit")]


@pytest.mark.exercise("3.2")
def test_v1_limit_files_for_each_flag(ex):
    every = Limits.parse(memory="64m", cpus="0.5", cpu_shares="512", cpuset_cpus="0", pids_limit=20)
    got = [tuple(f) for f in ex.v1_limit_files(every, True)]
    assert got == V1_ALL, f"v1_limit_files(-m 64m --cpus 0.5 --cpu-shares 512 --cpuset-cpus 0 --pids-limit 20) gave\n{got}\nexpected\n{V1_ALL}"
    got = [tuple(f) for f in ex.v1_limit_files(Limits.parse(memory="64m", memory_swap="100m"), True)]
    assert got[1] == ("memory", "memory.memsw.limit_in_bytes", str(100 << 20), "--memory-swap"), \
        f"with --memory-swap 100m the memsw file is {got[1:2]}; expected memory + swap = {100 << 20}"
    got = [tuple(f) for f in ex.v1_limit_files(Limits.parse(memory="64m"), False)]
    assert got == V1_ALL[:1], f"without swap accounting, -m 64m gives {got}; expected only memory.limit_in_bytes"
    assert list(ex.v1_limit_files(Limits(), True)) == [], "no limits: no file to write"


V2_ALL = [("memory.max", str(64 << 20), "--memory"), ("memory.swap.max", str(64 << 20), "--memory"),
          ("cpu.max", "150000 100000", "--cpus"), ("cpu.weight", "20", "--cpu-shares"),
          ("cpuset.cpus", "0-1", "--cpuset-cpus"), ("pids.max", "20", "--pids-limit")]


@pytest.mark.exercise("3.3")
def test_v2_limit_files_for_each_flag(ex):
    every = Limits(memory=64 << 20, cpus=1.5, cpu_shares=512, cpuset_cpus="0-1", pids_limit=20)
    got = [tuple(f) for f in ex.v2_limit_files(every, True)]
    assert got == V2_ALL, f"v2_limit_files(-m 64m --cpus 1.5 --cpu-shares 512 --cpuset-cpus 0-1 --pids-limit 20) gave\n{got}\nexpected\n{V2_ALL}"
    got = [tuple(f) for f in ex.v2_limit_files(Limits(memory=64 << 20, memory_swap=96 << 20), True)]
    assert got == [("memory.max", str(64 << 20), "--memory"), ("memory.swap.max", str(32 << 20), "--memory-swap")], \
        f"-m 64m --memory-swap 96m gave {got}: v2 limits swap alone (96m - 64m)"
    got = [tuple(f) for f in ex.v2_limit_files(Limits(memory=64 << 20, memory_swap=-1), False)]
    assert got[1:] == [("memory.swap.max", "max", "--memory-swap")], f"--memory-swap -1 gave {got[1:]}; expected 'max'"
    got = [tuple(f) for f in ex.v2_limit_files(Limits(memory=64 << 20), False)]
    assert got == V2_ALL[:1], f"without swap, -m 64m gives {got}; expected only memory.max"


def _real_group(version: str):
    if SETUP is None or SETUP.driver != version:
        pytest.skip(f"this host's cgroups are not {version}: the exact files above are the check")
    return cgroups.group(f"check-{os.getpid()}-{time.monotonic_ns()}")


def _hog_survives(group, limit_bytes: int) -> bool:
    hog = subprocess.Popen([sys.executable, "-c", f"x = bytearray({4 * limit_bytes})"], preexec_fn=lambda: group.add(os.getpid()))
    return hog.wait(timeout=60) == 0


@pytest.mark.exercise("3.2")
def test_v1_files_are_accepted_and_enforced_by_the_kernel(ex, monkeypatch):
    group = _real_group("v1")
    from minicontainer.cgroups import v1
    monkeypatch.setattr(v1, "limit_files", ex.v1_limit_files)  # the runtime's driver, with your files
    try:
        group.make(Limits.parse(memory="16m", cpus="0.5", pids_limit=30))
        stats = group.stats()
        assert stats.memory_limit == 16 << 20 and stats.pids_limit == 30, f"the kernel shows {stats}"
        assert not _hog_survives(group, 16 << 20), "a process using 64 MiB survived the 16 MiB limit your files set"
    finally:
        group.remove()


@pytest.mark.exercise("3.3")
def test_v2_files_are_accepted_and_enforced_by_the_kernel(ex, monkeypatch):
    group = _real_group("v2")
    from minicontainer.cgroups import v2
    monkeypatch.setattr(v2, "limit_files", ex.v2_limit_files)
    try:
        group.make(Limits.parse(memory="16m", cpus="0.5", pids_limit=30))
        stats = group.stats()
        assert stats.memory_limit == 16 << 20 and stats.pids_limit == 30, f"the kernel shows {stats}"
        assert not _hog_survives(group, 16 << 20), "a process using 64 MiB survived the 16 MiB limit your files set"
    finally:
        group.remove()


V2_FILES = {"memory.current": "52428800\n", "memory.stat": "anon 41943040\nfile 10485760\ninactive_file 2097152\n",
            "memory.max": "max\n", "memory.events": "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n",
            "cpu.stat": "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n", "pids.current": "3\n",
            "pids.max": "20\n"}
V1_FILES = {"memory.usage_in_bytes": "8388608\n", "memory.stat": "cache 0\ntotal_inactive_file 1048576\n",
            "memory.limit_in_bytes": "9223372036854771712\n", "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
            "cpuacct.usage": "1500000000\n", "pids.current": "2\n", "pids.max": "max\n"}


@pytest.mark.exercise("3.4")
@pytest.mark.parametrize("version, files, expected", [
    ("v2", V2_FILES, {"memory": 50331648, "memory_limit": None, "cpu_usage": 2.5, "pids": 3, "pids_limit": 20, "oom_kills": 2}),
    ("v1", V1_FILES, {"memory": 7340032, "memory_limit": None, "cpu_usage": 1.5, "pids": 2, "pids_limit": None, "oom_kills": 1}),
    ("v2", {"pids.current": "1\n"}, {"memory": None, "memory_limit": None, "cpu_usage": None, "pids": 1, "pids_limit": None,
                                     "oom_kills": None}),
])
def test_read_usage_of_files_as_the_kernel_writes_them(ex, version, files, expected):
    got = ex.read_usage(dict(files), version)
    wrong = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
    assert not wrong, f"read_usage(..., {version!r}) gave {{key: (yours, expected)}}: {wrong}"


@pytest.mark.exercise("3.4")
def test_read_usage_of_a_real_group(ex):
    if SETUP is None:
        pytest.skip("no cgroups on this host")
    group = cgroups.create(f"check-{os.getpid()}", Limits.parse(memory="64m", pids_limit=10))
    try:
        sleeper = subprocess.Popen(["sleep", "30"], preexec_fn=lambda: group.add(os.getpid()))
        try:
            files: dict[str, str] = {}
            if SETUP.driver == "v1":
                dirs = group.controller_dirs()
                for controller, names in cgroups.USAGE_FILES["v1"].items():
                    if controller in dirs:
                        cgroups.read_files(dirs[controller], names, files)
            else:
                cgroups.read_files(group.main_dir, cgroups.USAGE_FILES["v2"][""], files)
            got = ex.read_usage(files, SETUP.driver)
            want = cgroups.read_usage(files, SETUP.driver)
        finally:
            sleeper.kill()
            sleeper.wait()
    finally:
        group.remove()
    assert got == want, f"on this host's real group ({SETUP.driver}) read_usage gave {got}; expected {want}"


# --- the milestone: your runtime -----------------------------------------------------------------

@pytest.mark.milestone("your runtime limited containers: an OOM kill at -m 32m, forks stopped by --pids-limit")
def test_milestone_your_runtime_enforces_limits(yours):
    hog = yours("run", "--rm", "-m", "32m", "busybox", "dd", "if=/dev/zero", "of=/dev/shm/fill", "bs=1M", "count=100",
                ok={137}, why="a container writing 100 MiB to its /dev/shm under -m 32m must be OOM-killed: 137")
    assert "OOM killer" in hog.stderr, f"the runtime did not say the OOM killer struck (your read_usage's oom_kills?): {hog.stderr.strip()[-200:]}"
    forks = yours("run", "--rm", "--pids-limit", "10", "busybox", "sh", "-c",
                  "i=0; while [ $i -lt 30 ]; do sleep 3 & i=$((i+1)); echo $i; done", ok={2},
                  why="its shell forks until the kernel refuses, then exits 2")
    started = len(forks.stdout.split())
    assert started <= 9 and "can't fork" in forks.stderr, \
        f"under --pids-limit 10 the shell started {started} background processes ({forks.stderr.strip()[-100:]}); " \
        "expected at most 9 (10 tasks with the shell, PID 1), then `can't fork`"
    assert subprocess.run(["true"]).returncode == 0, "the host cannot fork any more!"
    name = f"mc-m03-{os.getpid()}"
    yours("run", "-d", "--init", "--name", name, "-m", "64m", "busybox", "sleep", "60")
    try:
        out = yours("stats", "--no-stream", name).stdout.splitlines()
        row = next((line.split() for line in out if name[:16] in line), [])
        assert row, f"`stats` does not list the container {name}: {out}"
        usage = " ".join(row[3:6])
        assert re.fullmatch(r"\d+(\.\d+)?(B|KiB|MiB) / 64\.0MiB", usage), \
            f"`stats` shows memory {usage!r}; expected a few MiB of 64.0MiB (-m 64m; your read_usage, 3.4)"
        assert row[-2] == "2", f"`stats` shows {row[-2]} tasks in a container running init and sleep; expected 2"
    finally:
        yours("rm", "-f", name, ok=False)
