"""Registry mirrors (Docker's registry-mirrors) against two real docker-registry servers on 127.0.0.1:
one plays Docker Hub (pull's `hub_host`), the other the mirror. A mirror that is down, lacks the
image, or serves other bytes for a digest is skipped and the pull falls back to the source, as
Docker's daemon does; the bytes that end up in the store are always the ones the digest names."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from registry_helpers import build_image, store  # noqa: F401

from minicontainer.errors import ContainerError
from minicontainer.image.store import Store
from minicontainer.paths import Paths
from minicontainer.reference import parse_reference
from minicontainer.registry.mirrors import configured_mirrors, pull_endpoints, validate_mirror
from minicontainer.registry.pull import pull
from minicontainer.registry.push import push
from minicontainer.registry.server import RegistryServer, free_port


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """The registry that stands in for Docker Hub."""
    with RegistryServer(tmp_path_factory.mktemp("hub")) as server:
        yield server


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    with RegistryServer(tmp_path_factory.mktemp("mirror")) as server:
        yield server


def fresh(tmp_path: Path, name: str) -> tuple[Paths, Store]:
    """Another machine's store: nothing pulled yet."""
    p = Paths(tmp_path / name / "lib", tmp_path / name / "run")
    return p, Store(p).ensure()


def publish(store: Store, paths: Paths, registry: RegistryServer, repository: str, files: dict[str, bytes]):
    """Build a small image and push it to `registry` as `repository` (e.g. library/web:1)."""
    image = build_image(store, f"localhost/{repository.split('/')[-1]}", [files])
    push(f"localhost/{repository.split('/')[-1]}", f"{registry.address}/{repository}", paths, store=store)
    return image


def down_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_a_docker_hub_image_comes_from_the_mirror(source, mirror, store, paths, tmp_path):
    image = publish(store, paths, mirror, "library/mc-web:1", {"index.html": b"from the mirror\n"})
    other, other_store = fresh(tmp_path, "other")
    result = pull("mc-web:1", other, store=other_store, mirrors=[mirror.url], hub_host=source.address)
    assert result.digest == image.digest and result.source == mirror.url and result.skipped == []
    assert other_store.resolve("docker.io/library/mc-web:1").manifest_digest == image.digest


def test_a_mirror_that_is_down_falls_back_to_the_source(source, store, paths, tmp_path):
    image = publish(store, paths, source, "library/mc-down:1", {"a": b"source\n"})
    other, other_store = fresh(tmp_path, "other")
    notices: list[str] = []
    dead = down_url()
    result = pull("mc-down:1", other, store=other_store, mirrors=[dead], hub_host=source.address,
                  notice=notices.append)
    assert result.digest == image.digest and result.source == "docker.io"
    assert len(result.skipped) == 1 and result.skipped[0].startswith(dead)
    assert any(dead in n and "trying the next endpoint" in n for n in notices)


def test_a_mirror_without_the_image_falls_back_to_the_source(source, mirror, store, paths, tmp_path):
    image = publish(store, paths, source, "library/mc-only-source:1", {"b": b"b\n"})
    other, other_store = fresh(tmp_path, "other")
    result = pull("mc-only-source:1", other, store=other_store, mirrors=[mirror.url], hub_host=source.address)
    assert result.digest == image.digest and result.source == "docker.io"
    assert "MANIFEST_UNKNOWN" in result.skipped[0] or "not found" in result.skipped[0].lower()


class LyingMirror:
    """A proxy in front of the mirror registry that answers a request for manifest `wanted` with
    the bytes of manifest `served` (and claims they are `wanted`): a tampered or broken mirror."""

    def __init__(self, backend: RegistryServer, wanted: str, served: bytes) -> None:
        lying = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def _answer(self, body: bool) -> None:
                if self.path.endswith(f"/manifests/{wanted}"):
                    lying.lied += 1
                    data, headers = served, {"Content-Type": "application/vnd.oci.image.manifest.v1+json",
                                             "Docker-Content-Digest": wanted}
                    status = 200
                else:
                    conn = http.client.HTTPConnection(backend.address, timeout=30)
                    conn.request(self.command, self.path, headers={k: v for k, v in self.headers.items()})
                    answer = conn.getresponse()
                    data = answer.read()
                    status = answer.status
                    headers = {k: v for k, v in answer.getheaders() if k.lower() not in ("content-length",
                                                                                          "transfer-encoding",
                                                                                          "connection")}
                    conn.close()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

        self.lied = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        import threading
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_mirror_serving_other_bytes_for_a_digest_is_refused(source, mirror, store, paths, tmp_path):
    good = publish(store, paths, source, "library/mc-digest:1", {"good": b"the real image\n"})
    bad = publish(store, paths, mirror, "library/mc-digest:1", {"bad": b"something else\n"})
    proxy = LyingMirror(mirror, good.digest, bad.manifest)
    try:
        other, other_store = fresh(tmp_path, "other")
        result = pull(f"mc-digest@{good.digest}", other, store=other_store, mirrors=[proxy.url],
                      hub_host=source.address)
        assert proxy.lied >= 1, "the pull never asked the mirror"
        assert result.digest == good.digest and result.source == "docker.io"
        assert "manifest digest mismatch" in result.skipped[0]
        for digest in bad.layer_digests + [bad.digest]:
            assert not other_store.has_blob(digest), "bytes from the lying mirror reached the store"

        third, third_store = fresh(tmp_path, "third")          # the source is down too: a clear error
        notices: list[str] = []
        with pytest.raises(ContainerError, match="failed") as err:
            pull(f"mc-digest@{good.digest}", third, store=third_store, mirrors=[proxy.url],
                 hub_host=f"127.0.0.1:{free_port()}", notice=notices.append)
        assert "127.0.0.1" in str(err.value)
        assert any("manifest digest mismatch" in n for n in notices)
        assert third_store.names() == {} and not third_store.has_blob(bad.digest)
    finally:
        proxy.close()


