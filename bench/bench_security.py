"""What the security defaults cost `run` (lesson 08): default vs --privileged, A B A B.

A default container gets Docker's seccomp profile (compiled from JSON to classic BPF in the
runtime, installed in PID 1 and in the workload), 14 capabilities (bounding set, capset), no_new_privs
and the device rules of its cgroup; `--privileged` gets none of these. The difference of the
medians is what the security steps add to the start of every container. Also: the cost of
compiling the default profile alone, in-process.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pairs import alternate

ROOT = Path(__file__).resolve().parent.parent


def main(rounds: int = 30) -> None:
    launcher = ROOT / ".venv" / "bin" / "minicontainer"
    if not launcher.exists():
        launcher = Path(sys.executable).parent / "minicontainer"
    tmp = Path(tempfile.mkdtemp(prefix="mc-bench-"))
    env = dict(os.environ, MC_RUN_DIR=str(tmp / "run"))
    try:
        def run(*flags: str):
            def go() -> None:
                subprocess.run([str(launcher), "run", "--rm", *flags, "busybox", "/bin/true"], check=True, env=env)
            return go

        pair = alternate("run busybox (default security)", run(), "run --privileged busybox", run("--privileged"),
                         rounds=rounds)
        print(pair.report())
        print(f"the security steps add {(pair.median_a - pair.median_b) * 1000:.1f} ms (difference of the medians)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.path.insert(0, str(ROOT))
    from minicontainer.security import capabilities, seccomp
    times = []
    for _ in range(50):
        seccomp._compiled.clear()
        start = time.perf_counter()
        seccomp.default_program(capabilities.DEFAULT)
        times.append(time.perf_counter() - start)
    print(f"compiling Docker's default profile (JSON -> {len(seccomp.default_program(capabilities.DEFAULT)) // 8} "
          f"BPF instructions): median {statistics.median(times) * 1000:.2f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
