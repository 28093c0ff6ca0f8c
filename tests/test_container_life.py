"""A container's life as Docker's (lesson 09): create, start, restart, restart policies, PID 1, exit statuses.

Every test drives the real CLI (the fast launcher, as a learner types it) on the real kernel, in the
test's own MC_RUN_DIR, and checks what Docker's user would check: states in `ps -a`, output in `logs`,
exit statuses, and the processes the runtime keeps.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minicontainer import container
from minicontainer.proc import alive

LAUNCHER = str(Path(sys.executable).parent / "minicontainer")


def mc(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([LAUNCHER, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def rootfs(busybox_rootfs) -> str:
    return str(busybox_rootfs)


def wait_for(predicate, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def children(pid: int) -> list[int]:
    """The PIDs of pid's children, from /proc/PID/task/*/children."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


# --- PID 1: the workload, as Docker's default; mc-init with --init ------------------------------

def test_pid_1_is_the_workload_without_init_and_mc_init_with_it(paths, rootfs):
    script = "echo $$ $(cat /proc/1/comm)"  # (the last command of `sh -c` would replace the shell)
    plain = mc("run", "--rm", "--rootfs", rootfs, "sh", "-c", script)
    assert plain.stdout.split() == ["1", "sh"], plain.stdout + plain.stderr
    with_init = mc("run", "--rm", "--init", "--rootfs", rootfs, "sh", "-c", script)
    assert with_init.stdout.split() == ["2", "mc-init"], with_init.stdout + with_init.stderr


def test_a_detached_container_keeps_one_runtime_process(paths, rootfs):
    """The monitor forks PID 1 itself (no helper in between): one Python process per container."""
    cid = mc("run", "-d", "--rootfs", rootfs, "sleep", "30").stdout.strip()
    try:
        c = container.find(paths, cid)
        assert children(c.monitor_pid) == [c.pid], "the monitor's only child must be the container's PID 1"
        assert os.readlink(f"/proc/{c.pid}/exe").endswith("busybox"), "PID 1 must be the workload itself"
        assert children(c.pid) == []
    finally:
        mc("rm", "-f", cid)


def test_with_init_pid_1_forwards_stop_to_the_workload(paths, rootfs):
    """`sleep` as PID 1 ignores SIGTERM (the kernel shields PID 1): with --init, mc-init passes it on."""
    cid = mc("run", "-d", "--init", "--rootfs", rootfs, "sleep", "30").stdout.strip()
    assert mc("stop", "-t", "20", cid).returncode == 0
    c = container.find(paths, cid)
    assert c.status == "exited" and c.exit_code == 143, "SIGTERM should have ended sleep (128 + 15)"
    mc("rm", cid)


# --- create, start, restart --------------------------------------------------------------------

def test_create_start_and_start_again(paths, rootfs):
    made = mc("create", "--name", "c1", "--rootfs", rootfs, "sh", "-c", "echo run; date >> /tmp/runs")
    assert made.returncode == 0, made.stderr
    cid = made.stdout.strip()
    c = container.find(paths, "c1")
    assert c.id == cid and c.status == "created"
    assert "Created" in mc("ps", "-a").stdout and "c1" not in mc("ps").stdout
    assert alive(c.pid, c.pid_start) and alive(c.monitor_pid, c.monitor_start), \
        "create must leave PID 1 waiting for start, held by the container's monitor"
    assert mc("logs", "c1").stdout == "", "the workload must not run before start"
    assert mc("start", "c1").stdout == "c1\n"
    c = container.wait_exited(paths, c, 20)
    assert c.status == "exited" and c.exit_code == 0
    assert mc("logs", "c1").stdout == "run\n"
    started = mc("start", "-a", "c1")  # an exited container starts again: the same id, a new PID 1
    assert started.returncode == 0 and started.stdout == "run\n", started.stderr
    assert mc("logs", "c1").stdout == "run\nrun\n"
    assert container.find(paths, "c1").id == cid
    assert mc("rm", "c1").returncode == 0


def test_run_is_create_plus_start(paths, rootfs):
    """The same table of states for both ways: a run's record goes created -> running -> exited."""
    cid = mc("run", "-d", "--rootfs", rootfs, "sh", "-c", "exit 4").stdout.strip()
    c = container.wait_exited(paths, container.find(paths, cid), 20)
    assert (c.status, c.exit_code) == ("exited", 4) and c.started >= c.created and c.finished >= c.started
    mc("rm", cid)


def test_start_of_a_running_container_changes_nothing(paths, rootfs):
    """Docker answers 304 Not Modified: the name printed, exit 0; here also one line on stderr."""
    cid = mc("run", "-d", "--name", "busy", "--rootfs", rootfs, "sleep", "30").stdout.strip()
    before = container.find(paths, cid)
    again = mc("start", "busy")
    assert again.returncode == 0 and again.stdout == "busy\n"
    assert again.stderr.strip() == "minicontainer start: busy: container is already running"
    after = container.find(paths, cid)
    assert (after.pid, after.pid_start) == (before.pid, before.pid_start)
    mc("rm", "-f", cid)


