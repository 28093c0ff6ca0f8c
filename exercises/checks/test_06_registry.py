"""Checks for lesson 06 (registries). Run them with `make check EX=06`, or `check("6.2")` in the notebook.

6.2 streams a real blob from a real docker-registry on 127.0.0.1 (started here, stopped at the end);
the others compare your answers with what Docker (and the package) would do.
"""

from __future__ import annotations

import hashlib
import io
import os
from urllib.parse import parse_qs, urlsplit

import pytest

from minicontainer.reference import parse_reference as package_parse

HEX = "ab" * 32


@pytest.mark.exercise("6.1")
@pytest.mark.parametrize("text", ["busybox", "busybox:1.36", "myuser/app:1", "localhost:5000/app",
                                  "localhost/app", "127.0.0.1:5000/a/b/c:v2", "index.docker.io/alpine",
                                  "ghcr.io/org/app", f"app:1@sha256:{HEX}", f"quay.io/x/y@sha256:{HEX}",
                                  "docker.io/library/busybox:latest"])
def test_references_parse_like_docker(ex, text):
    ref = package_parse(text)
    want = (ref.registry, ref.repository, ref.tag, ref.digest)
    got = ex.parse_reference(text)
    assert tuple(got) == want, f"parse_reference({text!r}) returned {got!r}; expected {want!r}"


def _blob_from_registry(tmp_path, data: bytes):
    """Push `data` as a blob to a real docker-registry; return (server, client, digest)."""
    from minicontainer.registry.client import RegistryClient
    from minicontainer.registry.server import RegistryServer

    server = RegistryServer(tmp_path / "registry").start()
    path = tmp_path / "blob"
    path.write_bytes(data)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    client = RegistryClient(server.address)
    client.upload_blob("check/blob", digest, len(data), path)
    return server, client, digest


@pytest.mark.exercise("6.2")
def test_copy_verified_streams_a_real_blob(ex, tmp_path):
    data = os.urandom(3 << 20)
    server, client, digest = _blob_from_registry(tmp_path, data)
    try:
        response = client.request("GET", client.url(f"/v2/check/blob/blobs/{digest}"), ("repository:check/blob:pull",))
        out = io.BytesIO()
        got = ex.copy_verified(response.iter_chunks(1 << 16), out, digest, len(data))
    finally:
        server.stop()
    assert got == len(data), f"copy_verified returned {got}; expected the byte count {len(data)}"
    assert out.getvalue() == data, "copy_verified did not write the blob's bytes to `out` in order"


@pytest.mark.exercise("6.2")
def test_copy_verified_rejects_tampering_and_wrong_sizes(ex):
    data = b"layer data" * 1000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    tampered = data[:-1] + b"X"
    for chunks, size, why in [([tampered], len(data), "a changed byte"), ([data, b"more"], len(data), "extra bytes"),
                              ([data[:-5]], len(data), "missing bytes")]:
        with pytest.raises(ValueError):
            ex.copy_verified(iter(chunks), io.BytesIO(), digest, size)
            pytest.fail(f"copy_verified accepted {why}; it must raise ValueError")

    def endless():
        while True:
            yield b"x" * 65536

    with pytest.raises(ValueError):
        ex.copy_verified(endless(), io.BytesIO(), digest, len(data))  # must stop, not read forever


INDEX = {"manifests": [
    {"digest": "sha256:" + "0" * 64, "platform": {"os": "unknown", "architecture": "unknown"}},
    {"digest": "sha256:" + "1" * 64, "platform": {"os": "linux", "architecture": "amd64"}},
    {"digest": "sha256:" + "2" * 64, "platform": {"os": "linux", "architecture": "arm", "variant": "v6"}},
    {"digest": "sha256:" + "3" * 64, "platform": {"os": "linux", "architecture": "arm"}},
    {"digest": "sha256:" + "4" * 64, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
]}


@pytest.mark.exercise("6.3")
@pytest.mark.parametrize("platform, want", [(("linux", "amd64"), "1"), (("linux", "arm64"), "4"),
                                            (("linux", "arm64", "v8"), "4"), (("linux", "arm", "v7"), "3"),
                                            (("linux", "arm"), "3"), (("linux", "arm", "v6"), "2")])
def test_pick_platform(ex, platform, want):
    got = ex.pick_platform(INDEX, *platform)
    assert got == "sha256:" + want * 64, f"pick_platform(index, {', '.join(map(repr, platform))}) returned {got!r}"


@pytest.mark.exercise("6.3")
def test_pick_platform_skips_attestations_and_says_when_missing(ex):
    with pytest.raises(LookupError):
        ex.pick_platform(INDEX, "unknown", "unknown")
        pytest.fail("pick_platform chose an attestation (unknown/unknown); skip those")
    with pytest.raises(LookupError):
        ex.pick_platform(INDEX, "linux", "s390x")


@pytest.mark.exercise("6.4")
def test_token_url(ex):
    challenge = ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                 'scope="repository:library/busybox:pull"')
    got = ex.token_url(challenge, "myuser/app", "pull,push")
    parts = urlsplit(got)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://auth.docker.io/token", \
        f"token_url returned {got!r}: it must start with the realm"
    assert parse_qs(parts.query) == {"service": ["registry.docker.io"], "scope": ["repository:myuser/app:pull,push"]}, \
        f"token_url returned {got!r}: the query must carry service= and scope=repository:myuser/app:pull,push"
