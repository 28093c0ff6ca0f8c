"""`minicontainer pull`: from a reference to verified blobs in the local store (lesson 06).

1. Parse the reference (`busybox` -> docker.io/library/busybox:latest).
2. HEAD the tag for the manifest's digest, GET the manifest by digest and check its sha256.
3. If it is an index, pick this platform's manifest (or --platform's), skipping attestations.
4. Download the config and the layers the store lacks, in parallel, each streamed to a `.part`
   file in the store's tmp/ with its size and digest checked, then renamed into blobs/ (atomic).
   An interrupted pull leaves only `.part` files, which the next pull resumes with `Range`.
5. Store the manifest and point the name at it.

For Docker Hub images, configured registry mirrors are tried first (mirrors.py): a mirror that
is down, lacks the image or serves bytes that do not match the digest asked for is skipped, and
the pull falls back to the next mirror, then to Docker Hub itself, as Docker's daemon does.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..atomic import write_atomic
from ..errors import ContainerError
from ..paths import Paths
from ..reference import DOCKER_HUB_API_HOST, Reference, parse_reference, validate_digest
from .auth import Authenticator, load_credentials
from .client import Manifest, RegistryClient
from .insecure import is_insecure
from .mirrors import Endpoint, configured_mirrors, pull_endpoints
from . import platforms  # the runtime calls platforms.select_manifest (a seam: seams.py)
from .platforms import host_platform, parse_platform
from .progress import Progress
from .transport import Transport

if TYPE_CHECKING:
    from ..image.store import Store

DEFAULT_WORKERS = 4


@dataclass
class PullResult:
    reference: str
    digest: str                      # the platform manifest's digest (what the name points at)
    index_digest: str | None         # the index it was chosen from, if any
    platform: str
    downloaded: int = 0              # bytes that came over the network (less after a resume)
    present: list[str] = field(default_factory=list)   # blobs the store already had
    fetched: list[str] = field(default_factory=list)   # blobs downloaded now
    source: str = ""                 # where it came from: the registry, or the mirror's URL
    skipped: list[str] = field(default_factory=list)   # "MIRROR: why" for each mirror that failed first


def client_for(ref: Reference, *, insecure: bool = False, ca_file: str | None = None,
               config_path: Path | None = None, notice: Callable[[str], None] = lambda m: None,
               transport: Transport | None = None, host: str | None = None) -> RegistryClient:
    """A client for the registry a reference names, with saved credentials and TLS options.
    (`host`: talk to another API host than the name's, e.g. a local stand-in for Docker Hub.)
    A registry named in daemon.json's insecure-registries is treated as with `insecure`."""
    transport = transport or Transport(insecure=insecure or is_insecure(ref.registry), ca_file=ca_file, notice=notice)
    auth = Authenticator(transport, lambda registry: load_credentials(registry, config_path))
    return RegistryClient(host or ref.api_host, transport=transport, auth=auth, registry=ref.registry)


def sources_file(paths: Paths) -> Path:
    """Where we remember which repository each blob came from (for cross-repository mounts on push)."""
    return paths.lib_dir / "registry-client" / "blob-sources.json"


def remember_sources(paths: Paths, registry: str, repository: str, digests: list[str]) -> None:
    path = sources_file(paths)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    for digest in digests:
        repos = data.setdefault(digest, [])
        if [registry, repository] not in repos:
            repos.append([registry, repository])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(data))


def known_sources(paths: Paths, digest: str) -> list[tuple[str, str]]:
    try:
        return [tuple(x) for x in json.loads(sources_file(paths).read_text()).get(digest, [])]
    except (OSError, ValueError):
        return []


def resolve_manifest(client: RegistryClient, ref: Reference, platform: str | None = None
                     ) -> tuple[Manifest, Manifest | None, str]:
    """(platform manifest, index or None, platform chosen) for a reference."""
    top = client.get_manifest(ref.repository, ref.identifier)
    if not top.is_index:
        return top, None, platform or "(single-platform image)"
    wanted = parse_platform(platform) if platform else host_platform()
    entry = platforms.select_manifest(top.json(), wanted)
    child = client.get_manifest(ref.repository, validate_digest(entry["digest"]))
    if child.digest != entry["digest"]:
        raise ContainerError("index entry and manifest digests differ", step="verify manifest")
    if child.is_index:
        raise ContainerError("an index inside an index is not supported", step="choose platform")
    return child, top, str(wanted)


def blobs_of(manifest: Manifest) -> list[tuple[str, int, str]]:
    """(digest, size, label) for the config and each layer, digests checked before any use."""
    doc = manifest.json()
    try:
        items = [(doc["config"], "config")] + [(layer, f"layer {i + 1}") for i, layer in enumerate(doc["layers"])]
        out = []
        for desc, label in items:
            size = desc["size"]
            if not isinstance(size, int) or size < 0:
                raise ContainerError(f"{label} has no valid size", step="read manifest")
            out.append((validate_digest(desc["digest"]), size, label))
    except (KeyError, TypeError) as exc:
        raise ContainerError(f"manifest {manifest.digest} lacks {exc}", step="read manifest",
                             fix="the image is malformed") from None
    return out


