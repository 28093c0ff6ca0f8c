"""The local image store: an OCI image layout on disk, addressed by digest (lesson 05).

Layout under `paths.lib_dir` (default /var/lib/minicontainer):

  images/                 an OCI image layout that skopeo, umoci and `oci:` transports can read
    oci-layout            {"imageLayoutVersion": "1.0.0"}
    index.json            one entry per name: {"digest", "mediaType", "annotations":
                          {"org.opencontainers.image.ref.name": "docker.io/library/busybox:latest"}}
    blobs/sha256/<hex>    manifests, configs and (compressed) layers, each named by its sha256
  layers/sha256/<hex>     each layer unpacked ONCE per diff_id, shared by all images (mode 0700 parent)
  tmp/                    blobs and layers being written; renamed into place only once verified
  cache/run.json          `run`'s answers for names, checked against index.json (see image/run.py)
  store.lock              flock: exclusive while index.json changes or garbage is collected

API (used by the registry client, `commit`, `build`, `load` and `run`):

  store = Store(paths)
  store.has_blob(digest) -> bool;  store.blob_path(digest) -> Path;  store.open_blob(digest) -> file
  store.read_blob(digest) -> bytes
  store.write_blob(source, expected_digest=None, expected_size=None) -> Path
        source: bytes, a binary file object, or an iterable of byte chunks. Hashes and counts while
        streaming into tmp/, then renames into blobs/ only if size and digest match; on any
        mismatch or error nothing is left behind (ContainerError, step "verify blob").
  store.put_blob(data: bytes) -> Descriptor-like (digest, size)    (JSON documents you made)
  store.put_manifest(data: bytes, media_type) -> digest
        checks the manifest parses and that its config and layers are already in the store.
  store.tag(reference, manifest_digest, media_type)  /  store.untag(reference)
  store.resolve(name) -> Image (manifest, config, layer descriptors, diff_ids; picks this
        host's platform from an index). Accepts a name, `name@sha256:...`, a manifest digest,
        an image ID (the config digest) or a unique prefix of one.
  store.images() -> list[Image];  store.remove(name) -> digests untagged;  store.gc() -> removed
  store.layer_dirs(image) -> [Path, ...] bottom to top, unpacking layers that are not yet unpacked.

Names are normalised by minicontainer.reference (`busybox` -> docker.io/library/busybox:latest).
A short name that is not found falls back to `localhost/<name>` (podman's convention for images
made locally), so `run busybox` finds the course's default image offline.

Concurrency: blobs land by rename (atomic), so readers never see half a blob; index.json is
read-modified-written under an exclusive flock and replaced by rename. Garbage collection takes
the same lock and leaves blobs younger than GC_GRACE_SECONDS, which a pull may not have tagged yet.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

from ..atomic import write_atomic
from ..errors import ContainerError
from ..paths import Paths
from ..reference import DEFAULT_REGISTRY, Reference, parse_reference
from . import mediatypes as mt
from . import digest as digests  # the store calls digests.write_verified (a seam: seams.py)
from .digest import hex_of, sha256_digest, validate_digest
from .manifest import Descriptor, check_manifest_kind, choose_platform, detect_media_type, load_json, \
    parse_config, parse_index, parse_manifest
from .unpack import ensure_layers

GC_GRACE_SECONDS = 600
MAX_JSON_BYTES = 8 << 20  # manifests and configs larger than this are refused


@dataclass
class Image:
    """A resolved image: which manifest and config, and its layers bottom to top."""

    reference: str | None
    manifest_digest: str
    media_type: str
    manifest: dict
    config_digest: str
    config: dict
    layers: list[Descriptor]
    diff_ids: list[str]
    tags: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        """Docker's image ID: the digest of the config."""
        return self.config_digest

    @property
    def short_id(self) -> str:
        return self.config_digest.split(":", 1)[1][:12]

    @property
    def size(self) -> int:
        """Bytes of the compressed layers (what a pull downloads)."""
        return sum(layer.size for layer in self.layers)

    @property
    def run_config(self) -> dict:
        """The part of the config that says how to run it: Entrypoint, Cmd, Env, WorkingDir, User, ..."""
        return dict(self.config.get("config") or {})


def normalize(name: str) -> str:
    """The full reference string for a name: busybox -> docker.io/library/busybox:latest."""
    return str(parse_reference(name))


