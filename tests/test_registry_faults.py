"""Faults: a registry killed mid-pull, tampered blobs, 5xx/429, bad redirects and bad input (lesson 06).

The real docker-registry is used wherever it can show the fault. It never answers 429 or 5xx on
purpose, never redirects to a CDN and never sends an HTML error page, so those few tests use a tiny
HTTP server on 127.0.0.1 that answers like Docker Hub, a CDN or a proxy would; each says so.
"""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from registry_helpers import build_image, plain_registry, sha256, store  # noqa: F401

from minicontainer.errors import ContainerError
from minicontainer.registry.client import Manifest, RegistryClient, media_type_of, refuse_schema1
from minicontainer.registry.pull import blobs_of, pull
from minicontainer.registry.push import push
from minicontainer.registry.server import RegistryServer
from minicontainer.registry.transport import RegistryError, Transport, parse_retry_after, raise_for_status


def fast_client(address: str) -> RegistryClient:
    return RegistryClient(address, transport=Transport(backoff=0.01, retries=2))


def test_registry_killed_mid_pull_then_resumed(store, paths, tmp_path):
    big = os.urandom(24 << 20)
    image = build_image(store, "localhost/big:1", raw_layers=[big], compress=False)
    server = RegistryServer(tmp_path / "reg").start()
    try:
        push("localhost/big:1", f"{server.address}/demo/big:1", paths, store=store)
        layer = image.layer_digests[0]
        store.blob_path(layer).unlink()

        from minicontainer.registry.progress import Progress

        class KillAfter(Progress):
            seen = 0

            def advance(self, key: str, n: int) -> None:
                KillAfter.seen += n
                if KillAfter.seen > (4 << 20) and server.process is not None:
                    server.kill()

        with pytest.raises(ContainerError) as info:
            pull(f"{server.address}/demo/big:1", paths, store=store, progress=KillAfter(),
                 client=fast_client(server.address))
        assert "registry" in str(info.value) or "interrupted" in str(info.value)
        assert not store.has_blob(layer), "nothing half-written may enter the store"
        parts = list(store.tmp.glob("*.part"))
        assert parts and 0 < parts[0].stat().st_size < len(big)
        kept = parts[0].stat().st_size

        server = RegistryServer(tmp_path / "reg", port=server.port).start()  # same storage, same port
        result = pull(f"{server.address}/demo/big:1", paths, store=store, client=fast_client(server.address))
        assert result.digest == image.digest
        assert result.downloaded == len(big) - kept, "the pull must resume with Range, not start again"
        assert store.blob_path(layer).read_bytes() == big
        assert not list(store.tmp.glob("*.part"))
    finally:
        server.stop()


def _registry_blob_file(server: RegistryServer, digest: str):
    hex_ = digest.split(":")[1]
    return server.storage / "docker/registry/v2/blobs/sha256" / hex_[:2] / hex_ / "data"


