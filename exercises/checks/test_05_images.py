"""Checks for lesson 05 (images). Run them with `make check EX=05`, or `check("5.2")` in the notebook.

The checks compare your answers with real data: an OCI layout written by minicontainer's store,
the kernel's overlayfs (whiteouts are mounted for real), and Docker's documented rules.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest


@pytest.mark.exercise("5.1")
def test_blob_digest_is_sha256_of_the_bytes(ex):
    for data in (b"", b"hello", bytes(range(256)) * 100):
        want = "sha256:" + hashlib.sha256(data).hexdigest()
        got = ex.blob_digest(data)
        assert got == want, f"blob_digest({data[:10]!r}...) returned {got!r}, expected {want!r}"


def _layout(tmp_path: Path) -> tuple[Path, dict, list[str]]:
    """A real OCI layout written by the package: two images, so the right one must be picked."""
    from minicontainer.image import Store
    from minicontainer.image import mediatypes as mt
    from minicontainer.image.mutate import add_layer, empty_config, write_image
    from minicontainer.paths import Paths

    store = Store(Paths(tmp_path / "lib", tmp_path / "run")).ensure()
    digests = {}
    for name, cmd in (("localhost/one:1", ["one"]), ("localhost/two:2", ["two"])):
        layers: list = []
        config = empty_config()
        config["config"] = {"Cmd": cmd}
        for i in range(2):
            data = name.encode() * (i + 1)
            store.write_blob(data)
            from minicontainer.image.digest import sha256_digest
            from minicontainer.image.manifest import Descriptor
            add_layer(layers, config, Descriptor(mt.OCI_LAYER, sha256_digest(data), len(data)), sha256_digest(data),
                      "check")
        image = write_image(store, layers, config, name)
        digests[name] = (image.config, [layer.digest for layer in image.layers])
    return store.root, digests["localhost/two:2"][0], digests["localhost/two:2"][1]


@pytest.mark.exercise("5.2")
def test_read_image_walks_index_manifest_config(ex, tmp_path):
    layout, config, layers = _layout(tmp_path)
    got = ex.read_image(layout, "localhost/two:2")
    assert got is not None, "read_image returned None"
    got_config, got_layers = got
    assert got_config == config, f"read_image returned config {got_config}, expected the config with Cmd ['two']"
    assert list(got_layers) == layers, f"read_image returned layers {got_layers}, expected {layers}"
    with pytest.raises(KeyError):
        ex.read_image(layout, "localhost/three:3")


@pytest.mark.exercise("5.2")
def test_read_image_refuses_a_tampered_blob(ex, tmp_path):
    layout, config, _ = _layout(tmp_path)
    index = json.loads((layout / "index.json").read_text())
    entry = [m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] ==
             "localhost/two:2"][0]
    manifest = json.loads((layout / "blobs/sha256" / entry["digest"][7:]).read_text())
    config_path = layout / "blobs/sha256" / manifest["config"]["digest"][7:]
    config_path.write_text(config_path.read_text().replace('"two"', '"evil"'))
    with pytest.raises(ValueError):
        ex.read_image(layout, "localhost/two:2")


@pytest.mark.exercise("5.3")
def test_safe_join_confines_and_refuses(ex, tmp_path):
    cases = {"etc/passwd": tmp_path / "etc/passwd", "/etc/passwd": tmp_path / "etc/passwd",
             "./bin/./sh": tmp_path / "bin/sh", "a//b": tmp_path / "a/b"}
    for name, want in cases.items():
        got = ex.safe_join(tmp_path, name)
        assert Path(got) == want, f"safe_join(root, {name!r}) returned {got}, expected {want}"
    for evil in ("../etc/passwd", "a/../../x", "/..", "a/.."):
        with pytest.raises(ValueError):
            ex.safe_join(tmp_path, evil)
            pytest.fail(f"safe_join(root, {evil!r}) did not raise ValueError")


@pytest.mark.exercise("5.4")
def test_apply_whiteout_hides_files_in_a_real_overlay(ex, tmp_path):
    lower, layer, mnt = tmp_path / "lower", tmp_path / "layer", tmp_path / "mnt"
    for path in ("etc/motd", "etc/hosts", "cache/a", "cache/b"):
        (lower / path).parent.mkdir(parents=True, exist_ok=True)
        (lower / path).write_text("x")
    layer.mkdir()
    mnt.mkdir()
    assert ex.apply_whiteout(layer, "etc/.wh.motd") is True
    assert ex.apply_whiteout(layer, "cache/.wh..wh..opq") is True
    assert ex.apply_whiteout(layer, "etc/hosts") is False, "a normal entry is not a whiteout"
    st = os.lstat(layer / "etc/motd")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0, "etc/motd must be a 0/0 character device"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={layer}:{lower}", str(mnt)], check=True)
    try:
        seen = sorted(str(p.relative_to(mnt)) for p in mnt.rglob("*"))
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    want = ["cache", "etc", "etc/hosts"]
    assert seen == want, f"the overlay shows {seen}, expected {want} (motd deleted, cache emptied)"


@pytest.mark.exercise("5.5")
def test_command_line_follows_dockers_rules(ex):
    cases = [
        ((None, ["sh"], []), None, ["sh"]),
        ((["echo", "ep"], ["default"], []), None, ["echo", "ep", "default"]),
        ((["echo", "ep"], ["default"], ["x"]), None, ["echo", "ep", "x"]),
        ((["echo", "ep"], ["default"], ["x"]), "printf", ["printf", "x"]),
        ((["echo", "ep"], ["default"], []), "printf", ["printf"]),
        ((None, ["ls"], ["pwd"]), None, ["pwd"]),
    ]
    for (entrypoint, cmd, args), override, want in cases:
        got = ex.command_line(entrypoint, cmd, args, override)
        assert got == want, (f"command_line({entrypoint}, {cmd}, {args}, entrypoint_override={override!r}) "
                             f"returned {got}, expected {want}")
    with pytest.raises(ValueError):
        ex.command_line(None, None, [])
