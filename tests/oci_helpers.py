"""Helpers for the OCI runtime tests: bundles, both runtimes side by side, and a subreaper.

The tests drive `minicontainer-oci` exactly as runc is driven: the same binary interface, the same
bundle. `create` leaves the container's PID 1 to whoever called the runtime; podman's conmon is a
subreaper that reaps it, so the tests are one too (`Engine`): this machine's PID 1 does not reap."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PR_SET_CHILD_SUBREAPER = 36


def oci_binary() -> str:
    """The venv's minicontainer-oci (the fast launcher `make venv` writes)."""
    path = Path(sys.executable).parent / "minicontainer-oci"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make venv` (it installs the minicontainer-oci launcher)")
    return str(path)


def make_bundle(where: Path, rootfs: Path, args: list[str], **changes) -> Path:
    """A bundle: a copy of the busybox rootfs and `minicontainer oci spec`'s config.json with `args`."""
    where.mkdir(parents=True, exist_ok=True)
    shutil.copytree(rootfs, where / "rootfs", symlinks=True)
    subprocess.run([oci_binary(), "spec", "--bundle", str(where)], check=True)
    config = json.loads((where / "config.json").read_text())
    config["process"]["terminal"] = False
    config["process"]["args"] = args
    for key, value in changes.items():
        config[key] = value
    (where / "config.json").write_text(json.dumps(config, indent=2))
    return where


def edit_config(bundle: Path, edit) -> None:
    config = json.loads((bundle / "config.json").read_text())
    edit(config)
    (bundle / "config.json").write_text(json.dumps(config, indent=2))


class Engine:
    """A tiny container engine: calls a runtime binary and reaps the PID 1s it leaves (a subreaper)."""

    def __init__(self, binary: str, root: Path) -> None:
        self.binary, self.root = binary, root
        self.pids: list[int] = []

    def __call__(self, *args: str, check: bool = False, timeout: float = 30, **kw) -> subprocess.CompletedProcess:
        """Run the runtime; its output goes through files, as an engine's does: a container `create`
        leaves behind keeps the runtime's stdout and stderr, and a pipe would never reach its end."""
        import tempfile
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            code = subprocess.run([self.binary, "--root", str(self.root), *args], stdout=out, stderr=err,
                                  timeout=timeout, **kw).returncode
            out.seek(0)
            err.seek(0)
            result = subprocess.CompletedProcess(args, code, out.read().decode(), err.read().decode())
        if check and result.returncode != 0:
            raise AssertionError(f"{self.binary} {' '.join(args)} exited {result.returncode}: {result.stderr}")
        return result

    def state(self, cid: str) -> dict:
        out = self("state", cid, check=True).stdout
        doc = json.loads(out)
        if doc.get("pid"):
            self.pids.append(doc["pid"])
        return doc

    def reap(self) -> None:
        for pid in self.pids:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def subreaper(on: bool) -> None:
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0)
