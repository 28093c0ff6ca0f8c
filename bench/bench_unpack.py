"""Unpacking a ~100 MiB two-layer gzip image: minicontainer's store vs `umoci unpack`, A B A B.

The image: layer 1 holds the busybox rootfs plus 4,000 files of 1-32 KiB (a distribution's
worth of small files), layer 2 holds ten 4 MiB files; half of each file is random, half text,
so gzip does real work. Both sides read the same blobs, decompress, verify the diff_ids and
write every file:
  A  minicontainer: Store.layer_dirs(image), each layer into its own directory (what `run` uses)
  B  umoci unpack --image LAYOUT:bench BUNDLE (applies both layers into one rootfs)
Target from the issue: A <= 0.4 x B. Also printed: CPU time of both, and GNU tar (which checks
nothing) on the same blobs, as a floor for what the filesystem costs on this machine.
"""

from __future__ import annotations

import os
import random
import resource
import statistics
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pairs import alternate  # noqa: E402

from minicontainer.image import Store, prepare_default_image  # noqa: E402
from minicontainer.image.archive import save  # noqa: E402
from minicontainer.image.layer import write_layer  # noqa: E402
from minicontainer.image.mutate import add_layer, base_state, write_image  # noqa: E402
from minicontainer.paths import Paths  # noqa: E402

WORDS = b"the quick brown fox jumps over the lazy dog container layer image overlay digest "


def _content(rng: random.Random, size: int) -> bytes:
    half = size // 2
    text = (WORDS * (half // len(WORDS) + 1))[:size - half]
    return rng.randbytes(half) + text


def make_image(work: Path) -> tuple[Paths, Path]:
    """A store holding localhost/bench:latest, and the same image as an OCI layout for umoci."""
    rng = random.Random(5)
    paths = Paths(work / "lib", work / "run")
    (paths.lib_dir / "rootfs").mkdir(parents=True)
    os.symlink("/var/lib/minicontainer/rootfs/busybox", paths.default_rootfs)
    prepare_default_image(paths)
    store = Store(paths)
    base = store.resolve("localhost/busybox:latest")
    layers, config = base_state(base)
    one = work / "one"
    for i in range(4000):
        d = one / "usr" / "share" / f"pkg{i % 100:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"file{i}.dat").write_bytes(_content(rng, rng.randint(1024, 32 * 1024)))
    two = work / "two"
    (two / "opt" / "big").mkdir(parents=True)
    for i in range(10):
        (two / "opt" / "big" / f"blob{i}.bin").write_bytes(_content(rng, 4 << 20))
    for tree in (one, two):
        layer, diff_id = write_layer(store, tree)
        add_layer(layers, config, layer, diff_id, f"bench {tree.name}")
    image = write_image(store, layers[1:], {**config, "rootfs": {"type": "layers",
                                                                 "diff_ids": config["rootfs"]["diff_ids"][1:]},
                                            "history": config["history"][1:]}, "localhost/bench:latest")
    archive = work / "bench.tar"
    with open(archive, "wb") as out:
        save(store, ["localhost/bench:latest"], out)
    layout = work / "layout"
    with tarfile.open(archive) as tar:
        tar.extractall(layout, filter="data")
    total = sum(layer.size for layer in image.layers)
    print(f"image: 2 layers, {total / 2**20:.1f} MiB compressed, "
          f"{sum(f.stat().st_size for t in (one, two) for f in t.rglob('*') if f.is_file()) / 2**20:.1f} MiB of files")
    return paths, layout


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    if shutil.which("umoci") is None:
        print("umoci not installed (apt-get install umoci): skipped")
        return
    work = Path(tempfile.mkdtemp(prefix="mc-bench-unpack-"))
    try:
        paths, layout = make_image(work)
        store = Store(paths)
        image = store.resolve("localhost/bench:latest")
        bundle = work / "umoci-bundle"

        trash = work / "trash"
        trash.mkdir()

        def clean() -> None:
            # Move the previous outputs aside rather than delete them now: on an ext4 without a journal
            # (this machine's), creating a file skips every inode freed in the last ~30 s (the
            # kernel's recently_deleted()), so deleting ~4,000 files before each round would charge
            # both sides a cost that grows round after round. Everything is deleted at the end.
            for path in [store.layer_dir(d) for d in image.diff_ids] + [bundle, work / "gnu-tar"]:
                if path.exists():
                    path.rename(trash / f"{len(os.listdir(trash))}")
            subprocess.run(["sync"], check=True)

        cpu: dict[str, list[float]] = {"ours": [], "umoci": []}

        def ours() -> None:
            start = _cpu(resource.RUSAGE_SELF)
            store.layer_dirs(image)
            cpu["ours"].append(_cpu(resource.RUSAGE_SELF) - start)

        def umoci() -> None:
            start = _cpu(resource.RUSAGE_CHILDREN)
            subprocess.run(["umoci", "unpack", "--image", f"{layout}:latest", str(bundle)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cpu["umoci"].append(_cpu(resource.RUSAGE_CHILDREN) - start)

        pair = alternate("minicontainer unpack", ours, "umoci unpack", umoci, rounds=7, warmup=1, before=clean)
        print(pair.report("ms"))
        a, b = statistics.median(cpu["ours"][1:]), statistics.median(cpu["umoci"][1:])
        print(f"CPU time (user+sys): minicontainer median {a * 1000:.0f} ms  |  umoci median {b * 1000:.0f} ms  |  "
              f"ratio {a / b:.2f}")
        # A floor for reference: GNU tar extracting the same two blobs, checking no digest at all.
        plain = work / "gnu-tar"
        blobs = [str(store.blob_path(layer.digest)) for layer in image.layers]

        def gnu_tar() -> None:
            plain.mkdir(exist_ok=True)
            for blob in blobs:
                subprocess.run(["tar", "-xzf", blob, "-C", str(plain)], check=True)


        floor = alternate("minicontainer unpack", ours, "GNU tar -xzf (no checks)", gnu_tar, rounds=5, warmup=0,
                          before=clean)
        print(floor.report("ms"))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
