"""A run directory on a `noexec,nosuid,nodev` tmpfs, as systemd mounts /run on a learner's VM (issue 18).

On Debian 12 and Ubuntu, /run is a tmpfs mounted noexec and MC_RUN_DIR defaults to /run/minicontainer.
A container's root that is a bind mount of a directory there (the copy driver's root, or --rootfs DIR)
would inherit `noexec` and no program could start in it. These tests put the run directory on such a
tmpfs, made here, and run containers in every way a root can be made: overlay, copy, --rootfs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from image_helpers import default_store
from minicontainer import syscalls, unionfs
from minicontainer.paths import Paths


@pytest.fixture
def noexec_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    """MC_RUN_DIR on a fresh tmpfs mounted noexec,nosuid,nodev (systemd's /run); MC_LIB_DIR on disk."""
    run = tmp_path / "run"
    run.mkdir()
    syscalls.mount("minicontainer-test-run", str(run), "tmpfs",
                   syscalls.MS_NOEXEC | syscalls.MS_NOSUID | syscalls.MS_NODEV, "mode=755")
    p = Paths(tmp_path / "lib", run / "minicontainer")
    p.lib_dir.mkdir()
    monkeypatch.setenv("MC_LIB_DIR", p.lib_root)
    monkeypatch.setenv("MC_RUN_DIR", p.run_root)
    try:
        yield p
    finally:
        syscalls.umount2(str(run), syscalls.MNT_DETACH)


def mc(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    launcher = Path(sys.executable).parent / "minicontainer"
    return subprocess.run([str(launcher), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_the_run_dir_really_is_noexec(noexec_paths):
    """The premise: a program on that tmpfs cannot be executed on the host."""
    os.makedirs(noexec_paths.run_root)
    prog = os.path.join(noexec_paths.run_root, "true")
    with open("/bin/true", "rb") as src, open(prog, "wb") as dst:
        dst.write(src.read())
    os.chmod(prog, 0o755)
    with pytest.raises(PermissionError):
        subprocess.run([prog])


@pytest.mark.parametrize("driver", ["overlay", "copy"])
def test_image_runs_with_the_run_dir_on_a_noexec_tmpfs(noexec_paths, driver):
    default_store(noexec_paths)
    result = mc("run", "--rm", "localhost/busybox:latest", "sh", "-c", "echo hi; grep -w / /proc/mounts",
                env={unionfs.DRIVER_ENV: driver})
    assert result.returncode == 0, f"run with the {driver} driver failed: {result.stderr.strip()}"
    lines = result.stdout.splitlines()
    assert lines[0] == "hi"
    root_options = lines[1].split()[3].split(",")
    assert not {"noexec", "nosuid", "nodev"} & set(root_options), \
        f"the container's / was mounted {root_options}: it inherited the run dir's flags"


def test_rootfs_dir_on_a_noexec_tmpfs_runs(noexec_paths, busybox_rootfs):
    """--rootfs DIR where DIR itself sits on the noexec tmpfs (the copy driver's case, by hand)."""
    root = os.path.join(os.path.dirname(noexec_paths.run_root), "rootfs")
    subprocess.run(["cp", "-a", str(busybox_rootfs), root], check=True)
    result = mc("run", "--rm", "--rootfs", root, "/bin/sh", "-c", "echo hi")
    assert (result.returncode, result.stdout) == (0, "hi\n"), result.stderr


def test_read_only_root_on_a_noexec_tmpfs_is_read_only_and_executable(noexec_paths, busybox_rootfs):
    root = os.path.join(os.path.dirname(noexec_paths.run_root), "rootfs")
    subprocess.run(["cp", "-a", str(busybox_rootfs), root], check=True)
    result = mc("run", "--rm", "--read-only", "--rootfs", root, "/bin/sh", "-c", "touch /x || echo refused")
    assert result.stdout.strip().endswith("refused"), (result.stdout, result.stderr)


def test_overlay_counts_as_available_when_it_is_a_module_not_yet_loaded(tmp_path):
    """Debian's kernel has overlay as a module: /proc/filesystems lists it only after the first mount.

    (This machine's kernel has overlay built in, so the two files are written here; the module case
    is the learner's VM right after boot.)"""
    filesystems = tmp_path / "filesystems"
    filesystems.write_text("nodev\tsysfs\nnodev\ttmpfs\n\text4\n")
    modules = tmp_path / "modules"
    assert not unionfs.overlay_available(str(filesystems), str(modules))
    (modules / "kernel" / "fs" / "overlayfs").mkdir(parents=True)
    (modules / "kernel" / "fs" / "overlayfs" / "overlay.ko.xz").write_bytes(b"")
    assert unionfs.overlay_available(str(filesystems), str(modules))
    filesystems.write_text("nodev\toverlay\n")
    assert unionfs.overlay_available(str(filesystems), str(tmp_path / "none"))
