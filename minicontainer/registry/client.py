"""A client for the OCI distribution API: manifests, blobs, uploads, tags (lesson 06).

Every registry (Docker Hub, GHCR, Quay, the lab's docker-registry) serves the same small API:

    GET  /v2/                                   is this a registry? (401 tells how to log in)
    HEAD /v2/NAME/manifests/TAG                 the manifest's digest (Docker-Content-Digest)
    GET  /v2/NAME/manifests/DIGEST              the manifest, whose sha256 must equal DIGEST
    GET  /v2/NAME/blobs/DIGEST                  a layer or config (often a redirect to a CDN)
    HEAD /v2/NAME/blobs/DIGEST                  does the registry have it already?
    POST /v2/NAME/blobs/uploads/                start an upload (or ?mount=DIGEST&from=OTHER)
    PATCH <Location>                            send a chunk (Content-Range: start-end)
    PUT  <Location>?digest=DIGEST               finish the upload; the registry verifies the digest
    PUT  /v2/NAME/manifests/TAG                 publish the manifest, exact bytes, its media type
    GET  /v2/NAME/tags/list?n=100               tags, page by page (Link: <...>; rel="next")

The client never trusts what it downloads: manifests and blobs are hashed while they arrive and
compared with the digest that named them. Blobs are written to a `.part` file first, so an
interrupted download resumes with a `Range` request and nothing unverified ever reaches the store.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

from ..errors import ContainerError
from ..image import mediatypes as mt
from ..image.digest import sha256_digest, validate_digest
from .auth import Authenticator, repository_scope
from .transport import CHUNK, RegistryError, Response, Transport, describe_error_body, is_loopback, raise_for_status

# What we ask the registry for (the Accept header): an index or a manifest, OCI's or Docker's.
ACCEPT = ", ".join([mt.OCI_INDEX, mt.OCI_MANIFEST, mt.DOCKER_LIST, mt.DOCKER_MANIFEST])
MAX_MANIFEST_SIZE = 4 << 20  # registries refuse bigger ones; so do we


@dataclass(frozen=True)
class Manifest:
    """A manifest or index exactly as the registry sent it: its bytes are what its digest names."""

    data: bytes
    media_type: str
    digest: str

    def json(self) -> dict:
        return json.loads(self.data)

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEXES


def media_type_of(data: bytes, header: str) -> str:
    """The manifest's media type: its own `mediaType` field, else the Content-Type header."""
    try:
        declared = json.loads(data).get("mediaType")
    except (ValueError, AttributeError):
        raise ContainerError("the registry sent a manifest that is not JSON", step="read manifest") from None
    if declared:
        return declared
    header = header.split(";")[0].strip()
    if header in mt.INDEXES | mt.MANIFESTS | mt.SCHEMA1:
        return header
    parsed = json.loads(data)
    if parsed.get("schemaVersion") == 1:
        return mt.DOCKER_SCHEMA1
    return mt.OCI_INDEX if "manifests" in parsed else mt.OCI_MANIFEST


def refuse_schema1(media_type: str, what: str) -> None:
    if media_type in mt.SCHEMA1:
        raise ContainerError(
            f"{what} uses Docker's old schema 1 manifest, which is deprecated and unsigned-by-digest",
            step="read manifest",
            fix="push the image again with a current tool (docker, skopeo, minicontainer) to get schema 2 / OCI",
        )


class Cancelled(ContainerError):
    """A parallel download was stopped because another one failed."""

    def __init__(self) -> None:
        super().__init__("download cancelled: another download of this pull failed", step="download blob")


def receive_blob(chunks: Iterable[bytes], out: BinaryIO, hasher, have: int, size: int,
                 progress: Callable[[int], None]) -> int:
    """The body of a blob download (exercise 6.5): write each chunk to `out` and into `hasher` (a
    hashlib object, already fed with the `have` bytes a resumed download had), call progress(len)
    for each, and stop as soon as more than `size` bytes are there (0: size unknown). Returns the
    total now. download_blob then checks the total against the manifest's size and the hash
    against the digest: a wrong blob never enters the store."""
    for chunk in chunks:
        hasher.update(chunk)
        out.write(chunk)
        have += len(chunk)
        progress(len(chunk))
        if size and have > size:
            break
    return have


