"""Content addressing: a blob is named by the sha256 of its bytes (lesson 05).

`sha256:` + 64 hex characters names a blob everywhere in the OCI world: in manifests, in the store's
`blobs/sha256/` directory and in registry URLs. Because the name is computed from the content,
a reader can always check that what it got is what was asked for (`DigestWriter` does that while
the bytes stream past, so a wrong blob is refused before anything keeps it).
"""

from __future__ import annotations

import hashlib
from typing import BinaryIO

from ..errors import ContainerError
from ..reference import validate_digest

__all__ = ["sha256_digest", "file_digest", "validate_digest", "hex_of", "DigestWriter"]


def sha256_digest(data: bytes) -> str:
    """The OCI digest of some bytes: 'sha256:<hex>'."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def file_digest(fileobj: BinaryIO, chunk: int = 1 << 20) -> tuple[str, int]:
    """(digest, size) of everything left in a binary file object."""
    h = hashlib.sha256()
    size = 0
    while block := fileobj.read(chunk):
        h.update(block)
        size += len(block)
    return "sha256:" + h.hexdigest(), size


def hex_of(digest: str) -> str:
    """The hex part of a validated sha256 digest (what the blob's file is called)."""
    validate_digest(digest)
    algorithm, _, encoded = digest.partition(":")
    if algorithm != "sha256":
        raise ContainerError(f"unsupported digest algorithm {algorithm!r}", step="store blob",
                             fix="only sha256 blobs are stored")
    return encoded


class DigestWriter:
    """Wrap a writable file: count and hash every byte written, then `verify()` against expectations."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, block: bytes) -> int:
        self.hash.update(block)
        self.size += len(block)
        return self.out.write(block)

    @property
    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()

    def verify(self, expected_digest: str | None, expected_size: int | None, what: str = "blob") -> str:
        """Raise if the size or digest differ from what was expected; return the digest."""
        if expected_size is not None and self.size != expected_size:
            raise ContainerError(f"{what} has {self.size} bytes, expected {expected_size}",
                                 step="verify blob", path=expected_digest or "",
                                 fix="the source is corrupt or truncated: fetch it again")
        if expected_digest is not None and self.digest != expected_digest:
            raise ContainerError(f"{what} has digest {self.digest}, expected {expected_digest}",
                                 step="verify blob", path=expected_digest,
                                 fix="the source is corrupt or was tampered with: fetch it again")
        return self.digest
