"""HTTP for registries: retries, redirects, TLS, and errors a learner can act on (lesson 06).

A registry is an HTTP server. Three things make talking to a real one harder than `urlopen`:

* it may be busy or rate-limited: 5xx and 429 answers are retried with exponential backoff, and a
  `Retry-After` header (seconds or an HTTP date) says how long to wait;
* blobs are often served by a CDN: the registry answers 307 with another host's URL, and the
  `Authorization` header meant for the registry must NOT be sent there;
* TLS: a private registry has its own CA (`ca_file`), a lab registry may speak plain HTTP on
  loopback (`insecure`).

The distribution API's error bodies are JSON (`{"errors": [{"code": "MANIFEST_UNKNOWN", ...}]}`),
but proxies answer with HTML: `RegistryError` shows either, shortened.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping
from urllib.parse import urljoin, urlsplit

from ..errors import ContainerError

RETRY_STATUSES = {429, 500, 502, 503, 504}
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
MAX_REDIRECTS = 5
MAX_RETRY_AFTER = 60.0  # seconds: never sleep longer than this on a server's say-so
RATE_LIMIT_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "docker-ratelimit-source", "x-ratelimit-limit",
                      "x-ratelimit-remaining")
CHUNK = 1 << 20


class RegistryError(ContainerError):
    """A registry answered with an error status; `codes` holds the distribution error codes if any."""

    def __init__(self, message: str, *, status: int = 0, codes: tuple[str, ...] = (), url: str = "",
                 step: str = "talk to the registry", fix: str = "") -> None:
        self.status = status
        self.codes = codes
        self.url = url
        super().__init__(message, step=step, path=url, fix=fix)


def is_loopback(host: str) -> bool:
    """True for localhost and 127.0.0.0/8 / ::1 (a registry there may speak plain HTTP)."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def describe_error_body(body: bytes, content_type: str = "") -> tuple[str, tuple[str, ...]]:
    """The message and codes of an error body: distribution JSON if it is that, else its text, shortened."""
    try:
        data = json.loads(body)
        errors = data.get("errors") or []
        if errors:
            codes = tuple(str(e.get("code", "")) for e in errors)
            text = "; ".join(f"{e.get('code', '?')}: {e.get('message', '')}".strip() for e in errors)
            return text, codes
        if "details" in data or "message" in data:
            return str(data.get("message") or data.get("details")), ()
    except (ValueError, AttributeError):
        pass
    text = body.decode("utf-8", "replace").strip()
    if "html" in content_type or text.startswith("<"):
        text = "non-JSON answer: " + " ".join(text.split())
    return (text[:200] + ("..." if len(text) > 200 else "")) or "(empty body)", ()


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils  # only needed for the rare HTTP-date form

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


@dataclass
class Response:
    """An HTTP answer whose body is read on demand (so a 100 MiB blob is streamed, not loaded)."""

    status: int
    headers: http.client.HTTPMessage
    url: str
    raw: http.client.HTTPResponse
    _release: Callable[[bool], None] = lambda reuse: None

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)

    def read(self) -> bytes:
        try:
            return self.raw.read()
        finally:
            self.close()

    def json(self) -> dict:
        return json.loads(self.read())

    def iter_chunks(self, size: int = CHUNK) -> Iterator[memoryview]:
        """Yield the body in pieces; each memoryview is valid until the next one is asked for."""
        buffer = bytearray(size)
        view = memoryview(buffer)
        try:
            while True:
                n = self.raw.readinto(buffer)
                if not n:
                    break
                yield view[:n]
        finally:
            self.close()

    def close(self) -> None:
        complete = self.raw.isclosed() or self.raw.length == 0
        if not self.raw.isclosed():
            self.raw.close()
        self._release(complete)