@dataclass
class RegistryClient:
    """Talks to one registry host. Authentication and retries are handled for every request."""

    host: str                                   # host[:port] of the API, e.g. registry-1.docker.io
    transport: Transport = field(default_factory=Transport)
    auth: Authenticator | None = None
    scheme: str | None = None                   # "https" or "http"; found by ping() when None
    registry: str = ""                          # the name credentials are saved under (docker.io)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.registry = self.registry or self.host
        if self.auth is None:
            self.auth = Authenticator(self.transport)

    # --- plumbing ----------------------------------------------------------------------------------

    @property
    def base(self) -> str:
        if self.scheme is None:
            self.ping()
        return f"{self.scheme}://{self.host}"

    def ping(self) -> int:
        """GET /v2/: find the scheme (https, or http for a loopback/insecure registry); return the status."""
        loopback = is_loopback(self.host.rsplit(":", 1)[0])
        if self.scheme is not None:
            response = self.transport.request("GET", f"{self.scheme}://{self.host}/v2/")
        elif loopback and not self.transport.ca_file:
            # A lab registry on loopback usually speaks plain HTTP: try that first (no TLS set-up cost).
            # A TLS server answers a plain request with 400 "Client sent an HTTP request to an HTTPS server".
            response = self.transport.request("GET", f"http://{self.host}/v2/", retry=False)
            self.scheme = "http"
            if response.status == 400 and b"HTTPS" in response.read():
                self.scheme = None
                return self._ping_https(loopback)
        else:
            return self._ping_https(loopback)
        return self._check_ping(response)

    def _ping_https(self, loopback: bool) -> int:
        try:
            response = self.transport.request("GET", f"https://{self.host}/v2/", retry=False)
            self.scheme = "https"
        except ContainerError as exc:
            # A plain-HTTP server answers a TLS hello with text: "wrong version number".
            plain_http = "WRONG_VERSION_NUMBER" in str(exc).upper().replace(" ", "_")
            if plain_http and not (loopback or self.transport.insecure):
                raise ContainerError(f'Get "https://{self.host}/v2/": http: server gave HTTP response to HTTPS '
                                     "client", step="talk to the registry", path=self.host,  # (Docker's words)
                                     fix=f'a registry without TLS: add "{self.host}" to "insecure-registries" in '
                                     "/etc/docker/daemon.json (MC_DAEMON_JSON names another file), or pass "
                                     "--insecure") from None
            if not plain_http:
                raise
            response = self.transport.request("GET", f"http://{self.host}/v2/")
            self.scheme = "http"
        return self._check_ping(response)

    def _check_ping(self, response: Response) -> int:
        response.read()
        if response.status not in (200, 401):
            raise RegistryError(f"{self.host} does not look like a registry (GET /v2/ answered "
                                f"{response.status})", status=response.status, url=response.url, step="ping")
        return response.status

    def url(self, path: str, query: dict[str, str] | None = None) -> str:
        return self.base + path + ("?" + urlencode(query) if query else "")

    def request(self, method: str, url: str, scopes: tuple[str, ...], headers: dict[str, str] | None = None,
                body: bytes | Callable[[], Iterator[bytes]] | None = None, retry: bool = True) -> Response:
        """Send with the cached Authorization; on 401 answer the challenge once and send again."""
        headers = dict(headers or {})
        cached = self.auth.cached(self.registry, scopes)
        if cached:
            headers["Authorization"] = cached
        response = self.transport.request(method, url, headers, body, retry=retry)
        if response.status == 401 and response.header("WWW-Authenticate"):
            challenge = response.header("WWW-Authenticate")
            response.read()
            headers["Authorization"] = self.auth.answer(self.registry, challenge, scopes)
            response = self.transport.request(method, url, headers, body, retry=retry)
            if response.status == 401:
                message, _ = describe_error_body(response.read(), response.header("Content-Type"))
                if self.auth.credentials(self.registry) is None:
                    raise RegistryError(f"{self.registry} requires a login for this ({message})", status=401,
                                        url=url, step="authenticate", fix=f"minicontainer login {self.registry}")
                raise RegistryError(f"{self.registry} refused the credentials ({message})", status=401,
                                    url=url, step="authenticate", fix=f"minicontainer login {self.registry}")
        if response.status == 403:
            message, codes = describe_error_body(response.read(), response.header("Content-Type"))
            raise RegistryError(f"access denied: {message}", status=403, codes=codes, url=url, step="authorize",
                                fix="check that your account may access this repository")
        return response

    # --- manifests ---------------------------------------------------------------------------------

    def head_manifest(self, repository: str, reference: str) -> tuple[str, str, int] | None:
        """(digest, media type, size) of a manifest without downloading it; None if the registry won't say."""
        url = self.url(f"/v2/{repository}/manifests/{_ref(reference)}")
        response = self.request("HEAD", url, (repository_scope(repository),), {"Accept": ACCEPT})
        response.read()
        if response.status == 404:
            raise _unknown(self._display(repository), reference, url)
        if response.status != 200 or not response.header("Docker-Content-Digest"):
            return None
        digest = validate_digest(response.header("Docker-Content-Digest"))
        return digest, response.header("Content-Type"), int(response.header("Content-Length") or 0)

    def get_manifest(self, repository: str, reference: str) -> Manifest:
        """The manifest named by a tag or digest: HEAD the tag for its digest, GET by digest, verify."""
        digest = reference if reference.startswith("sha") and ":" in reference else None
        if digest is None:
            head = self.head_manifest(repository, reference)
            digest = head[0] if head else None
        target = digest or reference
        url = self.url(f"/v2/{repository}/manifests/{_ref(target)}")
        response = self.request("GET", url, (repository_scope(repository),), {"Accept": ACCEPT})
        if response.status == 404:
            response.read()
            raise _unknown(self._display(repository), reference, url)
        raise_for_status(response, step="get manifest")
        if int(response.header("Content-Length") or 0) > MAX_MANIFEST_SIZE:
            response.close()
            raise ContainerError(f"manifest of {repository}:{reference} is larger than 4 MiB", step="get manifest")
        data = response.read()
        actual = sha256_digest(data)
        if digest is not None and actual != digest:
            raise ContainerError(f"manifest digest mismatch: asked for {digest}, got {actual}",
                                 step="verify manifest", path=url, fix="the registry or a proxy altered it; retry")
        media_type = media_type_of(data, response.header("Content-Type"))
        refuse_schema1(media_type, f"{repository}:{reference}")
        return Manifest(data, media_type, actual)

    def put_manifest(self, repository: str, reference: str, manifest: Manifest) -> str:
        """PUT the manifest's exact bytes under a tag (or its digest); return the digest the registry computed."""
        url = self.url(f"/v2/{repository}/manifests/{_ref(reference)}")
        response = self.request("PUT", url, (repository_scope(repository, "pull,push"),),
                                {"Content-Type": manifest.media_type}, manifest.data)
        raise_for_status(response, step="push manifest", expected=(201, 200))
        response.read()
        got = response.header("Docker-Content-Digest") or manifest.digest
        if got != manifest.digest:
            raise ContainerError(f"the registry stored the manifest as {got}, expected {manifest.digest}",
                                 step="push manifest")
        return got

    # --- blobs: download ---------------------------------------------------------------------------

    def blob_exists(self, repository: str, digest: str, scopes: tuple[str, ...] | None = None) -> bool:
        url = self.url(f"/v2/{repository}/blobs/{validate_digest(digest)}")
        response = self.request("HEAD", url, scopes or (repository_scope(repository),))
        response.read()
        if response.status in (200, 404):
            return response.status == 200
        raise_for_status(response, step="check blob")
        return False

    def download_blob(self, repository: str, digest: str, size: int, part: Path,
                      progress: Callable[[int], None] = lambda n: None,
                      cancel: threading.Event | None = None, attempts: int = 3) -> int:
        """Stream a blob into `part` (resuming what is there), checking size and digest.

        Returns the bytes that came over the network this time (less than the size after a resume).

        The caller moves the verified file into the store. If the connection drops, the download
        resumes from the bytes already on disk with `Range: bytes=N-` (up to `attempts` times).
        """
        validate_digest(digest)
        algorithm, _, expected_hex = digest.partition(":")
        url = self.url(f"/v2/{repository}/blobs/{digest}")
        part.parent.mkdir(parents=True, exist_ok=True)
        transferred = 0
        for attempt in range(attempts):
            hasher = hashlib.new(algorithm)
            have = part.stat().st_size if part.exists() else 0
            if size and have > size:
                part.unlink()
                have = 0
            if have:
                with open(part, "rb") as f:
                    while chunk := f.read(CHUNK):
                        hasher.update(chunk)
            if have and have == size:
                break
            headers = {"Range": f"bytes={have}-"} if have else {}
            response = self.request("GET", url, (repository_scope(repository),), headers)
            if response.status == 404:
                response.read()
                raise RegistryError(f"blob {digest} is not in {repository}", status=404, url=url,
                                    step="download blob", codes=("BLOB_UNKNOWN",))
            if have and response.status == 200:    # the server ignored Range: start again
                hasher, have, mode = hashlib.new(algorithm), 0, "wb"
            elif response.status == 206 and not response.header("Content-Range").startswith(f"bytes {have}-"):
                response.close()                    # not the part we asked for: start again from zero
                part.unlink(missing_ok=True)
                continue
            elif response.status in (200, 206):
                mode = "ab" if have else "wb"
            elif response.status == 416:
                response.read()
                part.unlink(missing_ok=True)
                continue
            else:
                raise_for_status(response, step="download blob")
            if have and attempt == 0:
                progress(have)                      # what an earlier, interrupted pull already fetched
            def advance(n: int) -> None:  # each chunk: the progress bar; a cancelled pull stops here
                nonlocal transferred
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                transferred += n
                progress(n)

            try:
                with open(part, mode) as f:
                    have = receive_blob(response.iter_chunks(), f, hasher, have, size, advance)
            except (ConnectionError, http.client.HTTPException, TimeoutError) as exc:
                if attempt + 1 >= attempts:
                    raise ContainerError(f"download of {digest} interrupted after {have} bytes: "
                                         f"{exc.__class__.__name__}", step="download blob", path=str(part),
                                         fix="run the pull again: it resumes where it stopped") from None
                self.transport.sleep(self.transport.backoff * (2 ** attempt))
                continue
            if not size or have >= size:
                break
        else:
            raise ContainerError(f"could not download {digest}", step="download blob", path=str(part))
        have = part.stat().st_size
        if size and have != size:
            part.unlink()
            raise ContainerError(f"blob {digest} has {have} bytes, the manifest says {size}",
                                 step="verify blob", fix="the registry sent the wrong data; nothing was stored")
        if hasher.hexdigest() != expected_hex:
            part.unlink()
            raise ContainerError(f"blob digest mismatch: expected {digest}, got {algorithm}:{hasher.hexdigest()}",
                                 step="verify blob", path=url,
                                 fix="the blob was altered on the registry or on the way; nothing was stored")
        return transferred

    # --- blobs: upload -----------------------------------------------------------------------------

    def upload_blob(self, repository: str, digest: str, size: int, path: Path,
                    mount_from: str | None = None, chunk_size: int | None = None,
                    progress: Callable[[int], None] = lambda n: None) -> str:
        """Make sure the registry has a blob: 'exists', 'mounted' or 'uploaded'.

        HEAD first; then a cross-repository mount if we know another repository on this registry
        that has it (the registry answers 202 and an upload session when it cannot mount: we
        fall back to uploading); then a monolithic PUT, or PATCH chunks when chunk_size is given.
        """
        validate_digest(digest)
        push = (repository_scope(repository, "pull,push"),)
        if self.blob_exists(repository, digest, push):
            progress(size)
            return "exists"
        start = self.url(f"/v2/{repository}/blobs/uploads/")
        if mount_from and mount_from != repository:
            scopes = push + (repository_scope(mount_from),)
            response = self.request("POST", f"{start}?{urlencode({'mount': digest, 'from': mount_from})}", scopes,
                                    {"Content-Length": "0"}, b"")
            if response.status == 201:
                response.read()
                progress(size)
                return "mounted"
        else:
            response = self.request("POST", start, push, {"Content-Length": "0"}, b"")
        raise_for_status(response, step="start upload", expected=(202,))
        response.read()
        location = self._location(response)
        if chunk_size:
            offset = 0
            with open(path, "rb") as f:
                while offset < size:
                    data = f.read(chunk_size)
                    end = offset + len(data) - 1
                    response = self.request("PATCH", location, push, {
                        "Content-Type": "application/octet-stream", "Content-Range": f"{offset}-{end}",
                        "Content-Length": str(len(data))}, data, retry=False)
                    raise_for_status(response, step="upload chunk", expected=(202,))
                    response.read()
                    server_range = response.header("Range")
                    if server_range and server_range != f"0-{end}":
                        raise ContainerError(f"upload out of step: sent up to {end}, registry has {server_range}",
                                             step="upload chunk", path=location)
                    offset = end + 1
                    progress(len(data))
                    location = self._location(response)
            response = self.request("PUT", _with_query(location, digest=digest), push,
                                    {"Content-Length": "0"}, b"")
        else:
            def chunks() -> Iterator[bytes]:
                with open(path, "rb") as f:
                    while data := f.read(CHUNK):
                        progress(len(data))
                        yield data

            response = self.request("PUT", _with_query(location, digest=digest), push, {
                "Content-Type": "application/octet-stream", "Content-Length": str(size)}, chunks)
        raise_for_status(response, step="finish upload", expected=(201,))
        response.read()
        got = response.header("Docker-Content-Digest")
        if got and got != digest:
            raise ContainerError(f"the registry stored {got}, expected {digest}", step="finish upload")
        return "uploaded"

    def _display(self, repository: str) -> str:
        """How a user names the repository: registry/name, except on Docker Hub."""
        if self.registry == "docker.io":
            return repository.removeprefix("library/")
        return f"{self.registry}/{repository}"

    def _location(self, response: Response) -> str:
        location = response.header("Location")
        if not location:
            raise ContainerError("the registry started an upload without a Location", step="upload blob",
                                 path=response.url)
        return urljoin(response.url, location)   # relative Locations resolve against the request URL

    # --- tags --------------------------------------------------------------------------------------

    def list_tags(self, repository: str, page_size: int | None = None) -> list[str]:
        """All tags of a repository, following `Link: <...>; rel="next"` page by page."""
        url = self.url(f"/v2/{repository}/tags/list", {"n": str(page_size)} if page_size else None)
        tags: list[str] = []
        for _ in range(10_000):
            response = self.request("GET", url, (repository_scope(repository),))
            if response.status == 404:
                response.read()
                raise _unknown(self._display(repository), "", url)
            raise_for_status(response, step="list tags")
            link = response.header("Link")
            tags.extend(response.json().get("tags") or [])
            nxt = _next_link(link)
            if not nxt:
                break
            url = urljoin(url, nxt)
        return tags


