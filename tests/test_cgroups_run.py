"""`minicontainer run` with resource limits, on the real kernel (cgroup v1 on this host) (lesson 03).

The done-when of the lesson: a memory hog is OOM-killed and the kill is reported; --cpus 0.5 holds a
spinner to half a core; --pids-limit 20 stops a fork bomb; no cgroup is left after many runs, even
when the runtime itself is SIGKILLed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minicontainer import cgroups, container

ROOTFS: list[str] = []


@pytest.fixture(autouse=True)
def _setup(busybox_rootfs, paths):
    ROOTFS[:] = [str(busybox_rootfs)]
    yield
    container.sweep(paths)  # whatever a failed test left running


def mc(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """The minicontainer command, as a learner runs it."""
    launcher = Path(sys.executable).parent / "minicontainer"
    return subprocess.run([str(launcher), *args], capture_output=True, text=True, timeout=timeout)


def run_detached(*flags: str, command: list[str]) -> str:
    result = mc("run", "-d", *flags, "--rootfs", ROOTFS[0], *command)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def mine(before: set[str]) -> set[str]:
    """Course cgroups that were not there before (other test sessions may create theirs meanwhile)."""
    deadline = time.monotonic() + 3
    while True:
        new = set(cgroups.names()) - before
        if not new or time.monotonic() > deadline:
            return new
        time.sleep(0.1)


def test_memory_limit_oom_kills_a_hog_and_run_reports_it(paths):
    result = mc("run", "--name", "hog", "-m", "32m", "--rootfs", ROOTFS[0], "tail", "/dev/zero")
    assert result.returncode == 137, result.stderr
    assert "OOM killer" in result.stderr
    assert container.find(paths, "hog").oom_killed, "state.json does not say oom_killed"
    assert mc("inspect", "-f", "{{.State.OOMKilled}}", "hog").stdout == "true\n"


def test_filling_dev_shm_past_the_limit_is_oom_killed(paths):
    result = mc("run", "--rm", "-m", "32m", "--rootfs", ROOTFS[0],
                "dd", "if=/dev/zero", "of=/dev/shm/fill", "bs=1M", "count=100")
    assert result.returncode == 137 and "OOM killer" in result.stderr, result.stderr


@pytest.fixture
def weighty_parent():
    """The course's parent group at the highest CPU weight for the test, then back as it was.

    CPU weight is hierarchical: containers compete with the rest of the host through the parent
    `minicontainer`. On a busy shared machine (CI, 2 cores) a parent of normal weight gets too little
    CPU for a container to reach even its quota; at the maximum weight the test measures the ceiling
    that --cpus sets, not the neighbours.
    """
    setup = cgroups.detect()
    if setup.driver == "v2":  # cpu.weight (1-10000) needs the cpu controller handed down to the parent
        cgroups.driver_for(setup)("x", setup).enable(setup.root_dir, {"cpu"})
    name, top = ("cpu.weight", "10000") if setup.driver == "v2" else ("cpu.shares", "262144")
    shares = setup.controllers["cpu"] / "minicontainer" / name
    shares.parent.mkdir(exist_ok=True)
    old = shares.read_text().strip()
    shares.write_text(top)
    try:
        yield
    finally:
        shares.write_text(old)


def test_cpus_half_keeps_a_spinner_within_half_a_core(paths, weighty_parent):
    cid = run_detached("--cpus", "0.5", command=["sh", "-c", "while :; do :; done & while :; do :; done"])
    group = cgroups.group(cid)
    # Measure from when both spinners exist (PID 1, the shell, its background subshell), not after a
    # fixed 0.3 s: on a loaded machine start-up can take longer, and the window would measure it instead.
    deadline = time.monotonic() + 30
    while len(group.procs()) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    before = group.stats()
    time.sleep(3)
    after = group.stats()
    mc("rm", "-f", cid)
    cores = cgroups.cpu_percent(before, after) / 100
    assert 0.425 <= cores <= 0.575, f"two spinners under --cpus 0.5 used {cores:.2f} cores, expected 0.5 ±15%"
    assert not group.exists()


def test_pids_limit_stops_a_fork_bomb_and_the_host_is_unaffected(paths):
    # The container's own shell must not need a fork once the bomb has gone off: busybox sh exits when a
    # fork fails, and with it the container and its cgroup. So `sleep` is started first, the bomb is
    # started with ONE fork (`bomb &`; a plain `bomb` call forks both ends of `bomb | bomb` from this
    # shell, and under load the first end had already filled pids.max before the second fork), and the
    # shell then only runs the builtin `wait`.
    bomb = "sleep 60 & bomb() { bomb | bomb & }; bomb & wait"
    cid = run_detached("--pids-limit", "20", command=["sh", "-c", bomb])
    group = cgroups.group(cid)
    deadline = time.monotonic() + 10
    while not group.stats().pids_refused and time.monotonic() < deadline:
        time.sleep(0.05)
    s = group.stats()
    assert group.exists(), f"the container ended early: {mc('logs', cid).stderr[-500:]}"
    assert s.pids_refused, "pids.events counts no refused fork: the bomb was not stopped by pids.max"
    assert s.pids <= 20
    assert subprocess.run(["sh", "-c", "for i in 1 2 3 4 5; do true & done; wait"]).returncode == 0
    assert mc("rm", "-f", cid).returncode == 0
    assert not group.exists()


def test_exec_joins_the_containers_cgroup(paths):
    cid = run_detached("--pids-limit", "50", command=["sleep", "60"])
    group = cgroups.group(cid)
    count = len(group.procs())
    proc = subprocess.Popen([str(Path(sys.executable).parent / "minicontainer"), "exec", cid, "sleep", "30"])
    try:
        deadline = time.monotonic() + 10
        while len(group.procs()) <= count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(group.procs()) > count, "the exec'd process is not in the container's cgroup"
    finally:
        mc("rm", "-f", cid)
        proc.wait(timeout=10)


def test_stats_shows_memory_against_the_limit(paths):
    cid = run_detached("--name", "watched", "-m", "64m", command=["sleep", "60"])
    out = mc("stats", "--no-stream").stdout
    mc("rm", "-f", cid)
    assert "watched" in out and "/ 64.0MiB" in out, out


def test_inspect_shows_the_limits_with_dockers_names(paths):
    cid = run_detached("-m", "64m", "--cpus", "0.5", "--pids-limit", "20", "--cpu-shares", "512",
                       command=["sleep", "60"])
    try:
        shown = mc("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} "
                   "{{.HostConfig.CpuShares}} {{.HostConfig.MemorySwap}}", cid).stdout.split()
    finally:
        mc("rm", "-f", cid)
    assert shown == [str(64 << 20), "500000000", "20", "512", "0"]


@pytest.mark.parametrize("flags, words", [
    (["-m", "1b"], "minimum memory limit is 6m"),
    (["--cpus", "0"], "range of CPUs"),
    (["-m", "12x"], "invalid value '12x' for --memory"),
    (["--cpuset-cpus", "0-99"], "does not exist"),
])
def test_bad_limits_are_clear_errors_and_leave_nothing(paths, flags, words):
    before = set(cgroups.names())
    result = mc("run", "--rm", *flags, "--rootfs", ROOTFS[0], "true")
    assert result.returncode == 125 and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not any(paths.containers_dir.glob("*")) if paths.containers_dir.exists() else True
    assert mine(before) == set()


def test_no_cgroup_is_left_after_50_runs_including_sigkilled_runtimes(paths):
    before = set(cgroups.names())
    launcher = str(Path(sys.executable).parent / "minicontainer")
    for i in range(50):
        if i % 10 != 9:
            result = mc("run", "--rm", "-m", "16m", "--pids-limit", "10", "--rootfs", ROOTFS[0], "true")
            assert result.returncode == 0, result.stderr
            continue
        # every tenth run: SIGKILL the runtime while its container runs; the next command collects it
        runtime = subprocess.Popen([launcher, "run", "-m", "16m", "--rootfs", ROOTFS[0], "sleep", "60"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not (set(cgroups.names()) - before) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        runtime.send_signal(signal.SIGKILL)
        runtime.wait()
    assert mc("ps", "-a").returncode == 0  # the next command collects the crashed runs
    assert mine(before) == set(), "cgroups left behind"


# --- the container's own view of its cgroup (Docker's containers see their limits) --------------

def limit_file(setup: cgroups.Setup, v1: str, v2: str) -> str:
    """The path inside the container of a limit file, for this host's cgroup version."""
    return f"/sys/fs/cgroup/{v2}" if setup.driver == "v2" else f"/sys/fs/cgroup/{v1}"


