"""`run` starts fast because of what it does not import (issue 3: the latency of `run`).

bench/bench_run_latency.py measures the time, paired with runc; this test guards the cause without
timing anything: on the way of `minicontainer run`, through the fast launcher (`python -I -S`),
none of the standard library's heavier modules is imported. Each would add one to several
milliseconds to every run (`re` pulls in `enum`, `functools` and `collections`; `pathlib`, `json`
and `argparse` pull in `re`; `typing`, `shutil`, `socket` ... see CONTRIBUTING.md).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from minicontainer.image import prepare_default_image
from minicontainer.paths import repo_root

FORBIDDEN = {"re", "enum", "functools", "collections", "json", "pathlib", "typing", "argparse", "gettext",
             "locale", "shutil", "signal", "socket", "contextlib", "dataclasses", "urllib", "ipaddress",
             "fnmatch", "tempfile", "subprocess", "inspect", "tokenize", "hashlib", "datetime", "threading"}

# What the launcher (.venv/bin/minicontainer, see launcher.py) does, then the loaded modules' names.
SCRIPT = """
import sys
sys.path.insert(0, {root!r})
from minicontainer.cli import main
code = main(sys.argv[1:])
print(" ".join(sorted(sys.modules)))
sys.exit(code)
"""


def loaded_by(*argv: str) -> set[str]:
    result = subprocess.run([sys.executable, "-I", "-S", "-c", SCRIPT.format(root=str(repo_root())), *argv],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


@pytest.fixture
def image(paths):
    prepare_default_image(paths)
    loaded_by("run", "--rm", "busybox", "/bin/true")  # the first run of an image may fill caches
    return "busybox"


def test_run_of_the_default_image_imports_no_heavy_module(image):
    loaded = loaded_by("run", "--rm", image, "/bin/true")
    assert "minicontainer.container" in loaded, "the script must have run the container"
    assert sorted(FORBIDDEN & loaded) == []


def test_run_of_a_rootfs_dir_imports_no_heavy_module(paths, busybox_rootfs):
    loaded = loaded_by("run", "--rm", "--read-only", "--rootfs", str(busybox_rootfs), "/bin/true")
    assert "minicontainer.process" in loaded
    assert sorted(FORBIDDEN & loaded) == []


def test_run_with_resource_limits_imports_no_heavy_module(paths, busybox_rootfs):
    """`-m`, `--cpus` and `--pids-limit` go through the cgroups package: it works on strings too."""
    loaded = loaded_by("run", "--rm", "-m", "64m", "--cpus", "0.5", "--pids-limit", "50",
                       "--rootfs", str(busybox_rootfs), "/bin/true")
    assert "minicontainer.cgroups.v1" in loaded or "minicontainer.cgroups.v2" in loaded
    assert sorted(FORBIDDEN & loaded) == []


def test_exec_imports_no_heavy_module(paths, busybox_rootfs):
    cid = subprocess.run([sys.executable, "-m", "minicontainer", "run", "-d", "--rootfs", str(busybox_rootfs),
                          "sleep", "60"], capture_output=True, text=True, timeout=60).stdout.strip()
    try:
        loaded = loaded_by("exec", cid, "/bin/true")
    finally:
        subprocess.run([sys.executable, "-m", "minicontainer", "rm", "-f", cid], capture_output=True, timeout=60)
    assert "minicontainer.lifecycle" in loaded
    assert sorted(FORBIDDEN & loaded) == []


def test_the_check_can_fail(image):
    """The same check on a command that needs the image store (json, pathlib ...) does find them."""
    assert {"json", "pathlib"} <= FORBIDDEN & loaded_by("images")
