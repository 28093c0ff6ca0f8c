"""Registry authentication: the 401 challenge, Bearer tokens, Basic, and Docker's config.json (lesson 06).

A registry says how to authenticate when it refuses a request:

    HTTP/1.1 401 Unauthorized
    WWW-Authenticate: Bearer realm="https://auth.docker.io/token",service="registry.docker.io",
                      scope="repository:library/busybox:pull"

* `Basic realm=...`: send `Authorization: Basic base64(user:password)` with every request.
* `Bearer realm=...`: ask the realm (a token server) for a token that grants a *scope*
  (`repository:NAME:pull` or `pull,push`), sending the user's password there if we have one, or
  nothing for an anonymous token (Docker Hub and GHCR need one even for public images).
  The answer is JSON with `token` (or `access_token`) and `expires_in`; the token then goes in
  `Authorization: Bearer ...` until it expires.

Passwords live where Docker keeps them: `~/.docker/config.json` (or `$DOCKER_CONFIG/config.json`),
in `auths` (base64 `user:password`, Docker Hub under the key `https://index.docker.io/v1/`), or in
a credential helper program `docker-credential-NAME` named by `credHelpers` (per registry) or
`credsStore` (for all). Safety rules: a realm must be https (plain http only on loopback), and it
only ever receives the credentials of the registry that sent us there.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlencode, urlsplit

from ..atomic import write_atomic
from ..errors import ContainerError
from .transport import Transport, describe_error_body, is_loopback

DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
DOCKER_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
DEFAULT_TOKEN_LIFETIME = 60  # seconds, when the token server does not say (the spec's default)


@dataclass(frozen=True)
class Credentials:
    """A username and password for one registry, or an OAuth2 refresh token (`identitytoken`)."""

    username: str
    password: str
    identity_token: str = ""  # Docker's SSO logins save this instead of a password

    def basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def __repr__(self) -> str:  # never print a password
        return f"Credentials(username={self.username!r}, password='***'" + \
            (", identity_token='***')" if self.identity_token else ")")


# --- ~/.docker/config.json ---------------------------------------------------------------------

def docker_config_path() -> Path:
    """Where Docker keeps its client configuration: $DOCKER_CONFIG/config.json or ~/.docker/config.json."""
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return Path(base) / "config.json"


def registry_key(name: str) -> str:
    """A config.json key or URL reduced to the registry host: 'https://index.docker.io/v1/' -> 'docker.io'."""
    host = name
    if "://" in host:
        host = urlsplit(host).netloc
    host = host.split("/", 1)[0]
    return "docker.io" if host in DOCKER_HUB_ALIASES else host


def auth_key(registry: str) -> str:
    """The key Docker writes for a registry in config.json (Docker Hub keeps its historical URL)."""
    return DOCKER_HUB_AUTH_KEY if registry_key(registry) == "docker.io" else registry_key(registry)


def _read_config(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (ValueError, OSError) as exc:
        raise ContainerError(f"cannot read {path}: {exc}", step="read docker credentials", path=str(path),
                             fix="fix or remove the file, then `minicontainer login` again") from None


def _write_config(path: Path, config: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, json.dumps(config, indent="\t") + "\n", mode=0o600)


def _helper(config: dict, registry: str) -> str | None:
    helpers = config.get("credHelpers") or {}
    for key, name in helpers.items():
        if registry_key(key) == registry:
            return name
    return config.get("credsStore") or None


def _run_helper(helper: str, action: str, payload: str) -> str:
    program = f"docker-credential-{helper}"
    try:
        done = subprocess.run([program, action], input=payload, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise ContainerError(f"credential helper {program} is not installed", step="read docker credentials",
                             fix=f"install {program}, or remove it from ~/.docker/config.json") from None
    if done.returncode != 0:
        out = (done.stdout + done.stderr).strip()
        if action == "get" and "credentials not found" in out.lower():
            return ""
        if action == "erase" and "not found" in out.lower():
            return ""
        raise ContainerError(f"{program} {action} failed: {out[:200]}", step="use credential helper")
    return done.stdout


def load_credentials(registry: str, config_path: Path | None = None) -> Credentials | None:
    """The saved credentials for a registry (helper first, then `auths`), or None."""
    path = config_path or docker_config_path()
    registry = registry_key(registry)
    config = _read_config(path)
    helper = _helper(config, registry)
    if helper and shutil.which(f"docker-credential-{helper}") is None:
        helper = None  # e.g. "desktop" copied from another machine: reading falls back to `auths`
    if helper:
        out = _run_helper(helper, "get", auth_key(registry))
        if out.strip():
            data = json.loads(out)
            if data.get("Username") == "<token>":  # the helper protocol's way to say "an identity token"
                return Credentials("", "", identity_token=data.get("Secret", ""))
            return Credentials(data.get("Username", ""), data.get("Secret", ""))
    for key, entry in (config.get("auths") or {}).items():
        if registry_key(key) != registry or not isinstance(entry, dict):
            continue
        if entry.get("identitytoken"):
            return Credentials(entry.get("username", ""), "", identity_token=entry["identitytoken"])
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise ContainerError(f"the saved login for {registry} is not valid base64", path=str(path),
                                     step="read docker credentials", fix=f"minicontainer login {registry}") from None
            return Credentials(user, password)
        if entry.get("username"):
            return Credentials(entry["username"], entry.get("password", ""))
    return None


def save_credentials(registry: str, credentials: Credentials, config_path: Path | None = None) -> str:
    """Store credentials where Docker would (the helper if one is configured); returns where."""
    path = config_path or docker_config_path()
    registry = registry_key(registry)
    config = _read_config(path)
    helper = _helper(config, registry)
    if helper:
        payload = json.dumps({"ServerURL": auth_key(registry), "Username": credentials.username,
                              "Secret": credentials.password})
        _run_helper(helper, "store", payload)
        config.setdefault("auths", {})[auth_key(registry)] = {}
        _write_config(path, config)
        return f"docker-credential-{helper}"
    auths = config.setdefault("auths", {})
    for key in [k for k in auths if registry_key(k) == registry]:
        del auths[key]
    auths[auth_key(registry)] = {"auth": base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()}
    _write_config(path, config)
    return str(path)


def remove_credentials(registry: str, config_path: Path | None = None) -> bool:
    """Forget a registry's credentials. True if there were some."""
    path = config_path or docker_config_path()
    registry = registry_key(registry)
    config = _read_config(path)
    found = False
    helper = _helper(config, registry)
    if helper:
        _run_helper(helper, "erase", auth_key(registry))
        found = True
    auths = config.get("auths") or {}
    for key in [k for k in auths if registry_key(k) == registry]:
        del auths[key]
        found = True
    if found:
        _write_config(path, config)
    return found


