"""Rootless mode: an unprivileged user, created by the test, runs a container in a user namespace (lesson 02)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from minicontainer import namespaces

USER = "mc-rootless"
PACKAGE = Path(__file__).resolve().parent.parent / "minicontainer"


@pytest.fixture(scope="module")
def user():
    """An ordinary user, made for this test and removed after it."""
    made = False
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER], check=True)
        made = True
    yield pwd.getpwnam(USER)
    if made:
        subprocess.run(["userdel", USER], check=False)


@pytest.fixture
def sandbox(user):
    """A copy of the package and a run directory the user can read (the checkout may sit under /root)."""
    tmp = Path(tempfile.mkdtemp(prefix="mc-rootless-"))
    tmp.chmod(0o755)
    shutil.copytree(PACKAGE, tmp / "minicontainer", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp / "run").mkdir()
    os.chown(tmp / "run", user.pw_uid, user.pw_gid)
    yield tmp
    shutil.rmtree(tmp, ignore_errors=True)


def python_for(user) -> str:
    """An interpreter the user may execute (the venv's may live in /root, which is private)."""
    for candidate in (sys.executable, "/usr/bin/python3"):
        ok = subprocess.run(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
                             candidate, "-c", "pass"], capture_output=True)
        if ok.returncode == 0:
            return candidate
    pytest.fail("no Python interpreter is executable by an unprivileged user")


def run_as(user, sandbox: Path, *args: str) -> subprocess.CompletedProcess:
    boot = f"import sys; sys.path.insert(0, {str(sandbox)!r}); from minicontainer.cli import main; sys.exit(main())"
    env = {"PATH": "/usr/bin:/bin", "MC_RUN_DIR": str(sandbox / "run"), "MC_LIB_DIR": str(sandbox / "lib")}
    return subprocess.run(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
                           python_for(user), "-I", "-S", "-c", boot, *args],
                          capture_output=True, text=True, env=env, cwd=str(sandbox), timeout=60)


def test_rootless_container_is_root_inside_and_the_user_outside(user, sandbox, busybox_rootfs):
    script = "id -u; cat /proc/self/uid_map; hostname; ps -o pid,comm; ls /sys/class/net"
    result = run_as(user, sandbox, "run", "--rm", "--init", "--hostname", "rootless", "--rootfs", str(busybox_rootfs),
                    "/bin/sh", "-c", script)
    assert result.returncode == 0, result.stderr
    out = result.stdout.split()
    assert out[0] == "0", "inside its user namespace the workload should be root"
    assert out[1:4] == ["0", str(user.pw_uid), "1"], f"uid_map should map 0 to {user.pw_uid}: {out[1:4]}"
    assert out[4] == "rootless"
    assert "1" in out and "mc-init" in out
    assert out[-1] == "lo"


def test_rootless_exit_codes_and_errors(user, sandbox, busybox_rootfs):
    rootfs = str(busybox_rootfs)
    assert run_as(user, sandbox, "run", "--rm", "--rootfs", rootfs, "sh", "-c", "exit 1").returncode == 1
    assert run_as(user, sandbox, "run", "--rm", "--init", "--rootfs", rootfs, "sh", "-c", "kill -9 $$").returncode == 137
    result = run_as(user, sandbox, "run", "--rm", "--rootfs", rootfs, "nope")
    assert result.returncode == 127 and "executable file not found" in result.stderr
    assert not list((sandbox / "run" / "containers").iterdir())


def test_rootless_cannot_touch_what_host_root_owns(user, sandbox, busybox_rootfs):
    result = run_as(user, sandbox, "run", "--rm", "--rootfs", str(busybox_rootfs), "sh", "-c",
                    "touch /bin/x 2>&1 || echo refused; hostname other")
    assert "refused" in result.stdout, "root in a user namespace must not write the host root's files"
    assert not (busybox_rootfs / "bin" / "x").exists()


def test_id_maps_text():
    uid_maps, gid_maps = namespaces.rootless_maps(uid=1000, gid=1000)
    assert [m.line() for m in uid_maps] == ["0 1000 1\n"] and [m.line() for m in gid_maps] == ["0 1000 1\n"]


def test_rootless_detached_exec_and_stop(user, sandbox, busybox_rootfs):
    cid = run_as(user, sandbox, "run", "-d", "--rootfs", str(busybox_rootfs), "sh", "-c", "echo up; exec sleep 30")
    assert cid.returncode == 0, cid.stderr
    cid = cid.stdout.strip()
    out = run_as(user, sandbox, "exec", cid, "sh", "-c", "id -u; readlink /proc/1/ns/user")
    assert out.returncode == 0, out.stderr
    uid, userns = out.stdout.split()
    assert uid == "0" and userns != os.readlink("/proc/self/ns/user"), "exec must join the container's user namespace"
    assert run_as(user, sandbox, "stop", "-t", "2", cid).returncode == 0
    assert run_as(user, sandbox, "rm", cid).returncode == 0
    assert not list((sandbox / "run" / "containers").iterdir())
