# Your exercises for lesson 06-registry. Replace each `raise NotImplementedError(...)` with your code.
# Check your work with `make check EX=06` (or the check cells in notebooks/06-registry.ipynb).
# This file was generated from the instructors' solutions by `make exercises`.

"""Lesson 06: registries. Answer the auth challenge, verify a download, read a reference, pick a platform.

Each function below is a step the runtime takes, with the same name and arguments as the package's
own: parse_challenge and token_url in minicontainer/registry/auth.py, receive_blob in
minicontainer/registry/client.py, split_reference in minicontainer/reference.py, select_manifest in
minicontainer/registry/platforms.py. `minicontainer --yours pull NAME` runs yours.
"""

from __future__ import annotations

import re
from typing import BinaryIO, Callable, Iterable
from urllib.parse import urlencode, urlsplit

from minicontainer.errors import ContainerError
from minicontainer.registry.platforms import Platform, is_attestation, normalize

DEFAULT_REGISTRY = "docker.io"


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Exercise 6.1: read a registry's WWW-Authenticate header:
    'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'
    -> ("bearer", {"realm": "https://auth.example/token", "service": "registry.example",
                   "scope": "repository:a/b:pull,push"}).
    The scheme in lower case, then key=value pairs separated by commas (and spaces), keys in lower
    case. A value is "quoted" (it may contain commas, and \\" for a quote) or a bare token
    (up to the next comma or space). 'Basic realm="x"' -> ("basic", {"realm": "x"})."""
    raise NotImplementedError("Exercise 6.1: the scheme and parameters of a registry's WWW-Authenticate challenge")


def token_url(realm: str, params: dict[str, str], scopes: tuple[str, ...]) -> str:
    """Exercise 6.2: where to ask for a token, from the challenge's parameters (6.1):
    realm?service=SERVICE&scope=SCOPE1&scope=SCOPE2..., URL-encoded (urllib.parse.urlencode of a list
    of pairs). No `scopes`: the challenge's own "scope", if it has one. No "service": no service=.
    If the realm has a query already, add to it with '&'. Nothing to add: the realm as it is."""
    raise NotImplementedError("Exercise 6.2: the token server's URL for the scopes a request needs, from a challenge")


def receive_blob(chunks: Iterable[bytes], out: BinaryIO, hasher, have: int, size: int,
                 progress: Callable[[int], None]) -> int:
    """Exercise 6.3: the body of a blob download. Write each chunk to `out` and feed it to `hasher`
    (a hashlib object that already holds the `have` bytes of a resumed download), call
    progress(len(chunk)) for each, and stop reading as soon as more than `size` bytes are there
    (size 0: unknown). Return the number of bytes there are now. (The runtime then compares that
    with the manifest's size and hasher's digest with the blob's name: a wrong blob never enters
    the store. Never hold the blob in memory: a layer can be gigabytes.)"""
    raise NotImplementedError('Exercise 6.3: a blob download, hashed and counted as it streams to disk')


def split_reference(text: str) -> tuple[str, str, str | None, str | None]:
    """Exercise 6.4: split an image reference into (registry, repository, tag, digest) as Docker does.

      busybox                       -> ("docker.io", "library/busybox", "latest", None)
      myuser/app:1                  -> ("docker.io", "myuser/app", "1", None)
      localhost:5000/app            -> ("localhost:5000", "app", "latest", None)
      index.docker.io/alpine        -> ("docker.io", "library/alpine", "latest", None)
      app:1@sha256:<hex>            -> ("docker.io", "library/app", "1", "sha256:<hex>")
      app@sha256:<hex>              -> ("docker.io", "library/app", None, "sha256:<hex>")

    Rules: the digest follows '@'. A tag is what follows the last ':' if no '/' comes after it
    (a ':' before a '/' is a port). The first component is a registry only if it contains '.' or
    ':' or is 'localhost'; otherwise the registry is docker.io. index.docker.io means docker.io.
    On docker.io a one-component name gets 'library/'. No tag and no digest means tag 'latest'.
    (The runtime checks the characters afterwards: parse_reference.)"""
    raise NotImplementedError('Exercise 6.4: an image name split into registry, repository, tag and digest, as Docker reads it')


def select_manifest(index: dict, wanted: Platform) -> dict:
    """Exercise 6.5: the entry of an image index (a parsed OCI index / Docker manifest list:
    {"manifests": [{"digest", "platform": {"os", "architecture", "variant"?}}, ...]}) for the
    platform `wanted` (a Platform, already normalized). Skip attestations (is_attestation) and
    entries without os or architecture; compare normalize(os, architecture, variant) of each entry
    with `wanted` (arm64 means arm64/v8, arm means arm/v7). Return the first matching entry (the
    dict); none: raise ContainerError naming `wanted` and the platforms the index has, step="choose platform"."""
    raise NotImplementedError("Exercise 6.5: the manifest of an image index for this machine's platform")