# --- the challenge and the token flow -----------------------------------------------------------

_PARAM = re.compile(r'([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="...",service="..."` -> ('bearer', {'realm': ..., 'service': ...}) (exercise 6.2).

    The scheme in lower case, then the key=value pairs (keys in lower case); a value is "quoted"
    (it may hold commas: scope="repository:a:pull,push", and \" for a quote) or a bare token."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)).replace('\\"', '"')
              for m in _PARAM.finditer(rest)}
    return scheme.lower(), params


def token_url(realm: str, params: dict[str, str], scopes: tuple[str, ...]) -> str:
    """Where to ask for a token (exercise 6.3): the challenge's realm with service= and one scope= per
    scope we need (the challenge's own scope= when we name none), URL-encoded; '&' if the realm has
    a query already, else '?'. A realm without any of them is asked as it is."""
    query = [("service", params["service"])] if params.get("service") else []
    wanted = list(scopes)
    if params.get("scope") and not wanted:
        wanted.append(params["scope"])
    query += [("scope", s) for s in wanted]
    if not query:
        return realm
    return realm + ("&" if urlsplit(realm).query else "?") + urlencode(query)


def repository_scope(repository: str, actions: str = "pull") -> str:
    """The scope a token must grant: repository:library/busybox:pull (or pull,push)."""
    return f"repository:{repository}:{actions}"


@dataclass
class Token:
    value: str
    expires: float

    def valid(self, now: float | None = None) -> bool:
        return (now if now is not None else time.time()) < self.expires


