"""`minicontainer run --rm ... /bin/true` beside `runc run` on the same busybox rootfs (lessons 02 and 09).

Both start a container with its own mount, UTS, IPC, PID and network namespaces, /proc, /dev and
/sys, run /bin/true and clean up. Timed A B A B ... so a busy machine slows both alike.
Two pairs against runc: `--rootfs DIR` (exactly runc's job: the same read-only directory) and the
default image `busybox` (which adds the image lookup and a copy-on-write overlay root), both with
`--network none`: runc's default is a network namespace with only `lo`, which is what `none` is.
Target: ratio <= 1.0.

A third pair is what Docker's default network, the bridge, costs a plain `run` (lesson 09):
`run busybox true` (a veth on the bridge, an address, a route, the hosts files) beside the same with
`--network none`, on a bridge of the benchmark's own (MC_BRIDGE) that is removed at the end.
"""

from __future__ import annotations

import os
import resource
import statistics
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pairs import alternate, spec_bundle

ROOT = Path(__file__).resolve().parent.parent


def with_cpu(store: dict[str, list[float]], name: str, fn):
    """Wrap fn to also record the CPU time its child processes used."""
    def run() -> None:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        fn()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        store.setdefault(name, []).append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return run


def main(rounds: int = 30) -> None:
    lib = Path(os.environ.get("MC_LIB_DIR", "/var/lib/minicontainer"))
    rootfs = lib / "rootfs" / "busybox"
    launcher = ROOT / ".venv" / "bin" / "minicontainer"
    if not launcher.exists():
        launcher = Path(sys.executable).parent / "minicontainer"
    tmp = Path(tempfile.mkdtemp(prefix="mc-bench-"))
    env = dict(os.environ, MC_RUN_DIR=str(tmp / "run"), MC_BRIDGE="mcbench1", MC_SUBNET="10.213.8.0/24",
               MC_DAEMON_JSON=str(tmp / "no-daemon.json"))
    try:
        bundle = spec_bundle(rootfs, tmp / "bundle")
        counter = iter(range(10**9))

        def mc_rootfs() -> None:  # the same directory as runc's bundle, read-only like it
            subprocess.run([str(launcher), "run", "--rm", "--network", "none", "--read-only", "--rootfs", str(rootfs),
                            "/bin/true"], check=True, env=env)

        def mc_image() -> None:  # the default image: a copy-on-write overlay root on top (lesson 04)
            subprocess.run([str(launcher), "run", "--rm", "--network", "none", "busybox", "/bin/true"], check=True,
                           env=env)

        def mc_bridge() -> None:  # Docker's default network: the bridge (lesson 09)
            subprocess.run([str(launcher), "run", "--rm", "busybox", "/bin/true"], check=True, env=env)

        def runc() -> None:
            subprocess.run(["runc", "--root", str(tmp / "runc-state"), "run", "--bundle", str(bundle),
                            f"mc-bench-{next(counter)}"], check=True, stdout=subprocess.DEVNULL)

        cpu: dict[str, list[float]] = {}
        for name, a, b in (("minicontainer run --network none --rootfs", mc_rootfs, runc),
                           ("minicontainer run --network none busybox", mc_image, runc)):
            pair = alternate(name, with_cpu(cpu, name, a), "runc run", with_cpu(cpu, "runc run", b), rounds=rounds)
            print(pair.report())
        def mc_yours() -> None:  # the seams (issue 13): the runtime with the learner's functions (the solutions here)
            subprocess.run([str(launcher), "run", "--rm", "--network", "none", "busybox", "/bin/true"], check=True,
                           env=dict(env, MC_IMPL="solutions"))

        pair = alternate("MC_IMPL=solutions run --network none busybox", mc_yours,
                         "minicontainer run --network none busybox", mc_image, rounds=rounds)
        print(pair.report() + f"  |  --yours costs {(pair.median_a - pair.median_b) * 1000:.1f} ms")
        mc_bridge()  # (the first run makes the bridge: not what every run pays)
        pair = alternate("minicontainer run busybox (bridge)", mc_bridge, "minicontainer run --network none busybox",
                         mc_image, rounds=rounds)
        print(pair.report() + f"  |  the bridge costs {(pair.median_a - pair.median_b) * 1000:.1f} ms")
        # CPU time (user + sys of every process of the run) depends less on how busy the machine is.
        print("CPU time, medians: " + "  |  ".join(f"{k}: {statistics.median(v) * 1000:.1f} ms" for k, v in cpu.items()))
    finally:
        sys.path.insert(0, str(ROOT))
        from minicontainer.network import sweep
        from minicontainer.paths import Paths
        sweep(Paths(os.environ.get("MC_LIB_DIR", "/var/lib/minicontainer"), tmp / "run"))  # the benchmark's bridge
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