def test_mirrors_serve_docker_hub_names_only(source, store, paths, tmp_path):
    image = publish(store, paths, source, "team/mc-direct:1", {"c": b"c\n"})
    other, other_store = fresh(tmp_path, "other")
    result = pull(f"{source.address}/team/mc-direct:1", other, store=other_store, mirrors=[down_url()])
    assert result.digest == image.digest and result.skipped == []


def test_pull_command_uses_the_mirrors_of_the_environment(mirror, store, paths, tmp_path):
    image = publish(store, paths, mirror, "library/mc-cli:1", {"d": b"d\n"})
    other, _ = fresh(tmp_path, "cli")
    env = dict(os.environ, MC_LIB_DIR=str(other.lib_dir), MC_RUN_DIR=str(other.run_dir),
               MC_REGISTRY_MIRRORS=f"{down_url()}, {mirror.url}")
    res = subprocess.run([sys.executable, "-m", "minicontainer", "pull", "-q", "mc-cli:1"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert f"From mirror: {mirror.url}" in res.stdout and f"Digest: {image.digest}" in res.stdout
    assert "trying the next endpoint" in res.stderr


# --- configuration -------------------------------------------------------------------------------

def test_mirrors_come_from_daemon_json_or_the_environment(tmp_path):
    daemon = tmp_path / "daemon.json"
    assert configured_mirrors({"MC_DAEMON_JSON": str(daemon)}) == []         # no file: no mirrors
    daemon.write_text(json.dumps({"registry-mirrors": ["https://mirror.example.com", "http://127.0.0.1:5001/"],
                                  "log-level": "info"}))
    assert configured_mirrors({"MC_DAEMON_JSON": str(daemon)}) == ["https://mirror.example.com/",
                                                                   "http://127.0.0.1:5001/"]
    env = {"MC_DAEMON_JSON": str(daemon), "MC_REGISTRY_MIRRORS": "http://a.example , http://b.example:81"}
    assert configured_mirrors(env) == ["http://a.example/", "http://b.example:81/"]
    daemon.write_text("{not json")
    with pytest.raises(ContainerError, match="not valid JSON") as err:
        configured_mirrors({"MC_DAEMON_JSON": str(daemon)})
    assert err.value.path == str(daemon)


@pytest.mark.parametrize("url,message", [
    ("mirror.example.com", "no scheme specified"),
    ("ftp://mirror.example.com", "unsupported scheme 'ftp'"),
    ("https://mirror.example.com/?x=1", "query or fragment"),
    ("https://me:secret@mirror.example.com", "username/password not allowed"),
    ("https://mirror.example.com/some/path", "a path after the host is not supported"),
])
def test_bad_mirror_urls_are_refused_as_docker_refuses_them(url, message):
    with pytest.raises(ContainerError, match=message) as err:
        validate_mirror(url)
    assert "secret" not in str(err.value), "a password must not be printed"


def test_endpoints_in_order_mirrors_then_source():
    hub = pull_endpoints(parse_reference("busybox"), ["http://127.0.0.1:5001/", "https://m.example/"])
    assert [(e.host, e.scheme, e.mirror) for e in hub] == [("127.0.0.1:5001", "http", True),
                                                           ("m.example", "https", True),
                                                           ("registry-1.docker.io", None, False)]
    other = pull_endpoints(parse_reference("ghcr.io/org/app:1"), ["http://127.0.0.1:5001/"])
    assert [(e.host, e.mirror) for e in other] == [("ghcr.io", False)]
