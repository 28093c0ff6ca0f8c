"""Checks for lesson 06 (registries). Run them with `make check EX=06`, or `check("6.2")` in the notebook.

6.3 streams a real blob from a real docker-registry on 127.0.0.1 (started here, stopped at the end);
the others compare your answers with what Docker (and the package) do. The milestone pulls a
multi-platform image from a registry with token authentication (a token server of the lesson's),
with your runtime, into a store of its own, and runs it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from urllib.parse import parse_qs, urlsplit

import pytest

from minicontainer.errors import ContainerError
from minicontainer.reference import parse_reference as package_parse
from minicontainer.registry.platforms import normalize

HEX = "ab" * 32


@pytest.mark.exercise("6.4")
@pytest.mark.parametrize("text", ["busybox", "busybox:1.36", "myuser/app:1", "localhost:5000/app",
                                  "localhost/app", "127.0.0.1:5000/a/b/c:v2", "index.docker.io/alpine",
                                  "ghcr.io/org/app", f"app:1@sha256:{HEX}", f"quay.io/x/y@sha256:{HEX}",
                                  "docker.io/library/busybox:latest", "localhost:5000/app@sha256:" + HEX])
def test_references_split_like_docker(ex, text):
    ref = package_parse(text)
    want = (ref.registry, ref.repository, ref.tag, ref.digest)
    got = ex.split_reference(text)
    assert tuple(got) == want, f"split_reference({text!r}) returned {got!r}; expected {want!r}"


CHALLENGES = [
    ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
     ("bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                 "scope": "repository:library/busybox:pull"})),
    ('Bearer realm="http://127.0.0.1:5001/token", service="lab", scope="repository:a/b:pull,push"',
     ("bearer", {"realm": "http://127.0.0.1:5001/token", "service": "lab", "scope": "repository:a/b:pull,push"})),
    ('Basic realm="Registry Realm"', ("basic", {"realm": "Registry Realm"})),
    ('BEARER Realm=https://h/t,Service=s', ("bearer", {"realm": "https://h/t", "service": "s"})),
    ('Bearer realm="a \\"quoted\\" realm",error="insufficient_scope"',
     ("bearer", {"realm": 'a "quoted" realm', "error": "insufficient_scope"})),
]


@pytest.mark.exercise("6.1")
@pytest.mark.parametrize("header, want", CHALLENGES, ids=range(len(CHALLENGES)))
def test_parse_challenge(ex, header, want):
    got = ex.parse_challenge(header)
    assert (got[0], dict(got[1])) == want, f"parse_challenge({header!r}) returned {got!r}; expected {want!r}"


@pytest.mark.exercise("6.2")
def test_token_url_asks_for_the_scopes_we_need(ex):
    params = {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
              "scope": "repository:library/busybox:pull"}
    got = ex.token_url(params["realm"], params, ("repository:myuser/app:pull,push", "repository:base/os:pull"))
    parts = urlsplit(got)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://auth.docker.io/token", f"token_url returned {got!r}"
    assert parse_qs(parts.query) == {"service": ["registry.docker.io"],
                                     "scope": ["repository:myuser/app:pull,push", "repository:base/os:pull"]}, \
        f"token_url returned {got!r}: one service= and one scope= per scope we need"


@pytest.mark.exercise("6.2")
def test_token_url_falls_back_on_the_challenges_scope_and_keeps_the_realms_query(ex):
    params = {"realm": "https://h/token?client=mc", "scope": "repository:x:pull"}
    got = ex.token_url(params["realm"], params, ())
    parts = urlsplit(got)
    assert parse_qs(parts.query) == {"client": ["mc"], "scope": ["repository:x:pull"]}, \
        f"token_url({params['realm']!r}, {params}, ()) returned {got!r}: keep the realm's query, add the challenge's scope"
    assert ex.token_url("https://h/token", {"realm": "https://h/token"}, ()) == "https://h/token"


INDEX = {"manifests": [
    {"digest": "sha256:" + "0" * 64, "platform": {"os": "unknown", "architecture": "unknown"}},
    {"digest": "sha256:" + "1" * 64, "platform": {"os": "linux", "architecture": "amd64"}},
    {"digest": "sha256:" + "2" * 64, "platform": {"os": "linux", "architecture": "arm", "variant": "v6"}},
    {"digest": "sha256:" + "3" * 64, "platform": {"os": "linux", "architecture": "arm"}},
    {"digest": "sha256:" + "4" * 64, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
    {"digest": "sha256:" + "5" * 64},
]}


@pytest.mark.exercise("6.5")
@pytest.mark.parametrize("platform, want", [(("linux", "amd64"), "1"), (("linux", "arm64"), "4"),
                                            (("linux", "arm64", "v8"), "4"), (("linux", "arm", "v7"), "3"),
                                            (("linux", "arm"), "3"), (("linux", "arm", "v6"), "2")])
def test_select_manifest(ex, platform, want):
    got = ex.select_manifest(INDEX, normalize(*platform))
    assert got == INDEX["manifests"][int(want)], f"select_manifest(index, {'/'.join(platform)}) returned {got!r}"


@pytest.mark.exercise("6.5")
def test_select_manifest_skips_attestations_and_says_what_there_is(ex):
    with pytest.raises(ContainerError, match="linux/amd64"):
        ex.select_manifest(INDEX, normalize("linux", "s390x"))
        pytest.fail("select_manifest found a manifest for linux/s390x")
    with pytest.raises(ContainerError):
        ex.select_manifest({"manifests": INDEX["manifests"][:1]}, normalize("unknown", "unknown"))
        pytest.fail("select_manifest chose an attestation (unknown/unknown); skip those")


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


@pytest.mark.exercise("6.3")
def test_receive_blob_streams_a_real_blob(ex, tmp_path):
    data = os.urandom(3 << 20)
    server, client, digest = _blob_from_registry(tmp_path, data)
    try:
        response = client.request("GET", client.url(f"/v2/check/blob/blobs/{digest}"), ("repository:check/blob:pull",))
        out, hasher, seen = io.BytesIO(), hashlib.sha256(), []
        got = ex.receive_blob(response.iter_chunks(1 << 16), out, hasher, 0, len(data), seen.append)
    finally:
        server.stop()
    assert got == len(data), f"receive_blob returned {got}; expected the byte count {len(data)}"
    assert out.getvalue() == data, "receive_blob did not write the blob's bytes to `out` in order"
    assert "sha256:" + hasher.hexdigest() == digest, "the hasher did not see every byte: the digest check would fail"
    assert sum(seen) == len(data), f"progress() was told {sum(seen)} bytes; expected {len(data)}"


@pytest.mark.exercise("6.3")
def test_receive_blob_resumes_and_stops_a_server_that_sends_too_much(ex):
    first, rest = b"a" * 1000, b"b" * 500
    hasher = hashlib.sha256(first)
    out = io.BytesIO()
    got = ex.receive_blob(iter([rest[:200], rest[200:]]), out, hasher, len(first), 1500, lambda n: None)
    assert got == 1500 and hasher.hexdigest() == hashlib.sha256(first + rest).hexdigest(), \
        f"resuming after 1000 bytes, receive_blob returned {got} (expected 1500) or left the hash incomplete"

    def endless():
        while True:
            yield b"x" * 65536

    got = ex.receive_blob(endless(), io.BytesIO(), hashlib.sha256(), 0, 100000, lambda n: None)
    assert 100000 < got <= 100000 + 65536, f"a server sending forever: receive_blob returned {got}; it must stop past the size"


# --- the milestone: your runtime -----------------------------------------------------------------

@pytest.fixture
def lab_registry(tmp_path):
    """The lesson's set-up: a token server and a registry that trusts it, the course's image pushed,
    and an index over it for two platforms (this machine's and another)."""
    from minicontainer.image.digest import sha256_digest
    from minicontainer.image.mediatypes import OCI_INDEX
    from minicontainer.paths import Paths
    from minicontainer.registry.auth import Authenticator, Credentials
    from minicontainer.registry.client import Manifest, RegistryClient
    from minicontainer.registry.platforms import host_platform
    from minicontainer.registry.push import push
    from minicontainer.registry.server import RegistryServer
    from minicontainer.registry.tokenserver import TokenServer
    from minicontainer.registry.transport import Transport

    tokens = TokenServer(tmp_path / "tokens", users={"learner": "lesson06"}).start()
    registry = RegistryServer(tmp_path / "registry", auth=tokens.auth_config()).start()
    try:
        transport = Transport()
        learner = Authenticator(transport, credentials=lambda _registry: Credentials("learner", "lesson06"))
        client = RegistryClient(registry.address, transport=transport, auth=learner)
        lib = os.environ.get("MC_LIB_DIR", "/var/lib/minicontainer")
        push("localhost/busybox:latest", f"{registry.address}/lab/busybox:1", Paths(lib, tmp_path / "run"), client=client)
        child = client.get_manifest("lab/busybox", "1")
        here = host_platform().architecture
        other = "arm64" if here != "arm64" else "amd64"
        entries = [{"mediaType": child.media_type, "digest": child.digest, "size": len(child.data),
                    "platform": {"os": "linux", "architecture": a}} for a in (other, here)]
        data = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
        client.put_manifest("lab/busybox", "multi", Manifest(data, OCI_INDEX, sha256_digest(data)))
        yield registry.address
    finally:
        registry.stop()
        tokens.close()


@pytest.mark.milestone("your runtime pulled a multi-platform image with token authentication, and ran it")
def test_milestone_your_runtime_pulls_and_runs(yours, lab_registry, tmp_path):
    env = {"MC_LIB_DIR": str(tmp_path / "lib"), "DOCKER_CONFIG": str(tmp_path / "docker")}
    name = f"{lab_registry}/lab/busybox:multi"
    pulled = yours("pull", "-q", name, env=env)
    said = (pulled.stdout + pulled.stderr).strip()
    assert "sha256:" in said, f"`pull -q {name}` printed {said!r}; expected the image's digest"
    out = yours("run", "--rm", name, "sh", "-c", "echo pulled and running; ls /bin/busybox", env=env).stdout.split()
    assert out == ["pulled", "and", "running", "/bin/busybox"], f"the pulled image ran and printed {out}"
    bad = yours("pull", "-q", f"{lab_registry}/lab/busybox:nope", ok=False, env=env)
    assert bad.returncode != 0 and "nope" in bad.stderr, f"pulling a tag the registry lacks gave: {bad.stderr.strip()[-200:]}"
