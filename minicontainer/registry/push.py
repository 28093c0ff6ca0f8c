"""`minicontainer push`: blobs first, then the manifest (lesson 06).

A registry only accepts a manifest whose config and layers it already has, so a push is:

1. for each layer and the config: HEAD it (skip if the registry has it), else try a
   cross-repository mount from a repository on the same registry we know has it, else upload
   it (one PUT, or PATCH chunks then PUT with `?digest=`);
2. PUT the manifest, byte for byte as stored (its digest is its identity), with its media type.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from ..paths import Paths
from ..reference import parse_reference
from .client import Manifest, RegistryClient
from .progress import Progress
from .pull import client_for, known_sources, remember_sources

if TYPE_CHECKING:
    from ..image.store import Store


@dataclass
class PushResult:
    reference: str
    digest: str
    blobs: dict[str, str] = field(default_factory=dict)   # digest -> exists / mounted / uploaded


def push(source: str, destination: str | None = None, paths: Paths | None = None, *, store: "Store | None" = None,
         progress: Progress | None = None, client: RegistryClient | None = None, insecure: bool = False,
         ca_file: str | None = None, chunk_size: int | None = None, workers: int = 3,
         notice: Callable[[str], None] = lambda m: None) -> PushResult:
    """Push the stored image `source` to `destination` (default: the same name)."""
    from ..image.store import Store

    paths = paths or Paths.from_env()
    store = store or Store(paths)
    image = store.resolve(source)
    ref = parse_reference(destination or source)
    client = client or client_for(ref, insecure=insecure, ca_file=ca_file, notice=notice)
    progress = progress or Progress()
    blobs = [(layer.digest, layer.size, f"layer {i + 1}") for i, layer in enumerate(image.layers)]
    blobs.append((image.config_digest, store.blob_path(image.config_digest).stat().st_size, "config"))

    def send(digest: str, size: int, label: str) -> tuple[str, str]:
        key = digest.split(":", 1)[1][:12]
        progress.start(key, f"{key} {label}", size)
        mount_from = next((repo for registry, repo in known_sources(paths, digest)
                           if registry == ref.registry and repo != ref.repository), None)
        status = client.upload_blob(ref.repository, digest, size, store.blob_path(digest), mount_from=mount_from,
                                    chunk_size=chunk_size, progress=lambda n: progress.advance(key, n))
        progress.finish(key, status)
        return digest, status

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(blobs))), thread_name_prefix="mc-push") as pool:
            done = dict(pool.map(lambda b: send(*b), blobs))
    finally:
        progress.close()
    manifest = Manifest(store.read_blob(image.manifest_digest), image.media_type, image.manifest_digest)
    target = ref.digest or ref.tag or "latest"
    digest = client.put_manifest(ref.repository, target, manifest)
    remember_sources(paths, ref.registry, ref.repository, [d for d, _, _ in blobs])
    return PushResult(str(ref), digest, done)
