"""Container start with a copy-on-write root: 1 layer vs 30 layers, overlay vs the copy driver.

Each timed call is a whole `run --rm IMAGE /bin/true` in a fresh process (namespaces, the overlay
mounted by PID 1, pivot_root, exec, teardown, removal), alternating A B A B (bench/pairs.py):

  1. plain directory (--rootfs) vs overlay of a 1-layer image   what the overlay costs
  2. overlay: a 1-layer image vs the same files in 30 layers    what more layers cost
  3. overlay vs copy driver, 1-layer busybox image               why Docker left vfs behind
  4. overlay vs copy driver, 30-layer image

The 30-layer image is the busybox rootfs split round-robin over 30 layer directories (every
layer has the directories, each file lives in one layer). Run: .venv/bin/python bench/run_all.py unionfs
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pairs import alternate

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from minicontainer.paths import Paths  # noqa: E402

# A `run` whose image has the layers given on the command line (the images lesson resolves image
# names to layers; here we hand them over directly).
RUN = r"""
import sys
sys.path.insert(0, sys.argv[1])
from minicontainer import container
from minicontainer.container import RunSpec
layers = sys.argv[2:]
validate = container.validate
def with_layers(spec, paths):
    parsed = validate(spec, paths)
    parsed["layers"] = layers
    return parsed
container.validate = with_layers
c = container.run(RunSpec(image=layers[-1], command=["/bin/true"], rm=True))
sys.exit(c.exit_code or 0)
"""


def split_into_layers(rootfs: Path, dest: Path, count: int) -> list[Path]:
    """The files of `rootfs` spread round-robin over `count` layers; every layer has all directories."""
    layers = [dest / f"layer-{i:02d}" for i in range(count)]
    n = 0
    for directory, dirnames, filenames in os.walk(rootfs):
        rel = Path(directory).relative_to(rootfs)
        for layer in layers:
            (layer / rel).mkdir(parents=True, exist_ok=True)
            shutil.copystat(directory, layer / rel)
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(directory, d))]):
            src, dst = Path(directory) / name, layers[n % count] / rel / name
            if src.is_symlink():
                os.symlink(os.readlink(src), dst)
            else:
                shutil.copy2(src, dst)
            n += 1
    return layers


def start(layers: list[Path], driver: str, env: dict) -> callable:
    argv = [sys.executable, "-c", RUN, str(ROOT)] + [str(p) for p in layers]
    full_env = {**env, "MC_UNIONFS_DRIVER": driver}

    def run() -> None:
        subprocess.run(argv, check=True, env=full_env, stdout=subprocess.DEVNULL)
    return run


def main(rounds: int = 15) -> None:
    busybox = Paths.from_env().default_rootfs
    if not (busybox / "bin/busybox").exists():
        print(f"no busybox rootfs at {busybox}: run `make lab` (minicontainer prepare) first")
        return
    work = Path(tempfile.mkdtemp(prefix="minicontainer-bench-unionfs-"))
    try:
        env = {**os.environ, "MC_RUN_DIR": str(work / "run"), "MC_LIB_DIR": str(work / "lib")}
        one = [busybox]
        thirty = split_into_layers(busybox, work / "layers", 30)
        files = sum(1 for _ in busybox.rglob("*"))
        print(f"image: busybox rootfs, {files} paths; 30-layer version: the same files over 30 layers")
        plain_argv = [sys.executable, "-m", "minicontainer", "run", "--rm", "--rootfs", str(busybox), "/bin/true"]

        def plain() -> None:
            subprocess.run(plain_argv, check=True, env=env, stdout=subprocess.DEVNULL)
        # --rootfs through the CLI and a layered run through the library start the same way
        # (a fresh interpreter with site-packages), so the difference is the root filesystem.
        pairs = [
            ("plain dir (--rootfs)", plain, "overlay, 1 layer", start(one, "overlay", env)),
            ("overlay, 1 layer", start(one, "overlay", env), "overlay, 30 layers", start(thirty, "overlay", env)),
            ("overlay, 1 layer", start(one, "overlay", env), "copy driver, 1 layer", start(one, "copy", env)),
            ("overlay, 30 layers", start(thirty, "overlay", env), "copy driver, 30 layers", start(thirty, "copy", env)),
        ]
        for name_a, a, name_b, b in pairs:
            print(alternate(name_a, a, name_b, b, rounds=rounds).report())
    finally:
        from minicontainer import unionfs
        unionfs.sweep(Paths(work / "lib", work / "run"))  # nothing should be left; make sure
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
