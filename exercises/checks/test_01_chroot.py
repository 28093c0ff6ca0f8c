"""Checks for lesson 01 (chroot). Run them with `make check EX=01`, or `check("1.3")` in the notebook."""

from __future__ import annotations

import os

import pytest

from minicontainer import chroot, rootfs


@pytest.mark.exercise("1.1")
def test_applet_links_point_at_busybox(ex, tmp_path):
    made = ex.make_applet_links(tmp_path, ["bin/ls", "usr/bin/wc", "sbin/ifconfig"])
    for applet in ["bin/ls", "usr/bin/wc", "sbin/ifconfig"]:
        link = tmp_path / applet
        assert link.is_symlink(), f"make_applet_links(rootfs, [...]) made no symlink at {applet}"
        got = os.readlink(link)
        assert got == "/bin/busybox", f"{applet} points at {got!r}; expected '/bin/busybox' (the path inside the rootfs)"
    assert made == 3, f"make_applet_links returned {made!r}; expected 3 (the number of links made)"


@pytest.mark.exercise("1.1")
def test_applet_links_leave_existing_files_alone(ex, tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "sh").write_text("mine")
    made = ex.make_applet_links(tmp_path, ["bin/sh", "bin/cat"])
    assert (tmp_path / "bin" / "sh").read_text() == "mine", "make_applet_links replaced an existing bin/sh; leave it alone"
    assert made == 1, f"make_applet_links returned {made!r} when one of two applets already existed; expected 1"


@pytest.mark.exercise("1.2")
def test_users_in_passwd_and_group(ex, tmp_path):
    ex.write_users(tmp_path, [("root", 0, 0, "/root", "/bin/sh"), ("ada", 1000, 1000, "/home/ada", "/bin/sh")])
    passwd = (tmp_path / "etc" / "passwd").read_text().splitlines()
    group = (tmp_path / "etc" / "group").read_text().splitlines()
    assert passwd == ["root:x:0:0:root:/root:/bin/sh", "ada:x:1000:1000:ada:/home/ada:/bin/sh"], \
        f"etc/passwd holds {passwd!r}; expected one 'name:x:uid:gid:name:home:shell' line per user"
    assert group == ["root:x:0:", "ada:x:1000:"], f"etc/group holds {group!r}; expected one 'name:x:gid:' line per user"


@pytest.mark.exercise("1.3")
def test_chroot_makes_rootfs_the_root(ex, in_child, fresh_rootfs):
    def inside():
        ex.enter_chroot(fresh_rootfs)
        return sorted(os.listdir("/")), os.getcwd()

    entries, cwd = in_child(inside)
    assert entries == sorted(os.listdir(fresh_rootfs)), f"after enter_chroot, / lists {entries}; expected the rootfs's entries"
    assert cwd == "/", f"after enter_chroot the current directory is {cwd!r}; expected '/' (did you chdir?)"


@pytest.mark.exercise("1.4")
def test_escape_reaches_the_host_root(ex, in_child, fresh_rootfs):
    host_root = os.stat("/")

    def inside():
        chroot.enter_chroot(fresh_rootfs)
        before = os.stat("/").st_ino
        ex.escape_chroot()
        st = os.stat("/")
        return before, (st.st_dev, st.st_ino)

    before, after = in_child(inside)
    assert after == (host_root.st_dev, host_root.st_ino), \
        "after escape_chroot, / is still not the host's root (hint: chroot into a subdirectory, climb '..', chroot('.'))"


@pytest.mark.exercise("1.5")
def test_pivot_into_makes_rootfs_the_root(ex, in_child, fresh_rootfs):
    rootfs_id = (os.stat(fresh_rootfs).st_dev, os.stat(fresh_rootfs).st_ino)

    def inside():
        from minicontainer import syscalls
        syscalls.unshare(syscalls.CLONE_NEWNS)
        rootfs.make_mounts_private()
        ex.pivot_into(fresh_rootfs)
        st = os.stat("/")
        return sorted(os.listdir("/")), (st.st_ino,)

    entries, (ino,) = in_child(inside)
    assert ".old-root" not in entries, "/.old-root is still there after pivot_into: unmount it (MNT_DETACH) and rmdir it"
    assert ino == rootfs_id[1], "after pivot_into, / is not the rootfs directory"
    assert "bin" in entries, f"after pivot_into, / lists {entries}; expected the busybox rootfs"


@pytest.mark.exercise("1.5")
def test_pivot_into_defeats_the_escape(ex, in_child, fresh_rootfs):
    host_root = os.stat("/")

    def inside():
        from minicontainer import syscalls
        syscalls.unshare(syscalls.CLONE_NEWNS)
        rootfs.make_mounts_private()
        ex.pivot_into(fresh_rootfs)
        chroot.escape_chroot()
        st = os.stat("/")
        return st.st_dev, st.st_ino

    assert in_child(inside) != (host_root.st_dev, host_root.st_ino), \
        "the chroot escape still reaches the host's root after pivot_into: was the old root unmounted?"
