"""A tiny token server, so the lesson can show Docker Hub's login dance offline (lesson 06).

Docker Hub, GHCR and Quay do not check passwords on the registry itself. The registry answers
401 with `WWW-Authenticate: Bearer realm=...,service=...,scope=...`; the client asks the *realm*
(a token server) for a token; the token server checks the password, decides which actions the
user may do on which repository, and signs a JWT that says so:

    {"iss": "...", "aud": SERVICE, "exp": ..., "access": [{"type": "repository",
     "name": "busybox", "actions": ["pull"]}]}

The registry trusts the token because it can verify the signature with a certificate it was
configured with (`auth.token.rootcertbundle`). This server signs with RS256 using the `openssl`
command (no Python crypto library needed) and serves on 127.0.0.1 (or on `host`, an address of a
network the lab made: lesson 11's second machine). Anonymous users get `pull`; users in `users`
get what they ask for.
"""

from __future__ import annotations

import base64
import hmac
import json
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from ..errors import ContainerError


def b64url(data: bytes) -> str:
    """JWTs use URL-safe base64 without '=' padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """Issues registry tokens on http://127.0.0.1:PORT/token (loopback: a client allows plain HTTP there;
    on another `host`, only a client that counts the registry as insecure does)."""

    def __init__(self, directory: Path, users: dict[str, str], service: str = "minicontainer-lab",
                 issuer: str = "minicontainer-lab-tokens", host: str = "127.0.0.1") -> None:
        self.directory = Path(directory)
        self.host = host
        self.users = dict(users)
        self.service = service
        self.issuer = issuer
        self.key = self.directory / "token.key"
        self.cert = self.directory / "token.pem"
        self._server: ThreadingHTTPServer | None = None

    # --- keys ---------------------------------------------------------------------------------------

    def _make_key(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                               "-subj", "/CN=minicontainer lab token signer", "-keyout", str(self.key),
                               "-out", str(self.cert)], capture_output=True, text=True)
        if done.returncode != 0:
            raise ContainerError(f"openssl could not make a signing key: {done.stderr.strip()[:200]}",
                                 step="start token server", fix="make deps (installs openssl)")
        pem = self.cert.read_text()
        body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
        self._x5c = "".join(body.split())  # the certificate's DER, base64: what the JWT header carries

    def sign(self, claims: dict) -> str:
        """header.payload.signature, RS256: an RSA signature over SHA-256 of 'header.payload'."""
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key), "-binary"],
                                   input=signing_input.encode(), capture_output=True, check=True).stdout
        return f"{signing_input}.{b64url(signature)}"

    # --- the HTTP side ------------------------------------------------------------------------------

    def start(self) -> "TokenServer":
        self._make_key()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                status, body = owner.answer(self.path, self.headers.get("Authorization", ""))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True, name="mc-token-server").start()
        return self

    def answer(self, path: str, authorization: str) -> tuple[int, dict]:
        """(status, JSON body) for GET /token?service=...&scope=..."""
        query = parse_qs(urlsplit(path).query)
        user = None
        if authorization.startswith("Basic "):
            name, _, password = base64.b64decode(authorization[6:]).decode(errors="replace").partition(":")
            if not hmac.compare_digest(self.users.get(name, "\0"), password):
                return 401, {"details": "incorrect username or password"}
            user = name
        access = []
        for scope in query.get("scope", []):
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = [a for a in actions.split(",") if a]
            granted = wanted if user else [a for a in wanted if a == "pull"]
            access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": user or "", "aud": self.service, "exp": now + 300, "nbf": now - 10,
                  "iat": now, "jti": uuid.uuid4().hex, "access": access}
        return 200, {"token": self.sign(claims), "expires_in": 300, "issued_at": time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))}

    @property
    def realm(self) -> str:
        if self._server is None:
            raise ContainerError("the token server is not started", step="token server")
        return f"http://{self.host}:{self._server.server_address[1]}/token"

    def auth_config(self) -> dict:
        """The `auth` section of a docker-registry config that trusts this server's tokens."""
        return {"token": {"realm": self.realm, "service": self.service, "issuer": self.issuer,
                          "rootcertbundle": str(self.cert)}}

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "TokenServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
