"""What a resource limit costs `run` (lesson 03), timed A B A B with medians.

  1. `minicontainer run -m 64m` vs `minicontainer run` (no flag, no cgroup): the whole cost of
     making the container's group in each v1 hierarchy, writing the limit, joining, and removing it.
  2. all limits (-m, --cpus, --pids-limit) vs none.
  3. `minicontainer run -m 64m` vs `runc run` with the same memory limit in its config.json.
  4. in-process, the phases: create (mkdir + limit), add (a PID into cgroup.procs of each hierarchy),
     remove. On v1 the first cgroup.procs write of a burst waits for an RCU grace period in the
     kernel (cgroup_threadgroup_rwsem): most of the cost of a limit is there.
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

from pairs import alternate, spec_bundle

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(rounds: int = 30) -> None:
    from minicontainer import cgroups

    lib = Path(os.environ.get("MC_LIB_DIR", "/var/lib/minicontainer"))
    rootfs = str(lib / "rootfs" / "busybox")
    launcher = ROOT / ".venv" / "bin" / "minicontainer"
    if not launcher.exists():
        launcher = Path(sys.executable).parent / "minicontainer"
    tmp = Path(tempfile.mkdtemp(prefix="mc-bench-"))
    env = dict(os.environ, MC_RUN_DIR=str(tmp / "run"))

    def mc(*flags: str):
        argv = [str(launcher), "run", "--rm", "--network", "none", "--read-only", *flags, "--rootfs", rootfs, "/bin/true"]
        return lambda: subprocess.run(argv, check=True, env=env)

    try:
        print(alternate("run -m 64m", mc("-m", "64m"), "run (no limit)", mc(), rounds=rounds).report())
        print(alternate("run -m 64m --cpus 0.5 --pids-limit 50", mc("-m", "64m", "--cpus", "0.5", "--pids-limit", "50"),
                        "run (no limit)", mc(), rounds=rounds).report())
        bundle = spec_bundle(Path(rootfs), tmp / "bundle", memory=64 << 20)
        counter = iter(range(10**9))

        def runc() -> None:
            subprocess.run(["runc", "--root", str(tmp / "runc-state"), "run", "--bundle", str(bundle),
                            f"mc-bench-{next(counter)}"], check=True, stdout=subprocess.DEVNULL)

        print(alternate("run -m 64m", mc("-m", "64m"), "runc run (memory.limit 64m)", runc, rounds=rounds).report())

        phases: dict[str, list[float]] = {"create": [], "add": [], "remove": []}
        for i in range(rounds):
            sleeper = subprocess.Popen(["sleep", "30"])
            start = time.perf_counter()
            g = cgroups.create(f"bench-{os.getpid()}-{i}", cgroups.Limits.parse(memory="64m"))
            phases["create"].append(time.perf_counter() - start)
            start = time.perf_counter()
            g.add(sleeper.pid)
            phases["add"].append(time.perf_counter() - start)
            sleeper.kill()
            sleeper.wait()
            start = time.perf_counter()
            g.remove()
            phases["remove"].append(time.perf_counter() - start)
        print("in-process, one group with -m (" + cgroups.detect().version + "): " + " | ".join(
            f"{name} median {statistics.median(t) * 1000:.2f} ms" for name, t in phases.items()) + f" (n={rounds})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