@dataclass
class Transport:
    """Sends requests with retries, safe redirects and the TLS settings for one set of registries."""

    insecure: bool = False          # allow plain HTTP and unverified TLS for any host
    ca_file: str | None = None      # extra CA bundle to trust (a private registry's CA)
    retries: int = 4                # attempts after the first, for 5xx / 429 / dropped connections
    backoff: float = 0.5            # first wait in seconds, doubled each retry
    timeout: float = 60.0
    notice: Callable[[str], None] = lambda message: None  # where rate-limit notices go
    sleep: Callable[[float], None] = time.sleep
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _context: ssl.SSLContext | None = field(default=None, repr=False)

    # --- connections -------------------------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        if self._context is None:
            context = ssl.create_default_context(cafile=self.ca_file)
            if self.insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._context = context
        return self._context

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        """One kept-alive connection per thread and host (a pull's threads each keep their own)."""
        pool = self._local.__dict__.setdefault("pool", {})
        key = (scheme, netloc)
        conn = pool.get(key)
        if conn is None:
            if scheme == "https":
                conn = http.client.HTTPSConnection(netloc, timeout=self.timeout, context=self.ssl_context())
            elif scheme == "http":
                conn = http.client.HTTPConnection(netloc, timeout=self.timeout)
            else:
                raise ContainerError(f"unsupported URL scheme {scheme!r}", step="send request", path=netloc)
            pool[key] = conn
        return conn

    def _drop(self, scheme: str, netloc: str) -> None:
        conn = self._local.__dict__.get("pool", {}).pop((scheme, netloc), None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        for conn in self._local.__dict__.get("pool", {}).values():
            conn.close()
        self._local.__dict__["pool"] = {}

    # --- one request, with redirects and retries --------------------------------------------------

    def request(self, method: str, url: str, headers: Mapping[str, str] | None = None,
                body: bytes | Callable[[], Iterator[bytes]] | None = None,
                retry: bool = True, follow: bool = True) -> Response:
        """Send one request; follow redirects (dropping Authorization across hosts); retry 5xx/429.

        `body` is bytes, or a function returning a fresh iterator of chunks (so a retry can resend it).
        Error statuses are returned, not raised: the caller decides (401 starts the auth flow).
        """
        headers = dict(headers or {})
        attempt = 0
        redirects = 0
        while True:
            try:
                response = self._send(method, url, headers, body)
            except (ConnectionError, http.client.HTTPException, socket.timeout, TimeoutError) as exc:
                if not retry or attempt >= self.retries or method == "PATCH":
                    raise ContainerError(
                        f"{method} {url} failed: {exc.__class__.__name__}: {exc}",
                        step="talk to the registry", fix="check that the registry is running and reachable",
                    ) from None
                self.sleep(self.backoff * (2 ** attempt))
                attempt += 1
                continue
            except ssl.SSLError as exc:
                raise ContainerError(
                    f"TLS failed for {url}: {exc.reason or exc}", step="talk to the registry",
                    fix="pass the registry's CA with --ca-file, or --insecure for a lab registry",
                ) from None
            except OSError as exc:
                raise ContainerError(
                    f"{method} {url} failed: {exc.strerror or exc}", step="talk to the registry",
                    fix="check that the registry is running and reachable",
                ) from None

            self._notice_rate_limit(response)
            if follow and response.status in REDIRECT_STATUSES and response.header("Location"):
                response.read()
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    raise RegistryError(f"too many redirects from {url}", status=response.status, url=url)
                target = urljoin(url, response.header("Location"))
                if urlsplit(target)[:2] != urlsplit(url)[:2]:
                    # Another host (a CDN): credentials meant for the registry stay with the registry.
                    headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                if response.status == 303:
                    method, body = "GET", None
                url = target
                continue
            if retry and response.status in RETRY_STATUSES and attempt < self.retries:
                wait = parse_retry_after(response.header("Retry-After"))
                if wait is None:
                    wait = self.backoff * (2 ** attempt)
                response.read()
                self.sleep(min(wait, MAX_RETRY_AFTER))
                attempt += 1
                continue
            return response

    def _send(self, method: str, url: str, headers: dict[str, str],
              body: bytes | Callable[[], Iterator[bytes]] | None) -> Response:
        parts = urlsplit(url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        for fresh in (False, True):  # a kept-alive connection the server closed is retried once, fresh
            conn = self._connection(parts.scheme, parts.netloc)
            try:
                if callable(body):
                    conn.putrequest(method, path, skip_accept_encoding=True)
                    send_headers = dict(headers)
                    for k, v in send_headers.items():
                        conn.putheader(k, v)
                    conn.endheaders()
                    for chunk in body():
                        conn.send(chunk)
                else:
                    conn.request(method, path, body=body, headers=headers)
                raw = conn.getresponse()
            except (ConnectionError, http.client.RemoteDisconnected, http.client.CannotSendRequest, BrokenPipeError):
                self._drop(parts.scheme, parts.netloc)
                if fresh:
                    raise
                continue
            except BaseException:
                self._drop(parts.scheme, parts.netloc)
                raise
            if method == "HEAD":
                raw.length = 0

            def release(complete: bool, scheme=parts.scheme, netloc=parts.netloc, raw=raw) -> None:
                if not complete or raw.will_close:
                    self._drop(scheme, netloc)

            return Response(raw.status, raw.headers, url, raw, release)
        raise AssertionError("unreachable")

    def _notice_rate_limit(self, response: Response) -> None:
        found = {h: response.header(h) for h in RATE_LIMIT_HEADERS if response.header(h)}
        if found and (response.status == 429 or "ratelimit-remaining" in found):
            text = ", ".join(f"{k}: {v}" for k, v in found.items())
            self.notice(f"rate limit ({urlsplit(response.url).netloc}): {text}")


def raise_for_status(response: Response, *, step: str, fix: str = "", expected: tuple[int, ...] = (200,)) -> None:
    """Turn an unexpected status into a RegistryError that quotes the registry's own error."""
    if response.status in expected:
        return
    message, codes = describe_error_body(response.read(), response.header("Content-Type"))
    if response.status == 429 and not fix:
        limits = ", ".join(f"{h}={response.header(h)}" for h in RATE_LIMIT_HEADERS if response.header(h))
        fix = "the registry limits requests: wait and try again" + (f" ({limits})" if limits else "") + \
            ", or log in for a higher limit"
    raise RegistryError(f"HTTP {response.status}: {message}", status=response.status, codes=codes,
                        url=response.url, step=step, fix=fix)
