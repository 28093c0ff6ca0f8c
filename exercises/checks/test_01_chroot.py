"""Checks for lesson 01 (chroot). Run them with `make check EX=01`, or `check("1.3")` in the notebook.

1.3 and 1.4 change the process that calls them: they run in a forked child, in a mount namespace of
its own, on a fresh copy of the busybox rootfs. The milestone runs your functions inside the real
runtime: `minicontainer --yours=01 rootfs DIR`, then `minicontainer --yours=01 run --rootfs DIR ...`.
"""

from __future__ import annotations

import os

import pytest

from minicontainer import chroot, rootfs, syscalls


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
def test_applet_links_leave_existing_files_alone_and_use_the_target(ex, tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "sh").write_text("mine")
    made = ex.make_applet_links(tmp_path, ["bin/sh", "bin/cat"], "/opt/box")
    assert (tmp_path / "bin" / "sh").read_text() == "mine", "make_applet_links replaced an existing bin/sh; leave it alone"
    assert made == 1, f"make_applet_links returned {made!r} when one of two applets already existed; expected 1"
    assert os.readlink(tmp_path / "bin" / "cat") == "/opt/box", "make_applet_links(..., target) must point the links at target"


@pytest.mark.exercise("1.2")
def test_users_in_passwd_and_group(ex, tmp_path):
    ex.write_users(tmp_path, [("root", 0, 0, "/root", "/bin/sh"), ("ada", 1000, 1000, "/home/ada", "/bin/sh")],
                   [("root", 0), ("staff", 50), ("ada", 1000)])
    passwd = (tmp_path / "etc" / "passwd").read_text().splitlines()
    group = (tmp_path / "etc" / "group").read_text().splitlines()
    assert passwd == ["root:x:0:0:root:/root:/bin/sh", "ada:x:1000:1000:ada:/home/ada:/bin/sh"], \
        f"etc/passwd holds {passwd!r}; expected one 'name:x:uid:gid:name:home:shell' line per user"
    assert group == ["root:x:0:", "staff:x:50:", "ada:x:1000:"], f"etc/group holds {group!r}; expected one 'name:x:gid:' line per group"


@pytest.mark.exercise("1.2")
def test_the_runtime_reads_your_users(ex, fresh_rootfs):
    """`--user NAME` is looked up in the rootfs's /etc/passwd, as Docker does: your file must parse."""
    from minicontainer.workload import lookup_user
    ex.write_users(fresh_rootfs, [("root", 0, 0, "/root", "/bin/sh"), ("web", 33, 33, "/var/www", "/bin/false")],
                   [("root", 0), ("www-data", 33)])
    got = lookup_user("web:www-data", str(fresh_rootfs / "etc/passwd"), str(fresh_rootfs / "etc/group"))
    assert got == (33, 33, "/var/www"), f"the runtime read --user web:www-data from your files as {got}; expected (33, 33, '/var/www')"


def _in_namespace_with_root(root, read_only=False):
    """In the forked child: a private mount namespace where `root` is a mount point (what the runtime does first)."""
    syscalls.unshare(syscalls.CLONE_NEWNS)
    rootfs.make_mounts_private()
    rootfs.bind_root(str(root), read_only=read_only)


def _escape_and_look():
    chroot.escape_chroot()
    st = os.stat("/")
    return st.st_dev, st.st_ino


@pytest.mark.exercise("1.3")
def test_chroot_into_makes_the_rootfs_the_root(ex, in_child, fresh_rootfs):
    def inside():
        _in_namespace_with_root(fresh_rootfs)
        ex.chroot_into(str(fresh_rootfs))
        return sorted(os.listdir("/")), os.getcwd()

    entries, cwd = in_child(inside)
    assert entries == sorted(os.listdir(fresh_rootfs)), f"after chroot_into, / lists {entries}; expected the rootfs's entries"
    assert cwd == "/", f"after chroot_into the current directory is {cwd!r}; expected '/' (chroot does not move it)"


@pytest.mark.exercise("1.3")
def test_chroot_into_moves_the_mount_so_the_escape_stays_inside(ex, in_child, fresh_rootfs):
    host_root = os.stat("/")
    root_id = (os.stat(fresh_rootfs).st_dev, os.stat(fresh_rootfs).st_ino)

    def inside():
        _in_namespace_with_root(fresh_rootfs)
        ex.chroot_into(str(fresh_rootfs))
        return _escape_and_look()

    after = in_child(inside)
    assert after != (host_root.st_dev, host_root.st_ino), \
        "after chroot_into, the chroot escape reaches the host's root: move the root's mount onto '/' (MS_MOVE) first"
    assert after[1] == root_id[1], "after chroot_into and the escape, / is not the rootfs any more"


