"""minicontainer.cgroups on the real kernel, as root: limits enforced, stats counted, nothing left.

Every test runs on whatever the host has and asserts the real kernel's files for that version:
v1 or hybrid (this project's CI machines: memory, cpu, pids on v1) or v2 (the learners' VMs, and
`make test-vm`). The v2 mechanics are also tested on a cgroup2 mount the test makes itself: on a
hybrid host it holds no memory/cpu/pids controllers, on a v2 host it is the host's own tree.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minicontainer import cgroups
from minicontainer.cgroups import Limits
from minicontainer.errors import ContainerError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="cgroups need root")

SPIN = "import os\nos.fork()\nwhile True: pass\n"  # two busy processes: they want 2 CPUs


@pytest.fixture
def make_group(request):
    """create(...) with a name unique to this test; the group is removed whatever happens."""
    made: list[cgroups.Cgroup] = []

    def make(limits: Limits | None = None, **kwargs) -> cgroups.Cgroup:
        name = f"test-{os.getpid()}-{request.node.name[:40].replace('[', '-').replace(']', '')}-{len(made)}"
        group = cgroups.create(name, limits, **kwargs)
        made.append(group)
        return group

    yield make
    for group in made:
        group.remove()


def start_in(group: cgroups.Cgroup, argv: list[str]) -> subprocess.Popen:
    """Start argv already inside the group (it joins before exec, like a container's PID 1)."""
    return subprocess.Popen(argv, preexec_fn=lambda: group.add(os.getpid()))


def memory_file(setup: cgroups.Setup, v1: str, v2: str) -> str:
    """The name of a memory controller file on this host's cgroup version."""
    return v2 if setup.driver == "v2" else v1


def test_group_exists_in_each_hierarchy_under_the_course_parent(make_group):
    group = make_group(Limits.parse(memory="64m"))
    setup = group.setup
    if setup.driver == "v1":  # one directory per controller's hierarchy
        for controller in setup.controller_dirs:
            assert (setup.controllers[controller] / "minicontainer" / group.name).is_dir(), controller
    else:  # one directory in the unified tree, with every controller's files side by side
        assert group.dirs() == [setup.root / "minicontainer" / group.name]
        enabled = set((setup.root / "minicontainer" / "cgroup.subtree_control").read_text().split())
        assert {"memory", "pids"} <= enabled, f"the parent hands down only {enabled}: stats would miss counters"
    limit = memory_file(setup, "memory.limit_in_bytes", "memory.max")
    assert (group.path / limit).read_text().strip() == str(64 << 20)


def test_a_process_joins_and_its_children_follow(make_group):
    group = make_group()
    proc = start_in(group, ["sh", "-c", "sleep 30 & sleep 30"])
    try:
        deadline = time.monotonic() + 30  # process start-up: slow on a loaded machine
        while len(group.procs()) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.pid in group.procs() and len(group.procs()) == 3
        assert group.stats().pids == 3
    finally:
        group.kill()
        proc.wait()
    assert group.procs() == []


def test_a_process_can_move_itself_in_with_join_self(make_group):
    group = make_group(Limits.parse(pids_limit=10))
    # The child says when join_self has returned: polling until it shows up in one hierarchy raced with
    # its writes to the others (on a loaded machine it was seen in one but not yet in cpuacct).
    proc = subprocess.Popen([sys.executable, "-c", "import sys, time; from minicontainer.cgroups import join_self; "
                             "join_self(sys.argv[1:]); print('joined', flush=True); time.sleep(30)",
                             *group.join_files()], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "joined"
        assert proc.pid in group.procs()
        for d in group.dirs():
            assert str(proc.pid) in (d / "cgroup.procs").read_text().split(), f"not in {d}"
    finally:
        group.kill()
        proc.wait()
        proc.stdout.close()


def test_memory_shown_leaves_out_the_file_cache_as_docker_does(make_group, tmp_path):
    """A process that writes a 24 MiB file fills the group's page cache: the kernel counts it in
    memory.usage_in_bytes, but it is reclaimable, so `stats` shows it apart (as `docker stats` does)."""
    group = make_group(Limits.parse(memory="256m"))
    writer = start_in(group, ["dd", "if=/dev/zero", f"of={tmp_path / 'f'}", "bs=1M", "count=24", "status=none"])
    assert writer.wait(timeout=30) == 0
    s = group.stats()
    usage = int((group.path / memory_file(group.setup, "memory.usage_in_bytes", "memory.current")).read_text())
    assert s.memory_cache is not None and s.memory_cache >= 8 << 20, f"inactive file cache: {s.memory_cache}"
    assert s.memory < usage and abs(s.memory + s.memory_cache - usage) <= 4 << 20


def test_memory_limit_oom_kills_a_hog_and_the_kill_is_counted(make_group):
    group = make_group(Limits.parse(memory="32m"))
    hog = start_in(group, [sys.executable, "-c", "x = bytearray(256 << 20)"])
    assert hog.wait(timeout=30) == -9, "the hog was not SIGKILLed"
    s = group.stats()
    assert s.oom_kills == 1, f"memory.oom_control counted {s.oom_kills} OOM kills, expected 1"
    assert s.memory_peak <= 32 << 20 and s.memory_limit == 32 << 20


@pytest.fixture
def weighty_parent():
    """A parent group with the highest CPU weight, removed afterwards.

    CPU weight is hierarchical: a group competes with its siblings through its parent. On a busy shared
    machine (CI, 2 cores) a parent of normal weight gets too little CPU for its child to reach even its
    quota, and the test would measure the neighbours. With the parent's weight at the maximum, what is
    measured is the ceiling that --cpus sets.
    """
    parent = f"minicontainer-test-{os.getpid()}-cpu"
    setup = cgroups.detect()
    cpu = setup.controllers["cpu"] / parent
    if setup.driver == "v2":  # the parent's weight needs the cpu controller handed down to it
        cgroups.driver_for(setup)("x", setup, parent).enable(setup.root_dir, {"cpu"})
    cpu.mkdir(exist_ok=True)
    (cpu / ("cpu.weight" if setup.driver == "v2" else "cpu.shares")).write_text("10000" if setup.driver == "v2" else "262144")
    try:
        yield parent
    finally:
        cgroups.sweep(parent=parent)


def test_cpus_half_keeps_a_spinner_within_half_a_core(make_group, weighty_parent):
    group = make_group(Limits.parse(cpus="0.5"), parent=weighty_parent)
    spinner = start_in(group, [sys.executable, "-c", SPIN])
    try:
        # Measure from when both spinners exist (Python has started and forked), not after a fixed 0.3 s:
        # on a loaded machine start-up can take longer, and the window would measure it instead.
        deadline = time.monotonic() + 30
        while len(group.procs()) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        before = group.stats()
        time.sleep(3)
        after = group.stats()
    finally:
        group.kill()
        spinner.wait()
    cores = cgroups.cpu_percent(before, after) / 100
    assert 0.425 <= cores <= 0.575, f"the spinner used {cores:.2f} cores, expected 0.5 ±15%"
    assert after.cpu_throttled > before.cpu_throttled


def test_pids_limit_stops_a_fork_bomb_and_the_host_still_forks(make_group):
    group = make_group(Limits.parse(pids_limit=20))
    bomb = start_in(group, ["sh", "-c", "for i in $(seq 100); do sleep 30 & done 2>/dev/null; sleep 30"])
    try:
        deadline = time.monotonic() + 10
        while not group.stats().pids_refused and time.monotonic() < deadline:
            time.sleep(0.05)
        s = group.stats()
        assert s.pids_refused, "pids.events shows no refused fork"
        assert s.pids <= 20 and len(group.procs()) <= 20
    finally:
        group.kill()
        bomb.wait()
    assert subprocess.run(["true"]).returncode == 0  # the host is unaffected


def test_cpuset_pins_the_group_to_one_cpu(make_group):
    group = make_group(Limits.parse(cpuset_cpus="0"))
    proc = start_in(group, ["sleep", "30"])
    try:
        assert os.sched_getaffinity(proc.pid) == {0}
    finally:
        group.kill()
        proc.wait()


def test_remove_kills_what_is_left_and_leaves_no_directory(make_group):
    group = make_group(Limits.parse(memory="64m", pids_limit=50))
    proc = start_in(group, ["sh", "-c", "sleep 30 & sleep 30 & wait"])
    last = group.remove()
    assert proc.wait(timeout=5) == -9
    assert last is not None and last.memory_limit == 64 << 20
    assert not any(d.exists() for d in group.dirs())
    assert group.remove() is None  # idempotent


def test_a_limit_the_kernel_refuses_leaves_nothing_behind():
    with pytest.raises(ContainerError, match="cpuset.cpus"):
        cgroups.create(f"test-{os.getpid()}-refused", Limits(cpuset_cpus="999"))
    assert f"test-{os.getpid()}-refused" not in cgroups.names()


def test_sweep_collects_groups_a_crashed_runtime_left(paths):
    parent = f"minicontainer-test-{os.getpid()}"
    orphans = [cgroups.create(f"orphan{i}", Limits.parse(pids_limit=10), parent=parent) for i in range(3)]
    procs = [start_in(g, ["sleep", "30"]) for g in orphans]
    done = cgroups.sweep(paths, parent=parent)
    assert len(done) == 3
    assert [p.wait(timeout=5) for p in procs] == [-9, -9, -9]
    assert not any((h / parent).exists() for h in cgroups.detect().controllers.values())


def test_a_private_instance_sweeps_only_its_own_containers_groups(paths, make_group):
    """Tests and notebooks with their own MC_RUN_DIR must not kill another instance's containers."""
    theirs, ours = make_group(), make_group()
    (paths.containers_dir / ours.name).mkdir(parents=True)  # a container of this instance
    done = cgroups.sweep(paths)
    assert done == [f"removed cgroup minicontainer/{ours.name}"]
    assert theirs.exists() and not ours.exists()


# --- v2 mechanics on a real cgroup2 mount (this kernel: no controllers in it) ----------------

@pytest.fixture
def cgroup2(tmp_path: Path):
    """A cgroup2 filesystem mounted at a temporary directory (the same unified tree the host has)."""
    where = tmp_path / "cgroup2"
    where.mkdir()
    subprocess.run(["mount", "-t", "cgroup2", "none", str(where)], check=True)
    parent = f"minicontainer-test-{os.getpid()}"
    try:
        yield cgroups.detect(where), parent
    finally:
        cgroups.sweep(root=where, parent=parent)
        subprocess.run(["umount", str(where)], check=True)


def test_v2_group_procs_events_and_kill_on_a_real_cgroup2_mount(cgroup2):
    setup, parent = cgroup2
    assert setup.version == "v2"
    group = cgroups.create("v2test", setup=setup, parent=parent)
    assert group.path == setup.root / parent / "v2test" and group.path.is_dir()
    assert not group.populated()
    proc = start_in(group, ["sh", "-c", "sleep 30 & sleep 30"])
    deadline = time.monotonic() + 30  # process start-up: slow on a loaded machine
    while len(group.procs()) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.pid in group.procs()
    assert group.populated(), "cgroup.events does not say populated 1"
    assert group.stats().cpu_usage is not None  # cpu.stat's usage is core, even without the cpu controller
    group.kill()  # writes 1 to cgroup.kill
    assert proc.wait(timeout=5) == -9
    assert not group.populated() and group.procs() == []
    group.remove()
    assert not group.path.exists()


def test_v2_parent_holds_no_processes(cgroup2):
    """The no-internal-process rule: the course's parent only ever holds groups."""
    setup, parent = cgroup2
    group = cgroups.create("leaf", setup=setup, parent=parent)
    proc = start_in(group, ["sleep", "30"])
    try:
        assert (setup.root / parent / "cgroup.procs").read_text() == ""
    finally:
        group.remove()
        proc.wait()


def test_v2_limits_need_controllers_the_unified_tree_lacks(cgroup2):
    """A limit whose controller the unified tree does not offer is refused before anything is made.

    On a hybrid host the test's cgroup2 mount really lacks memory (it is bound to v1); on a v2 host
    the tree has it, so the test takes the host's setup without memory (a host booted with
    cgroup_disable=memory looks like that)."""
    setup, parent = cgroup2
    if "memory" in setup.controller_dirs:
        setup = cgroups.Setup("v2", setup.root_dir, {k: v for k, v in setup.controller_dirs.items() if k != "memory"})
    with pytest.raises(ContainerError, match=r"the memory controller is not available.*cgroup v2"):
        cgroups.create("nomem", Limits.parse(memory="64m"), setup=setup, parent=parent)
    assert not (setup.root / parent / "nomem").exists()
