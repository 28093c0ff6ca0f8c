"""Reading manifests, indexes and configs, and refusing what we cannot run (lesson 05).

An image is three kinds of JSON plus tar files, all addressed by digest:

  index     {"manifests": [{"digest", "platform": {"os", "architecture"}}, ...]}   (optional)
  manifest  {"config": {"digest", "size"}, "layers": [{"mediaType", "digest", "size"}, ...]}
  config    {"architecture", "os", "config": {"Entrypoint", "Cmd", "Env", ...},
             "rootfs": {"type": "layers", "diff_ids": [sha256 of each *uncompressed* layer]}}

The functions here parse bytes into dicts and check the fields the runtime relies on, so that a
malformed or unsupported document fails here, with its media type named, and not later.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from ..errors import ContainerError
from . import mediatypes as mt
from .digest import validate_digest


@dataclass(frozen=True)
class Descriptor:
    """A pointer to a blob: its media type, digest and size (plus optional platform/annotations)."""

    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict)
    platform: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, d: dict, where: str) -> "Descriptor":
        if not isinstance(d, dict):
            raise _bad(where, "a descriptor is not an object")
        try:
            digest = validate_digest(d.get("digest"))
        except ContainerError as exc:
            raise _bad(where, exc.message) from None
        size = d.get("size")
        if not isinstance(size, int) or size < 0:
            raise _bad(where, f"descriptor {digest} has no valid size")
        return cls(d.get("mediaType", ""), digest, size, dict(d.get("annotations") or {}), d.get("platform"))

    def to_json(self) -> dict:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform:
            out["platform"] = dict(self.platform)
        return out


def _bad(where: str, why: str, media_type: str = "") -> ContainerError:
    what = f" ({media_type})" if media_type else ""
    return ContainerError(f"{where}{what}: {why}", step="read image", fix="the image is malformed or unsupported: "
                          "rebuild it, or pull/load it again")


def load_json(data: bytes, where: str) -> dict:
    """Parse a JSON document, naming `where` it came from if it is not a JSON object."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad(where, f"malformed JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise _bad(where, "malformed JSON: expected an object")
    return doc


def detect_media_type(doc: dict, declared: str = "") -> str:
    """The document's media type: its own mediaType field, the declared one, or guessed from its shape."""
    media_type = doc.get("mediaType") or declared
    if not media_type:
        if doc.get("schemaVersion") == 1:
            media_type = mt.DOCKER_SCHEMA1
        elif "manifests" in doc:
            media_type = mt.OCI_INDEX
        elif "config" in doc and "layers" in doc:
            media_type = mt.OCI_MANIFEST
    return media_type


def check_manifest_kind(media_type: str, where: str) -> str:
    """'manifest' or 'index', or a clear error for schema 1 and unknown types."""
    if media_type in mt.MANIFESTS:
        return "manifest"
    if media_type in mt.INDEXES:
        return "index"
    if media_type in mt.SCHEMA1:
        raise ContainerError(f"{where}: Docker schema 1 manifests ({media_type}) are not supported",
                             step="read image", fix="re-push the image with a current Docker or skopeo (schema 2 / OCI)")
    raise ContainerError(f"{where}: unsupported manifest media type {media_type!r}", step="read image",
                         fix="use an OCI or Docker schema 2 image")


def parse_manifest(data: bytes, where: str, declared: str = "") -> tuple[dict, Descriptor, list[Descriptor]]:
    """(document, config descriptor, layer descriptors) of an image manifest."""
    doc = load_json(data, where)
    media_type = detect_media_type(doc, declared)
    if check_manifest_kind(media_type, where) != "manifest":
        raise _bad(where, "expected an image manifest, got an index", media_type)
    config = Descriptor.from_json(doc.get("config"), where + " config")
    if config.media_type and config.media_type not in mt.CONFIGS:
        raise _bad(where, f"unsupported config media type {config.media_type!r}", media_type)
    layers_json = doc.get("layers")
    if not isinstance(layers_json, list):
        raise _bad(where, "manifest has no layers list", media_type)
    layers = [Descriptor.from_json(layer, f"{where} layer {i}") for i, layer in enumerate(layers_json)]
    for layer in layers:
        if layer.media_type not in mt.LAYERS:
            raise _bad(where, f"unsupported layer media type {layer.media_type!r}", media_type)
    return doc, config, layers


def parse_index(data: bytes, where: str, declared: str = "") -> tuple[dict, list[Descriptor]]:
    """(document, manifest descriptors) of an index / manifest list."""
    doc = load_json(data, where)
    media_type = detect_media_type(doc, declared)
    if check_manifest_kind(media_type, where) != "index":
        raise _bad(where, "expected an index", media_type)
    entries = doc.get("manifests")
    if not isinstance(entries, list):
        raise _bad(where, "index has no manifests list", media_type)
    return doc, [Descriptor.from_json(e, f"{where} entry {i}") for i, e in enumerate(entries)]


def parse_config(data: bytes, where: str, layer_count: int | None = None) -> dict:
    """The image config, checked: rootfs.diff_ids must name one sha256 per layer."""
    doc = load_json(data, where)
    rootfs = doc.get("rootfs")
    if not isinstance(rootfs, dict) or not isinstance(rootfs.get("diff_ids"), list):
        raise _bad(where, "config has no rootfs.diff_ids")
    for diff_id in rootfs["diff_ids"]:
        try:
            validate_digest(diff_id)
        except ContainerError as exc:
            raise _bad(where, exc.message) from None
    if layer_count is not None and len(rootfs["diff_ids"]) != layer_count:
        raise _bad(where, f"config lists {len(rootfs['diff_ids'])} diff_ids for {layer_count} layers")
    if "config" in doc and doc["config"] is not None and not isinstance(doc["config"], dict):
        raise _bad(where, "config.config is not an object")
    return doc


def host_platform() -> dict[str, str]:
    """This machine's OCI platform, e.g. {'os': 'linux', 'architecture': 'amd64'}."""
    machine = os.uname().machine.lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le",
            "s390x": "s390x", "riscv64": "riscv64"}.get(machine, machine)
    return {"os": "linux", "architecture": arch}


def choose_platform(entries: list[Descriptor], where: str, want: dict[str, str] | None = None) -> Descriptor:
    """The index entry for this host's platform (an entry without a platform counts as a match)."""
    want = want or host_platform()
    for entry in entries:
        p = entry.platform or {}
        if not p or (p.get("os") == want["os"] and p.get("architecture") == want["architecture"]):
            if entry.annotations.get("vnd.docker.reference.type") == "attestation-manifest":
                continue
            return entry
    found = ", ".join(f"{(e.platform or {}).get('os')}/{(e.platform or {}).get('architecture')}" for e in entries)
    raise ContainerError(f"{where}: no image for {want['os']}/{want['architecture']} (has: {found or 'none'})",
                         step="choose platform", fix="pull an image built for this machine's architecture")
