"""Image references, parsed the way Docker parses them (lessons 05 and 06).

A reference names an image: `busybox`, `ghcr.io/org/app:1.2`, `localhost:5000/demo@sha256:...`.
Docker fills in what is left out, and every tool that talks to a registry must do the same:

  busybox                        -> docker.io/library/busybox:latest
  myuser/app                     -> docker.io/myuser/app:latest
  localhost:5000/app             -> registry localhost:5000, repository app
  index.docker.io/library/alpine -> docker.io/library/alpine:latest
  app:1.0@sha256:<64 hex>        -> the digest wins: the image is fetched by digest

The first path component is a registry host only if it contains a `.` or a `:` or is exactly
`localhost`; otherwise the whole name is a repository on Docker Hub. Repository names are lower
case; tags are at most 128 characters of `[A-Za-z0-9_.-]`, not starting with `.` or `-`.

Digests are checked here too (`validate_digest`), because a digest ends up in URLs and file paths:
`sha256:../../etc/passwd` must be refused before it is used anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .errors import ContainerError

DEFAULT_REGISTRY = "docker.io"
LEGACY_REGISTRY = "index.docker.io"
# The host Docker Hub's API really answers on (docker.io is only the name used in references).
DOCKER_HUB_API_HOST = "registry-1.docker.io"
DEFAULT_TAG = "latest"
MAX_NAME_LENGTH = 255

# The grammar of github.com/distribution/reference (regexp.go), written out piece by piece.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

_DOMAIN_RE = re.compile(rf"^{_DOMAIN}$")
_PATH_RE = re.compile(rf"^{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
_TAG_RE = re.compile(rf"^{_TAG}$")
_DIGEST_RE = re.compile(rf"^{_DIGEST}$")

# Algorithms we can verify, with the exact length of their lower-case hex encoding.
DIGEST_HEX_LENGTHS = {"sha256": 64, "sha512": 128}


def _bad(text: str, why: str) -> ContainerError:
    return ContainerError(
        f"invalid reference {text!r}: {why}",
        step="parse reference",
        fix="write it as [REGISTRY/]REPOSITORY[:TAG][@sha256:DIGEST], e.g. busybox:1.36 or localhost:5000/demo:latest",
    )


def valid_tag(tag: str) -> bool:
    """Is `tag` a tag (up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-')?"""
    return bool(_TAG_RE.match(tag))


def validate_digest(digest: str) -> str:
    """Return `digest` if it is `sha256:<64 lower hex>` or `sha512:<128 lower hex>`; raise otherwise.

    Use it on every digest before it goes into a URL or a file path.
    """
    if not isinstance(digest, str) or ":" not in digest:
        raise ContainerError(
            f"invalid digest {digest!r}: expected ALGORITHM:HEX",
            step="check digest",
            fix="use a digest like sha256:<64 hex characters>",
        )
    algorithm, _, encoded = digest.partition(":")
    if algorithm not in DIGEST_HEX_LENGTHS:
        raise ContainerError(
            f"invalid digest {digest[:80]!r}: unsupported algorithm {algorithm[:20]!r}",
            step="check digest",
            fix="use sha256 (or sha512)",
        )
    want = DIGEST_HEX_LENGTHS[algorithm]
    if len(encoded) != want or not re.fullmatch(r"[0-9a-f]+", encoded):
        raise ContainerError(
            f"invalid digest {digest[:80]!r}: {algorithm} needs exactly {want} lower-case hex characters",
            step="check digest",
            fix="copy the full digest, e.g. from `minicontainer images --digests`",
        )
    return digest


@dataclass(frozen=True)
class Reference:
    """A fully qualified image reference: registry, repository, and a tag and/or a digest."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """registry/repository, e.g. docker.io/library/busybox."""
        return f"{self.registry}/{self.repository}"

    @property
    def identifier(self) -> str:
        """What to ask the registry for: the digest if there is one (it wins), else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def api_host(self) -> str:
        """The host:port the distribution API is served on (docker.io -> registry-1.docker.io)."""
        return DOCKER_HUB_API_HOST if self.registry == DEFAULT_REGISTRY else self.registry

    @property
    def familiar(self) -> str:
        """The short form Docker prints: busybox:latest, myuser/app:1, localhost:5000/x:y."""
        name = self.repository
        if self.registry == DEFAULT_REGISTRY:
            if name.startswith("library/") and name.count("/") == 1:
                name = name[len("library/"):]
        else:
            name = f"{self.registry}/{name}"
        return name + self._suffix()

    def _suffix(self) -> str:
        text = f":{self.tag}" if self.tag else ""
        return text + (f"@{self.digest}" if self.digest else "")

    def with_digest(self, digest: str) -> "Reference":
        """The same repository pinned to `digest` (the tag is kept for display)."""
        return replace(self, digest=validate_digest(digest))

    def with_tag(self, tag: str) -> "Reference":
        """The same repository with another tag and no digest."""
        if not valid_tag(tag):
            raise _bad(tag, "a tag is up to 128 characters of letters, digits, '_', '.', '-', not starting with '.' or '-'")
        return replace(self, tag=tag, digest=None)

    def __str__(self) -> str:
        return self.name + self._suffix()


def split_registry(name: str) -> tuple[str, str]:
    """Split a name into (registry, repository) the way Docker does, without validating them.

    The first component is a registry only if it has a '.' or ':' or is 'localhost'
    (or has upper-case letters, which a repository cannot have; Docker does the same).
    """
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        registry, repository = first, rest
    else:
        registry, repository = DEFAULT_REGISTRY, name
    if registry == LEGACY_REGISTRY:
        registry = DEFAULT_REGISTRY
    if registry == DEFAULT_REGISTRY and "/" not in repository:
        repository = f"library/{repository}"
    return registry, repository


def parse_reference(text: str) -> Reference:
    """Parse an image reference, filling in docker.io, library/ and :latest as Docker does."""
    if not isinstance(text, str) or not text:
        raise _bad(str(text), "it is empty")
    if text != text.strip() or any(c.isspace() for c in text):
        raise _bad(text, "it contains white space")
    remainder, at, digest = text.partition("@")
    if at:
        try:
            validate_digest(digest)
        except ContainerError as exc:
            raise _bad(text, exc.message) from None
    else:
        digest = None
    # A tag is what follows the last ':' if no '/' comes after it (a ':' before a '/' is a port).
    name, tag = remainder, None
    colon = remainder.rfind(":")
    if colon > remainder.rfind("/"):
        name, tag = remainder[:colon], remainder[colon + 1 :]
        if not valid_tag(tag):
            raise _bad(text, f"bad tag {tag!r} (up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-')")
    if not name:
        raise _bad(text, "the repository name is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise _bad(text, f"the name is longer than {MAX_NAME_LENGTH} characters")
    registry, repository = split_registry(name)
    if registry != DEFAULT_REGISTRY and not _DOMAIN_RE.match(registry):
        raise _bad(text, f"bad registry host {registry!r}")
    if repository != repository.lower() and _PATH_RE.match(repository.lower()):
        raise _bad(text, "repository names must be lower case")
    if not _PATH_RE.match(repository):
        raise _bad(
            text,
            "a repository is lower-case letters and digits, separated by '/', '.', '_', '__' or '-'",
        )
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(registry=registry, repository=repository, tag=tag, digest=digest)
