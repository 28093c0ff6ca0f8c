"""minicontainer and skopeo exchange images through a real docker-registry (lesson 06)."""

from __future__ import annotations

import json
import subprocess
import sys

from registry_helpers import build_image, plain_registry, store  # noqa: F401  (fixtures)

from minicontainer.image.store import Store
from minicontainer.registry.pull import pull
from minicontainer.registry.push import push


MOUNT_POINTS = {"proc/": b"", "dev/": b"", "sys/": b"", "tmp/": b""}


def skopeo(*args: str) -> None:
    subprocess.run(["skopeo", "--insecure-policy", *args], check=True, capture_output=True, timeout=120)


def test_minicontainer_push_is_pulled_by_skopeo_with_the_same_digests(plain_registry, store, paths, tmp_path):
    image = build_image(store, "localhost/tosko:1", [{"one": b"1" * 2000}, {"two": b"2" * 4000}])
    push("localhost/tosko:1", f"{plain_registry.address}/interop/tosko:1", paths, store=store)
    skopeo("copy", "--src-tls-verify=false", f"docker://{plain_registry.address}/interop/tosko:1",
           f"oci:{tmp_path / 'out'}:got")
    index = json.loads((tmp_path / "out" / "index.json").read_text())
    digest = index["manifests"][0]["digest"]
    manifest = json.loads((tmp_path / "out" / "blobs" / "sha256" / digest.split(":")[1]).read_text())
    assert [layer["digest"] for layer in manifest["layers"]] == image.layer_digests
    assert digest == image.digest, "skopeo kept the manifest minicontainer pushed, byte for byte"


def test_skopeo_push_is_pulled_by_minicontainer(plain_registry, paths, tmp_path, busybox_rootfs):
    # An image with the real busybox rootfs, written by a second store, pushed by skopeo.
    from minicontainer.paths import Paths

    other = Store(Paths(tmp_path / "other-lib", tmp_path / "other-run")).ensure()
    files = {"bin/busybox": (busybox_rootfs / "bin" / "busybox").read_bytes(), **MOUNT_POINTS}
    image = build_image(other, "localhost/fromsko:1", [files], cmd=["/bin/busybox", "echo", "hello from skopeo"])
    skopeo("copy", "--dest-tls-verify=false", f"oci:{other.root}:{image_ref(other)}",
           f"docker://{plain_registry.address}/interop/fromsko:1")
    store = Store(paths)
    result = pull(f"{plain_registry.address}/interop/fromsko:1", paths, store=store)
    pulled = store.resolve(f"{plain_registry.address}/interop/fromsko:1")
    assert [layer.digest for layer in pulled.layers] == image.layer_digests
    assert result.digest == pulled.manifest_digest
    assert store.read_blob(pulled.layers[0].digest) == image.layers[0]
    done = subprocess.run([sys.executable, "-m", "minicontainer", "run", f"{plain_registry.address}/interop/fromsko:1"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "hello from skopeo"


def test_run_pulls_a_missing_image_from_the_named_registry(plain_registry, paths, tmp_path, busybox_rootfs):
    from minicontainer.paths import Paths

    other_paths = Paths(tmp_path / "other-lib", tmp_path / "other-run")
    other = Store(other_paths).ensure()
    files = {"bin/busybox": (busybox_rootfs / "bin" / "busybox").read_bytes(), **MOUNT_POINTS}
    build_image(other, "localhost/autopull:1", [files], cmd=["/bin/busybox", "echo", "pulled by run"])
    push("localhost/autopull:1", f"{plain_registry.address}/interop/autopull:1", other_paths, store=other)
    done = subprocess.run([sys.executable, "-m", "minicontainer", "run", f"{plain_registry.address}/interop/autopull:1"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "pulled by run"
    assert "pulling from" in done.stderr
    assert Store(paths).resolve(f"{plain_registry.address}/interop/autopull:1")
    missing = subprocess.run([sys.executable, "-m", "minicontainer", "run", "localhost/never-made:1", "true"],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 125 and "pulling" not in missing.stderr


def image_ref(store: Store) -> str:
    """The ref.name annotation the store wrote for the only image in it."""
    (name,) = store.names()
    return name


def test_docker_schema2_pushed_by_skopeo_is_pulled(plain_registry, paths, tmp_path):
    from minicontainer.paths import Paths

    other = Store(Paths(tmp_path / "other-lib", tmp_path / "other-run")).ensure()
    image = build_image(other, "localhost/v2s2:1", [{"f": b"docker format"}])
    skopeo("copy", "--format", "v2s2", "--dest-tls-verify=false", f"oci:{other.root}:{image_ref(other)}",
           f"docker://{plain_registry.address}/interop/v2s2:1")
    store = Store(paths)
    result = pull(f"{plain_registry.address}/interop/v2s2:1", paths, store=store)
    pulled = store.resolve(f"{plain_registry.address}/interop/v2s2:1")
    assert pulled.media_type == "application/vnd.docker.distribution.manifest.v2+json"
    assert [layer.digest for layer in pulled.layers] == image.layer_digests
    assert result.digest == pulled.manifest_digest
