"""Moving images as files: `save` / `load` an OCI layout tar, `load` a `docker save` tar, export a runc bundle (lesson 05).

An OCI image layout is the store's own format: `oci-layout`, `index.json`, `blobs/sha256/...`.
`save` writes those for the chosen images into a tar (plus Docker's `manifest.json`, so that
`docker load` accepts it too). `load` reads either an OCI layout tar or the older `docker save`
format (`manifest.json` + `<id>/layer.tar` + `<id>.json`), verifying every blob's digest as it is
copied in. If anything is wrong, the blobs it added are removed and no name changes.

`export_bundle` turns an image into an OCI runtime bundle (`rootfs/` + `config.json`) that
`runc run` can start: the interop proof that our images are real images.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import posixpath
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import BinaryIO

from ..errors import ContainerError
from ..reference import parse_reference
from . import mediatypes as mt
from .config import process_from_config, resolve_user
from .digest import file_digest, hex_of, sha256_digest
from .manifest import Descriptor, check_manifest_kind, detect_media_type, load_json, parse_config, parse_index, \
    parse_manifest
from .store import Image, Store
from .unpack import flatten

CONTAINERD_NAME = "io.containerd.image.name"


# -- save -----------------------------------------------------------------------------------------
def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    tar.addfile(info)


def save(store: Store, names: list[str], out: BinaryIO) -> list[str]:
    """Write the named images as one OCI layout tar to `out`. Returns the full names saved."""
    images = [store.resolve(n) for n in names]
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}
    docker_manifest = []
    blobs: list[str] = []
    saved = []
    for name, image in zip(names, images):
        full = image.reference if image.reference and "@" not in image.reference else None
        annotations = {}
        if full:
            ref = parse_reference(full)
            annotations = {CONTAINERD_NAME: full, mt.ANNOTATION_REF_NAME: ref.tag or "latest"}
        data = store.read_blob(image.manifest_digest)
        index["manifests"].append({"mediaType": image.media_type, "digest": image.manifest_digest,
                                   "size": len(data), **({"annotations": annotations} if annotations else {})})
        for digest in [image.manifest_digest, image.config_digest, *[layer.digest for layer in image.layers]]:
            if digest not in blobs:
                blobs.append(digest)
        docker_manifest.append({"Config": f"blobs/sha256/{hex_of(image.config_digest)}",
                                "RepoTags": [parse_reference(full).familiar] if full else [],
                                "Layers": [f"blobs/sha256/{hex_of(layer.digest)}" for layer in image.layers]})
        saved.append(full or image.manifest_digest)
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        _add_bytes(tar, "oci-layout", json.dumps({"imageLayoutVersion": mt.OCI_LAYOUT_VERSION}).encode())
        _add_bytes(tar, "index.json", json.dumps(index).encode())
        _add_bytes(tar, "manifest.json", json.dumps(docker_manifest).encode())
        _add_dir(tar, "blobs")
        _add_dir(tar, "blobs/sha256")
        for digest in blobs:
            path = store.blob_path(digest)
            info = tarfile.TarInfo(f"blobs/sha256/{hex_of(digest)}")
            info.size = path.stat().st_size
            info.mode = 0o644
            with open(path, "rb") as f:
                tar.addfile(info, f)
    return saved


# -- load -----------------------------------------------------------------------------------------
class _Archive:
    """Random access to the members of a tar, by normalised name (symlinks resolved inside it)."""

    def __init__(self, tar: tarfile.TarFile, where: str) -> None:
        self.tar = tar
        self.where = where
        self.members = {posixpath.normpath(m.name.lstrip("/")): m for m in tar.getmembers()}

    def has(self, name: str) -> bool:
        return posixpath.normpath(name) in self.members

    def open(self, name: str) -> BinaryIO:
        member = self.members.get(posixpath.normpath(name))
        if member is None or not (member.isreg() or member.issym() or member.islnk()):
            raise ContainerError(f"{self.where}: {name} is missing", step="load image",
                                 fix="the archive is incomplete: save it again")
        try:
            f = self.tar.extractfile(member)
        except KeyError:
            f = None
        if f is None:
            raise ContainerError(f"{self.where}: {name} is not a file", step="load image")
        return f

    def read(self, name: str, max_size: int = 8 << 20) -> bytes:
        data = self.open(name).read(max_size + 1)
        if len(data) > max_size:
            raise ContainerError(f"{self.where}: {name} is too large for a JSON document", step="load image")
        return data


class _Loader:
    """Copies blobs into the store, remembering which were new so a failure can take them back."""

    def __init__(self, store: Store, archive: _Archive) -> None:
        self.store = store
        self.archive = archive
        self.added: list[str] = []

    def blob(self, digest: str, size: int | None, name: str | None = None) -> None:
        existed = self.store.has_blob(digest)
        with self.archive.open(name or f"blobs/sha256/{hex_of(digest)}") as f:
            self.store.write_blob(f, digest, size)
        if not existed:
            self.added.append(digest)

    def rollback(self) -> None:
        for digest in self.added:
            with contextlib.suppress(FileNotFoundError):
                self.store.blob_path(digest).unlink()

    def oci_manifest(self, desc: Descriptor) -> str:
        """Copy a manifest (or index, recursively) and what it points at; returns its media type."""
        self.blob(desc.digest, desc.size)
        data = self.store.read_blob(desc.digest)
        media_type = detect_media_type(load_json(data, desc.digest), desc.media_type)
        if check_manifest_kind(media_type, f"{self.archive.where} {desc.digest}") == "index":
            for entry in parse_index(data, desc.digest, media_type)[1]:
                if self.archive.has(f"blobs/sha256/{hex_of(entry.digest)}"):
                    self.oci_manifest(entry)
            return media_type
        _, config, layers = parse_manifest(data, f"{self.archive.where} manifest {desc.digest}", media_type)
        self.blob(config.digest, config.size)
        parse_config(self.store.read_blob(config.digest), f"config {config.digest}", len(layers))
        for layer in layers:
            self.blob(layer.digest, layer.size)
        return media_type


def load(store: Store, source: Path | BinaryIO, tag: str | None = None) -> list[str]:
    """Load an OCI layout tar or a `docker save` tar. Returns the names it tagged."""
    store.ensure()
    tmp = None
    if not isinstance(source, (str, Path)):
        fd, tmp = tempfile.mkstemp(prefix="load-", dir=store.tmp)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
        source = Path(tmp)
    where = str(source)
    try:
        try:
            tar = tarfile.open(source, "r:*")
        except (tarfile.TarError, OSError):
            raise ContainerError(f"{where} is not a tar archive", step="load image",
                                 fix="give a file made by `minicontainer save`, `docker save` or skopeo") from None
        with tar:
            archive = _Archive(tar, where)
            loader = _Loader(store, archive)
            try:
                if archive.has("index.json") and archive.has("oci-layout"):
                    todo = _load_oci(loader, tag)
                elif archive.has("manifest.json"):
                    todo = _load_docker(loader, tag)
                else:
                    raise ContainerError(f"{where} has neither index.json nor manifest.json", step="load image",
                                         fix="give an OCI layout tar or a `docker save` tar")
            except BaseException:
                loader.rollback()
                raise
        return [store.tag(name, digest, media_type) for name, digest, media_type in todo]
    finally:
        if tmp:
            os.unlink(tmp)


def _name_for(annotations: dict, tag: str | None, index: int) -> str | None:
    if tag:
        return tag if index == 0 else None
    full = annotations.get(CONTAINERD_NAME)
    if full:
        return full
    ref = annotations.get(mt.ANNOTATION_REF_NAME)
    if not ref:
        return None
    if "/" in ref or ":" in ref:
        return ref
    return f"localhost/image:{ref}"              # a bare tag, as skopeo writes it: name it locally


def _load_oci(loader: _Loader, tag: str | None) -> list[tuple[str, str, str]]:
    data = loader.archive.read("index.json")
    _, entries = parse_index(data, f"{loader.archive.where} index.json", mt.OCI_INDEX)
    todo = []
    for i, entry in enumerate(entries):
        media_type = loader.oci_manifest(entry)
        name = _name_for(entry.annotations, tag, i)
        if name:
            todo.append((str(parse_reference(name)), entry.digest, media_type))
    if not todo and entries:
        todo.append((str(parse_reference(tag or "localhost/image:latest")), entries[0].digest,
                     entries[0].media_type))
    return todo


def _load_docker(loader: _Loader, tag: str | None) -> list[tuple[str, str, str]]:
    where = f"{loader.archive.where} manifest.json"
    try:
        items = json.loads(loader.archive.read("manifest.json"))
    except ValueError as exc:
        raise ContainerError(f"{where}: malformed JSON: {exc}", step="load image") from None
    if not isinstance(items, list):
        raise ContainerError(f"{where}: expected a list", step="load image")
    todo = []
    for i, item in enumerate(items):
        config_bytes = loader.archive.read(item["Config"])
        config_digest = sha256_digest(config_bytes)
        loader.blob(config_digest, len(config_bytes), item["Config"])
        layers = []
        for name in item.get("Layers", []):
            with loader.archive.open(name) as f:
                head = f.read(4)
            with loader.archive.open(name) as f:
                digest, size = file_digest(f)
            loader.blob(digest, size, name)
            compressed = head.startswith(b"\x1f\x8b")
            layers.append({"mediaType": mt.DOCKER_LAYER_GZIP if compressed else
                           "application/vnd.docker.image.rootfs.diff.tar", "digest": digest, "size": size})
        parse_config(config_bytes, where, len(layers))
        manifest = {"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST,
                    "config": {"mediaType": mt.DOCKER_CONFIG, "digest": config_digest, "size": len(config_bytes)},
                    "layers": layers}
        data = json.dumps(manifest, indent=3).encode()
        existed = loader.store.has_blob(sha256_digest(data))
        digest = loader.store.put_manifest(data, mt.DOCKER_MANIFEST)
        if not existed:
            loader.added.append(digest)
        names = [tag] if tag and i == 0 else list(item.get("RepoTags") or [])
        if not names:
            names = [f"localhost/image:{config_digest[7:19]}"]
        todo.extend((str(parse_reference(n)), digest, mt.DOCKER_MANIFEST) for n in names)
    return todo


# -- a runc bundle --------------------------------------------------------------------------------
def runtime_spec(image: Image, rootfs: Path, args: list[str] | None = None) -> dict:
    """A minimal OCI runtime config.json for the image (what `runc spec` makes, with the image's process)."""
    proc = process_from_config(image.config, args)
    uid, gid = resolve_user(proc.user, rootfs)
    return {
        "ociVersion": "1.0.2",
        "process": {"terminal": False, "user": {"uid": uid, "gid": gid}, "args": proc.argv, "env": proc.env,
                    "cwd": proc.cwd, "noNewPrivileges": True,
                    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]},
        "root": {"path": "rootfs", "readonly": False},
        "hostname": "minicontainer",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }


def export_bundle(store: Store, image: Image, bundle: Path, args: list[str] | None = None) -> Path:
    """Write bundle/rootfs (the layers applied in order) and bundle/config.json."""
    rootfs = flatten(store, image, bundle / "rootfs")
    (bundle / "config.json").write_text(json.dumps(runtime_spec(image, rootfs, args), indent=2))
    return bundle


