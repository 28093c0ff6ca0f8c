"""The monitor releases what it set up, and a release that fails is not forgotten (monitor.py, lesson 02)."""

from __future__ import annotations

import subprocess
import sys

from minicontainer import cgroups, container, state
from minicontainer.paths import repo_root

# The CLI in a fresh interpreter whose monitor cannot remove the container's cgroup (once: only in this process).
CLI = """
import sys
sys.path.insert(0, {root!r})
from minicontainer import monitor
from minicontainer.errors import ContainerError
def release_cgroup(c, paths):
    print("container", c.id, file=sys.stderr)
    raise ContainerError("the cgroup would not go", step="fault injected by the test")
monitor.release_cgroup = release_cgroup
from minicontainer.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_with_a_failing_release(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLI.format(root=str(repo_root())), *args],
                          capture_output=True, text=True, timeout=60)


def mc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minicontainer", *args], capture_output=True, text=True, timeout=60)


def test_the_undo_stack_releases_in_reverse_and_keeps_going_after_a_failure():
    from minicontainer.monitor import Undo

    done = []
    undo = Undo()
    try:
        with undo:
            undo.push(lambda: done.append("first set up"))
            undo.push(lambda: 1 / 0)
            undo.push(lambda: done.append("last set up"))
    except ZeroDivisionError:
        pass
    assert done == ["last set up", "first set up"]
    assert isinstance(undo.failed, ZeroDivisionError)


def test_a_cgroup_the_monitor_could_not_remove_is_removed_by_the_next_command(paths, busybox_rootfs):
    failed = run_with_a_failing_release("run", "--name", "leaky", "--rootfs", str(busybox_rootfs), "true")
    assert failed.returncode == 125 and "the cgroup would not go" in failed.stderr, failed.stderr
    [c] = container.all_containers(paths)
    assert c.status != state.EXITED, "the record must not say it is over while its cgroup is still there"
    assert cgroups.group(c.id).exists()
    assert mc("ps", "-a").returncode == 0  # collects it: teardown again, then the exit
    assert not cgroups.group(c.id).exists(), "the cgroup was left behind"
    assert container.find(paths, "leaky").status == state.EXITED
    assert mc("rm", "leaky").returncode == 0


def test_with_rm_the_runtime_retries_the_release_before_removing_the_record(paths, busybox_rootfs):
    failed = run_with_a_failing_release("run", "--rm", "--name", "leaky", "--rootfs", str(busybox_rootfs), "true")
    assert failed.returncode == 125 and "the cgroup would not go" in failed.stderr, failed.stderr
    cid = failed.stderr.split("container ")[1].split()[0]
    assert container.all_containers(paths) == []
    assert not cgroups.group(cid).exists(), "the cgroup was left behind with no record to find it by"
