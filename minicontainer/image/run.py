"""From an image name to what `run` needs: layer directories and the process (lesson 05).

`container.validate()` calls `for_run()` when IMAGE is a name rather than a directory. The
image's layers are unpacked once into the store (shared by every container of every image that
has them) and stacked bottom first by unionfs; the image's config supplies what the user did not
say on the command line, by Docker's rules (config.py): Entrypoint/Cmd, Env, WorkingDir, User.
"""

from __future__ import annotations

from pathlib import Path

from ..paths import Paths
from ..record import Record  # a dataclass without importing `dataclasses` (~10 ms of `run IMAGE`)


class ImageRun(Record):
    """What an image contributes to a container."""

    name: str                 # the full name it resolved to
    manifest_digest: str
    layers: list[Path]        # unpacked layer dirs, bottom first
    argv: list[str]
    env: list[str]            # the image's Env (the user's -e values go on top)
    workdir: str
    user: str


def for_run(paths: Paths, image: str, args: list[str], entrypoint: str | None = None) -> ImageRun | None:
    """Resolve `image` in the store; None if the store does not have it (the caller decides)."""
    from .config import command_line
    from .store import Store

    store = Store(paths)
    if not (store.root / "index.json").exists():
        return None
    found = store._lookup(image)
    if found is None:
        return None
    resolved = store.resolve(image)
    config = resolved.run_config
    return ImageRun(
        name=found[0],
        manifest_digest=resolved.manifest_digest,
        layers=store.layer_dirs(resolved),
        argv=command_line(config.get("Entrypoint"), config.get("Cmd"), args, entrypoint),
        env=list(config.get("Env") or []),
        workdir=config.get("WorkingDir") or "",
        user=config.get("User") or "",
    )
