"""`minicontainer run` on the real kernel: isolation, exit codes, errors, nothing left behind (lesson 02)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from minicontainer import container
from minicontainer.container import RunSpec
from minicontainer.errors import ContainerError

ROOT = Path(__file__).resolve().parent.parent


def mc(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """Run the minicontainer command as a learner would (a fresh, single-threaded process)."""
    launcher = Path(sys.executable).parent / "minicontainer"
    return subprocess.run([str(launcher), *args], capture_output=True, text=True, timeout=60, **kwargs)


ROOTFS: list[str] = []


@pytest.fixture(autouse=True)
def _rootfs(busybox_rootfs):
    ROOTFS[:] = [str(busybox_rootfs)]


def run_sh(script: str, *flags: str) -> subprocess.CompletedProcess:
    return mc("run", "--rm", *flags, "--rootfs", ROOTFS[0], "/bin/sh", "-c", script)


def test_workload_sees_pid_1_and_no_host_processes(paths, busybox_rootfs):
    out = run_sh("ps -o pid,comm").stdout.split()
    pids = sorted(int(p) for p in out if p.isdigit())
    assert pids[0] == 1, f"ps in the container showed PIDs {pids}; the first should be 1"
    assert max(pids) < 10, f"ps in the container showed PIDs {pids}: host processes are visible"
    assert str(os.getpid()) not in out


def test_without_init_the_workload_itself_is_pid_1(paths, busybox_rootfs):
    assert run_sh("echo $$", "--no-init").stdout.strip() == "1"


def test_hostname_is_the_containers_own(paths, busybox_rootfs):
    # sethostname needs CAP_SYS_ADMIN, which a default container lacks (lesson 08), as in Docker
    result = run_sh("hostname; hostname changed-inside; hostname", "--hostname", "box1", "--cap-add", "SYS_ADMIN")
    assert result.stdout.split() == ["box1", "changed-inside"]
    assert socket.gethostname() != "changed-inside"


@pytest.mark.parametrize("script, code", [("exit 0", 0), ("exit 1", 1), ("kill -9 $$", 137), ("exit 42", 42)])
def test_exit_codes_propagate(paths, busybox_rootfs, script, code):
    # --init: a shell that is PID 1 itself cannot be killed from inside its namespace (Docker's too)
    assert run_sh(script, "--init").returncode == code


def test_a_workload_that_is_pid_1_ignores_a_sigkill_from_inside(paths, busybox_rootfs):
    """Docker's default: no init, the workload is PID 1, and the kernel protects PID 1 from signals
    sent inside its namespace that it has no handler for: even SIGKILL."""
    assert run_sh("kill -9 $$; echo survived").stdout.strip() == "survived"


def test_command_not_found_is_127_with_dockers_message(paths, busybox_rootfs):
    result = mc("run", "--rm", "--rootfs", ROOTFS[0], "no-such-command")
    assert result.returncode == 127
    assert 'exec: "no-such-command": executable file not found in $PATH' in result.stderr
    assert not list(paths.containers_dir.iterdir())


def test_only_loopback_network(paths, busybox_rootfs):
    out = run_sh("ls /sys/class/net").stdout.split()
    assert out == ["lo"]


def test_proc_dev_sys_are_set_up(paths, busybox_rootfs):
    out = run_sh("ls /dev; cat /proc/self/mountinfo; echo x > /dev/null && echo null-ok; "
                 "touch /sys/x 2>/dev/null || echo sys-ro; cat /proc/kcore 2>/dev/null | wc -c").stdout
    for dev in ("null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "fd", "stdin"):
        assert f"\n{dev}\n" in f"\n{out}", f"/dev/{dev} missing in the container"
    assert "null-ok" in out and "sys-ro" in out
    assert out.strip().endswith("0"), "/proc/kcore is readable: it must be masked"


def test_every_masked_and_read_only_path_this_kernel_has_is_covered(paths, busybox_rootfs):
    """runc's masked and read-only paths: each one that exists on this kernel must be a mount point
    inside (a /dev/null bind, an empty read-only tmpfs, or a read-only bind). Kernels differ in
    which exist (/proc/kcore, /proc/sysrq-trigger ...), so the list is taken from the host."""
    from minicontainer.rootfs import MASKED_PATHS, READONLY_PATHS
    wanted = [p for p in MASKED_PATHS + READONLY_PATHS if os.path.lexists(p)]
    assert wanted, "the host has none of the masked paths: the test would check nothing"
    out = run_sh("cat /proc/self/mountinfo").stdout
    inside = {line.split()[4]: line.split()[5] for line in out.splitlines()}
    missing = [p for p in wanted if p not in inside]
    assert not missing, f"not masked in the container: {missing}"
    writable = [p for p in READONLY_PATHS if p in inside and "ro" not in inside[p].split(",")]
    assert not writable, f"read-only paths mounted read-write: {writable}"


def test_host_mounts_are_gone(paths, busybox_rootfs):
    out = run_sh("cat /proc/self/mountinfo").stdout
    mount_points = {line.split()[4] for line in out.splitlines()}
    expected_prefixes = ("/proc", "/dev", "/sys", "/etc/host", "/etc/resolv.conf")
    strays = sorted(m for m in mount_points if m != "/" and not m.startswith(expected_prefixes))
    assert not strays, f"the container sees host mounts: {strays}"
    host_mounts = {line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()}
    assert len(mount_points) < len(host_mounts) or "/work" not in mount_points


def test_etc_hosts_and_hostname(paths, busybox_rootfs):
    out = run_sh("cat /etc/hostname /etc/hosts", "-h", "web").stdout
    assert out.startswith("web\n") and "127.0.0.1\tlocalhost" in out


def test_env_workdir_user(paths, busybox_rootfs):
    out = run_sh("echo $GREETING; pwd; id -u; echo $HOME", "-e", "GREETING=hi", "-w", "/tmp", "-u", "nobody").stdout
    assert out.split() == ["hi", "/tmp", "65534", "/nonexistent"]


def test_bind_mount_and_tmpfs(paths, busybox_rootfs, tmp_path):
    (tmp_path / "in.txt").write_text("from host\n")
    # Mount points that exist in the image: the shared busybox rootfs must not be written to.
    out = run_sh("cat /mnt/in.txt; echo hi > /mnt/out.txt; touch /home/x 2>/dev/null || echo ro-ok; "
                 "grep ' /run ' /proc/mounts | cut -d' ' -f3",
                 "-v", f"{tmp_path}:/mnt", "-v", f"{tmp_path}:/home:ro", "--tmpfs", "/run").stdout
    assert out.split() == ["from", "host", "ro-ok", "tmpfs"]
    assert (tmp_path / "out.txt").read_text() == "hi\n"


def test_unknown_rootfs_is_a_clear_error_and_leaves_nothing(paths, tmp_path):
    with pytest.raises(ContainerError, match="root filesystem not found"):
        container.run(RunSpec(rootfs=str(tmp_path / "nope"), command=["/bin/true"]), paths)
    assert not paths.containers_dir.exists() or not list(paths.containers_dir.iterdir())
    result = mc("run", "--rm", "no-such-image", "true")
    assert result.returncode == 125 and "Unable to find image 'no-such-image'" in result.stderr


def test_bad_flag_values_are_rejected(paths, busybox_rootfs):
    result = mc("run", "--rm", "-v", "/a:/b:/c:/d", ROOTFS[0], "true")
    assert result.returncode == 125 and "invalid volume specification" in result.stderr
    result = mc("run", "--rm", "-v", "relative/dir:/x", ROOTFS[0], "true")  # (`-v name:/x` is a named volume)
    assert result.returncode == 125 and "includes invalid characters for a local volume name" in result.stderr
    result = mc("run", "--rm", "--name", "bad name!", ROOTFS[0], "true")
    assert result.returncode == 125 and "Invalid container name" in result.stderr


def test_library_run_from_a_threaded_process_uses_a_fresh_helper(paths, busybox_rootfs, capfd):
    import threading
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()  # now this process has two threads, like a Jupyter kernel
    try:
        c = container.run(RunSpec(rootfs=ROOTFS[0], command=["/bin/sh", "-c", "hostname; exit 3"],
                                    hostname="threaded", rm=True), paths)
    finally:
        stop.set()
        t.join()
    assert c.exit_code == 3
    assert "threaded" in capfd.readouterr().out


def test_image_symlinks_cannot_point_mounts_at_the_host(paths, tmp_path):
    """An image whose /evil -> <a host directory> must not make `-v x:/evil/sub` create or mount on the host."""
    from minicontainer.rootfs import build_busybox_rootfs

    rootfs = build_busybox_rootfs(tmp_path / "rootfs")
    host_dir = tmp_path / "host-dir"
    host_dir.mkdir()
    os.symlink(str(host_dir), rootfs / "evil")
    os.symlink("../../../../../../../../etc", rootfs / "up")  # ".." stops at the container's root
    source = tmp_path / "src"
    source.mkdir()
    (source / "f").write_text("bound\n")
    result = mc("run", "--rm", "-v", f"{source}:/evil/sub", "-v", f"{source}:/up/sub2", "--rootfs", str(rootfs),
                "sh", "-c", "cat /evil/sub/f /up/sub2/f")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "bound\nbound\n"
    assert not (host_dir / "sub").exists(), "a mount point was created on the host through the image's symlink"
    # lesson 09: nor in the --rootfs directory (shared): the container's own layer got them
    assert not (rootfs / str(host_dir).lstrip("/")).exists() and not (rootfs / "etc" / "sub2").exists()