def local_name(name: str) -> str:
    """The full name for an image made here: a name without a registry goes under localhost/ (podman's rule)."""
    ref = parse_reference(name)
    first = name.split("/", 1)[0]
    if ref.registry == DEFAULT_REGISTRY and first not in (DEFAULT_REGISTRY, "index.docker.io"):
        ref = Reference("localhost", ref.repository.removeprefix("library/"), ref.tag, ref.digest)
    return str(ref)


class Store:
    """An OCI image layout plus unpacked layers under `paths.lib_dir`."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.root = paths.lib_dir / "images"
        self.blobs = self.root / "blobs" / "sha256"
        self.layers_root = paths.lib_dir / "layers"
        self.tmp = paths.lib_dir / "tmp"
        self.lock_path = paths.lib_dir / "store.lock"

    # -- set-up and locking ---------------------------------------------------------------------
    def ensure(self) -> "Store":
        """Create the layout if it is missing (idempotent)."""
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        (self.layers_root / "sha256").mkdir(parents=True, exist_ok=True)
        os.chmod(self.layers_root, 0o700)   # setuid binaries in layers must not be reachable by users
        os.chmod(self.tmp, 0o700)           # ... nor while they are being unpacked
        if not (self.root / "oci-layout").exists():
            write_atomic(self.root / "oci-layout", json.dumps({"imageLayoutVersion": mt.OCI_LAYOUT_VERSION}),
                         mode=0o644, durable=True, tmp_dir=self.tmp)
        if not (self.root / "index.json").exists():
            self._write_index({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []})
        return self

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """An exclusive flock on store.lock: index.json changes and garbage collection."""
        self.ensure()
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # -- blobs ----------------------------------------------------------------------------------
    def blob_path(self, digest: str) -> Path:
        return self.blobs / hex_of(digest)

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def open_blob(self, digest: str) -> BinaryIO:
        try:
            return open(self.blob_path(digest), "rb")
        except FileNotFoundError:
            raise ContainerError(f"blob {digest} is not in the store", step="read blob", path=str(self.root),
                                 fix="pull or load the image again") from None

    def read_blob(self, digest: str, max_size: int = MAX_JSON_BYTES) -> bytes:
        with self.open_blob(digest) as f:
            data = f.read(max_size + 1)
        if len(data) > max_size:
            raise ContainerError(f"blob {digest} is larger than {max_size} bytes", step="read blob")
        return data

    def write_blob(self, source: bytes | BinaryIO | Iterable[bytes], expected_digest: str | None = None,
                   expected_size: int | None = None) -> Path:
        """Stream `source` into the store, verifying size and digest; return the blob's path."""
        if expected_digest is not None:
            validate_digest(expected_digest)
            hex_of(expected_digest)
            if self.has_blob(expected_digest) and (expected_size is None or
                                                   self.blob_path(expected_digest).stat().st_size == expected_size):
                _drain(source)
                return self.blob_path(expected_digest)
        self.ensure()
        fd, tmp_name = tempfile.mkstemp(prefix="blob-", dir=self.tmp)
        try:
            with os.fdopen(fd, "wb") as out:
                digest, _ = digests.write_verified(_chunks(source), out, expected_digest, expected_size)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp_name, 0o644)
            final = self.blobs / hex_of(digest)
            os.replace(tmp_name, final)
            return final
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise

    def put_blob(self, data: bytes) -> tuple[str, int]:
        """Store bytes you produced (a config, a manifest); return (digest, size)."""
        digest = sha256_digest(data)
        self.write_blob(data, digest, len(data))
        return digest, len(data)

    def put_json(self, doc: dict, media_type: str) -> Descriptor:
        """Store a JSON document in canonical form and return its descriptor."""
        data = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
        digest, size = self.put_blob(data)
        return Descriptor(media_type, digest, size)

    # -- manifests and names --------------------------------------------------------------------
    def put_manifest(self, data: bytes, media_type: str = "") -> str:
        """Store a manifest or index after checking it; its config and layers must already be here."""
        doc = load_json(data, "manifest")
        media_type = detect_media_type(doc, media_type)
        if check_manifest_kind(media_type, "manifest") == "manifest":
            _, config, layers = parse_manifest(data, "manifest", media_type)
            missing = [d.digest for d in [config, *layers] if not self.has_blob(d.digest)]
            if missing:
                raise ContainerError(f"manifest refers to blobs not in the store: {', '.join(missing)}",
                                     step="store manifest", fix="write the config and layers first")
            parse_config(self.read_blob(config.digest), f"config {config.digest}", len(layers))
        else:
            parse_index(data, "index", media_type)
        digest, _ = self.put_blob(data)
        return digest

    def _read_index(self) -> dict:
        try:
            return load_json((self.root / "index.json").read_bytes(), str(self.root / "index.json"))
        except FileNotFoundError:
            return {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}

    def _write_index(self, index: dict) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        write_atomic(self.root / "index.json", json.dumps(index, indent=2) + "\n", mode=0o644, durable=True,
                     tmp_dir=self.tmp)

    def tag(self, reference: str, manifest_digest: str, media_type: str = "") -> str:
        """Point `reference` at a stored manifest (replacing what it pointed at); returns the full name."""
        full = normalize(reference)
        if not self.has_blob(manifest_digest):
            raise ContainerError(f"manifest {manifest_digest} is not in the store", step="tag image",
                                 fix="store the manifest with put_manifest first")
        size = self.blob_path(manifest_digest).stat().st_size
        if not media_type:
            media_type = detect_media_type(load_json(self.read_blob(manifest_digest), manifest_digest))
        entry = {"mediaType": media_type, "digest": manifest_digest, "size": size,
                 "annotations": {mt.ANNOTATION_REF_NAME: full}}
        with self.lock():
            index = self._read_index()
            manifests = [m for m in index.get("manifests", []) if _ref_name(m) != full]
            manifests.append(entry)
            index["manifests"] = manifests
            self._write_index(index)
        return full

    def untag(self, reference: str) -> list[str]:
        """Remove names from index.json; returns the manifest digests they pointed at."""
        with self.lock():
            index = self._read_index()
            keep, gone = [], []
            for m in index.get("manifests", []):
                (gone if _ref_name(m) == reference else keep).append(m)
            index["manifests"] = keep
            self._write_index(index)
        return [m["digest"] for m in gone]

    def names(self) -> dict[str, str]:
        """Every name in the store -> manifest digest."""
        return {_ref_name(m): m["digest"] for m in self._read_index().get("manifests", []) if _ref_name(m)}

    def lookup(self, name: str) -> tuple[str, str, str] | None:
        """(full name, manifest digest, media type) for a name or digest-like string, or None."""
        index = self._read_index().get("manifests", [])
        if name.startswith("sha256:") or (len(name) >= 4 and all(c in "0123456789abcdef" for c in name)):
            want = name if name.startswith("sha256:") else "sha256:" + name
            hits = set()
            for m in index:
                if m["digest"].startswith(want):
                    hits.add((m["digest"], m.get("mediaType", "")))
                else:
                    with contextlib.suppress(ContainerError):
                        image = self.image_from_manifest(None, m["digest"], m.get("mediaType", ""))
                        if image.config_digest.startswith(want):
                            hits.add((m["digest"], m.get("mediaType", "")))
            if len(hits) > 1:
                raise ContainerError(f"{name!r} matches {len(hits)} images", step="resolve image",
                                     fix="give more characters of the ID")
            if hits:
                digest, media_type = hits.pop()
                return name, digest, media_type
            if name.startswith("sha256:"):
                return None
        ref = parse_reference(name)
        candidates = [str(ref)]
        if ref.digest is None and ref.registry == DEFAULT_REGISTRY and name.split("/", 1)[0] != DEFAULT_REGISTRY:
            candidates.append(local_name(name))
        for candidate in candidates:
            for m in index:
                if _ref_name(m) == candidate:
                    return candidate, m["digest"], m.get("mediaType", "")
        if ref.digest and self.has_blob(ref.digest):
            return str(ref), ref.digest, ""
        return None

    def resolve(self, name: str) -> Image:
        """The image a name refers to, or a clear error if the store does not have it."""
        found = self.lookup(name)
        if found is None:
            raise ContainerError(f"image {name!r} is not in the local store", step="resolve image",
                                 path=str(self.root),
                                 fix="see `minicontainer images`; pull, load or build it first")
        full, digest, media_type = found
        image = self.image_from_manifest(full, digest, media_type)
        image.tags = [n for n, d in self.names().items() if d == digest]
        if full not in image.tags and "@" not in full:       # found by ID: name it by one of its tags
            image.reference = image.tags[0] if image.tags else None
        return image

    def image_from_manifest(self, reference: str | None, digest: str, media_type: str) -> Image:
        """The image a stored manifest (or, through an index, this platform's manifest) describes."""
        data = self.read_blob(digest)
        doc = load_json(data, f"manifest {digest}")
        media_type = detect_media_type(doc, media_type)
        if check_manifest_kind(media_type, f"manifest {digest}") == "index":
            _, entries = parse_index(data, f"index {digest}", media_type)
            entries = [e for e in entries if self.has_blob(e.digest)]
            chosen = choose_platform(entries, f"index {digest}")
            return self.image_from_manifest(reference, chosen.digest, chosen.media_type)
        _, config_desc, layers = parse_manifest(data, f"manifest {digest}", media_type)
        config = parse_config(self.read_blob(config_desc.digest), f"config {config_desc.digest}", len(layers))
        return Image(reference, digest, media_type, doc, config_desc.digest, config, layers,
                     list(config["rootfs"]["diff_ids"]))

    def images(self) -> list[Image]:
        """Every tagged image (one entry per name)."""
        out = []
        for name, digest in sorted(self.names().items()):
            with contextlib.suppress(ContainerError):
                image = self.resolve(name)
                image.reference = name
                out.append(image)
        return out

    def remove(self, name: str, force: bool = False) -> list[str]:
        """`rmi`: untag the name (all names of the image if given an ID); returns the names removed.

        As Docker, it refuses (unless `force`) to take the last name of an image a container was
        made from, running or stopped: `images` would no longer show what the container runs.
        (Its blobs and layers stay either way while a container uses them, see reachable().)"""
        found = self.lookup(name)
        if found is None:
            raise ContainerError(f"image {name!r} is not in the local store", step="remove image",
                                 fix="see `minicontainer images`")
        full, digest, _ = found
        names = self.names()
        targets = [full] if full in names else [n for n, d in names.items() if d == digest]
        last_names = not [n for n, d in names.items() if d == digest and n not in targets]
        users = containers_using(self.paths).get(digest, [])
        if users and last_names and not force:
            raise ContainerError(f'conflict: unable to remove repository reference "{name}" (must force) - '
                                 f"container {users[0][:12]} is using its referenced image {hex_of(digest)[:12]}",
                                 step="remove image", fix="remove the container first (minicontainer rm), "
                                                          "or untag anyway with rmi -f")
        for target in targets:
            self.untag(target)
        self.gc()
        return targets

    # -- layers ---------------------------------------------------------------------------------
    def layer_dir(self, diff_id: str) -> Path:
        """Where the layer with this diff_id is (or will be) unpacked."""
        return self.layers_root / "sha256" / hex_of(diff_id)

    def layer_dirs(self, image: Image) -> list[Path]:
        """The image's unpacked layer directories, bottom to top, unpacking any that are missing."""
        dirs = [self.layer_dir(diff_id) for diff_id in image.diff_ids]
        if all(d.is_dir() for d in dirs):
            return dirs
        return ensure_layers(self, image)

    # -- garbage collection ---------------------------------------------------------------------
    def reachable(self) -> tuple[set[str], set[str]]:
        """(blob digests, diff_ids) reachable from index.json or from a container's image."""
        blobs: set[str] = set()
        diff_ids: set[str] = set()
        todo = [(m["digest"], m.get("mediaType", "")) for m in self._read_index().get("manifests", [])]
        todo += [(digest, "") for digest in _container_images(self.paths)]
        while todo:
            digest, media_type = todo.pop()
            if digest in blobs or not self.has_blob(digest):
                continue
            blobs.add(digest)
            try:
                data = self.read_blob(digest)
                doc = load_json(data, digest)
                kind = check_manifest_kind(detect_media_type(doc, media_type), digest)
                if kind == "index":
                    todo.extend((e.digest, e.media_type) for e in parse_index(data, digest)[1])
                    continue
                _, config, layers = parse_manifest(data, digest)
                blobs.add(config.digest)
                blobs.update(layer.digest for layer in layers)
                if self.has_blob(config.digest):
                    diff_ids.update(parse_config(self.read_blob(config.digest), config.digest)["rootfs"]["diff_ids"])
            except ContainerError:
                continue
        return blobs, diff_ids

    def gc(self, grace_seconds: float = GC_GRACE_SECONDS, only: set[str] | None = None) -> list[str]:
        """Delete blobs and unpacked layers no name reaches (and not mounted). Returns what went.

        `only`: look at just these blob digests and layer diff_ids (what one lesson made), so that the
        blobs another command is writing into a shared store right now are left alone."""
        removed: list[str] = []
        if not self.root.exists():
            return removed
        with self.lock():
            blobs, diff_ids = self.reachable()
            blobs |= _build_cache_blobs(self.paths)
            now = time.time()
            for path in self.blobs.iterdir():
                digest = "sha256:" + path.name
                if digest in blobs or (only is not None and digest not in only):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    if now - path.stat().st_mtime < grace_seconds:
                        continue
                    path.unlink()
                    removed.append(digest)
            diff_ids |= _build_cache_diff_ids(self.paths)
            mounted = _mounted_text()
            layers = self.layers_root / "sha256"
            if layers.exists():
                for path in layers.iterdir():
                    if "sha256:" + path.name in diff_ids or str(path) in mounted or \
                            (only is not None and "sha256:" + path.name not in only):
                        continue
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(f"layer sha256:{path.name}")
        return removed


