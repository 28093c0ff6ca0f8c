"""Multi-platform indexes: the right child for amd64 and arm64/v8, attestations skipped (lesson 06)."""

from __future__ import annotations

import json

import pytest
from registry_helpers import OCI_INDEX, OCI_MANIFEST, build_image, plain_registry, store  # noqa: F401

from minicontainer.errors import ContainerError
from minicontainer.registry.client import Manifest, RegistryClient, sha256_digest
from minicontainer.registry.platforms import Platform, normalize, parse_platform, select_manifest
from minicontainer.registry.pull import pull
from minicontainer.registry.push import push


@pytest.fixture(scope="module")
def multi_arch(plain_registry, tmp_path_factory):
    """Push amd64, arm64/v8, arm/v7 images and an attestation, then an OCI index over them."""
    from minicontainer.image.store import Store
    from minicontainer.paths import Paths

    root = tmp_path_factory.mktemp("multi")
    paths = Paths(root / "lib", root / "run")
    s = Store(paths).ensure()
    repo = f"{plain_registry.address}/multi/app"
    children = {}
    for arch, variant in [("amd64", ""), ("arm64", "v8"), ("arm", "v7"), ("unknown", "")]:
        name = f"localhost/multi-{arch}:1"
        image = build_image(s, name, [{"arch": arch.encode()}], arch=arch, variant=variant)
        push(name, f"{repo}:{arch}", paths, store=s)
        children[arch] = image
    entries = []
    for arch, image in children.items():
        entry = {"mediaType": OCI_MANIFEST, "digest": image.digest, "size": len(image.manifest),
                 "platform": {"os": "unknown" if arch == "unknown" else "linux", "architecture": arch}}
        if arch == "arm64":
            entry["platform"]["variant"] = "v8"
        if arch == "arm":
            entry["platform"]["variant"] = "v7"
        if arch == "unknown":
            entry["annotations"] = {"vnd.docker.reference.type": "attestation-manifest",
                                    "vnd.docker.reference.digest": children["amd64"].digest}
        entries.append(entry)
    entries.insert(0, entries.pop())  # the attestation first: it must still be skipped
    data = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
    RegistryClient(plain_registry.address).put_manifest("multi/app", "latest", Manifest(data, OCI_INDEX,
                                                                                          sha256_digest(data)))
    return repo, children, sha256_digest(data)


@pytest.mark.parametrize("platform, arch", [("linux/amd64", "amd64"), ("linux/arm64/v8", "arm64"),
                                            ("linux/arm64", "arm64"), ("linux/aarch64", "arm64"),
                                            ("linux/arm", "arm"), ("linux/arm/v7", "arm")])
def test_index_yields_the_right_child(multi_arch, store, paths, platform, arch):
    repo, children, index_digest = multi_arch
    result = pull(f"{repo}:latest", paths, store=store, platform=platform)
    assert result.digest == children[arch].digest
    assert result.index_digest == index_digest
    assert store.has_blob(index_digest)


def test_host_platform_is_the_default(multi_arch, store, paths):
    repo, children, _ = multi_arch
    result = pull(f"{repo}:latest", paths, store=store)
    assert result.digest == children["amd64"].digest  # this machine is x86_64


def test_missing_platform_lists_what_there_is(multi_arch, store, paths):
    repo, _, _ = multi_arch
    with pytest.raises(ContainerError) as info:
        pull(f"{repo}:latest", paths, store=store, platform="linux/s390x")
    message = str(info.value)
    assert "linux/s390x" in message and "linux/arm64/v8" in message and "unknown" not in message


def test_normalisation():
    assert normalize("linux", "aarch64") == Platform("linux", "arm64", "v8")
    assert normalize("linux", "arm64", "8") == Platform("linux", "arm64", "v8")
    assert normalize("linux", "x86_64") == Platform("linux", "amd64", "")
    assert parse_platform("linux/arm") == Platform("linux", "arm", "v7")
    with pytest.raises(ContainerError):
        parse_platform("linux")


def test_attestations_are_skipped_even_when_alone():
    index = {"manifests": [{"digest": "sha256:" + "0" * 64, "platform": {"os": "unknown", "architecture": "unknown"}}]}
    with pytest.raises(ContainerError) as info:
        select_manifest(index, Platform("linux", "amd64"))
    assert "nothing runnable" in str(info.value)
