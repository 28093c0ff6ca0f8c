"""`minicontainer-oci run` beside `runc run` on one bundle (lesson 10).

The same bundle (the busybox rootfs, read-only; `oci spec`'s config running /bin/true), the same
command line, each runtime with a --root of its own: create, start, wait and delete, A B A B ...
Also `create` + `start` + `delete` as an engine calls them, three processes of each runtime.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pairs import alternate, spec_bundle

ROOT = Path(__file__).resolve().parent.parent


def reap() -> None:
    """`create` leaves PID 1 to its caller's subreaper (us, as conmon would be): reap what exited."""
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def main(rounds: int = 20) -> None:
    if not shutil.which("runc"):
        print("runc is not installed (scripts/host-deps.sh installs it): nothing to compare with")
        return
    rootfs = Path(os.environ.get("MC_LIB_DIR", "/var/lib/minicontainer")) / "rootfs" / "busybox"
    oci = ROOT / ".venv" / "bin" / "minicontainer-oci"
    if not oci.exists():
        oci = Path(sys.executable).parent / "minicontainer-oci"
    import ctypes
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    tmp = Path(tempfile.mkdtemp(prefix="mc-bench-oci-"))
    counter = iter(range(10**9))
    try:
        b = spec_bundle(rootfs, tmp / "bundle", str(oci))

        def run_with(binary: str, root: str):
            def go() -> None:
                subprocess.run([binary, "--root", root, "run", "--bundle", str(b), f"bench-{next(counter)}"],
                               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return go

        def lifecycle_with(binary: str, root: str):
            def go() -> None:
                cid = f"bench-{next(counter)}"
                for args in (["create", "--bundle", str(b), cid], ["start", cid]):
                    subprocess.run([binary, "--root", root, *args], check=True, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
                while json.loads(subprocess.run([binary, "--root", root, "state", cid], capture_output=True,
                                                check=True).stdout)["status"] != "stopped":
                    pass
                subprocess.run([binary, "--root", root, "delete", cid], check=True)
                reap()
            return go

        pair = alternate("minicontainer-oci run", run_with(str(oci), str(tmp / "mc")),
                         "runc run", run_with("runc", str(tmp / "runc")), rounds=rounds)
        print(pair.report())
        pair = alternate("minicontainer-oci create+start+delete", lifecycle_with(str(oci), str(tmp / "mc")),
                         "runc create+start+delete", lifecycle_with("runc", str(tmp / "runc")), rounds=rounds // 2)
        print(pair.report())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