def fetch_blobs(client: RegistryClient, repository: str, blobs: list[tuple[str, int, str]], store: "Store",
                progress: Progress, workers: int = DEFAULT_WORKERS) -> tuple[list[str], list[str], int]:
    """Download the blobs the store lacks, in parallel. Returns (present, fetched, bytes)."""
    present = [d for d, _, _ in blobs if store.has_blob(d)]
    todo, seen = [], set(present)
    for digest, size, label in blobs:
        if digest not in seen:
            seen.add(digest)
            todo.append((digest, size, label))
    cancel = threading.Event()
    store.ensure()

    def fetch(digest: str, size: int, label: str) -> int:
        hex_ = digest.split(":", 1)[1]
        key = hex_[:12]
        progress.start(key, f"{key} {label}", size)
        part = store.tmp / f"pull-{hex_}.part"
        # Two pulls of the same blob (two terminals) must not write one .part file at once.
        lock = os.open(store.tmp / f"pull-{hex_}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if store.has_blob(digest):          # the other pull finished it meanwhile
                progress.finish(key, "exists")
                return 0
            try:
                transferred = client.download_blob(repository, digest, size, part,
                                                   lambda n: progress.advance(key, n), cancel)
            except BaseException:
                progress.finish(key, "failed")
                raise
            os.chmod(part, 0o644)
            os.replace(part, store.blob_path(digest))   # verified: now it may enter the store
        finally:
            os.close(lock)  # the empty .lock file stays (unlinking it would race); `reset` sweeps tmp/
        progress.finish(key, "done")
        return transferred

    total = 0
    if todo:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(todo))), thread_name_prefix="mc-pull") as pool:
            futures = [pool.submit(fetch, *item) for item in todo]
            finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
            errors = [f.exception() for f in finished if f.exception() is not None]
            if errors:
                cancel.set()
                wait(futures)
                raise errors[0]
            total = sum(f.result() for f in futures)
    return present, [d for d, _, _ in todo], total


def mirror_client(endpoint: Endpoint, *, insecure: bool = False, ca_file: str | None = None,
                  config_path: Path | None = None, notice: Callable[[str], None] = lambda m: None) -> RegistryClient:
    """A client for one mirror: its own scheme, credentials saved for ITS host (never Docker Hub's),
    and no retries, so that a mirror that is down costs one refused connection, not a backoff."""
    transport = Transport(insecure=insecure, ca_file=ca_file, notice=notice, retries=0)
    auth = Authenticator(transport, lambda registry: load_credentials(registry, config_path))
    return RegistryClient(endpoint.host, transport=transport, auth=auth, scheme=endpoint.scheme,
                          registry=endpoint.host)


def pull(name: str, paths: Paths | None = None, *, store: "Store | None" = None, platform: str | None = None,
         progress: Progress | None = None, client: RegistryClient | None = None, insecure: bool = False,
         ca_file: str | None = None, workers: int = DEFAULT_WORKERS,
         notice: Callable[[str], None] = lambda m: None, mirrors: list[str] | None = None,
         hub_host: str = DOCKER_HUB_API_HOST) -> PullResult:
    """Pull an image into the local store and tag it; return what was done.

    `mirrors`: registry mirror URLs for Docker Hub images (default: MC_REGISTRY_MIRRORS or
    daemon.json's registry-mirrors). `hub_host`: Docker Hub's API host. With an explicit
    `client`, only that client is used."""
    from ..image.store import Store

    paths = paths or Paths.from_env()
    store = store or Store(paths)
    ref = parse_reference(name)
    if client is not None:
        endpoints = [(Endpoint(client.host, client.scheme, False, ref.registry), client)]
    else:
        found = pull_endpoints(ref, configured_mirrors() if mirrors is None else mirrors, hub_host)
        endpoints = [(e, mirror_client(e, insecure=insecure, ca_file=ca_file, notice=notice) if e.mirror
                      else client_for(ref, insecure=insecure, ca_file=ca_file, notice=notice, host=e.host))
                     for e in found]
    progress = progress or Progress()
    skipped: list[str] = []
    try:
        for endpoint, client in endpoints:
            try:
                manifest, index, chosen = resolve_manifest(client, ref, platform)
                blobs = blobs_of(manifest)
                present, fetched, total = fetch_blobs(client, ref.repository, blobs, store, progress, workers)
                break
            except ContainerError as exc:
                if not endpoint.mirror:
                    raise
                skipped.append(f"{endpoint.url}: {exc.message}")
                notice(f"mirror {endpoint.url} failed ({exc.message}); trying the next endpoint")
    finally:
        progress.close()
    if index is not None:
        store.write_blob(index.data, index.digest, len(index.data))
    digest = store.put_manifest(manifest.data, manifest.media_type)
    if digest != manifest.digest:
        raise ContainerError(f"stored manifest as {digest}, expected {manifest.digest}", step="store manifest")
    store.tag(str(ref), manifest.digest, manifest.media_type)
    remember_sources(paths, ref.registry, ref.repository, [d for d, _, _ in blobs])
    return PullResult(str(ref), manifest.digest, index.digest if index else None, chosen, total, present, fetched,
                      endpoint.url if endpoint.mirror else ref.registry, skipped)


def pull_if_missing(paths: Paths, name: str) -> bool:
    """For `run`: pull an image the store lacks when its name says which registry to use.

    Like Docker, `run` pulls what it does not have; unlike Docker, only from a registry the name
    spells out (`localhost:5000/app`, `ghcr.io/org/app`), so an offline lab never tries Docker Hub
    behind the learner's back. Returns True if something was pulled.
    """
    import sys

    from ..reference import DEFAULT_REGISTRY, split_registry

    try:
        ref = parse_reference(name)
    except ContainerError:
        return False
    registry, _ = split_registry(name.partition("@")[0])
    if ref.registry in (DEFAULT_REGISTRY, "localhost") or registry == DEFAULT_REGISTRY:
        return False  # Docker Hub, or podman-style local names (localhost/NAME) that were never pushed
    print(f"Unable to find image '{name}' locally; pulling from {ref.registry}", file=sys.stderr)
    result = pull(name, paths)
    print(f"Digest: {result.index_digest or result.digest}", file=sys.stderr)
    return True
