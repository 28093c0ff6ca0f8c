"""Pull and push against a real docker-registry on 127.0.0.1 (plain HTTP): the happy paths (lesson 06)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from registry_helpers import build_image, plain_registry, sha256, store  # noqa: F401

from minicontainer.errors import ContainerError
from minicontainer.registry.client import RegistryClient
from minicontainer.registry.pull import pull
from minicontainer.registry.push import push


def test_push_then_pull_round_trip_keeps_digests(plain_registry, store, paths):
    image = build_image(store, "localhost/roundtrip:1", [{"a.txt": b"A" * 1000}, {"b.txt": b"B" * 3000}])
    target = f"{plain_registry.address}/demo/roundtrip:1"
    result = push("localhost/roundtrip:1", target, paths, store=store)
    assert result.digest == image.digest
    assert sorted(result.blobs.values()) == ["uploaded"] * 3

    client = RegistryClient(plain_registry.address)
    got = client.get_manifest("demo/roundtrip", "1")
    assert got.data == image.manifest, "the registry must keep the manifest's exact bytes"

    for digest in image.layer_digests:
        store.blob_path(digest).unlink()
    pulled = pull(target, paths, store=store)
    assert pulled.digest == image.digest
    assert sorted(pulled.fetched) == sorted(image.layer_digests)
    for layer in image.layers:
        assert store.blob_path(sha256(layer)).read_bytes() == layer
    assert store.resolve(target).manifest_digest == image.digest
    assert not list(store.tmp.glob("*.part")), "no partial files may stay behind"


def test_second_push_skips_existing_blobs_and_second_pull_downloads_nothing(plain_registry, store, paths):
    build_image(store, "localhost/again:1", [{"x": b"x" * 100}])
    target = f"{plain_registry.address}/demo/again:1"
    push("localhost/again:1", target, paths, store=store)
    again = push("localhost/again:1", target, paths, store=store)
    assert set(again.blobs.values()) == {"exists"}
    result = pull(target, paths, store=store)
    assert result.fetched == [] and result.downloaded == 0


def test_cross_repository_mount_is_used(plain_registry, store, paths):
    build_image(store, "localhost/mount:1", [{"m": b"m" * 5000}])
    push("localhost/mount:1", f"{plain_registry.address}/team/source:1", paths, store=store)
    result = push("localhost/mount:1", f"{plain_registry.address}/team/copy:1", paths, store=store)
    assert set(result.blobs.values()) == {"mounted"}


def test_chunked_upload(plain_registry, store, paths):
    image = build_image(store, "localhost/chunky:1", raw_layers=[bytes(range(256)) * 400], compress=False)
    target = f"{plain_registry.address}/demo/chunky:1"
    result = push("localhost/chunky:1", target, paths, store=store, chunk_size=10_000)
    assert result.digest == image.digest
    client = RegistryClient(plain_registry.address)
    assert client.blob_exists("demo/chunky", image.layer_digests[0])


def test_tags_are_listed(plain_registry, store, paths):
    build_image(store, "localhost/paged:1", [{"p": b"p"}])
    names = [f"t{i:02d}" for i in range(5)]
    for name in names:
        push("localhost/paged:1", f"{plain_registry.address}/demo/paged:{name}", paths, store=store)
    client = RegistryClient(plain_registry.address)
    assert sorted(client.list_tags("demo/paged")) == names


def test_tags_follow_link_pagination():
    """distribution 2.8 ignores `n` on tags/list (pagination came in 3.0; Docker Hub and GHCR page),
    so this one test uses a tiny HTTP server that pages like they do, with relative Link URLs."""
    pages = {"": (["a", "b"], "</v2/demo/tags/list?n=2&last=b>; rel=\"next\""),
             "b": (["c", "d"], "</v2/demo/tags/list?n=2&last=d>; rel=\"next\""),
             "d": (["e"], None)}
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            query = parse_qs(urlsplit(self.path).query)
            seen.append(self.path)
            tags, link = pages[query.get("last", [""])[0]]
            body = json.dumps({"name": "demo", "tags": tags}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if link:
                self.send_header("Link", link)
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = RegistryClient(f"127.0.0.1:{server.server_address[1]}", scheme="http")
        assert client.list_tags("demo", page_size=2) == ["a", "b", "c", "d", "e"]
        assert seen[-1] == "/v2/demo/tags/list?n=2&last=d"
    finally:
        server.shutdown()
        server.server_close()


def test_unknown_tag_gives_a_clear_error_and_stores_nothing(plain_registry, store, paths):
    before = sorted(p.name for p in store.blobs.iterdir())
    with pytest.raises(ContainerError) as info:
        pull(f"{plain_registry.address}/demo/nothing:here", paths, store=store)
    assert "not found" in str(info.value) and "tags" in str(info.value)
    assert sorted(p.name for p in store.blobs.iterdir()) == before


def test_pull_by_digest_verifies_manifest(plain_registry, store, paths):
    image = build_image(store, "localhost/bydigest:1", [{"d": b"d"}])
    push("localhost/bydigest:1", f"{plain_registry.address}/demo/bydigest:1", paths, store=store)
    result = pull(f"{plain_registry.address}/demo/bydigest@{image.digest}", paths, store=store)
    assert result.digest == image.digest


def test_cli_push_tags_pull(plain_registry, store, paths, capsys):
    from minicontainer.cli import main

    image = build_image(store, "localhost/cli:1", [{"c": b"cli"}])
    target = f"{plain_registry.address}/demo/cli:v1"
    assert main(["push", "-q", "localhost/cli:1", target]) == 0
    assert f"Digest: {image.digest}" in capsys.readouterr().out
    assert main(["tags", f"{plain_registry.address}/demo/cli"]) == 0
    assert capsys.readouterr().out.split() == ["v1"]
    store.blob_path(image.layer_digests[0]).unlink()
    assert main(["pull", "-q", target]) == 0
    out = capsys.readouterr().out
    assert "1 blob(s)" in out and image.digest in out
    assert main(["pull", "-q", f"{plain_registry.address}/demo/cli:nope"]) == 1  # Docker's status
    assert "not found" in capsys.readouterr().err


def test_two_pulls_at_once_share_the_work(plain_registry, store, paths):
    import os
    from concurrent.futures import ThreadPoolExecutor

    image = build_image(store, "localhost/twice:1", raw_layers=[os.urandom(8 << 20)], compress=False)
    target = f"{plain_registry.address}/demo/twice:1"
    push("localhost/twice:1", target, paths, store=store)
    store.blob_path(image.layer_digests[0]).unlink()
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: pull(target, paths, store=store), range(2)))
    assert all(r.digest == image.digest for r in results)
    assert sum(r.downloaded for r in results) == len(image.layers[0]), "the layer must be downloaded once"
    assert store.blob_path(image.layer_digests[0]).read_bytes() == image.layers[0]


def test_the_installed_command_pulls_without_site_packages(plain_registry, store, paths):
    """`minicontainer pull` starts through the fast launcher (python -I -S): the client is stdlib-only."""
    import subprocess
    import sys
    from pathlib import Path

    image = build_image(store, "localhost/fast:1", [{"f": b"fast"}])
    target = f"{plain_registry.address}/demo/fast:1"
    push("localhost/fast:1", target, paths, store=store)
    store.blob_path(image.layer_digests[0]).unlink()
    launcher = Path(sys.executable).parent / "minicontainer"
    done = subprocess.run([str(launcher), "pull", target], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert image.digest in done.stdout
    assert "layer 1: done" in done.stderr  # not a terminal: one line per blob
