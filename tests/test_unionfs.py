"""A container's copy-on-write root on the real kernel: overlayfs, and the copy driver beside it.

Each behavioural test runs with both drivers (parametrised); where overlayfs shows something the
copy driver cannot (the upper dir, whiteouts, EXDEV on directory rename), the test is overlay-only
and says so.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minicontainer import syscalls, unionfs, unionmodel
from minicontainer.errors import ContainerError

DRIVERS = ["overlay", "copy"]


def overlay_lines() -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if "overlay" in line or "minicontainer" in line]


@pytest.fixture(autouse=True)
def nothing_left_mounted(paths):
    """Every test must leave no overlay or tmpfs of ours behind (checked, then swept)."""
    yield
    left = unionfs.leftover_mounts(paths)
    unionfs.sweep(paths)
    assert not left, f"the test left mounts behind: {left}"


@pytest.fixture
def layers(paths) -> list[Path]:
    """Two layers like a tiny image: a base, and an update that changes, adds and deletes."""
    base, update = paths.lib_dir / "layers" / "base", paths.lib_dir / "layers" / "update"
    for d in (base, update):
        d.mkdir(parents=True)
    (base / "etc").mkdir()
    (base / "etc/passwd").write_text("root:x:0:0\n")
    (base / "etc/motd").write_text("base motd\n")
    (base / "etc/old.conf").write_text("old\n")
    (base / "data").mkdir()
    (base / "data/a").write_text("a\n")
    (base / "data/b").write_text("b\n")
    os.chown(base / "data/b", 1234, 5678)
    (base / "data/b").chmod(0o640)
    (base / "bin").mkdir()
    (base / "bin/tool").write_text("#!/bin/sh\n")
    (base / "bin/tool").chmod(0o755)
    os.link(base / "bin/tool", base / "bin/tool-link")
    os.symlink("tool", base / "bin/alias")
    (update / "etc").mkdir()
    (update / "etc/motd").write_text("updated motd\n")
    unionmodel.make_whiteout(update / "etc/old.conf")
    (update / "etc/new.conf").write_text("new\n")
    return [base, update]


@pytest.fixture(params=DRIVERS)
def rootfs(request, layers, paths):
    mount = unionfs.mount_rootfs(layers, paths.containers_dir / "c1", driver=request.param)
    yield mount
    mount.unmount()


def test_merged_view_shows_the_highest_layer(rootfs):
    root = rootfs.target
    assert (root / "etc/motd").read_text() == "updated motd\n"
    assert (root / "etc/passwd").read_text() == "root:x:0:0\n"
    assert not (root / "etc/old.conf").exists(), "the update layer's whiteout must hide etc/old.conf"
    assert sorted(os.listdir(root / "etc")) == ["motd", "new.conf", "passwd"]


def test_overlay_is_mounted_with_the_top_layer_first(layers, paths):
    with unionfs.mount_rootfs(layers, paths.containers_dir / "c1", driver="overlay") as m:
        assert unionfs.is_mount_point(m.target)
        assert m.options.startswith(f"lowerdir={layers[1]}:{layers[0]},")


def test_write_copies_up_and_leaves_the_layer_untouched(rootfs, layers):
    (rootfs.target / "etc/passwd").write_text("root:x:0:0\nlearner:x:1000:1000\n")
    assert (layers[0] / "etc/passwd").read_text() == "root:x:0:0\n", "a layer must never change"
    assert (rootfs.upper / "etc/passwd").read_text().endswith("learner:x:1000:1000\n")


def test_copy_up_keeps_mode_and_owner(rootfs):
    with open(rootfs.target / "data/b", "a") as f:
        f.write("more\n")
    st = os.stat(rootfs.upper / "data/b")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 5678, 0o640)


def test_overlay_delete_leaves_a_whiteout_in_the_upper_dir(layers, paths):
    with unionfs.mount_rootfs(layers, paths.containers_dir / "c1", driver="overlay") as m:
        os.unlink(m.target / "data/a")
        st = os.lstat(m.upper / "data/a")
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0), "ls -l shows: c--------- 0, 0 a"
        assert (layers[0] / "data/a").exists()


def test_delete_hides_the_lower_file(rootfs):
    os.unlink(rootfs.target / "data/a")
    assert sorted(os.listdir(rootfs.target / "data")) == ["b"]
    assert rootfs.diff().deleted == ["data/a"]


def test_rmdir_and_mkdir_again_gives_an_empty_opaque_dir(rootfs):
    shutil.rmtree(rootfs.target / "data")
    (rootfs.target / "data").mkdir()
    assert os.listdir(rootfs.target / "data") == [], "a new dir must not show the old dir's files"
    if rootfs.driver == "overlay":
        assert unionmodel.is_opaque(rootfs.upper / "data"), "overlay marks the new dir trusted.overlay.opaque=y"
    changes = rootfs.diff()
    assert "data/a" in changes.deleted and "data/b" in changes.deleted


def test_rename_of_a_file_from_a_layer(rootfs, layers):
    os.rename(rootfs.target / "etc/motd", rootfs.target / "etc/motd.bak")
    assert (rootfs.target / "etc/motd.bak").read_text() == "updated motd\n"
    assert not (rootfs.target / "etc/motd").exists()
    assert (layers[1] / "etc/motd").exists()


def test_overlay_refuses_rename_of_a_layer_directory_with_exdev(layers, paths):
    """Without redirect_dir=on, rename(2) of a merged directory fails with EXDEV; `mv` then copies."""
    with unionfs.mount_rootfs(layers, paths.containers_dir / "c1", driver="overlay") as m:
        with pytest.raises(OSError) as info:
            os.rename(m.target / "data", m.target / "data2")
        assert info.value.errno == errno.EXDEV
        (m.target / "fresh").mkdir()
        os.rename(m.target / "fresh", m.target / "fresh2")  # a dir made in the upper dir renames fine


def test_mv_of_a_layer_directory_works_on_both_drivers(rootfs):
    shutil.move(str(rootfs.target / "data"), str(rootfs.target / "data2"))  # rename, or copy + delete on EXDEV
    assert sorted(os.listdir(rootfs.target / "data2")) == ["a", "b"]
    assert not (rootfs.target / "data").exists()


def test_writing_one_name_of_a_hard_link_breaks_the_link(rootfs):
    """Copy-up copies the one name written; the other name still shows the layer's file."""
    (rootfs.target / "bin/tool").write_text("#!/bin/sh\necho new\n")
    assert (rootfs.target / "bin/tool-link").read_text() == "#!/bin/sh\n"


