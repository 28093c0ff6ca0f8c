"""The OCI store: blobs verified while streaming, names in index.json, resolve, rmi and gc."""

from __future__ import annotations

import json

import pytest

from minicontainer.errors import ContainerError
from minicontainer.image import Store
from minicontainer.image import mediatypes as mt
from minicontainer.image.digest import sha256_digest


def _tree(store: Store) -> set[str]:
    return {str(p.relative_to(store.paths.lib_dir)) for p in store.paths.lib_dir.rglob("*")}


def _tiny_image(store: Store, name: str = "localhost/tiny:1") -> str:
    layer = b"\0" * 1024  # an empty tar
    store.write_blob(layer, sha256_digest(layer), len(layer))
    config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
              "rootfs": {"type": "layers", "diff_ids": [sha256_digest(layer)]}}
    cdesc = store.put_json(config, mt.OCI_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": cdesc.to_json(),
                "layers": [{"mediaType": mt.OCI_LAYER, "digest": sha256_digest(layer), "size": len(layer)}]}
    digest = store.put_manifest(json.dumps(manifest).encode(), mt.OCI_MANIFEST)
    store.tag(name, digest)
    return digest


def test_store_is_an_oci_layout(paths):
    store = Store(paths).ensure()
    assert json.loads((store.root / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    assert json.loads((store.root / "index.json").read_text())["manifests"] == []
    assert (store.layers_root.stat().st_mode & 0o777) == 0o700


def test_blob_with_wrong_digest_leaves_store_unchanged(paths):
    store = Store(paths).ensure()
    before = _tree(store)
    with pytest.raises(ContainerError, match="digest"):
        store.write_blob([b"abc", b"def"], sha256_digest(b"abcdeX"), 6)
    assert _tree(store) == before


def test_blob_with_wrong_size_leaves_store_unchanged(paths):
    store = Store(paths).ensure()
    before = _tree(store)
    with pytest.raises(ContainerError, match="bytes"):
        store.write_blob(b"abcdef" * 100, sha256_digest(b"abcdef" * 100), 10)
    with pytest.raises(ContainerError, match="bytes"):
        store.write_blob(b"abc", sha256_digest(b"abc"), 4)
    assert _tree(store) == before


def test_blob_digest_path_traversal_is_refused(paths):
    store = Store(paths).ensure()
    with pytest.raises(ContainerError, match="invalid digest"):
        store.write_blob(b"x", "sha256:../../etc/passwd")


def test_tag_resolve_and_short_name_falls_back_to_localhost(paths):
    store = Store(paths).ensure()
    digest = _tiny_image(store, "localhost/tiny:1")
    image = store.resolve("tiny:1")
    assert image.manifest_digest == digest
    assert image.run_config["Cmd"] == ["sh"]
    assert store.resolve(image.short_id).manifest_digest == digest
    assert store.resolve(digest).manifest_digest == digest
    assert "localhost/tiny:1" in store.names()


def test_unknown_image_and_schema1_are_clear_errors(paths):
    store = Store(paths).ensure()
    with pytest.raises(ContainerError, match="not in the local store"):
        store.resolve("nothere:1")
    with pytest.raises(ContainerError, match="schema 1"):
        store.put_manifest(json.dumps({"schemaVersion": 1, "name": "x", "fsLayers": []}).encode())
    with pytest.raises(ContainerError, match="malformed JSON"):
        store.put_manifest(b"{not json")
    with pytest.raises(ContainerError, match="unsupported manifest media type"):
        store.put_manifest(json.dumps({"mediaType": "text/plain"}).encode())
    assert store.names() == {}


def test_rmi_collects_unreferenced_blobs(paths):
    store = Store(paths).ensure()
    _tiny_image(store, "localhost/tiny:1")
    _tiny_image(store, "localhost/tiny:2")
    store.remove("localhost/tiny:1")
    assert store.resolve("localhost/tiny:2")           # still there, blobs shared
    assert len(list(store.blobs.iterdir())) == 3
    store.remove("localhost/tiny:2")
    store.gc(grace_seconds=0)
    assert list(store.blobs.iterdir()) == []
