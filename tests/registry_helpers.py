"""Helpers for the registry tests: certificates, htpasswd files, a token issuer, and test images.

Everything here is real: the registries are Debian's docker-registry processes on 127.0.0.1, the
CA and certificates are made with `cryptography`, the token issuer signs RS256 JWTs that the
registry verifies against the certificate it was configured with (`rootcertbundle`).
"""

from __future__ import annotations

import base64
import datetime
import gzip
import hashlib
import io
import ipaddress
import json
import tarfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import bcrypt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from minicontainer.image.store import Store

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"


# --- certificates ---------------------------------------------------------------------------------

def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(key: rsa.RSAPrivateKey, path: Path) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    return path


def _cert(subject: str, key, issuer_name: x509.Name | None = None, issuer_key=None, ca: bool = False,
          ips: tuple[str, ...] = ()) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name or name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ips:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
                                        + [x509.DNSName("localhost")]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


@dataclass
class TLSFiles:
    ca: Path
    cert: Path
    key: Path


def make_tls(directory: Path) -> TLSFiles:
    """A CA, and a server certificate for 127.0.0.1 signed by it."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca_cert = _cert("minicontainer test CA", ca_key, ca=True)
    key = _key()
    cert = _cert("127.0.0.1", key, ca_cert.subject, ca_key, ips=("127.0.0.1",))
    (directory / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (directory / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, directory / "server.key")
    return TLSFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")


def write_htpasswd(path: Path, users: dict[str, str]) -> Path:
    path.write_text("".join(f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
                            for u, p in users.items()))
    return path


# --- a token issuer ---------------------------------------------------------------------------------

def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenIssuer:
    """A small token server: checks Basic credentials, grants scopes, signs RS256 JWTs with x5c."""

    directory: Path
    users: dict[str, str]
    service: str = "mc-test-registry"
    issuer: str = "mc-test-issuer"
    anonymous_pull: bool = True
    field_name: str = "token"         # or "access_token" (GHCR-style answers)
    requests: list[dict] = field(default_factory=list)
    refresh_tokens: dict[str, str] = field(default_factory=dict)   # identity token -> user

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.key = _key()
        self.cert = _cert("mc token signer", self.key)
        self.cert_path = self.directory / "token-signer.pem"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self._x5c = base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                issuer._answer(self)

            def do_POST(self) -> None:  # OAuth2 refresh-token grant, as Docker Hub's SSO logins use
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                issuer.requests.append({"path": self.path, "authorization": "", "form": form})
                user = issuer.refresh_tokens.get(form.get("refresh_token", [""])[0])
                if form.get("grant_type") != ["refresh_token"] or user is None:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                query = "&".join(f"{k}={v}" for k in ("service", "scope") for v in form.get(k, []))
                issuer._answer(self, user=user, query=query, field="access_token")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/token"

    def auth_config(self) -> dict:
        return {"token": {"realm": self.realm, "service": self.service, "issuer": self.issuer,
                          "rootcertbundle": str(self.cert_path)}}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def sign(self, claims: dict) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def _answer(self, handler: BaseHTTPRequestHandler, user: str | None = None, query: str | None = None,
                field: str | None = None) -> None:
        query = parse_qs(query if query is not None else urlsplit(handler.path).query)
        header = handler.headers.get("Authorization", "") if user is None else ""
        if user is None:
            self.requests.append({"path": handler.path, "authorization": header})
        if header.startswith("Basic "):
            name, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if self.users.get(name) != password:
                body = json.dumps({"details": "incorrect username or password"}).encode()
                handler.send_response(401)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", str(len(body)))
                handler.end_headers()
                handler.wfile.write(body)
                return
            user = name
        access = []
        for scope in query.get("scope", []):
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = actions.split(",")
            granted = wanted if user else ([a for a in wanted if a == "pull"] if self.anonymous_pull else [])
            access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        token = self.sign({"iss": self.issuer, "sub": user or "", "aud": query.get("service", [""])[0],
                           "exp": now + 300, "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex, "access": access})
        body = json.dumps({field or self.field_name: token, "expires_in": 300}).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


# --- test images ------------------------------------------------------------------------------------

def layer_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            if name.endswith("/"):  # a directory
                info = tarfile.TarInfo(name.rstrip("/"))
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
                tar.addfile(info)
                continue
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class BuiltImage:
    name: str
    manifest: bytes
    digest: str
    config: bytes
    layers: list[bytes]

    @property
    def layer_digests(self) -> list[str]:
        return [sha256(layer) for layer in self.layers]


def build_image(store: Store, name: str, layers: list[dict[str, bytes]] | None = None, arch: str = "amd64",
                variant: str = "", raw_layers: list[bytes] | None = None, cmd: list[str] | None = None,
                compress: bool = True) -> BuiltImage:
    """Write an image made of the given files into the store and tag it `name`."""
    tars = raw_layers if raw_layers is not None else [layer_tar(f) for f in (layers or [{"hello.txt": b"hi\n"}])]
    blobs = [gzip.compress(t, compresslevel=1, mtime=0) if compress else t for t in tars]
    config = {"architecture": arch, "os": "linux", "config": {"Cmd": cmd or ["/bin/sh"]},
              "rootfs": {"type": "layers", "diff_ids": [sha256(t) for t in tars]}}
    if variant:
        config["variant"] = variant
    config_bytes = json.dumps(config, sort_keys=True).encode()
    for blob in blobs + [config_bytes]:
        store.write_blob(blob, sha256(blob), len(blob))
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": sha256(config_bytes), "size": len(config_bytes)},
                "layers": [{"mediaType": LAYER_GZIP if compress else LAYER_TAR, "digest": sha256(b), "size": len(b)}
                           for b in blobs]}
    data = json.dumps(manifest, indent=3).encode()  # unusual formatting: the exact bytes must survive a push
    digest = store.put_manifest(data, OCI_MANIFEST)
    store.tag(name, digest, OCI_MANIFEST)
    return BuiltImage(name, data, digest, config_bytes, blobs)


# --- fixtures (imported by the test modules) -----------------------------------------------------

import pytest  # noqa: E402

from minicontainer.registry.server import RegistryServer  # noqa: E402


@pytest.fixture(scope="module")
def plain_registry(tmp_path_factory: pytest.TempPathFactory):
    """A docker-registry on 127.0.0.1, plain HTTP, no auth, stopped at the end of the module."""
    with RegistryServer(tmp_path_factory.mktemp("registry-plain")) as server:
        yield server


@pytest.fixture
def store(paths) -> Store:
    return Store(paths).ensure()