def test_hard_link_to_a_layer_file_copies_it_up_first(rootfs):
    os.link(rootfs.target / "etc/passwd", rootfs.target / "etc/passwd.link")
    a, b = os.stat(rootfs.target / "etc/passwd"), os.stat(rootfs.target / "etc/passwd.link")
    assert a.st_ino == b.st_ino and a.st_nlink == 2
    assert sorted(p for p in os.listdir(rootfs.upper / "etc") if p.startswith("passwd")) == ["passwd", "passwd.link"]


def test_symlinks_are_kept(rootfs):
    assert os.readlink(rootfs.target / "bin/alias") == "tool"


def test_diff_says_what_the_container_changed(rootfs):
    root = rootfs.target
    (root / "etc/passwd").write_text("changed\n")
    (root / "new-file").write_text("hello\n")
    os.unlink(root / "etc/new.conf")
    changes = rootfs.diff()
    assert changes.added == ["new-file"]
    assert changes.changed == ["etc", "etc/passwd"]
    assert changes.deleted == ["etc/new.conf"]
    assert changes.lines() == ["C /etc", "D /etc/new.conf", "C /etc/passwd", "A /new-file"]


def test_unmount_removes_the_mount_and_the_container_dirs(rootfs, paths):
    target = rootfs.target
    rootfs.unmount()
    assert not unionfs.is_mount_point(target)
    assert os.listdir(paths.containers_dir / "c1") == []


@pytest.mark.parametrize("driver", DRIVERS)
def test_thirty_layer_stack_mounts_with_long_layer_paths(paths, driver):
    layers = []
    for i in range(30):
        layer = paths.lib_dir / "layers" / f"sha256-{'%064x' % (i * 7919)}-{'x' * 60}"
        (layer / "etc").mkdir(parents=True)
        (layer / f"etc/layer-{i:02d}").write_text(f"{i}\n")
        (layer / "etc/top").write_text(f"{i}\n")
        layers.append(layer)
    assert len(unionfs.overlay_options(layers, "/u", "/w")) > unionfs.MAX_OPTIONS, "the test must need the farm"
    with unionfs.mount_rootfs(layers, paths.containers_dir / "c30", driver=driver) as m:
        assert (m.target / "etc/top").read_text() == "29\n"
        assert len(os.listdir(m.target / "etc")) == 31
        if driver == "overlay":
            assert "lowerdir=l/29:l/28:" in m.options


def test_upper_goes_on_a_tmpfs_when_the_store_is_on_overlay(layers, paths):
    """Docker-in-Docker: the container dir sits on an overlay, which cannot hold an upper dir."""
    with unionfs.mount_rootfs(layers, paths.containers_dir / "outer", driver="overlay") as outer:
        with unionfs.mount_rootfs(layers, outer.target / "var/inner", driver="overlay") as inner:
            assert inner.tmpfs is not None and unionfs.filesystem_of(inner.upper) == "tmpfs"
            (inner.target / "hello").write_text("hi\n")
            assert (inner.upper / "hello").exists()


