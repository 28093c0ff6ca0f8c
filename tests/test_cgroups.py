"""minicontainer.cgroups without the kernel: Docker's units, detection and the v2 file protocol.

The v2 protocol tests run against a FAKE: a temporary directory tree shaped like /sys/fs/cgroup on a
v2 host. This machine is cgroup v1 hybrid: its cgroup2 mount carries no memory/cpu/pids controllers,
so a real v2 controller tree cannot exist here. The fake checks which files the driver writes and
how it reads them; the cgroup2 mechanics this kernel does offer (groups, cgroup.procs, cgroup.kill,
cgroup.events) are tested for real in test_cgroups_kernel.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicontainer import cgroups
from minicontainer.cgroups import Limits, detect, parse_bytes
from minicontainer.cgroups.v2 import shares_to_weight
from minicontainer.errors import ContainerError, UsageError


# --- Docker's units -------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("512m", 512 << 20), ("1g", 1 << 30), ("1G", 1 << 30), ("64k", 64 << 10), ("1048576", 1 << 20),
    ("1.5g", 3 << 29), ("512MiB", 512 << 20), ("100mb", 100 << 20), ("2b", 2), (4096, 4096),
])
def test_memory_units_are_parsed_like_docker(text, expected):
    assert parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["12x", "m", "-5m", "1.2.3g", "", "lots"])
def test_unknown_memory_units_are_refused_with_an_example(text):
    with pytest.raises(UsageError, match="512m"):
        parse_bytes(text)


# The package reads sizes and cpusets by hand (`re` would cost `run -m` its import); these regular
# expressions are the specification it must agree with.
SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$", re.IGNORECASE | re.ASCII)
CPUSET = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$", re.ASCII)
UNIT = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def by_regex(text: str) -> int | None:
    match = SIZE.match(text.strip())
    return int(float(match[1]) * UNIT[match[2].lower()]) if match else None


def by_package(text: str) -> int | None:
    try:
        return parse_bytes(text)
    except UsageError:
        return None


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="0123456789.kmgtpKMGTPiIbB -x\t", max_size=8))
def test_sizes_are_read_as_the_regular_expression_reads_them(text):
    assert by_package(text) == by_regex(text)


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet="0123-,9 a", max_size=8))
def test_cpusets_are_read_as_the_regular_expression_reads_them(text):
    assert cgroups.is_cpu_list(text) == bool(CPUSET.match(text))


def test_limits_from_docker_flags():
    lim = Limits.parse(memory="512m", memory_swap="1g", cpus="0.5", cpu_shares="512", cpuset_cpus="0",
                       pids_limit="20", host_cpus=2)
    assert lim == Limits(memory=512 << 20, memory_swap=1 << 30, cpus=0.5, cpu_shares=512, cpuset_cpus="0", pids_limit=20)
    assert lim.controllers() == {"memory", "cpu", "cpuset", "pids"}
    assert Limits.from_dict(lim.to_dict()) == lim
    assert Limits.parse(memory="64m", memory_swap="-1").memory_swap == -1
    assert Limits.parse(pids_limit="-1").pids_limit is None  # Docker: -1 (or 0) is unlimited
    assert Limits.parse().is_empty()


@pytest.mark.parametrize("kwargs, words", [
    ({"memory": "1b"}, "minimum memory limit is 6m"),
    ({"memory": "5m"}, "minimum memory limit"),
    ({"cpus": "0"}, "range of CPUs is from 0.01 to 2"),
    ({"cpus": "3"}, "range of CPUs"),
    ({"cpus": "half"}, "--cpus"),
    ({"cpu_shares": "1"}, "range is 2 to 262144"),
    ({"cpuset_cpus": "0-7"}, "CPU 2 does not exist"),
    ({"cpuset_cpus": "a,b"}, "--cpuset-cpus"),
    ({"memory_swap": "1g"}, "needs --memory"),
    ({"memory": "1g", "memory_swap": "512m"}, "smaller than --memory"),
    ({"pids_limit": "many"}, "--pids-limit"),
])
def test_limits_a_container_cannot_live_with_are_refused(kwargs, words):
    with pytest.raises(UsageError, match=words):
        Limits.parse(host_cpus=2, **kwargs)


def test_cpu_shares_become_v2_weights_as_runc_converts_them():
    assert shares_to_weight(2) == 1
    assert shares_to_weight(1024) == 39
    assert shares_to_weight(262144) == 10000


# --- detection, with the root as a parameter ------------------------------------------------

def make_v1(root: Path, controllers=("memory", "cpu", "cpuacct", "pids"), unified: str | None = None) -> Path:
    for c in controllers:
        (root / c).mkdir(parents=True)
        (root / c / "cgroup.procs").write_text("")
    if unified is not None:
        (root / "unified").mkdir()
        (root / "unified" / "cgroup.controllers").write_text(unified)
    return root


def make_v2(root: Path, controllers: str = "cpuset cpu io memory hugetlb pids") -> Path:
    """FAKE: a v2 root as the kernel shows it (only the files the driver reads before creating a group)."""
    root.mkdir(exist_ok=True)
    (root / "cgroup.controllers").write_text(controllers + "\n")
    (root / "cgroup.subtree_control").write_text("")
    (root / "cgroup.procs").write_text("1\n")
    return root


def test_detects_v2_with_its_controllers(tmp_path):
    setup = detect(make_v2(tmp_path))
    assert (setup.version, setup.driver) == ("v2", "v2")
    assert set(setup.controllers) == {"cpuset", "cpu", "io", "memory", "hugetlb", "pids"}


def test_detects_v1(tmp_path):
    setup = detect(make_v1(tmp_path))
    assert (setup.version, setup.driver) == ("v1", "v1")
    assert setup.controllers["memory"] == tmp_path / "memory"


def test_a_hybrid_host_uses_v1_and_is_not_fooled_by_a_cgroup2_mount_with_only_hugetlb(tmp_path):
    setup = detect(make_v1(tmp_path, unified="hugetlb\n"))
    assert (setup.version, setup.driver) == ("hybrid", "v1")
    assert "hugetlb" not in setup.controllers


def test_no_cgroup_filesystem_is_a_clear_error(tmp_path):
    with pytest.raises(ContainerError, match="no cgroup filesystem"):
        detect(tmp_path)


def test_this_host_is_detected_as_it_is():
    setup = detect()
    assert setup.version in ("v1", "hybrid", "v2")
    assert {"memory", "cpu", "pids"} <= set(setup.controllers)


# --- the v2 controller file protocol, on the FAKE tree --------------------------------------

def fake_group_files(d: Path) -> None:
    """FAKE: what the kernel would show in a v2 group after some use."""
    (d / "memory.current").write_text("1310720\n")  # 1 MiB + 256 KiB of inactive file cache:
    (d / "memory.stat").write_text("anon 1048576\nfile 262144\nactive_file 0\ninactive_file 262144\n")
    (d / "memory.peak").write_text("4194304\n")
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n")
    (d / "cpu.stat").write_text("usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n"
                                "nr_periods 30\nnr_throttled 12\nthrottled_usec 400000\n")
    (d / "pids.current").write_text("3\n")
    (d / "pids.events").write_text("max 2\n")
    (d / "memory.pressure").write_text("some avg10=12.50 avg60=3.00 avg300=0.50 total=123\n"
                                       "full avg10=10.00 avg60=2.00 avg300=0.40 total=100\n")


def test_v2_driver_delegates_controllers_and_writes_the_limit_files(tmp_path):
    setup = detect(make_v2(tmp_path))
    lim = Limits.parse(memory="512m", memory_swap="1g", cpus="0.5", cpu_shares="1024", cpuset_cpus="0",
                       pids_limit="20", host_cpus=2)
    group = cgroups.create("c1", lim, setup=setup)
    d = tmp_path / "minicontainer" / "c1"
    assert group.path == d
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpu +cpuset +memory +pids"
    assert (tmp_path / "minicontainer" / "cgroup.subtree_control").read_text() == "+cpu +cpuset +memory +pids"
    assert (d / "memory.max").read_text() == str(512 << 20)
    assert (d / "memory.swap.max").read_text() == str(512 << 20)  # v2: swap on top of memory.max
    assert (d / "cpu.max").read_text() == "50000 100000"
    assert (d / "cpu.weight").read_text() == "39"
    assert (d / "cpuset.cpus").read_text() == "0"
    assert (d / "pids.max").read_text() == "20"


def test_v2_driver_enables_what_the_limits_and_stats_need_and_no_more(tmp_path):
    """memory, cpu and pids for `stats` (as Docker enables them for every container), cpuset only for
    --cpuset-cpus; never what nothing uses (io, hugetlb); and no limit file written without a flag."""
    setup = detect(make_v2(tmp_path))
    cgroups.create("c2", Limits.parse(pids_limit=5), setup=setup)
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert not (tmp_path / "minicontainer" / "c2" / "memory.max").exists()
    cgroups.create("c3", Limits.parse(cpuset_cpus="0"), setup=setup)
    assert "+cpuset" in (tmp_path / "minicontainer" / "cgroup.subtree_control").read_text()


def test_v2_stats_read_memory_cpu_pids_oom_and_pressure(tmp_path):
    setup = detect(make_v2(tmp_path))
    group = cgroups.create("c3", Limits.parse(memory="64m", pids_limit=20), setup=setup)
    fake_group_files(group.path)
    s = group.stats()
    assert (s.memory, s.memory_cache, s.memory_peak, s.memory_limit) == (1 << 20, 256 << 10, 4 << 20, 64 << 20)
    assert (s.cpu_usage, s.cpu_periods, s.cpu_throttled, s.cpu_throttled_time) == (1.5, 30, 12, 0.4)
    assert (s.pids, s.pids_limit, s.pids_refused, s.oom_kills) == (3, 20, 2, 1)
    assert s.pressure == {"memory": 12.5}
    (group.path / "memory.max").write_text("max\n")
    assert group.stats().memory_limit is None


def test_a_controller_the_host_lacks_is_named_with_the_cgroup_version(tmp_path):
    setup = detect(make_v2(tmp_path, controllers="hugetlb"))
    with pytest.raises(ContainerError, match=r"memory controller is not available for --memory.*cgroup v2"):
        cgroups.create("c4", Limits.parse(memory="64m"), setup=setup)
    assert not (tmp_path / "minicontainer" / "c4").exists()


def test_cpu_percent_between_two_readings():
    a = cgroups.Stats(time=10.0, cpu_usage=1.0)
    b = cgroups.Stats(time=12.0, cpu_usage=2.0)
    assert cgroups.cpu_percent(a, b) == 50.0
    assert cgroups.cpu_percent(a, cgroups.Stats(time=12.0)) is None


@pytest.mark.parametrize("name", ["", "a/b", "..", "."])
def test_group_names_cannot_escape_the_parent(tmp_path, name):
    with pytest.raises(UsageError):
        cgroups.group(name, setup=detect(make_v2(tmp_path)))


def test_stats_table_is_shaped_like_docker_stats():
    from minicontainer.commands.cgroups import table

    before = cgroups.Stats(time=1.0, cpu_usage=0.0)
    after = cgroups.Stats(time=2.0, cpu_usage=0.25, memory=16 << 20, memory_limit=64 << 20, pids=3, oom_kills=1)
    lines = table([("3f2a9c01b7e4", "web", before, after)]).splitlines()
    assert lines[0].split()[:4] == ["CONTAINER", "ID", "NAME", "CPU"]
    assert lines[1].split() == ["3f2a9c01b7e4", "web", "25.0%", "16.0MiB", "/", "64.0MiB", "25.0%", "3", "1"]