def _ref(reference: str) -> str:
    """A tag or digest that is safe to put in a URL path."""
    if ":" in reference:
        return validate_digest(reference)
    from ..reference import valid_tag

    if not valid_tag(reference):
        raise ContainerError(f"invalid tag {reference!r}", step="build URL")
    return reference


def _with_query(url: str, **params: str) -> str:
    """Add query parameters to a Location, keeping the ones it already has (upload state)."""
    parts = urlsplit(url)
    query = parts.query + ("&" if parts.query else "") + urlencode(params)
    return urlunsplit(parts._replace(query=query))


def _next_link(header: str) -> str | None:
    for part in header.split(","):
        if 'rel="next"' in part or "rel=next" in part:
            start, end = part.find("<"), part.find(">")
            if start != -1 and end > start:
                return part[start + 1:end]
    return None


def _unknown(repository: str, reference: str, url: str) -> RegistryError:
    what = f"{repository}:{reference}" if reference and ":" not in reference else f"{repository}@{reference}"
    return RegistryError(f"{what if reference else repository} not found (MANIFEST_UNKNOWN / NAME_UNKNOWN)",
                         status=404, url=url, codes=("MANIFEST_UNKNOWN",), step="find image",
                         fix=f"check the name and tag; list tags with `minicontainer tags {repository}`")
