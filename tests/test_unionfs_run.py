"""`minicontainer run` gives an image a copy-on-write root; `--rootfs DIR` stays a plain directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minicontainer import container, lab, monitor, unionfs


def mc(*args: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    launcher = Path(sys.executable).parent / "minicontainer"
    return subprocess.run([str(launcher), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})}, **kwargs)


def host_union_mounts() -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if " - overlay " in line or "minicontainer" in line]


@pytest.mark.parametrize("driver", ["overlay", "copy"])
def test_writes_of_an_image_container_stay_in_the_container(paths, busybox_rootfs, driver):
    before = sorted(os.listdir(busybox_rootfs / "etc"))
    result = mc("run", "--name", "cow", str(busybox_rootfs), "/bin/sh", "-c",
                "echo changed > /etc/passwd; rm /bin/vi; echo new > /etc/added; cat /etc/passwd",
                env={unionfs.DRIVER_ENV: driver})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "changed\n"
    assert sorted(os.listdir(busybox_rootfs / "etc")) == before, "the image's files must not change"
    assert (busybox_rootfs / "bin/vi").is_symlink() and (busybox_rootfs / "etc/passwd").read_text().startswith("root")
    diff = mc("diff", "cow")
    assert diff.returncode == 0, diff.stderr
    assert diff.stdout.splitlines() == ["C /bin", "D /bin/vi", "C /etc", "A /etc/added", "C /etc/passwd"]
    assert not host_union_mounts(), "the overlay lived in the container's mount namespace"
    if driver == "overlay":  # the copy driver has no upper dir to show as a layer
        from minicontainer.widgets.layers import container_stack, render_text
        stack, names = container_stack("cow", paths)
        assert "bin/vi (whiteout in 1 upper (cow) hid 1 path)" in render_text(stack, names=["busybox", "upper (cow)"])
    assert mc("rm", "cow").returncode == 0
    assert not paths.containers_dir.exists() or not list(paths.containers_dir.iterdir())


def test_the_container_root_is_a_volatile_overlay(paths, busybox_rootfs):
    """volatile: the container's exit (the overlay's unmount) does not sync the host's filesystem."""
    result = mc("run", "--rm", str(busybox_rootfs), "/bin/sh", "-c", "grep ' / ' /proc/mounts | cut -d' ' -f1,3,4")
    source, fstype, options = result.stdout.split()
    assert (source, fstype) == ("overlay", "overlay")
    assert {"volatile", "fsync=volatile"} & set(options.split(",")), options  # (newer kernels show fsync=volatile)


def test_rootfs_dir_stays_a_plain_directory(paths, busybox_rootfs, tmp_path):
    root = tmp_path / "plain"
    subprocess.run(["cp", "-a", str(busybox_rootfs), str(root)], check=True)
    result = mc("run", "--rm", "--rootfs", str(root), "/bin/sh", "-c", "echo mine > /etc/motd")
    assert result.returncode == 0, result.stderr
    assert (root / "etc/motd").read_text() == "mine\n", "--rootfs DIR is used as it is, writes land in it"


def test_diff_of_a_plain_rootfs_container_is_a_clear_error(paths, busybox_rootfs):
    assert mc("run", "--name", "plain", "--rootfs", str(busybox_rootfs), "/bin/true").returncode == 0
    result = mc("diff", "plain")
    assert result.returncode == 1 and "plain directory" in result.stderr  # Docker's status for `diff`
    mc("rm", "plain")


def test_sigkilled_runtime_leaves_no_mount_and_reset_cleans_up(paths, busybox_rootfs):
    proc = subprocess.Popen([str(Path(sys.executable).parent / "minicontainer"), "run", "--name", "victim",
                             str(busybox_rootfs), "/bin/sh", "-c", "echo up; sleep 60"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "up"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    c = container.find(paths, "victim")
    monitor.kill_container(c)  # PID 1 dies with its runtime (PDEATHSIG); make sure before looking
    time.sleep(0.05)
    assert not host_union_mounts()
    lab.reset(paths)
    assert not paths.run_dir.exists()


def test_read_only_image_container_cannot_write_its_root(paths, busybox_rootfs):
    result = mc("run", "--rm", "--read-only", str(busybox_rootfs), "/bin/sh", "-c",
                "touch /etc/x 2>/dev/null && echo wrote || echo refused")
    assert result.stdout.strip() == "refused", result.stderr
    assert not (busybox_rootfs / "etc/x").exists()
