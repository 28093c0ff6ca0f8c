"""The syscall layer: each failure names the call, the path and a fix a learner can act on."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from minicontainer import syscalls
from minicontainer.syscalls import SyscallError

ROOT = str(Path(syscalls.__file__).resolve().parents[1])


def in_fresh_process(code: str, user: str | None = None, root: str = ROOT) -> subprocess.CompletedProcess:
    """Run `code` (with minicontainer importable from `root`) in a fresh single-threaded interpreter,
    optionally as `user` (then `root` must be a copy that user can read: the readable_root fixture)."""
    argv = ["/usr/bin/python3", "-I", "-S", "-c", f"import sys; sys.path.insert(0, {root!r})\n{code}"]
    if user:
        argv = ["runuser", "-u", user, "--"] + argv
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


def test_umount_of_a_missing_path_names_the_call_and_the_path():
    with pytest.raises(SyscallError) as info:
        syscalls.umount2("/nonexistent/minicontainer-test")
    assert info.value.errno == errno.ENOENT
    assert "umount2(/nonexistent/minicontainer-test) failed: ENOENT" in str(info.value)
    assert "Fix: the path does not exist" in str(info.value)


def test_umount_of_a_directory_that_is_not_a_mount_point(tmp_path):
    with pytest.raises(SyscallError) as info:
        syscalls.umount2(str(tmp_path))
    assert info.value.errno == errno.EINVAL
    assert "not a mount point" in str(info.value)


@pytest.mark.parametrize("where", ["on-root-mount", "inside-another-mount"])
def test_pivot_root_into_a_directory_that_is_not_a_mount_point_explains_the_bind_mount(tmp_path, where):
    # Linux says EBUSY when new_root sits on the current root mount, EINVAL when it sits inside
    # another mount without being one itself: the fix is the same bind mount.
    code = f"""
import os
from minicontainer import syscalls
syscalls.unshare(syscalls.CLONE_NEWNS)
syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
base = {str(tmp_path)!r}
if {where!r} == "inside-another-mount":
    syscalls.mount("tmpfs", base, "tmpfs")
new_root = os.path.join(base, "new-root")
os.makedirs(new_root + "/old")
try:
    syscalls.pivot_root(new_root, new_root + "/old")
except syscalls.SyscallError as exc:
    print(exc)
"""
    out = in_fresh_process(code)
    expected = "EBUSY" if where == "on-root-mount" else "EINVAL"
    assert "pivot_root(" in out.stdout and expected in out.stdout, out.stdout + out.stderr
    assert "bind-mount new_root onto itself" in out.stdout


def test_mount_without_root_says_it_needs_root(readable_root):
    out = in_fresh_process("""
from minicontainer import syscalls
try:
    syscalls.mount("tmpfs", "/tmp", "tmpfs")
except syscalls.SyscallError as exc:
    print(exc)
""", user="nobody", root=readable_root)
    assert "mount(tmpfs, /tmp, tmpfs) failed: EPERM" in out.stdout, out.stdout + out.stderr
    assert "needs root" in out.stdout


def test_unshare_without_root_suggests_a_user_namespace(readable_root):
    out = in_fresh_process("""
from minicontainer import syscalls
try:
    syscalls.unshare(syscalls.CLONE_NEWNS | syscalls.CLONE_NEWUTS)
except syscalls.SyscallError as exc:
    print(exc)
""", user="nobody", root=readable_root)
    assert "unshare(CLONE_NEWNS|CLONE_NEWUTS) failed: EPERM" in out.stdout, out.stdout + out.stderr
    assert "CLONE_NEWUSER" in out.stdout


def test_user_namespace_from_a_threaded_process_explains_why():
    out = in_fresh_process("""
import threading, time
from minicontainer import syscalls
threading.Thread(target=time.sleep, args=(2,), daemon=True).start()
try:
    syscalls.unshare(syscalls.CLONE_NEWUSER)
except syscalls.SyscallError as exc:
    print(exc)
""")
    assert "EINVAL" in out.stdout and "single-threaded" in out.stdout, out.stdout + out.stderr


def test_sethostname_in_a_new_uts_namespace_leaves_the_host_alone():
    host = os.uname().nodename
    out = in_fresh_process("""
import os
from minicontainer import syscalls
syscalls.unshare(syscalls.CLONE_NEWUTS)
syscalls.sethostname("mc-test-box")
print(os.uname().nodename)
""")
    assert out.stdout.strip() == "mc-test-box", out.stderr
    assert os.uname().nodename == host


def test_chroot_into_a_missing_directory(tmp_path):
    with pytest.raises(SyscallError) as info:
        syscalls.chroot(str(tmp_path / "missing"))
    assert "chroot(" in str(info.value) and "ENOENT" in str(info.value)


def test_namespace_names_spell_out_flags():
    assert syscalls.namespace_names(syscalls.CLONE_NEWPID | syscalls.CLONE_NEWNET) == "CLONE_NEWPID|CLONE_NEWNET"
    assert syscalls.namespace_names(0) == "0"


def test_setns_with_a_wrong_namespace_type():
    with open("/proc/self/ns/uts") as uts:
        with pytest.raises(SyscallError) as info:
            syscalls.setns(uts.fileno(), syscalls.CLONE_NEWNET)
    assert "setns" in str(info.value) and "EINVAL" in str(info.value)
