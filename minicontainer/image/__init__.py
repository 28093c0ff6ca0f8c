"""Images: the OCI store, manifests and configs, safe unpacking, commit, build, save and load (lesson 05).

An image is data: a manifest names a config and layers, each a blob addressed by its sha256.
  digest.py      content addressing            manifest.py   reading manifests, indexes, configs
  mediatypes.py  OCI and Docker media types    store.py      the OCI layout store under lib_dir
  unpack.py      safe layer unpacking          config.py     Docker's entrypoint/cmd rules
  layer.py       writing layers from dirs      mutate.py     new images from old (config + manifest)
  run.py         image -> layers + process     commit.py, archive.py (save/load), default.py
  build.py       Dockerfile -> image, cached   dockerfile.py instructions, stages and their graph
  dockerignore.py  .dockerignore rules         history.py    each layer, its size, the step that made it
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..paths import Paths
    from .store import Image, Store, local_name, normalize

__all__ = ["Image", "Store", "local_name", "normalize", "prepare_default_image", "sweep"]


def __getattr__(name: str) -> object:
    """`from minicontainer.image import Store` imports store.py only then (PEP 562).

    `run busybox` imports this package for image/run.py, which on a cache hit never needs the
    store: importing store.py (json, pathlib, typing, dataclasses, reference.py with re ...) would cost
    every `run` ~40 ms (bench/bench_start_tricks.py).
    """
    if name in ("Image", "Store", "local_name", "normalize"):
        from . import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def prepare_default_image(paths: Paths) -> str:
    """Make the busybox rootfs the OCI image localhost/busybox:latest (once)."""
    from .default import prepare_default_image as prepare

    return prepare(paths)


def sweep(paths: Paths) -> list[str]:
    """Remove half-written blobs and layers, and the temporary tags of a killed `build`."""
    from .run import sweep_cache
    from .store import Store, sweep_tmp

    removed = sweep_tmp(paths) + sweep_cache(paths)
    if (paths.lib_dir / "images" / "index.json").exists():
        store = Store(paths)
        for name in store.names():
            if name.startswith("localhost/mc-build:"):
                store.untag(name)
                removed.append(f"removed build tag {name}")
    return removed
