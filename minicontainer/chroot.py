"""chroot(2), its classic escape, and pivot_root(2) as the fix (lesson 01).

chroot changes one thing: where a process's path lookups start ("/"). It does not change the
current directory, and a root process may call chroot again. So a root process inside a chroot can
chroot into a subdirectory (its cwd is now *outside* its root), walk up with "..", and chroot(".")
at the real root: the escape. pivot_root instead swaps the root mount of a whole (private) mount
namespace and the old root can be unmounted: there is nothing left to walk up to.

Each demonstration runs in a fresh helper process: chroot and unshare change the calling process,
and the caller may be a Jupyter kernel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from . import syscalls

PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)


def enter_chroot(rootfs: str | os.PathLike) -> None:
    """chroot into rootfs and make "/" the current directory (without chdir the cwd stays outside)."""
    syscalls.chroot(os.fspath(rootfs))
    os.chdir("/")


def escape_chroot(depth: int = 64) -> None:
    """The classic escape, run by root inside a chroot: afterwards "/" is the host's root again.

    1. chroot into a subdirectory: the root moves down, but the cwd stays where it was, above it;
    2. chdir("..") many times: ".." at the real root is the real root, so overshooting is harmless;
    3. chroot("."): the root is now the host's root.
    """
    os.makedirs("/.escape", exist_ok=True)
    syscalls.chroot("/.escape")
    for _ in range(depth):
        os.chdir("..")
    syscalls.chroot(".")


# The helper: a fresh interpreter that sets up its root in one of three ways, optionally tries the
# escape, then reports what "/" looks like (or execs a command).
_HELPER = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
from minicontainer import chroot, rootfs, syscalls
mode, root, escape = sys.argv[2], sys.argv[3], sys.argv[4] == "escape"
argv = sys.argv[5:]
if mode == "chroot":
    chroot.enter_chroot(root)
elif mode == "pivot":
    syscalls.unshare(syscalls.CLONE_NEWNS)
    rootfs.make_mounts_private()
    rootfs.pivot_into(root)
if escape:
    try:
        chroot.escape_chroot()
    except OSError as exc:
        print(json.dumps({"error": str(exc)}), flush=True)
if argv:
    os.execv(argv[0], argv)
st = os.stat("/")
print(json.dumps({"root_entries": sorted(os.listdir("/")), "root_inode": [st.st_dev, st.st_ino]}), flush=True)
"""


@dataclass
class RootView:
    """What a process saw as "/" after setting up its root."""

    entries: list[str]
    inode: tuple[int, int]  # (st_dev, st_ino) of "/"
    error: str = ""

    def is_directory(self, path: str | os.PathLike) -> bool:
        """Whether this view's "/" is the directory `path` of the host."""
        st = os.stat(path)
        return (st.st_dev, st.st_ino) == self.inode


def _helper(mode: str, rootfs: str | os.PathLike, escape: bool, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-I", "-S", "-c", _HELPER, PACKAGE_PARENT, mode, os.fspath(rootfs),
           "escape" if escape else "stay", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, **kwargs)


def _view(result: subprocess.CompletedProcess) -> RootView:
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "helper failed")
    error = ""
    view = {}
    for line in result.stdout.splitlines():
        data = json.loads(line)
        error = data.get("error", error)
        view = data if "root_entries" in data else view
    return RootView(view["root_entries"], tuple(view["root_inode"]), error)


def run_in_chroot(rootfs: str | os.PathLike, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run argv (a path inside rootfs) chrooted into rootfs; returns its output like subprocess.run."""
    return _helper("chroot", rootfs, False, argv, **kwargs)


def run_pivoted(rootfs: str | os.PathLike, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run argv with rootfs as the root of a private mount namespace (pivot_root, old root detached)."""
    return _helper("pivot", rootfs, False, argv, **kwargs)


def look_from(mode: str, rootfs: str | os.PathLike, escape: bool = False) -> RootView:
    """What "/" looks like from a process set up by `mode` ("host", "chroot" or "pivot"), after the escape if asked."""
    if mode not in ("host", "chroot", "pivot"):
        raise ValueError(f"mode must be host, chroot or pivot, not {mode!r}")
    if mode == "host" and escape:
        raise ValueError("the escape is only tried from inside a chroot or a pivoted root, never on the host")
    return _view(_helper(mode, rootfs, escape, []))
