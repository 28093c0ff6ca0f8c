"""Lesson 01 on the real kernel: chroot confines path lookups until root escapes; pivot_root does not."""

from __future__ import annotations

import os

import pytest

from minicontainer import chroot
from minicontainer.rootfs import build_busybox_rootfs, busybox_applets, find_busybox
from minicontainer.errors import ContainerError


@pytest.fixture
def rootfs(tmp_path):
    return build_busybox_rootfs(tmp_path / "rootfs")


def test_busybox_rootfs_has_applets_users_and_mount_points(rootfs):
    assert (rootfs / "bin" / "busybox").is_file()
    assert os.readlink(rootfs / "bin" / "ls") == "/bin/busybox"
    assert len(busybox_applets(find_busybox())) > 100
    assert (rootfs / "etc" / "passwd").read_text().startswith("root:x:0:0:")
    for mount_point in ("proc", "dev", "sys", "tmp"):
        assert (rootfs / mount_point).is_dir()
    assert oct((rootfs / "tmp").stat().st_mode & 0o7777) == "0o1777"


def test_missing_busybox_names_the_package(tmp_path):
    with pytest.raises(ContainerError, match="apt-get install busybox-static"):
        build_busybox_rootfs(tmp_path / "rootfs", busybox=str(tmp_path / "no-busybox"))
    assert not (tmp_path / "rootfs").exists()


def test_a_chrooted_process_sees_the_rootfs(rootfs):
    out = chroot.run_in_chroot(rootfs, ["/bin/sh", "-c", "ls /; cat /etc/passwd"])
    assert out.returncode == 0, out.stderr
    assert "linuxrc" in out.stdout.split() and "root:x:0:0:root:/root:/bin/sh" in out.stdout


def test_the_classic_escape_leaves_a_chroot(rootfs):
    inside = chroot.look_from("chroot", rootfs)
    assert inside.is_directory(rootfs)
    escaped = chroot.look_from("chroot", rootfs, escape=True)
    assert escaped.is_directory("/"), "root inside a chroot reaches the host's root"


def test_pivot_root_defeats_the_same_escape(rootfs):
    pivoted = chroot.look_from("pivot", rootfs, escape=True)
    assert pivoted.is_directory(rootfs) and not pivoted.is_directory("/")
    assert ".old-root" not in pivoted.entries


def test_pivoted_process_runs_busybox_and_leaves_no_mount(rootfs):
    before = open("/proc/self/mountinfo").read()
    out = chroot.run_pivoted(rootfs, ["/bin/sh", "-c", "echo hello from $(pwd)"])
    assert out.stdout.strip() == "hello from /", out.stderr
    assert open("/proc/self/mountinfo").read() == before


def test_escape_is_never_tried_on_the_host(rootfs):
    with pytest.raises(ValueError):
        chroot.look_from("host", rootfs, escape=True)
