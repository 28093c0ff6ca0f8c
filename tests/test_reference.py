"""References are parsed as Docker parses them, and bad ones are refused before use (lessons 05, 06)."""

from __future__ import annotations

import pytest

from minicontainer.errors import ContainerError
from minicontainer.reference import Reference, parse_reference, validate_digest

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    "text, registry, repository, tag, digest",
    [
        ("busybox", "docker.io", "library/busybox", "latest", None),
        ("busybox:1.36", "docker.io", "library/busybox", "1.36", None),
        ("myuser/app", "docker.io", "myuser/app", "latest", None),
        ("docker.io/busybox", "docker.io", "library/busybox", "latest", None),
        ("index.docker.io/library/alpine", "docker.io", "library/alpine", "latest", None),
        ("index.docker.io/alpine:3", "docker.io", "library/alpine", "3", None),
        ("localhost/app", "localhost", "app", "latest", None),
        ("localhost:5000/app:v1", "localhost:5000", "app", "v1", None),
        ("127.0.0.1:5000/a/b/c", "127.0.0.1:5000", "a/b/c", "latest", None),
        ("ghcr.io/org/app:1.2", "ghcr.io", "org/app", "1.2", None),
        ("localhost:5000", "docker.io", "library/localhost", "5000", None),
        ("foo.bar/baz@" + D, "foo.bar", "baz", None, D),
        ("app:1.0@" + D, "docker.io", "library/app", "1.0", D),
        ("a__b/c-d--e.f_g", "docker.io", "a__b/c-d--e.f_g", "latest", None),
        ("[::1]:5000/app", "[::1]:5000", "app", "latest", None),
    ],
)
def test_parses_like_docker(text, registry, repository, tag, digest):
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)


def test_digest_wins_over_tag():
    ref = parse_reference("busybox:1.36@" + D)
    assert ref.identifier == D
    assert parse_reference("busybox:1.36").identifier == "1.36"


def test_string_forms():
    ref = parse_reference("busybox")
    assert str(ref) == "docker.io/library/busybox:latest"
    assert ref.familiar == "busybox:latest"
    assert ref.name == "docker.io/library/busybox"
    assert ref.api_host == "registry-1.docker.io"
    local = parse_reference("localhost:5000/demo:x")
    assert local.familiar == "localhost:5000/demo:x"
    assert local.api_host == "localhost:5000"
    assert parse_reference("user/app@" + D).familiar == "user/app@" + D
    assert parse_reference(str(ref)) == ref


def test_with_digest_and_tag():
    ref = parse_reference("busybox").with_digest(D)
    assert ref.identifier == D and ref.tag == "latest"
    assert ref.with_tag("2").digest is None
    with pytest.raises(ContainerError):
        ref.with_digest("sha256:short")
    with pytest.raises(ContainerError):
        ref.with_tag("-bad")


@pytest.mark.parametrize(
    "text",
    [
        "",
        " busybox",
        "Busybox",
        "docker.io/Library/busybox",
        "busybox:",
        "busybox:-x",
        "busybox:" + "a" * 129,
        "busybox@sha256:abc",
        "busybox@md5:" + "a" * 32,
        "busybox@sha256:" + "A" * 64,
        "busybox@sha256:../../../../etc/passwd",
        "a" * 256,
        "bad host!/app",
        "app/",
        "/app",
        "a//b",
        "app.",
        "-app",
        "my_host:5000:6000/app",
    ],
)
def test_malformed_references_are_refused(text):
    with pytest.raises(ContainerError) as info:
        parse_reference(text)
    assert "invalid reference" in str(info.value)


@pytest.mark.parametrize(
    "digest",
    ["sha256:" + "0" * 63, "sha256:" + "0" * 65, "sha256:" + "g" * 64, "sha1:" + "0" * 40, "sha256", "",
     "sha256:" + "0" * 62 + "/.", "SHA256:" + "0" * 64, "sha512:" + "0" * 64],
)
def test_bad_digests_are_refused_before_use(digest):
    with pytest.raises(ContainerError):
        validate_digest(digest)


def test_good_digests_pass():
    assert validate_digest(D) == D
    assert validate_digest("sha512:" + "0" * 128)


def test_reference_is_a_value():
    assert Reference("docker.io", "library/x", "latest") == parse_reference("x")
    assert len({parse_reference("x"), parse_reference("docker.io/library/x:latest")}) == 1
