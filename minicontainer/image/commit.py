"""`commit`: a container's changes become a new image layer (lesson 05).

Everything a container wrote is in its overlay *upper* directory (lesson 04): new and changed
files as they are, deletions as whiteouts (0/0 character devices), replaced directories marked
opaque. `commit` tars that directory with layer.py, which turns whiteouts into OCI `.wh.` entries,
then writes a config (the base image's, plus the new diff_id, a history entry and the container's
command) and a manifest, and names it.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ContainerError
from ..paths import Paths
from .layer import write_layer
from .mutate import add_layer, base_state, write_image
from .store import Image, Store


def commit_dir(store: Store, base: Image | None, upper: Path, tag: str | None, created_by: str,
               config_changes: dict | None = None) -> Image:
    """A new image: `base` plus one layer made from an overlay upper directory."""
    layers, config = base_state(base)
    layer, diff_id = write_layer(store, upper, overlay=True)
    if config_changes:
        config.setdefault("config", {}).update(config_changes)
    add_layer(layers, config, layer, diff_id, created_by)
    return write_image(store, layers, config, tag)


def commit_container(paths: Paths, ref: str, tag: str | None, message: str = "") -> Image:
    """`minicontainer commit CONTAINER NAME:TAG`."""
    from .. import container

    c = container.find(paths, ref)
    upper = Path(container.state_dir(paths, c.id), "upper")
    digest = c.spec.get("image_digest") or ""
    if not digest:
        raise ContainerError(f"container {c.name} was not started from an image", step="commit",
                             fix="commit works on containers started from an image name, e.g. `run busybox ...`")
    if not upper.is_dir():
        raise ContainerError(f"container {c.name} has no upper directory to commit", step="commit",
                             path=str(upper), fix="its changes were on a tmpfs and are gone; run it again")
    store = Store(paths)
    base = store.image_from_manifest(None, digest, "")
    run_config = base.run_config
    changes = {}
    entrypoint = c.spec.get("entrypoint")
    argv = list(c.command)
    if entrypoint:
        changes = {"Entrypoint": [entrypoint], "Cmd": argv[1:]}
    else:
        ep = list(run_config.get("Entrypoint") or [])
        changes = {"Cmd": argv[len(ep):] if argv[:len(ep)] == ep else argv}
    env = list(c.spec.get("env") or [])
    if env:
        from .config import merge_env
        changes["Env"] = merge_env(run_config.get("Env"), [e for e in env if "=" in e])
    created_by = f"minicontainer commit {c.name}" + (f": {message}" if message else "")
    return commit_dir(store, base, upper, tag, created_by, changes)
