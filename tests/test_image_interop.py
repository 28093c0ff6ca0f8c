"""Interop with the real tools from Debian: umoci builds, skopeo converts, umoci unpacks, runc runs.

If minicontainer's images are real OCI images, then a layout written by umoci/skopeo loads here,
an image saved here unpacks under `umoci unpack` to the same tree we build, and a bundle we export
runs under `runc run`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from minicontainer.image import Store, prepare_default_image
from minicontainer.image.archive import export_bundle, load, save
from minicontainer.image.config import DEFAULT_PATH
from minicontainer.image.layer import write_layer
from minicontainer.image.mutate import add_layer, base_state, write_image
from minicontainer.image.unpack import flatten

from image_helpers import describe_tree


def _run(*argv: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), check=True, capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def umoci_layout(tmp_path_factory, busybox_rootfs: Path) -> Path:
    """An OCI layout made only by umoci: busybox, then a second layer that deletes and adds files."""
    work = tmp_path_factory.mktemp("umoci")
    lay, bundle = work / "lay", work / "bundle"
    _run("umoci", "init", "--layout", str(lay))
    _run("umoci", "new", "--image", f"{lay}:t")
    _run("umoci", "unpack", "--image", f"{lay}:t", str(bundle))
    shutil.copytree(busybox_rootfs, bundle / "rootfs", symlinks=True, dirs_exist_ok=True)
    _run("umoci", "repack", "--refresh-bundle", "--image", f"{lay}:t", str(bundle))
    (bundle / "rootfs" / "etc" / "passwd").unlink()
    (bundle / "rootfs" / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (bundle / "rootfs" / "etc" / "group").unlink()
    (bundle / "rootfs" / "hello").write_text("hello from umoci\n")
    _run("umoci", "repack", "--image", f"{lay}:t", str(bundle))
    _run("umoci", "config", "--image", f"{lay}:t", "--config.cmd", "cat", "--config.cmd", "/hello",
         "--config.env", f"PATH={DEFAULT_PATH}")
    return lay


def _runc(bundle: Path) -> str:
    name = f"mc-test-{uuid.uuid4().hex[:8]}"
    try:
        return _run("runc", "run", "--bundle", str(bundle), name, timeout=60).stdout
    finally:
        subprocess.run(["runc", "delete", "--force", name], capture_output=True)


def test_oci_archive_written_by_skopeo_loads_and_runs(paths, umoci_layout, tmp_path):
    archive = tmp_path / "o.tar"
    _run("skopeo", "copy", f"oci:{umoci_layout}:t", f"oci-archive:{archive}:mytag")
    store = Store(paths)
    names = load(store, archive, tag="localhost/umo:1")
    assert names == ["localhost/umo:1"]
    image = store.resolve("localhost/umo:1")
    assert len(image.layers) == 2
    store.layer_dirs(image)                    # each layer unpacked and its diff_id verified
    from test_image_run import mc
    assert mc("run", "--rm", "localhost/umo:1").stdout == "hello from umoci\n"     # minicontainer runs it
    bundle = export_bundle(store, image, tmp_path / "bundle")
    assert not (bundle / "rootfs/etc/group").exists(), "the second layer's whiteout was not applied"
    assert _runc(bundle) == "hello from umoci\n"


def test_docker_save_tar_from_skopeo_loads(paths, umoci_layout, tmp_path):
    archive = tmp_path / "d.tar"
    _run("skopeo", "copy", f"oci:{umoci_layout}:t", f"docker-archive:{archive}:localhost/dock:2")
    store = Store(paths)
    assert load(store, archive) == ["localhost/dock:2"]
    image = store.resolve("localhost/dock:2")
    assert image.run_config["Cmd"] == ["cat", "/hello"]
    umoci_tree = tmp_path / "umoci-bundle"
    _run("umoci", "unpack", "--image", f"{umoci_layout}:t", str(umoci_tree))
    ours = flatten(store, image, tmp_path / "ours")
    assert describe_tree(ours) == describe_tree(umoci_tree / "rootfs")


def _two_layer_image(paths, tmp_path) -> Store:
    """The default image plus a layer (made like `commit` makes one) that deletes, replaces and adds."""
    store = Store(paths)
    prepare_default_image(paths)
    base = store.resolve("localhost/busybox:latest")
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    os.mknod(upper / "etc" / "group", 0o020000, os.makedev(0, 0))      # overlay whiteout: deleted
    (upper / "etc" / "hostname").write_text("changed\n")
    (upper / "bin").mkdir()
    (upper / "srv").mkdir()
    os.setxattr(upper / "srv", "trusted.overlay.opaque", b"y")
    (upper / "srv" / "data").write_bytes(os.urandom(3000))
    (upper / "srv" / "suid").write_bytes(b"#!/bin/sh\n")
    os.chmod(upper / "srv" / "suid", 0o4755)
    layers, config = base_state(base)
    layer, diff_id = write_layer(store, upper, overlay=True)
    add_layer(layers, config, layer, diff_id, "test layer")
    write_image(store, layers, config, "localhost/two:layers")
    return store


def test_saved_image_unpacks_under_umoci_to_our_own_tree(paths, tmp_path):
    store = _two_layer_image(paths, tmp_path)
    image = store.resolve("localhost/two:layers")
    archive = tmp_path / "saved.tar"
    with open(archive, "wb") as out:
        save(store, ["localhost/two:layers"], out)
    layout = tmp_path / "layout"
    with tarfile.open(archive) as tar:
        tar.extractall(layout, filter="data")
    _run("umoci", "unpack", "--image", f"{layout}:layers", str(tmp_path / "umoci-bundle"))
    theirs = describe_tree(tmp_path / "umoci-bundle" / "rootfs")
    assert "etc/group" not in theirs and "srv/data" in theirs
    assert theirs == describe_tree(flatten(store, image, tmp_path / "flat"))
    # and what a container sees: our layer directories stacked by overlayfs
    lowers = store.layer_dirs(image)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    _run("mount", "-t", "overlay", "overlay", "-o", "lowerdir=" + ":".join(str(p) for p in reversed(lowers)), str(mnt))
    try:
        assert describe_tree(mnt) == theirs
    finally:
        _run("umount", str(mnt))


def test_save_then_load_round_trips(paths, tmp_path):
    store = _two_layer_image(paths, tmp_path)
    before = store.resolve("localhost/two:layers")
    archive = tmp_path / "saved.tar"
    with open(archive, "wb") as out:
        save(store, ["localhost/two:layers"], out)
    store.remove("localhost/two:layers")
    store.remove("localhost/busybox:latest")
    store.gc(grace_seconds=0)
    assert store.names() == {}
    assert load(store, archive) == ["localhost/two:layers"]
    assert store.resolve("localhost/two:layers").manifest_digest == before.manifest_digest
