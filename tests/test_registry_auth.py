"""TLS with a test CA, htpasswd Basic auth and token auth, each on a real docker-registry (lesson 06)."""

from __future__ import annotations

import base64
import json

import pytest
from registry_helpers import TokenIssuer, build_image, make_tls, store, write_htpasswd  # noqa: F401

from minicontainer.errors import ContainerError
from minicontainer.registry.auth import (Authenticator, Credentials, load_credentials, parse_challenge,
                                         remove_credentials, save_credentials)
from minicontainer.registry.client import RegistryClient
from minicontainer.registry.login import check_login
from minicontainer.registry.pull import pull
from minicontainer.registry.push import push
from minicontainer.registry.server import RegistryServer
from minicontainer.registry.transport import Transport

USERS = {"alice": "wonderland"}


@pytest.fixture
def docker_config(tmp_path, monkeypatch):
    """A private ~/.docker: DOCKER_CONFIG points at it."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    return tmp_path / "docker" / "config.json"


@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry-tls")
    tls = make_tls(root / "certs")
    with RegistryServer(root, tls=(tls.cert, tls.key)) as server:
        server.ca = tls.ca
        yield server


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry-basic")
    htpasswd = write_htpasswd(root / "htpasswd", USERS)
    with RegistryServer(root, auth={"htpasswd": {"realm": "mc-test", "path": str(htpasswd)}}) as server:
        yield server


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry-token")
    issuer = TokenIssuer(root / "issuer", USERS)
    try:
        with RegistryServer(root, auth=issuer.auth_config()) as server:
            server.issuer = issuer
            yield server
    finally:
        issuer.close()


# --- TLS ----------------------------------------------------------------------------------------

def test_tls_with_the_test_ca_pushes_and_pulls(tls_registry, store, paths):
    image = build_image(store, "localhost/tls:1", [{"t": b"tls"}])
    target = f"{tls_registry.address}/demo/tls:1"
    assert push("localhost/tls:1", target, paths, store=store, ca_file=str(tls_registry.ca)).digest == image.digest
    store.blob_path(image.layer_digests[0]).unlink()
    assert pull(target, paths, store=store, ca_file=str(tls_registry.ca)).digest == image.digest


def test_tls_without_the_ca_is_refused_with_a_fix(tls_registry):
    client = RegistryClient(tls_registry.address)
    with pytest.raises(ContainerError) as info:
        client.ping()
    assert "TLS" in str(info.value) and "--ca-file" in str(info.value)
    assert client.scheme is None, "must not fall back to plain HTTP when TLS verification fails"


def test_insecure_skips_verification(tls_registry):
    client = RegistryClient(tls_registry.address, transport=Transport(insecure=True))
    assert client.ping() == 200 and client.scheme == "https"


# --- Basic --------------------------------------------------------------------------------------

def test_basic_auth_push_and_pull(basic_registry, store, paths, docker_config):
    image = build_image(store, "localhost/basic:1", [{"b": b"basic"}])
    save_credentials(basic_registry.address, Credentials("alice", "wonderland"))
    target = f"{basic_registry.address}/demo/basic:1"
    assert push("localhost/basic:1", target, paths, store=store).digest == image.digest
    store.blob_path(image.layer_digests[0]).unlink()
    assert pull(target, paths, store=store).digest == image.digest


def test_basic_auth_without_login_says_login(basic_registry, store, paths, docker_config):
    with pytest.raises(ContainerError) as info:
        pull(f"{basic_registry.address}/demo/basic:1", paths, store=store)
    assert "minicontainer login" in str(info.value)


def test_basic_auth_wrong_password_is_a_clear_error(basic_registry, store, paths, docker_config):
    save_credentials(basic_registry.address, Credentials("alice", "wrong"))
    with pytest.raises(ContainerError) as info:
        pull(f"{basic_registry.address}/demo/basic:1", paths, store=store)
    assert "refused the credentials" in str(info.value)
    with pytest.raises(ContainerError):
        check_login(basic_registry.address, Credentials("alice", "wrong"))
    check_login(basic_registry.address, Credentials("alice", "wonderland"))


# --- Bearer tokens --------------------------------------------------------------------------------

def test_token_auth_push_and_pull(token_registry, store, paths, docker_config):
    image = build_image(store, "localhost/token:1", [{"k": b"token"}])
    save_credentials(token_registry.address, Credentials("alice", "wonderland"))
    target = f"{token_registry.address}/team/token:1"
    assert push("localhost/token:1", target, paths, store=store).digest == image.digest
    scopes = [r["path"] for r in token_registry.issuer.requests]
    assert any("repository%3Ateam%2Ftoken%3Apull%2Cpush" in s for s in scopes), scopes
    remove_credentials(token_registry.address)
    store.blob_path(image.layer_digests[0]).unlink()
    # anonymous token, pull only
    assert pull(target, paths, store=store).digest == image.digest
    assert token_registry.issuer.requests[-1]["authorization"] == ""


def test_token_auth_anonymous_push_is_denied(token_registry, store, paths, docker_config):
    build_image(store, "localhost/anon:1", [{"a": b"anon"}])
    with pytest.raises(ContainerError) as info:
        push("localhost/anon:1", f"{token_registry.address}/team/anon:1", paths, store=store)
    assert "requires a login" in str(info.value) and "minicontainer login" in str(info.value)


def test_token_auth_wrong_password(token_registry, store, paths, docker_config):
    save_credentials(token_registry.address, Credentials("alice", "nope"))
    with pytest.raises(ContainerError) as info:
        pull(f"{token_registry.address}/team/token:1", paths, store=store)
    assert "refused the credentials" in str(info.value) and "minicontainer login" in str(info.value)


def test_access_token_field_is_accepted(token_registry, store, paths, docker_config):
    image = build_image(store, "localhost/at:1", [{"at": b"at"}])
    save_credentials(token_registry.address, Credentials("alice", "wonderland"))
    push("localhost/at:1", f"{token_registry.address}/team/at:1", paths, store=store)
    token_registry.issuer.field_name = "access_token"
    try:
        store.blob_path(image.layer_digests[0]).unlink()
        assert pull(f"{token_registry.address}/team/at:1", paths, store=store).digest == image.digest
    finally:
        token_registry.issuer.field_name = "token"


def test_login_checks_then_saves(token_registry, docker_config):
    check_login(token_registry.address, Credentials("alice", "wonderland"))
    with pytest.raises(ContainerError):
        check_login(token_registry.address, Credentials("alice", "bad"))


def test_realm_must_be_https_unless_loopback():
    auth = Authenticator(Transport(), lambda r: Credentials("u", "secret"))
    with pytest.raises(ContainerError) as info:
        auth.answer("registry.example", 'Bearer realm="http://auth.example/token",service="x"', ())
    assert "realm" in str(info.value)


# --- config.json ---------------------------------------------------------------------------------

def test_docker_hub_key_and_helpers(tmp_path, monkeypatch):
    config = tmp_path / "config.json"
    hub = base64.b64encode(b"hubuser:hubpass").decode()
    helper = tmp_path / "bin" / "docker-credential-mctest"
    helper.parent.mkdir()
    helper.write_text('#!/bin/sh\nread server\nif [ "$1" = get ] && [ "$server" = "ghcr.io" ]; then\n'
                      '  echo \'{"ServerURL":"ghcr.io","Username":"gh","Secret":"tok"}\'\nelse\n'
                      '  echo "credentials not found in native keychain"; exit 1\nfi\n')
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper.parent}:/usr/bin:/bin")
    config.write_text(json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": hub},
                                            "https://quay.io": {"auth": base64.b64encode(b"q:w").decode()}},
                                  "credHelpers": {"ghcr.io": "mctest"}}))
    assert load_credentials("docker.io", config) == Credentials("hubuser", "hubpass")
    assert load_credentials("index.docker.io", config) == Credentials("hubuser", "hubpass")
    assert load_credentials("quay.io", config) == Credentials("q", "w")
    assert load_credentials("ghcr.io", config) == Credentials("gh", "tok")
    assert load_credentials("other.example", config) is None
    save_credentials("docker.io", Credentials("new", "pw"), config)
    saved = json.loads(config.read_text())
    assert base64.b64decode(saved["auths"]["https://index.docker.io/v1/"]["auth"]) == b"new:pw"
    assert remove_credentials("docker.io", config)
    assert load_credentials("docker.io", config) is None
    assert "secret" not in repr(Credentials("u", "secret"))


def test_a_missing_credential_helper_falls_back_to_auths_when_reading(tmp_path, monkeypatch):
    config = tmp_path / "config.json"
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    config.write_text(json.dumps({"credsStore": "desktop-not-here",
                                  "auths": {"quay.io": {"auth": base64.b64encode(b"q:w").decode()}}}))
    assert load_credentials("quay.io", config) == Credentials("q", "w")
    assert load_credentials("ghcr.io", config) is None
    with pytest.raises(ContainerError) as info:
        save_credentials("ghcr.io", Credentials("a", "b"), config)
    assert "docker-credential-desktop-not-here" in str(info.value)


def test_challenge_parsing():
    scheme, params = parse_challenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                                     'scope="repository:library/busybox:pull"')
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                      "scope": "repository:library/busybox:pull"}


def test_the_lessons_token_server_signs_tokens_the_registry_accepts(tmp_path, store, paths, docker_config):
    from minicontainer.registry.tokenserver import TokenServer

    image = build_image(store, "localhost/lab-token:1", [{"l": b"lab"}])
    with TokenServer(tmp_path / "tokens", {"learner": "lesson06"}) as tokens:
        with RegistryServer(tmp_path / "registry", auth=tokens.auth_config()) as server:
            target = f"{server.address}/lab/token:1"
            with pytest.raises(ContainerError):
                check_login(server.address, Credentials("learner", "nope"))
            save_credentials(server.address, Credentials("learner", "lesson06"))
            assert push("localhost/lab-token:1", target, paths, store=store).digest == image.digest
            remove_credentials(server.address)
            store.blob_path(image.layer_digests[0]).unlink()
            assert pull(target, paths, store=store).digest == image.digest


def test_progress_displays_degrade_quietly(capsys):
    from minicontainer.registry.progress import LineProgress, Progress, TqdmProgress, WidgetProgress, auto_progress

    assert type(auto_progress(enabled=False)) is Progress
    lines = auto_progress()  # not a terminal, not a notebook: one line per blob
    assert type(lines) is LineProgress
    lines.start("k", "abc layer 1", 10)
    lines.finish("k", "exists")
    assert capsys.readouterr().err == "abc layer 1: exists\n"
    bar = TqdmProgress()
    bar.start("k", "layer 1", 100)
    bar.advance("k", 60)
    bar.finish("k")
    bar.close()
    assert "layer 1" in capsys.readouterr().err
    widget = WidgetProgress()  # outside a notebook ipywidgets still builds the bar; it just is not shown
    widget.start("k", "layer 1", 100)
    widget.advance("k", 100)
    widget.finish("k")
    assert widget._bars["k"].value == 100


def test_identity_token_is_traded_for_an_access_token(token_registry, store, paths, docker_config):
    """Docker Hub's SSO logins save an OAuth2 refresh token (`identitytoken`) instead of a password."""
    image = build_image(store, "localhost/sso:1", [{"s": b"sso"}])
    token_registry.issuer.refresh_tokens["refresh-abc"] = "alice"
    docker_config.parent.mkdir(parents=True, exist_ok=True)
    docker_config.write_text(json.dumps({"auths": {token_registry.address: {"identitytoken": "refresh-abc"}}}))
    assert push("localhost/sso:1", f"{token_registry.address}/team/sso:1", paths, store=store).digest == image.digest
    posts = [r for r in token_registry.issuer.requests if "form" in r]
    assert posts and posts[-1]["form"]["grant_type"] == ["refresh_token"]
    assert posts[-1]["form"]["scope"] == ["repository:team/sso:pull,push"]
    docker_config.write_text(json.dumps({"auths": {token_registry.address: {"identitytoken": "revoked"}}}))
    with pytest.raises(ContainerError) as info:
        push("localhost/sso:1", f"{token_registry.address}/team/sso:2", paths, store=store)
    assert "refused the credentials" in str(info.value)