@dataclass
class Authenticator:
    """Answers a registry's 401 challenges and caches what it got, per registry and scope."""

    transport: Transport
    credentials: Callable[[str], Credentials | None] = lambda registry: load_credentials(registry)
    _tokens: dict[tuple[str, str], Token] = field(default_factory=dict)
    _basic: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def cached(self, registry: str, scopes: tuple[str, ...]) -> str | None:
        """An Authorization header we already have for these scopes (or Basic for a Basic registry)."""
        with self._lock:
            if registry in self._basic:
                creds = self.credentials(registry)
                return creds.basic() if creds else None
            token = self._tokens.get((registry, " ".join(scopes)))
            return f"Bearer {token.value}" if token and token.valid() else None

    def answer(self, registry: str, challenge: str, scopes: tuple[str, ...]) -> str:
        """Turn a WWW-Authenticate challenge into an Authorization header, or raise a clear error."""
        scheme, params = parse_challenge(challenge)
        creds = self.credentials(registry)
        if scheme == "basic":
            if creds is None:
                raise ContainerError(f"{registry} requires a login", step="authenticate", path=registry,
                                     fix=f"minicontainer login {registry}")
            with self._lock:
                self._basic.add(registry)
            return creds.basic()
        if scheme != "bearer":
            raise ContainerError(f"unsupported authentication scheme {scheme!r} from {registry}",
                                 step="authenticate", path=registry)
        token = self.fetch_token(registry, params, scopes, creds)
        with self._lock:
            self._tokens[(registry, " ".join(scopes))] = token
        return f"Bearer {token.value}"

    def fetch_token(self, registry: str, params: dict[str, str], scopes: tuple[str, ...],
                    creds: Credentials | None) -> Token:
        """GET realm?service=...&scope=... with Basic credentials (or none: an anonymous token)."""
        realm = params.get("realm", "")
        parts = urlsplit(realm)
        if parts.scheme != "https" and not (parts.scheme == "http" and
                                            (is_loopback(parts.hostname or "") or self.transport.insecure)):
            raise ContainerError(f"refusing token realm {realm!r}: a realm must be https (or http on loopback)",
                                 step="authenticate", path=registry,
                                 fix="the registry's auth configuration is unsafe; use --insecure only for a lab")
        query = [("service", params["service"])] if params.get("service") else []
        wanted = list(scopes)
        if params.get("scope") and params["scope"] not in wanted and not scopes:
            wanted.append(params["scope"])
        query += [("scope", s) for s in wanted]
        if creds and creds.identity_token:
            # OAuth2: trade the refresh token for an access token (POST, form-encoded).
            form = urlencode([("grant_type", "refresh_token"), ("refresh_token", creds.identity_token),
                              ("client_id", "minicontainer"), *query]).encode()
            response = self.transport.request("POST", realm, headers={
                "Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(len(form))}, body=form)
        else:
            url = token_url(realm, params, scopes)
            headers = {"Authorization": creds.basic()} if creds else {}
            response = self.transport.request("GET", url, headers=headers)
        body = response.read()
        if response.status in (401, 403):
            message, _ = describe_error_body(body, response.header("Content-Type"))
            if creds:
                raise ContainerError(f"the token server refused the credentials for {registry} ({message})",
                                     step="authenticate", path=registry,
                                     fix=f"check the username and password: minicontainer login {registry}")
            raise ContainerError(f"{registry} requires a login ({message})", step="authenticate",
                                 path=registry, fix=f"minicontainer login {registry}")
        if response.status != 200:
            message, _ = describe_error_body(body, response.header("Content-Type"))
            raise ContainerError(f"token server answered HTTP {response.status}: {message}",
                                 step="authenticate", path=realm)
        try:
            data = json.loads(body)
            value = data.get("token") or data.get("access_token")
        except (ValueError, AttributeError):
            value = None
        if not value:
            raise ContainerError("the token server's answer has no token", step="authenticate", path=realm)
        lifetime = float(data.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
        return Token(value, time.time() + max(lifetime - 10, lifetime / 2))
