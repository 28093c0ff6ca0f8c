"""The course's default image: the busybox rootfs as the OCI image localhost/busybox:latest (lesson 05).

Lessons 01-04 ran the busybox directory directly. From lesson 05 on it is a real image in the
store, one gzip layer plus a config saying `Cmd ["sh"]`, so `run busybox` works offline by name.
Like podman, images made on this machine are named under `localhost/`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..paths import Paths
from ..rootfs import ensure_default_rootfs
from .config import DEFAULT_PATH
from .layer import write_layer
from .mutate import add_layer, empty_config, now_rfc3339, write_image
from .store import Store

DEFAULT_IMAGE = "localhost/busybox:latest"
# The image is rebuilt when the rootfs it was made from changes (names, modes, sizes, times):
# the fingerprint is kept as the comment of the layer's history entry.


def rootfs_fingerprint(rootfs: Path) -> str:
    """A cheap digest of a tree's shape: every path with its mode, size and mtime."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(rootfs):
        dirnames.sort()
        for entry in sorted(dirnames + filenames):
            st = os.lstat(os.path.join(dirpath, entry))
            rel = os.path.relpath(os.path.join(dirpath, entry), rootfs)
            h.update(f"{rel}\0{st.st_mode}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return "sha256:" + h.hexdigest()


def prepare_default_image(paths: Paths, name: str = DEFAULT_IMAGE) -> str:
    """Build the default image from the busybox rootfs if it is not in the store; unpack its layer."""
    store = Store(paths).ensure()
    rootfs = ensure_default_rootfs(paths.default_rootfs)
    fingerprint = rootfs_fingerprint(rootfs)
    if name in store.names():
        image = store.resolve(name)
        if [h.get("comment") for h in image.config.get("history", [])] == [fingerprint]:
            store.layer_dirs(image)
            return f"default image {name} present ({image.short_id})"
    created = now_rfc3339(os.stat(rootfs / "bin" / "busybox").st_mtime)
    layer, diff_id = write_layer(store, rootfs)
    config = empty_config()
    config["config"] = {"Env": [f"PATH={DEFAULT_PATH}"], "Cmd": ["sh"]}
    layers: list = []
    add_layer(layers, config, layer, diff_id, f"minicontainer: busybox rootfs {rootfs}", created)
    config["history"][-1]["comment"] = fingerprint
    image = write_image(store, layers, config, name)
    store.layer_dirs(image)
    return f"default image {name} built ({image.short_id})"
