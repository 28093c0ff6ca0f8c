"""The command line: --help and --version everywhere, one-line errors, Docker's exit statuses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from minicontainer.cli import build_parser, main

ROOT = str(Path(__file__).resolve().parents[1])


def mc(*args: str, user: str | None = None, root: str = ROOT) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "minicontainer", *args]
    if user:
        argv = ["runuser", "-u", user, "--", "env", f"PYTHONPATH={root}", "/usr/bin/python3", "-m", "minicontainer", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_version():
    out = mc("--version")
    assert out.returncode == 0 and out.stdout.startswith("minicontainer 0.")


def test_every_command_has_help():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"doctor", "prepare", "reset"} <= set(commands)
    for name in commands:
        with pytest.raises(SystemExit) as info:
            main([name, "--help"])
        assert info.value.code == 0, f"minicontainer {name} --help failed"


def test_unknown_flag_is_a_usage_error():
    out = mc("doctor", "--no-such-flag")
    assert out.returncode == 125 and "unrecognized arguments: --no-such-flag" in out.stderr  # Docker's status


def test_reset_without_root_is_one_clear_line(readable_root):
    out = mc("reset", user="nobody", root=readable_root)
    assert out.returncode == 1  # an error of a command other than run: Docker's CLI exits 1
    assert out.stderr.strip().count("\n") == 0, "one line, never a traceback"
    assert "needs root" in out.stderr and "sudo" in out.stderr


def test_prepare_and_reset_in_private_dirs(paths):
    out = mc("prepare")
    assert out.returncode == 0, out.stderr
    assert (paths.default_rootfs / "bin" / "busybox").is_file()
    out = mc("reset")
    assert out.returncode == 0, out.stderr
    assert not paths.lib_dir.exists() and not paths.run_dir.exists()