def test_upper_on_tmpfs_can_be_asked_for(layers, paths):
    with unionfs.mount_rootfs(layers, paths.containers_dir / "c1", driver="overlay", upper_on_tmpfs=True) as m:
        (m.target / "x").write_text("x")
        assert unionfs.filesystem_of(m.upper) == "tmpfs"
    assert not unionfs.leftover_mounts(paths)


# --- bad input -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("driver", DRIVERS)
def test_missing_layer_dir_is_a_clear_error_and_leaves_nothing(layers, paths, driver):
    missing = paths.lib_dir / "layers" / "not-unpacked"
    with pytest.raises(ContainerError) as info:
        unionfs.mount_rootfs([layers[0], missing], paths.containers_dir / "c1", driver=driver)
    assert str(missing) in str(info.value) and "layer 1 does not exist" in str(info.value)
    assert "Fix:" in str(info.value)
    assert not (paths.containers_dir / "c1" / "rootfs").exists()


def test_workdir_on_another_filesystem_is_a_clear_error(layers, paths):
    upper, work, target = paths.run_dir / "upper", paths.run_dir / "work", paths.run_dir / "merged"
    for d in (upper, work, target):
        d.mkdir()
    syscalls.mount("minicontainer-test", str(work), "tmpfs", 0, "size=1m")
    try:
        with pytest.raises(ContainerError) as info:
            unionfs.mount_overlay(layers, upper, work, target)
        assert "work dir is on another filesystem" in str(info.value) and str(work) in str(info.value)
    finally:
        syscalls.umount2(str(work))
    assert not unionfs.is_mount_point(target)


def test_upper_dir_on_an_unsupported_filesystem_is_a_clear_error(layers, paths):
    with unionfs.mount_rootfs(layers, paths.containers_dir / "outer", driver="overlay") as outer:
        upper, work, target = outer.target / "u", outer.target / "w", outer.target / "t"
        for d in (upper, work, target):
            d.mkdir()
        with pytest.raises(ContainerError) as info:
            unionfs.mount_overlay(layers, upper, work, target)
        assert "cannot live on overlay" in str(info.value) and str(upper) in str(info.value)


def test_unknown_driver_is_a_clear_error(layers, paths):
    with pytest.raises(ContainerError, match="unknown union filesystem driver"):
        unionfs.mount_rootfs(layers, paths.containers_dir / "c1", driver="aufs")


def test_auto_driver_follows_the_environment(monkeypatch):
    monkeypatch.setenv(unionfs.DRIVER_ENV, "copy")
    assert unionfs.choose_driver("auto") == "copy"
    monkeypatch.delenv(unionfs.DRIVER_ENV)
    assert unionfs.choose_driver("auto") == "overlay"


# --- killed runtimes ----------------------------------------------------------------------------------

MOUNTER = r"""
import os, sys, time
from pathlib import Path
from minicontainer import syscalls, unionfs
if sys.argv[1] == "own-namespace":
    syscalls.unshare(syscalls.CLONE_NEWNS)
    syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
m = unionfs.mount_rootfs([Path(p) for p in sys.argv[3:]], Path(sys.argv[2]), driver="overlay", upper_on_tmpfs=True)
print("mounted", flush=True)
time.sleep(60)
"""


def _start_and_kill(mode: str, layers: list[Path], container_dir: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", MOUNTER, mode, str(container_dir)] + [str(p) for p in layers],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "mounted"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_sigkilled_mounter_in_its_own_mount_namespace_leaves_no_mount(layers, paths):
    """The runtime mounts the rootfs inside the container's mount namespace: the kernel drops it with the last process."""
    _start_and_kill("own-namespace", layers, paths.containers_dir / "killed")
    time.sleep(0.05)
    assert not [line for line in overlay_lines() if str(paths.run_dir) in line]


def test_sweep_unmounts_what_a_sigkilled_mounter_left_on_the_host(layers, paths):
    _start_and_kill("host", layers, paths.containers_dir / "killed")
    assert len(unionfs.leftover_mounts(paths)) == 2, "overlay and its upper tmpfs stay mounted on the host"
    removed = unionfs.sweep(paths)
    assert len(removed) == 2 and all(line.startswith("unmounted") for line in removed)
    assert not [line for line in overlay_lines() if str(paths.run_dir) in line]


def test_reset_sweeps_union_mounts(layers, paths):
    from minicontainer import lab

    unionfs.mount_rootfs(layers, paths.containers_dir / "left", driver="overlay")
    removed = lab.reset(paths)
    assert any(line.startswith("unmounted") for line in removed)
    assert not unionfs.leftover_mounts(paths) and not paths.run_dir.exists()
