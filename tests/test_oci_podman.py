"""podman drives minicontainer-oci as it drives runc (lesson 10): `podman --runtime $(which minicontainer-oci)`.

podman (Debian's package) runs with its own storage in a temporary directory (vfs), the cgroupfs
manager, no network, and an image imported from the course's busybox rootfs: nothing from the
internet, nothing of the host's podman state touched. Its containers' cgroups go under
`minicontainer-podman`, removed at the end.

The ulimits are given (`--ulimit nofile=1024:1024 ...`) because podman's defaults raise the hard
limits, which needs CAP_SYS_RESOURCE, which some CI sandboxes lack: runc fails there the same way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from minicontainer.privileges import is_root

from oci_helpers import oci_binary

pytestmark = pytest.mark.skipif(not is_root(), reason="podman as root here")
CGROUP_PARENT = "minicontainer-podman"
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


@pytest.fixture(scope="module")
def podman(tmp_path_factory, busybox_rootfs):
    if not shutil.which("podman"):
        pytest.fail("podman is missing: scripts/host-deps.sh installs it (Debian's podman package)")
    top = tmp_path_factory.mktemp("podman")
    base = ["podman", "--root", str(top / "root"), "--runroot", str(top / "runroot"), "--tmpdir", str(top / "tmp"),
            "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
            "--runtime", oci_binary()]
    info = subprocess.run(base + ["info"], capture_output=True, text=True)
    if info.returncode != 0:
        pytest.skip(f"podman cannot run on this host at all: {info.stderr.strip()[-300:]}")
    archive = top / "busybox.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(busybox_rootfs, arcname=".")
    subprocess.run(base + ["import", str(archive), "localhost/mc-busybox:latest"], check=True, capture_output=True)

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(base + list(args), capture_output=True, text=True, timeout=timeout)

    yield run
    run("rm", "--all", "--force")
    run("rmi", "--all", "--force")
    subprocess.run(base + ["system", "reset", "--force"], capture_output=True, text=True)
    remove_cgroups(CGROUP_PARENT)
    shutil.rmtree(top, ignore_errors=True)


def remove_cgroups(parent: str) -> None:
    """podman leaves conmon's group and the parent in every hierarchy: remove them, deepest first."""
    for base in [*Path("/sys/fs/cgroup").glob(f"*/{parent}"), *Path("/sys/fs/cgroup").glob(parent)]:
        for top, _, _ in sorted(os.walk(base), key=lambda w: -w[0].count("/")):
            deadline = time.monotonic() + 5
            while os.path.isdir(top):
                try:
                    os.rmdir(top)
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)


def test_podman_runs_a_container_with_minicontainer_as_its_runtime(podman):
    result = podman("run", "--rm", "--network", "none", "--cgroup-parent", f"/{CGROUP_PARENT}", *ULIMITS,
                    "localhost/mc-busybox", "echo", "hi")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hi\n"


def test_podman_info_names_the_runtime(podman):
    result = podman("info", "--format", "{{.Host.OCIRuntime.Path}}")
    assert result.stdout.strip() == oci_binary()


def test_podman_run_detached_then_stop(podman):
    started = podman("run", "-d", "--network", "none", "--cgroup-parent", f"/{CGROUP_PARENT}", *ULIMITS,
                     "localhost/mc-busybox", "sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done")
    assert started.returncode == 0, started.stderr
    cid = started.stdout.strip()
    running = podman("inspect", "--format", "{{.State.Status}}", cid)
    assert running.stdout.strip() == "running", running.stderr
    ps = podman("exec", cid, "ps")
    assert ps.returncode == 0 and "sleep" in ps.stdout, ps.stderr
    stopped = podman("stop", "-t", "10", cid)
    assert stopped.returncode == 0, stopped.stderr
    status = podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", cid)
    assert status.stdout.split() == ["exited", "7"], status.stdout + status.stderr  # our TERM trap ran
    assert podman("rm", cid).returncode == 0
