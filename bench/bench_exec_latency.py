"""`minicontainer exec C /bin/true` beside `runc exec` into a running container (lesson 02).

Both join the running container's namespaces (setns) and its cgroup, start /bin/true in it and wait
for it. Each tool execs into its own container, started once from the same busybox rootfs
(ours with `--pids-limit`, so that it has a cgroup to join as runc's has). Timed A B A B ...
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pairs import alternate

ROOT = Path(__file__).resolve().parent.parent


def main(rounds: int = 30) -> None:
    rootfs = Path(os.environ.get("MC_LIB_DIR", "/var/lib/minicontainer")) / "rootfs" / "busybox"
    launcher = ROOT / ".venv" / "bin" / "minicontainer"
    if not launcher.exists():
        launcher = Path(sys.executable).parent / "minicontainer"
    tmp = Path(tempfile.mkdtemp(prefix="mc-bench-"))
    env = dict(os.environ, MC_RUN_DIR=str(tmp / "run"))
    state = ["runc", "--root", str(tmp / "runc-state")]
    bundle = tmp / "bundle"
    bundle.mkdir()
    subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=True)
    config = json.loads((bundle / "config.json").read_text())
    config["root"] = {"path": str(rootfs), "readonly": True}
    config["process"].update(terminal=False, args=["sleep", "3600"])
    (bundle / "config.json").write_text(json.dumps(config, indent=1))
    cid = ""
    try:
        cid = subprocess.run([str(launcher), "run", "-d", "--pids-limit", "100", "--read-only", "--rootfs",
                              str(rootfs), "sleep", "3600"], check=True, env=env, capture_output=True,
                             text=True).stdout.strip()
        subprocess.run([*state, "run", "-d", "--bundle", str(bundle), "mc-bench-exec"], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def mc_exec() -> None:
            subprocess.run([str(launcher), "exec", cid, "/bin/true"], check=True, env=env)

        def runc_exec() -> None:
            subprocess.run([*state, "exec", "mc-bench-exec", "/bin/true"], check=True)

        print(alternate("minicontainer exec", mc_exec, "runc exec", runc_exec, rounds=rounds).report())
    finally:
        subprocess.run([*state, "delete", "-f", "mc-bench-exec"], capture_output=True)
        if cid:
            subprocess.run([str(launcher), "rm", "-f", cid], env=env, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
