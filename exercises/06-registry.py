# Your exercises for lesson 06-registry. Replace each `raise NotImplementedError(...)` with your code.
# Check your work with `make check EX=06` (or the check cells in notebooks/06-registry.ipynb).
# This file was generated from the instructors' solutions by `make exercises`.

"""Lesson 06: registries. Read a reference, verify a download while it streams, pick a platform, find the token URL.

Each function below is one step of the lesson. The package keeps its own versions in
minicontainer/reference.py (parse_reference), minicontainer/registry/client.py (download_blob),
minicontainer/registry/platforms.py (select_manifest) and minicontainer/registry/auth.py
(parse_challenge, Authenticator.fetch_token): compare yours with them when you are done.
"""

from __future__ import annotations

import hashlib
from typing import BinaryIO, Iterable
from urllib.parse import urlencode

DEFAULT_REGISTRY = "docker.io"


def parse_reference(text: str) -> tuple[str, str, str | None, str | None]:
    """Exercise 6.1: split an image reference into (registry, repository, tag, digest) as Docker does.

      busybox                       -> ("docker.io", "library/busybox", "latest", None)
      myuser/app:1                  -> ("docker.io", "myuser/app", "1", None)
      localhost:5000/app            -> ("localhost:5000", "app", "latest", None)
      index.docker.io/alpine        -> ("docker.io", "library/alpine", "latest", None)
      app:1@sha256:<hex>            -> ("docker.io", "library/app", "1", "sha256:<hex>")

    Rules: the digest follows '@'. A tag is what follows the last ':' if no '/' comes after it
    (a ':' before a '/' is a port). The first component is a registry only if it contains '.' or
    ':' or is 'localhost'; otherwise the registry is docker.io. index.docker.io means docker.io.
    On docker.io a one-component name gets 'library/'. No tag and no digest means tag 'latest'.
    (Validation of the characters is not part of this exercise.)"""
    raise NotImplementedError("Exercise 6.1: split off '@digest', then ':tag' (only after the last '/'), then the registry")


def copy_verified(chunks: Iterable[bytes], out: BinaryIO, digest: str, size: int) -> int:
    """Exercise 6.2: write each chunk to `out` while hashing and counting it; return the byte count.

    Raise ValueError as soon as more than `size` bytes arrive, and at the end if the count is not
    `size` or if "sha256:" + the hex digest of everything is not `digest`. Never hold the whole
    blob in memory: a layer can be gigabytes."""
    raise NotImplementedError('Exercise 6.2: h = hashlib.sha256(); for each chunk: h.update, out.write, count (stop early if > size); then compare')


def pick_platform(index: dict, os_name: str, architecture: str, variant: str = "") -> str:
    """Exercise 6.3: the digest of the index entry for this platform.

    `index` is a parsed OCI index / Docker manifest list: {"manifests": [{"digest", "platform":
    {"os", "architecture", "variant"?}}, ...]}. Skip attestations (platform unknown/unknown).
    Compare normalised platforms: arm64 with no variant means arm64/v8, arm with no variant means
    arm/v7 (on both sides). Raise LookupError if no entry matches."""
    raise NotImplementedError('Exercise 6.3: normalise (os, arch, variant or the default v8/v7) on both sides; skip unknown/unknown')


def token_url(challenge: str, repository: str, actions: str = "pull") -> str:
    """Exercise 6.4: the URL to ask for a token, from a WWW-Authenticate header.

      challenge 'Bearer realm="https://auth.example/token",service="registry.example"'
      repository 'team/app', actions 'pull,push'
      -> 'https://auth.example/token?service=registry.example&scope=repository%3Ateam%2Fapp%3Apull%2Cpush'

    Take realm and service from the header (key="value" pairs after 'Bearer '), then add the query
    with urllib.parse.urlencode([("service", ...), ("scope", "repository:NAME:ACTIONS")])."""
    raise NotImplementedError('Exercise 6.4: split \'Bearer \' off, split the rest on \',\' into key="value" pairs, urlencode service and scope')