class SnapshotStore(Store):
    """The store as one index.json text showed it, noting every blob file it looks for or opens.

    What an answer of image/run.py's cache depends on: exactly that index.json, and which blobs
    were there (a blob, named by its content, can appear or go but never change).
    `index`: the text of index.json read before (None: read the file, as Store does)."""

    def __init__(self, paths: Paths, index: str | None = None) -> None:
        super().__init__(paths)
        self.index = index
        self.blobs_seen: dict[str, bool] = {}  # blob file -> was it there

    def _read_index(self) -> dict:
        if self.index is None:
            return super()._read_index()
        return load_json(self.index.encode("latin-1"), str(self.root / "index.json"))

    def has_blob(self, digest: str) -> bool:
        found = super().has_blob(digest)
        self.blobs_seen[str(self.blob_path(digest))] = found
        return found

    def open_blob(self, digest: str) -> BinaryIO:
        try:
            f = super().open_blob(digest)
        except ContainerError:
            self.blobs_seen[str(self.blob_path(digest))] = False
            raise
        self.blobs_seen[str(self.blob_path(digest))] = True
        return f


def _ref_name(entry: dict) -> str:
    return (entry.get("annotations") or {}).get(mt.ANNOTATION_REF_NAME, "")


def _chunks(source: bytes | BinaryIO | Iterable[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield bytes(source)
    elif hasattr(source, "read"):
        while block := source.read(size):
            yield block
    else:
        yield from source


def _drain(source: bytes | BinaryIO | Iterable[bytes]) -> None:
    if not isinstance(source, (bytes, bytearray, memoryview)) and not hasattr(source, "read"):
        for _ in source:
            pass


def _container_images(paths: Paths) -> set[str]:
    """Manifest digests of the images containers (running or stopped) were made from: their layers
    are the lower dirs of those containers' overlays, mounted in namespaces the host cannot see."""
    return set(containers_using(paths))


def containers_using(paths: Paths) -> dict[str, list[str]]:
    """Manifest digest -> the ids of the containers (running or stopped) made from that image."""
    out: dict[str, list[str]] = {}
    if paths.containers_dir.is_dir():
        for state in sorted(paths.containers_dir.glob("*/state.json")):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                digest = json.loads(state.read_text()).get("spec", {}).get("image_digest")
                if digest:
                    out.setdefault(digest, []).append(state.parent.name)
    return out


def _mounted_text() -> str:
    """Every path the mount table names (mount points, bind sources, overlay lowerdirs), as one text."""
    from .. import mountinfo
    try:
        mounts = mountinfo.read()
    except OSError:
        return ""
    return "\n".join(f"{m.point} {m.root} {m.source} {m.super_options}" for m in mounts)


def _build_cache_entries(paths: Paths) -> list[dict]:
    cache = paths.lib_dir / "build-cache"
    out = []
    if cache.is_dir():
        for path in cache.glob("*.json"):
            with contextlib.suppress(OSError, ValueError):
                out.append(json.loads(path.read_text()))
    return out


def _build_cache_blobs(paths: Paths) -> set[str]:
    """Blobs the build cache still points at (so an unchanged rebuild stays instant)."""
    out: set[str] = set()
    for entry in _build_cache_entries(paths):
        out.update(entry.get("blobs", []))
    return out


def _build_cache_diff_ids(paths: Paths) -> set[str]:
    out: set[str] = set()
    for entry in _build_cache_entries(paths):
        out.update(entry.get("diff_ids", []))
    return out


def sweep_tmp(paths: Paths) -> list[str]:
    """Remove half-written blobs and layers (left by a killed writer)."""
    tmp = paths.lib_dir / "tmp"
    removed = []
    if tmp.is_dir():
        for path in tmp.iterdir():
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            removed.append(f"removed unfinished {path}")
    return removed


