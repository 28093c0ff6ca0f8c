"""`run`, `run -d` and `exec` start their process through one spawn path (spawn.py, lesson 02).

runc starts its init process and its setns (exec) processes with the same parentProcess.start();
ours is spawn.start() and the Helper handshake. The proof that the three commands share it: break
the handshake once, in a fresh process, and all three fail with that break, cleaning up after
themselves; without the break all three work.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from minicontainer.paths import repo_root

# The CLI in a fresh interpreter, optionally with the handshake's "go" step broken.
CLI = """
import sys
sys.path.insert(0, {root!r})
from minicontainer import detach, spawn
from minicontainer.errors import ContainerError
detach.FRESH_MONITOR = False  # (-d's monitor a fork of this process, so that it has the break too)
if {broken!r}:
    def go(self):
        raise ContainerError("the go message was lost on purpose", step="fault injected by the test",
                             fix="none: the test checks that every command goes through spawn.Helper.go")
    spawn.Helper.go = go
from minicontainer.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
sys.exit(code)
"""


def mc(*args: str, broken: bool = False) -> subprocess.CompletedProcess:
    script = CLI.format(root=str(repo_root()), broken=broken)
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def running(paths, busybox_rootfs):
    """A detached container to exec into, started the normal way; removed afterwards."""
    started = mc("run", "-d", "--rootfs", str(busybox_rootfs), "sleep", "60")
    assert started.returncode == 0, started.stderr
    cid = started.stdout.strip()
    yield cid
    mc("rm", "-f", cid)


def test_run_run_d_and_exec_work_through_the_intact_handshake(paths, busybox_rootfs, running):
    rootfs = str(busybox_rootfs)
    assert mc("run", "--rm", "--rootfs", rootfs, "echo", "hello").stdout == "hello\n"
    detached = mc("run", "-d", "--rm", "--rootfs", rootfs, "true")
    assert detached.returncode == 0 and len(detached.stdout.strip()) == 64, detached.stderr
    assert mc("exec", running, "echo", "hello").stdout == "hello\n"


@pytest.mark.parametrize("command", [["run", "--rm"], ["run"], ["run", "-d"], ["run", "-d", "--rm"], ["exec"]],
                         ids=" ".join)
def test_breaking_the_shared_handshake_breaks_every_way_to_start_a_process(paths, busybox_rootfs, running, command):
    if command == ["exec"]:
        argv = ["exec", running, "echo", "hello"]
    else:
        argv = [*command, "--name", "broken", "--rootfs", str(busybox_rootfs), "echo", "hello"]
    result = mc(*argv, broken=True)
    # Docker's statuses: `run` 125; an `exec` whose process fails to start 126 (the daemon's default)
    assert result.returncode == (126 if command == ["exec"] else 125), result.stdout + result.stderr
    assert "the go message was lost on purpose" in result.stderr
    assert "hello" not in result.stdout, "the workload ran although the handshake failed"
    assert running in mc("ps", "-q", "--no-trunc").stdout or running[:12] in mc("ps").stdout, \
        "the container exec'd into must be unharmed"
    if command[0] == "run":
        assert "broken" not in mc("ps").stdout, "a container whose start failed must not be running"
        if "--rm" in command:
            assert "broken" not in mc("ps", "-a").stdout, "--rm: nothing may stay after a failed start"
