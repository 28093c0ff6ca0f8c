"""The OCI store: blobs verified while streaming, names in index.json, resolve, rmi and gc."""

from __future__ import annotations

import json
from pathlib import Path

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


def test_gc_only_looks_at_the_blobs_it_is_given(paths):
    store = Store(paths).ensure()
    _tiny_image(store, "localhost/tiny:1")
    mine = {d.digest for d in store.resolve("localhost/tiny:1").layers}
    store.remove("localhost/tiny:1")
    stray = b"a blob someone is writing right now"
    store.write_blob(stray, sha256_digest(stray), len(stray))
    removed = store.gc(grace_seconds=0, only=mine)
    assert set(removed) == mine and store.has_blob(sha256_digest(stray)), removed


def _layer_image(store: Store, name: str, diff_id: str | None = None) -> str:
    """An image with one real gzip layer (a file `hello`); diff_id can be forced wrong."""
    import gzip

    from image_helpers import make_tar

    tar = make_tar([{"name": "hello", "data": b"hi\n"}])
    blob = gzip.compress(tar)
    store.write_blob(blob, sha256_digest(blob), len(blob))
    config = {"architecture": "amd64", "os": "linux", "config": {},
              "rootfs": {"type": "layers", "diff_ids": [diff_id or sha256_digest(tar)]}}
    cdesc = store.put_json(config, mt.OCI_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": cdesc.to_json(),
                "layers": [{"mediaType": mt.OCI_LAYER_GZIP, "digest": sha256_digest(blob), "size": len(blob)}]}
    digest = store.put_manifest(json.dumps(manifest).encode(), mt.OCI_MANIFEST)
    store.tag(name, digest)
    return digest


def test_index_resolves_to_this_hosts_platform(paths):
    from minicontainer.image.manifest import host_platform

    store = Store(paths).ensure()
    ours = _tiny_image(store, "localhost/plat:amd")
    other = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": {"mediaType": mt.OCI_CONFIG,
             "digest": sha256_digest(b"x"), "size": 1}, "layers": []}
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [
        {"mediaType": mt.OCI_MANIFEST, "digest": sha256_digest(json.dumps(other).encode()), "size": 10,
         "platform": {"os": "linux", "architecture": "s390x"}},
        {"mediaType": mt.OCI_MANIFEST, "digest": ours, "size": 10, "platform": host_platform()}]}
    digest = store.put_manifest(json.dumps(index).encode(), mt.OCI_INDEX)
    store.tag("localhost/plat:multi", digest)
    assert store.resolve("localhost/plat:multi").manifest_digest == ours
    only_other = dict(index, manifests=index["manifests"][:1])
    d2 = store.put_manifest(json.dumps(only_other).encode(), mt.OCI_INDEX)
    store.tag("localhost/plat:other", d2)
    with pytest.raises(ContainerError, match="no image for linux/"):
        store.resolve("localhost/plat:other")


def test_wrong_diff_id_is_refused_and_leaves_no_layer(paths):
    store = Store(paths).ensure()
    _layer_image(store, "localhost/bad:1", diff_id=sha256_digest(b"not the tar"))
    image = store.resolve("localhost/bad:1")
    with pytest.raises(ContainerError, match="diff_id"):
        store.layer_dirs(image)
    assert list((store.layers_root / "sha256").iterdir()) == []
    assert list(store.tmp.iterdir()) == []
    _layer_image(store, "localhost/good:1")
    (layer,) = store.layer_dirs(store.resolve("localhost/good:1"))
    assert (layer / "hello").read_bytes() == b"hi\n"


def test_tampered_archive_is_refused_and_store_unchanged(paths, tmp_path):
    import io
    import tarfile

    from minicontainer.image.archive import load, save

    store = Store(paths).ensure()
    _layer_image(store, "localhost/orig:1")
    archive = tmp_path / "saved.tar"
    with open(archive, "wb") as out:
        save(store, ["localhost/orig:1"], out)
    layer_digest = store.resolve("localhost/orig:1").layers[0].digest
    bad = tmp_path / "tampered.tar"
    with tarfile.open(archive) as src, tarfile.open(bad, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read() if m.isfile() else None
            if m.name.endswith(layer_digest[7:]):
                data = data[:-1] + bytes([data[-1] ^ 1])
            dst.addfile(m, io.BytesIO(data) if data is not None else None)
    fresh = Store(type(paths)(tmp_path / "lib2", tmp_path / "run2")).ensure()
    before = _tree(fresh)
    with pytest.raises(ContainerError, match="digest"):
        load(fresh, bad)
    assert _tree(fresh) == before and fresh.names() == {}
    bad.write_text("{not a tar")
    with pytest.raises(ContainerError, match="not a tar"):
        load(fresh, bad)
    assert _tree(fresh) == before


def _tag_many(lib: str, run: str, worker: int) -> None:
    from minicontainer.paths import Paths

    store = Store(Paths(Path(lib), Path(run)))
    digest = next(iter(store.names().values()))
    for i in range(10):
        store.tag(f"localhost/w{worker}:{i}", digest)


def test_concurrent_taggers_do_not_lose_names(paths):
    import multiprocessing

    store = Store(paths).ensure()
    _tiny_image(store, "localhost/seed:1")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_tag_many, args=(str(paths.lib_dir), str(paths.run_dir), w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert len(store.names()) == 1 + 4 * 10, "an index.json update was lost: the lock does not work"


def test_resolving_by_id_names_the_image_by_its_tag(paths):
    store = Store(paths).ensure()
    _tiny_image(store, "localhost/tiny:1")
    image = store.resolve("localhost/tiny:1")
    assert store.resolve(image.short_id).reference == "localhost/tiny:1"
    assert store.resolve(image.manifest_digest).reference == "localhost/tiny:1"