@pytest.mark.exercise("1.4")
def test_pivot_makes_the_rootfs_the_root_and_defeats_the_escape(ex, in_child, fresh_rootfs):
    host_root = os.stat("/")
    root_ino = os.stat(fresh_rootfs).st_ino

    def inside():
        _in_namespace_with_root(fresh_rootfs)
        ex.pivot_without_old_dir(str(fresh_rootfs))
        entries, cwd, ino = sorted(os.listdir("/")), os.getcwd(), os.stat("/").st_ino
        return entries, cwd, ino, _escape_and_look()

    entries, cwd, ino, escaped = in_child(inside)
    assert ino == root_ino and "bin" in entries, f"after pivot_without_old_dir, / lists {entries}; expected the busybox rootfs"
    assert cwd == "/", f"after pivot_without_old_dir the current directory is {cwd!r}; expected '/'"
    assert escaped != (host_root.st_dev, host_root.st_ino), \
        "the chroot escape still reaches the host's root after your pivot: was the old root unmounted (MNT_DETACH)?"


@pytest.mark.exercise("1.4")
def test_pivot_works_on_a_read_only_root_and_leaves_one_root_mount(ex, in_child, fresh_rootfs):
    def inside():
        _in_namespace_with_root(fresh_rootfs, read_only=True)
        ex.pivot_without_old_dir(str(fresh_rootfs))
        syscalls.mount("proc", "/proc", "proc", 0)
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        return sorted(os.listdir("/")), points

    entries, points = in_child(inside)
    assert not any(e.startswith(".") for e in entries), f"pivot_without_old_dir left {entries} in the root"
    assert points.count("/") == 1 and len(points) == 2, \
        f"after your pivot the mount table shows {points}: the host's mounts must be gone (only / and the new /proc)"


# --- the milestone: your runtime -----------------------------------------------------------------

ESCAPE = """
import os
os.makedirs("/.escape", exist_ok=True)
os.chroot("/.escape")
for _ in range(64):
    os.chdir("..")
os.chroot(".")
print(" ".join(sorted(os.listdir("/"))))
"""


@pytest.mark.milestone("your runtime built a root filesystem, and a container in it cannot climb out")
def test_milestone_your_runtime_builds_and_enters_a_root(yours, tmp_path):
    root = tmp_path / "rootfs"
    yours("rootfs", str(root))
    assert os.readlink(root / "bin/ls") == "/bin/busybox", "`minicontainer --yours=01 rootfs DIR` made no bin/ls -> /bin/busybox"
    listing = yours("run", "--rm", "--rootfs", str(root), "ls", "/").stdout.split()
    assert listing == sorted(os.listdir(root)), f"`ls /` in your container shows {listing}; expected the rootfs: {sorted(os.listdir(root))}"
    who = yours("run", "--rm", "--rootfs", str(root), "--user", "nobody", "id").stdout.strip()
    assert who == "uid=65534(nobody) gid=65534(nogroup)", f"`id` as --user nobody says {who!r}: are your /etc files right?"
    listing = yours("run", "--rm", "--no-pivot", "--rootfs", str(root), "ls", "/").stdout.split()
    assert listing == sorted(os.listdir(root)), f"with --no-pivot (your chroot_into) `ls /` shows {listing}"
    python = "/usr/bin/python3"  # the host's (Debian's) Python, lent to the container read-only with /usr
    if not os.path.exists(python):
        return
    lend = ["-v", "/usr:/usr:ro", "-v", f"{os.path.realpath('/usr/lib')}:/lib:ro"]
    if os.path.isdir("/lib64"):
        lend += ["-v", f"{os.path.realpath('/lib64')}:/lib64:ro"]
    seen = yours("run", "--rm", "--rootfs", str(root), *lend, python, "-I", "-S", "-c", ESCAPE).stdout.split()
    host = sorted(os.listdir("/"))
    assert seen != host, f"the chroot escape reached the host's / from your container ({seen[:6]}...): detach the old root"
    assert "bin" in seen and "linuxrc" in seen, f"after the escape, / in your container shows {seen}; expected the rootfs"
