"""Making new images from old: add layers, change the config, write config and manifest (lesson 05).

An image is immutable: "changing" one means writing a new config (with one more diff_id and a
history entry) and a new manifest that points at it, then moving a name to the new manifest.
Layers already in the store are shared, never copied.
"""

from __future__ import annotations

import copy
import json
import time

from . import mediatypes as mt
from .manifest import Descriptor, host_platform
from .store import Image, Store, local_name


def now_rfc3339(t: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if t is None else t))


def empty_config() -> dict:
    """The config of an image with no layers (FROM scratch)."""
    p = host_platform()
    return {"architecture": p["architecture"], "os": p["os"], "config": {},
            "rootfs": {"type": "layers", "diff_ids": []}, "history": []}


def base_state(image: Image | None) -> tuple[list[Descriptor], dict]:
    """(layers, full config) to start from: a copy of `image`, or scratch."""
    if image is None:
        return [], empty_config()
    return list(image.layers), copy.deepcopy(image.config)


def write_image(store: Store, layers: list[Descriptor], config: dict, tag: str | None = None) -> Image:
    """Store config and manifest (layers must already be stored), name it `tag`, return the Image."""
    config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
    config_desc = store.put_json(config, mt.OCI_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": config_desc.to_json(),
                "layers": [layer.to_json() for layer in layers]}
    data = json.dumps(manifest, separators=(",", ":")).encode()
    digest = store.put_manifest(data, mt.OCI_MANIFEST)
    if tag:
        tag = store.tag(local_name(tag), digest, mt.OCI_MANIFEST)
    image = store.image_from_manifest(tag, digest, mt.OCI_MANIFEST)
    image.tags = [tag] if tag else []
    return image


def add_layer(layers: list[Descriptor], config: dict, layer: Descriptor | None, diff_id: str | None,
              created_by: str, created: str | None = None, comment: str = "") -> None:
    """Append a layer (or, with layer=None, only a history entry: an 'empty layer' like ENV).

    `created_by` and `comment` are what `history` shows in its CREATED BY and COMMENT columns."""
    entry = {"created": created or now_rfc3339(), "created_by": created_by}
    if comment:
        entry["comment"] = comment
    if layer is None:
        entry["empty_layer"] = True
    else:
        layers.append(layer)
        config["rootfs"]["diff_ids"].append(diff_id)
    config.setdefault("history", []).append(entry)
    config["created"] = entry["created"]