def test_restart_is_a_new_pid_1_in_the_same_container(paths):
    from minicontainer.image import prepare_default_image
    prepare_default_image(paths)
    cid = mc("run", "-d", "--init", "busybox", "sh", "-c", "echo x >> /kept; sleep 30").stdout.strip()
    first = container.find(paths, cid)
    assert mc("restart", "-t", "5", cid).returncode == 0
    second = container.find(paths, cid)
    assert second.status == "running" and (second.pid, second.pid_start) != (first.pid, first.pid_start)
    assert mc("exec", cid, "cat", "/kept").stdout == "x\nx\n", "the container layer must survive a restart"
    mc("rm", "-f", cid)


def test_rm_of_a_created_container_leaves_no_process(paths, rootfs):
    cid = mc("create", "--rootfs", rootfs, "true").stdout.strip()
    c = container.find(paths, cid)
    assert mc("rm", cid).returncode == 0  # Docker: a created container is not running, no -f needed
    assert not alive(c.pid, c.pid_start) and not alive(c.monitor_pid, c.monitor_start)
    assert not (paths.containers_dir / cid).exists()


def test_a_created_container_whose_monitor_was_killed_is_collected(paths, rootfs):
    import signal
    cid = mc("create", "--rootfs", rootfs, "true").stdout.strip()
    c = container.find(paths, cid)
    os.kill(c.monitor_pid, signal.SIGKILL)
    wait_for(lambda: not alive(c.pid, c.pid_start), "PID 1 to follow its monitor")
    assert "Exited (137)" in mc("ps", "-a").stdout
    assert mc("start", "-a", cid).returncode == 0, "an exited container starts again with a new monitor"
    mc("rm", cid)


# --- restart policies -------------------------------------------------------------------------

def test_on_failure_2_restarts_exactly_twice(paths, rootfs):
    cid = mc("run", "-d", "--restart", "on-failure:2", "--rootfs", rootfs, "sh", "-c", "echo run; exit 3").stdout.strip()
    c = wait_for(lambda: (lambda r: r if r.status == "exited" else None)(container.find(paths, cid)),
                 "the policy to give up")
    assert c.exit_code == 3 and c.restart_count == 2
    assert mc("logs", cid).stdout == "run\n" * 3, "one first run and exactly two restarts"
    time.sleep(0.5)
    assert container.find(paths, cid).restart_count == 2, "no third restart"
    mc("rm", cid)


def test_on_failure_does_not_restart_a_success(paths, rootfs):
    cid = mc("run", "-d", "--restart", "on-failure", "--rootfs", rootfs, "sh", "-c", "echo run").stdout.strip()
    c = container.wait_exited(paths, container.find(paths, cid), 20)
    assert c.exit_code == 0 and c.restart_count == 0 and mc("logs", cid).stdout == "run\n"
    mc("rm", cid)


def test_always_restarts_until_stop_and_stop_ends_it(paths, rootfs):
    cid = mc("run", "-d", "--restart", "always", "--rootfs", rootfs, "sh", "-c", "echo run; exit 0").stdout.strip()
    wait_for(lambda: container.find(paths, cid).restart_count >= 2, "two restarts")
    assert mc("stop", "-t", "2", cid).returncode == 0
    c = container.wait_exited(paths, container.find(paths, cid), 20)
    assert c.status == "exited"
    count = c.restart_count
    time.sleep(0.6)  # longer than the back-off so far: a restart would have happened
    assert container.find(paths, cid).restart_count == count and container.find(paths, cid).status == "exited"
    mc("rm", cid)


@pytest.mark.parametrize("policy, words", [
    ("bogus", "invalid restart policy: unknown policy 'bogus'"),
    ("on-failure:x", "invalid restart policy format: maximum retry count must be an integer"),
    (":3", "invalid restart policy format: no policy provided before colon"),
    ("always:3", "maximum retry count can only be used with 'on-failure'"),
])
def test_a_bad_restart_policy_is_one_line_and_creates_nothing(paths, rootfs, policy, words):
    for command in ("run", "create"):
        out = mc(command, "--restart", policy, "--rootfs", rootfs, "true")
        assert out.returncode == 125 and words in out.stderr and out.stderr.count("\n") == 1, out.stderr
    assert mc("ps", "-aq").stdout == ""


def test_rm_and_restart_policy_conflict_as_in_docker(paths, rootfs):
    out = mc("run", "--rm", "--restart", "always", "--rootfs", rootfs, "true")
    assert out.returncode == 125 and "can't create 'AutoRemove' container with restart policy" in out.stderr


# --- Docker's exit statuses ---------------------------------------------------------------------

@pytest.mark.parametrize("argv, status", [
    (["inspect", "no-such"], 1),
    (["logs", "no-such"], 1),
    (["exec", "no-such", "true"], 1),
    (["start", "no-such"], 1),
    (["restart", "no-such"], 1),
    (["stop", "no-such"], 1),
    (["rm", "no-such"], 1),
    (["ps", "--no-such-flag"], 125),
    (["run", "--no-such-flag", "busybox"], 125),
    (["create", "--restart", "bogus", "busybox", "true"], 125),
    (["create", "no-such-image:1", "true"], 1),
])
def test_errors_exit_with_dockers_statuses(paths, argv, status):
    out = mc(*argv)
    assert out.returncode == status, f"minicontainer {' '.join(argv)}: {out.returncode}, {out.stderr}"
    assert "Traceback" not in out.stderr
