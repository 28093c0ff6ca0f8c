"""Pull a ~100 MiB image from a local docker-registry: `minicontainer pull` beside `skopeo copy ... oci:DIR`.

Both run as commands, alternating A B A B, each into an empty destination (the `before` step
removes the previous copy untimed). The registry is Debian's docker-registry on 127.0.0.1,
started for the benchmark. Target: minicontainer <= 0.5x skopeo's time.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from pairs import alternate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from minicontainer.image.store import Store  # noqa: E402
from minicontainer.paths import Paths  # noqa: E402
from minicontainer.registry.push import push  # noqa: E402
from minicontainer.registry.server import RegistryServer  # noqa: E402

LAYER_SIZES_MIB = [40, 30, 20, 10]   # 100 MiB in four layers, like a small distro image plus an app


def build(paths: Paths) -> str:
    """An image of random (incompressible) layers in a fresh store; returns its name."""
    sys.path.insert(0, str(ROOT / "tests"))
    from registry_helpers import build_image

    store = Store(paths).ensure()
    layers = [os.urandom(n << 20) for n in LAYER_SIZES_MIB]
    build_image(store, "localhost/bench:1", raw_layers=layers, compress=False)
    return "localhost/bench:1"


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="mc-bench-pull-"))
    try:
        src = Paths(work / "src-lib", work / "src-run")
        name = build(src)
        with RegistryServer(work / "registry") as server:
            target = f"{server.address}/bench/pull:1"
            push(name, target, src, store=Store(src))
            dest_lib, dest_oci = work / "dest-lib", work / "dest-oci"
            env = dict(os.environ, MC_LIB_DIR=str(dest_lib), MC_RUN_DIR=str(work / "dest-run"))
            # As installed for a user: bytecode cached (skopeo is a compiled binary, too).
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "minicontainer")], check=True)

            def clean() -> None:
                shutil.rmtree(dest_lib, ignore_errors=True)
                shutil.rmtree(dest_oci, ignore_errors=True)

            cpu: dict[str, list[float]] = {"ours": [], "skopeo": []}
            # The `minicontainer` command as `make venv` installs it (the fast launcher, see launcher.py).
            launcher = Path(sys.executable).parent / "minicontainer"

            def timed_cpu(key: str, argv: list[str], **kwargs) -> None:
                """Run argv; record the CPU seconds (user + sys) it used, which the machine's load hardly changes."""
                proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, **kwargs)
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
                if proc.returncode != 0:
                    raise RuntimeError(f"{argv[0]} failed with {proc.returncode}")
                cpu[key].append(usage.ru_utime + usage.ru_stime)

            def ours() -> None:
                timed_cpu("ours", [str(launcher), "pull", "-q", target], env=env)

            def skopeo() -> None:
                timed_cpu("skopeo", ["skopeo", "--insecure-policy", "copy", "-q", "--src-tls-verify=false",
                                     f"docker://{target}", f"oci:{dest_oci}:pull"])

            # `before` cleans untimed; each timed call also leaves its copy, removed by the next before().
            pair = alternate("minicontainer pull", ours, "skopeo copy oci:", skopeo, rounds=9, warmup=0,
                             before=clean)
            print(f"pull of {sum(LAYER_SIZES_MIB)} MiB in {len(LAYER_SIZES_MIB)} layers from 127.0.0.1:")
            print(pair.report())
            print("  minicontainer runs (s):", " ".join(f"{t:.2f}" for t in pair.times_a))
            print("  skopeo runs (s):       ", " ".join(f"{t:.2f}" for t in pair.times_b))
            ours_cpu, skopeo_cpu = statistics.median(cpu["ours"]), statistics.median(cpu["skopeo"])
            print(f"CPU time (user+sys) of the client, median: minicontainer {ours_cpu * 1000:.0f} ms, "
                  f"skopeo {skopeo_cpu * 1000:.0f} ms, ratio {ours_cpu / skopeo_cpu:.2f}")
            print(f"target: ratio <= 0.50 -> {'met' if pair.ratio <= 0.5 else 'NOT met'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
