"""-t, -i and logs -f: a real pseudo-terminal, window size, Ctrl-C reaching the workload (lesson 02)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

LAUNCHER = str(Path(sys.executable).parent / "minicontainer")


def in_terminal(argv: list[str], send_when: bytes = b"", keys: bytes = b"", rows: int = 33, cols: int = 101,
                timeout: float = 30) -> tuple[bytes, int]:
    """Run argv on a new pseudo-terminal of rows x cols (like a learner's terminal); type `keys` after `send_when`."""
    pid, fd = pty.fork()
    if pid == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.execv(argv[0], argv)
    out, sent = b"", False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            out += data
        if send_when and send_when in out and not sent:
            os.write(fd, keys)
            sent = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return out, os.waitstatus_to_exitcode(status)


def test_tty_has_the_window_size_and_ctrl_c_reaches_the_workload(paths, busybox_rootfs):
    out, code = in_terminal([LAUNCHER, "run", "--rm", "-it", "--rootfs", str(busybox_rootfs), "sh", "-c",
                             "tty; stty size; echo ready; sleep 10; echo not-interrupted"],
                            send_when=b"ready", keys=b"\x03")
    lines = out.decode().replace("\r", "").splitlines()
    assert lines[0] == "/dev/console", f"the workload's terminal is {lines[0]!r}"
    assert lines[1] == "33 101", f"stty size in the container says {lines[1]!r}; expected the terminal's 33 101"
    assert "not-interrupted" not in out.decode()
    assert code == 130, f"Ctrl-C should stop the workload with 130 (128 + SIGINT), got {code}"


def test_exec_with_a_tty(paths, busybox_rootfs):
    cid = subprocess.run([LAUNCHER, "run", "-d", "--rm", "--rootfs", str(busybox_rootfs), "sleep", "30"],
                         capture_output=True, text=True, check=True).stdout.strip()
    try:
        out, code = in_terminal([LAUNCHER, "exec", "-it", cid, "sh", "-c", "stty size; exit 5"], rows=20, cols=70)
        assert out.decode().replace("\r", "").splitlines()[0] == "20 70" and code == 5
    finally:
        subprocess.run([LAUNCHER, "rm", "-f", cid], capture_output=True)


def test_interactive_stdin_reaches_the_workload(paths, busybox_rootfs):
    result = subprocess.run([LAUNCHER, "run", "--rm", "-i", "--rootfs", str(busybox_rootfs), "tr", "a-z", "A-Z"],
                            input="hello\n", capture_output=True, text=True, timeout=30)
    assert result.stdout == "HELLO\n"
    result = subprocess.run([LAUNCHER, "run", "--rm", "--rootfs", str(busybox_rootfs), "cat"],
                            input="ignored\n", capture_output=True, text=True, timeout=30)
    assert result.stdout == "", "without -i the workload's stdin must be empty, as in Docker"


def test_logs_follow_ends_with_the_container(paths, busybox_rootfs):
    cid = subprocess.run([LAUNCHER, "run", "-d", "--rootfs", str(busybox_rootfs), "sh", "-c",
                          "for i in 1 2 3; do echo line $i; sleep 0.1; done"],
                         capture_output=True, text=True, check=True).stdout.strip()
    result = subprocess.run([LAUNCHER, "logs", "-f", cid], capture_output=True, text=True, timeout=30)
    assert result.stdout.splitlines() == ["line 1", "line 2", "line 3"]
    subprocess.run([LAUNCHER, "rm", cid], check=True, capture_output=True)