def test_container_sees_its_own_limits_read_only_at_sys_fs_cgroup(paths):
    setup = cgroups.detect()
    memory = limit_file(setup, "memory/memory.limit_in_bytes", "memory.max")
    pids = limit_file(setup, "pids/pids.max", "pids.max")
    script = f"cat {memory} {pids}; cat /proc/self/cgroup; touch {os.path.dirname(pids)}/x 2>&1; ls {os.path.dirname(pids)}"
    result = mc("run", "--rm", "-m", "48m", "--pids-limit", "33", "--rootfs", ROOTFS[0], "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == [str(48 << 20), "33"], f"the container read {lines[:2]} from its limit files"
    own = [line for line in lines if line.count(":") == 2 and line.split(":")[0].isdigit()]
    assert own and all(line.endswith(":/") for line in own), \
        f"/proc/self/cgroup inside should show the namespace's root '/' for every hierarchy: {own}"
    assert any("Read-only file system" in line for line in lines), "the cgroup files are writable inside"
    assert "minicontainer" not in lines, "the container sees the host's course groups: not its own group"


def test_a_container_without_limits_still_gets_a_cgroup_of_its_own(paths):
    """As Docker's: `stats` counts what it uses, and its processes are in one group."""
    cid = run_detached(command=["sleep", "30"])
    try:
        c = container.find(paths, cid)
        group = cgroups.group(c.id)
        assert group.exists() and c.pid in group.procs(), f"PID 1 {c.pid} is not in {group}"
    finally:
        mc("rm", "-f", cid)
    assert not cgroups.group(c.id).exists(), "the group outlived the container"


def test_a_host_without_cgroups_runs_plain_containers_and_refuses_limits_in_one_line(paths):
    """A host where no cgroup filesystem is mounted (seen here in a private mount namespace with an empty
    tmpfs over /sys/fs/cgroup): a container without limits runs without a group; -m says why it cannot."""
    launcher = str(Path(sys.executable).parent / "minicontainer")
    script = ("mount -t tmpfs none /sys/fs/cgroup && "
              f"{launcher} run --rm --rootfs {ROOTFS[0]} echo plain-ok; "
              f"{launcher} run --rm -m 32m --rootfs {ROOTFS[0]} echo limited; echo status=$?")
    result = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.splitlines()[0] == "plain-ok", result.stdout + result.stderr
    assert "status=125" in result.stdout and "limited" not in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "no cgroup filesystem found" in errors[0] and "Fix:" in errors[0], errors