def test_tampered_blob_is_rejected_and_nothing_is_stored(tmp_path, store, paths):
    image = build_image(store, "localhost/tamper:1", [{"t": b"tamper" * 1000}])
    with RegistryServer(tmp_path / "reg") as server:
        push("localhost/tamper:1", f"{server.address}/demo/tamper:1", paths, store=store)
        layer = image.layer_digests[0]
        store.blob_path(layer).unlink()
        data = bytearray(_registry_blob_file(server, layer).read_bytes())
        data[len(data) // 2] ^= 0xFF
        _registry_blob_file(server, layer).write_bytes(bytes(data))
        with pytest.raises(ContainerError) as info:
            pull(f"{server.address}/demo/tamper:1", paths, store=store)
        assert "digest mismatch" in str(info.value)
        assert not store.has_blob(layer)
        assert not list(store.tmp.glob("*.part"))


def test_shortened_blob_is_rejected(tmp_path, store, paths):
    image = build_image(store, "localhost/short:1", [{"s": b"short" * 1000}])
    with RegistryServer(tmp_path / "reg") as server:
        push("localhost/short:1", f"{server.address}/demo/short:1", paths, store=store)
        layer = image.layer_digests[0]
        store.blob_path(layer).unlink()
        path = _registry_blob_file(server, layer)
        path.write_bytes(path.read_bytes()[:-10])
        with pytest.raises(ContainerError):
            pull(f"{server.address}/demo/short:1", paths, store=store, client=fast_client(server.address))
        assert not store.has_blob(layer)


# --- a scripted HTTP server (the real registry cannot produce these answers) -------------------------

class Scripted:
    """Answers requests from a list of (status, headers, body); records what it received."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.received = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                scripted.received.append((self.command, self.path, dict(self.headers)))
                status, headers, body = scripted.answers.pop(0) if len(scripted.answers) > 1 else scripted.answers[0]
                if callable(headers):
                    headers = headers()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_HEAD = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self):
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted():
    made = []

    def make(answers):
        s = Scripted(answers)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def test_5xx_and_429_are_retried_honouring_retry_after(scripted):
    server = scripted([(503, {}, b"busy"), (429, {"Retry-After": "2"}, b"slow down"), (200, {}, b"ok")])
    waits = []
    transport = Transport(backoff=0.25, sleep=waits.append)
    response = transport.request("GET", f"http://{server.address}/v2/")
    assert response.status == 200 and response.read() == b"ok"
    assert waits == [0.25, 2.0]


def test_429_without_retry_after_backs_off_then_explains(scripted):
    server = scripted([(429, {"RateLimit-Limit": "100;w=21600", "RateLimit-Remaining": "0"},
                        b'{"errors":[{"code":"TOOMANYREQUESTS","message":"pull rate limit"}]}')])
    waits, notices = [], []
    transport = Transport(backoff=0.1, retries=3, sleep=waits.append, notice=notices.append)
    response = transport.request("GET", f"http://{server.address}/v2/x/manifests/latest")
    assert waits == [0.1, 0.2, 0.4]
    with pytest.raises(RegistryError) as info:
        raise_for_status(response, step="get manifest")
    text = str(info.value)
    assert "TOOMANYREQUESTS" in text and "ratelimit-remaining=0" in text
    assert notices and "ratelimit-remaining: 0" in notices[0]


def test_non_json_error_body_is_shown_shortened(scripted):
    server = scripted([(502, {"Content-Type": "text/html"}, b"<html><body><h1>502 Bad Gateway</h1>" + b"x" * 500)])
    transport = Transport(retries=0)
    response = transport.request("GET", f"http://{server.address}/v2/")
    with pytest.raises(RegistryError) as info:
        raise_for_status(response, step="ping")
    assert "non-JSON answer" in str(info.value) and "502 Bad Gateway" in str(info.value)
    assert len(str(info.value)) < 400


def test_redirect_to_another_host_drops_authorization(scripted):
    cdn = scripted([(200, {}, b"blob bytes")])
    registry = scripted([(307, {"Location": f"http://{cdn.address}/blob?sig=abc"}, b"")])
    response = Transport().request("GET", f"http://{registry.address}/v2/x/blobs/sha256:0",
                                   headers={"Authorization": "Bearer secret"})
    assert response.read() == b"blob bytes"
    assert registry.received[0][2].get("Authorization") == "Bearer secret"
    assert "Authorization" not in cdn.received[0][2], "credentials must not follow a redirect to another host"
    assert cdn.received[0][1] == "/blob?sig=abc"


def test_retry_after_http_date():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert parse_retry_after("soon") is None


# --- bad input --------------------------------------------------------------------------------------

def test_schema1_is_refused_with_a_clear_message():
    data = json.dumps({"schemaVersion": 1, "name": "x", "tag": "1", "fsLayers": []}).encode()
    media_type = media_type_of(data, "application/vnd.docker.distribution.manifest.v1+prettyjws")
    with pytest.raises(ContainerError) as info:
        refuse_schema1(media_type, "x:1")
    assert "schema 1" in str(info.value)


def test_schema1_from_a_server_is_refused(scripted):
    body = json.dumps({"schemaVersion": 1, "name": "x", "tag": "1", "fsLayers": []}).encode()
    server = scripted([(200, {"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"}, body)])
    client = RegistryClient(server.address, scheme="http")
    with pytest.raises(ContainerError) as info:
        client.get_manifest("x", "1")
    assert "schema 1" in str(info.value)


@pytest.mark.parametrize("digest", ["sha256:../../../../etc/passwd", "md5:" + "0" * 32, "sha256:" + "0" * 10])
def test_bad_digests_in_a_manifest_are_rejected_before_use(digest):
    doc = {"schemaVersion": 2, "config": {"digest": "sha256:" + "0" * 64, "size": 2},
           "layers": [{"digest": digest, "size": 1}]}
    data = json.dumps(doc).encode()
    with pytest.raises(ContainerError):
        blobs_of(Manifest(data, "application/vnd.oci.image.manifest.v1+json", sha256(data)))


def test_bad_digest_is_never_put_in_a_url(scripted):
    server = scripted([(200, {}, b"")])
    client = RegistryClient(server.address, scheme="http")
    with pytest.raises(ContainerError):
        client.blob_exists("x", "sha256:../../v2/_catalog")
    with pytest.raises(ContainerError):
        client.get_manifest("x", "bad tag!")
    assert server.received == []


def test_malformed_reference_stores_nothing(store, paths):
    with pytest.raises(ContainerError) as info:
        pull("Busybox:latest", paths, store=store)
    assert "invalid reference" in str(info.value)
    assert list(store.blobs.iterdir()) == []


def test_upload_locations_relative_and_with_query_strings_are_kept(tmp_path):
    """docker-registry always answers absolute Locations; other registries (and proxies) answer
    relative ones with their own state in the query string. A scripted server answers like that."""
    data = b"0123456789" * 100
    digest = sha256(data)
    seen = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _reply(self, status, headers):
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_HEAD(self):
            seen.append(("HEAD", self.path, None))
            self._reply(404, {})

        def do_POST(self):
            seen.append(("POST", self.path, None))
            self._reply(202, {"Location": "../uploads/u1?state=a", "Range": "0-0"})

        def do_PATCH(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(("PATCH", self.path, self.headers["Content-Range"]))
            end = int(self.headers["Content-Range"].split("-")[1])
            self._reply(202, {"Location": f"/v2/x/blobs/uploads/u1?state=b{end}", "Range": f"0-{end}"})
            assert body

        def do_PUT(self):
            seen.append(("PUT", self.path, None))
            self._reply(201, {"Docker-Content-Digest": digest})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        path = tmp_path / "blob"
        path.write_bytes(data)
        client = RegistryClient(f"127.0.0.1:{server.server_address[1]}", scheme="http")
        assert client.upload_blob("x", digest, len(data), path, chunk_size=400) == "uploaded"
    finally:
        server.shutdown()
        server.server_close()
    assert seen[1] == ("POST", "/v2/x/blobs/uploads/", None)
    assert seen[2] == ("PATCH", "/v2/x/blobs/uploads/u1?state=a", "0-399"), "relative Location resolved, query kept"
    assert [s[2] for s in seen if s[0] == "PATCH"] == ["0-399", "400-799", "800-999"]
    assert seen[-1] == ("PUT", f"/v2/x/blobs/uploads/u1?state=b999&digest={digest.replace(':', '%3A')}", None)


def test_resume_when_the_server_ignores_range(scripted, tmp_path):
    """A CDN that ignores `Range` answers 200 with the whole blob: the client must start over, not append."""
    data = os.urandom(300_000)
    server = scripted([(200, {"Content-Type": "application/octet-stream"}, data)])
    part = tmp_path / "blob.part"
    part.write_bytes(data[:100_000])
    client = RegistryClient(server.address, scheme="http")
    assert client.download_blob("x", sha256(data), len(data), part) == len(data)
    assert part.read_bytes() == data
    assert server.received[0][2].get("Range") == "bytes=100000-"


def test_resume_appends_only_the_missing_bytes(scripted, tmp_path):
    data = os.urandom(300_000)
    server = scripted([(206, {"Content-Range": f"bytes 100000-299999/{len(data)}"}, data[100_000:])])
    part = tmp_path / "blob.part"
    part.write_bytes(data[:100_000])
    client = RegistryClient(server.address, scheme="http")
    assert client.download_blob("x", sha256(data), len(data), part) == 200_000
    assert part.read_bytes() == data
