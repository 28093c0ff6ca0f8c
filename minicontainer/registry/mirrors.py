"""Registry mirrors: Docker's `registry-mirrors`, tried before Docker Hub when pulling (lesson 06).

Where Docker Hub is slow or out of reach (the primers' readers in China configure one first
thing), Docker is told to ask a mirror instead, in /etc/docker/daemon.json:

    {"registry-mirrors": ["https://mirror.example.com", "http://127.0.0.1:5001"]}

minicontainer reads the same file (MC_DAEMON_JSON names another one), or the environment
variable MC_REGISTRY_MIRRORS (URLs separated by commas or spaces), which then wins. The rules
are Docker's (moby's registry and distribution packages):

  * a mirror URL is http:// or https://, with no user, password, query or fragment;
  * mirrors serve only Docker Hub images (`busybox`, `docker.io/library/busybox`): a name that
    spells out another registry (`127.0.0.1:5000/app`, `ghcr.io/...`) is pulled from there;
  * they are tried in order, then Docker Hub itself; a push never goes to a mirror;
  * a mirror that fails (down, no such image, an error) is skipped: the pull goes on to the
    next endpoint, and only the last endpoint's error is reported;
  * a mirror is not trusted more than the source: every manifest and blob is checked against
    its digest. Pulling by digest (`busybox@sha256:...`), a mirror that answers with other bytes
    is refused ("manifest digest mismatch") and the pull FALLS BACK to the next endpoint, as
    Docker does (a verification error is a reason to try the next endpoint). Pulling by tag,
    what the mirror says the tag is wins: a mirror may lag behind Docker Hub.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import ContainerError
from ..reference import DEFAULT_REGISTRY, DOCKER_HUB_API_HOST, Reference

DAEMON_JSON = "/etc/docker/daemon.json"
DAEMON_JSON_ENV = "MC_DAEMON_JSON"          # another daemon.json (tests, a learner without /etc/docker)
MIRRORS_ENV = "MC_REGISTRY_MIRRORS"         # mirrors without a file: "http://127.0.0.1:5001,https://m.example"


@dataclass(frozen=True)
class Endpoint:
    """One place to pull from: a mirror, or the registry the reference names."""

    host: str                  # host[:port] of the API
    scheme: str | None         # "http"/"https" when a mirror URL says so; None: found by a ping
    mirror: bool
    url: str                   # as configured (for messages)


def validate_mirror(url: str) -> str:
    """A mirror URL as Docker accepts it (moby's registry.ValidateMirror), normalised with a trailing /."""
    scheme, sep, _ = url.partition("://")
    if not sep or not scheme:
        raise ContainerError(f"invalid mirror: no scheme specified for {url!r}: must use either 'https://' or "
                             "'http://'", step="read registry mirrors", fix="write the mirror as http(s)://HOST[:PORT]")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ContainerError(f"invalid mirror: unsupported scheme {parts.scheme!r} in {url!r}: must use either "
                             "'https://' or 'http://'", step="read registry mirrors")
    if parts.query or parts.fragment:
        raise ContainerError(f"invalid mirror: query or fragment at end of the URI {url!r}", step="read registry mirrors")
    if parts.username is not None or parts.password is not None:
        shown = url.replace(parts.password, "xxxxx") if parts.password else url
        raise ContainerError(f"invalid mirror: username/password not allowed in URI {shown!r}",
                             step="read registry mirrors", fix="save credentials with `minicontainer login HOST`")
    if not parts.hostname:
        raise ContainerError(f"invalid mirror: {url!r} has no host", step="read registry mirrors")
    if parts.path not in ("", "/"):
        raise ContainerError(f"mirror {url!r}: a path after the host is not supported by minicontainer",
                             step="read registry mirrors", fix="give the mirror as http(s)://HOST[:PORT]")
    return url.rstrip("/") + "/"


def daemon_json_path(environ: dict[str, str] | None = None) -> Path:
    """/etc/docker/daemon.json, or the file MC_DAEMON_JSON names."""
    environ = os.environ if environ is None else environ
    return Path(environ.get(DAEMON_JSON_ENV) or DAEMON_JSON)


def daemon_settings(environ: dict[str, str] | None = None, daemon_json: Path | None = None,
                    step: str = "read registry mirrors") -> dict:
    """daemon.json's settings (MC_DAEMON_JSON names another file); {} when there is no file."""
    path = daemon_json or daemon_json_path(environ)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ContainerError(f"cannot read {path}: {exc.strerror}", step=step, path=str(path)) from None
    try:
        config = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise ContainerError(f"{path} is not valid JSON: {exc}", step=step, path=str(path),
                             fix="fix the file (Docker's daemon would refuse to start with it too)") from None
    return config if isinstance(config, dict) else {}


def configured_mirrors(environ: dict[str, str] | None = None, daemon_json: Path | None = None) -> list[str]:
    """The mirrors to use: MC_REGISTRY_MIRRORS if set, else daemon.json's registry-mirrors."""
    environ = os.environ if environ is None else environ
    if environ.get(MIRRORS_ENV, "").strip():
        return [validate_mirror(u) for u in re.split(r"[,\s]+", environ[MIRRORS_ENV].strip()) if u]
    path = daemon_json or daemon_json_path(environ)
    mirrors = daemon_settings(environ, path).get("registry-mirrors", [])
    if not isinstance(mirrors, list) or not all(isinstance(m, str) for m in mirrors):
        raise ContainerError("registry-mirrors must be a list of URLs", step="read registry mirrors", path=str(path),
                             fix='write "registry-mirrors": ["https://mirror.example.com"]')
    return [validate_mirror(m) for m in mirrors]


def pull_endpoints(ref: Reference, mirrors: list[str], hub_host: str = DOCKER_HUB_API_HOST) -> list[Endpoint]:
    """Where to pull `ref` from, in order: the mirrors (Docker Hub images only), then the source.

    `hub_host`: the API host for docker.io (registry-1.docker.io; a test points it at a local registry)."""
    source = Endpoint(hub_host if ref.registry == DEFAULT_REGISTRY else ref.registry, None, False,
                      ref.registry)
    if ref.registry != DEFAULT_REGISTRY:
        return [source]
    out = []
    for url in mirrors:
        parts = urlsplit(url)
        out.append(Endpoint(parts.netloc, parts.scheme, True, url.rstrip("/")))
    return out + [source]
