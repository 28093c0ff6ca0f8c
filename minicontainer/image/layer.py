"""Writing a layer: a directory tree as a tar, deletions as OCI whiteouts (lesson 05).

The reverse of unpack.py. `commit` turns a container's overlay upper directory into a layer; there,
a deleted file is an overlay whiteout (a 0/0 character device) and a directory that replaced a lower
one carries trusted.overlay.opaque=y. In the image they become `.wh.NAME` and `.wh..wh..opq`
entries, the portable form every runtime understands.

The tar is compressed with gzip while two digests are computed in one pass: the sha256 of the
uncompressed tar (the diff_id, which goes into the config) and of the gzip file (the blob's digest,
which goes into the manifest).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import BinaryIO

from ..unionmodel import is_opaque, is_whiteout  # overlayfs' marks (lesson 04)
from . import mediatypes as mt
from .manifest import Descriptor

# OCI's whiteouts (image-spec layer.md): `.wh.NAME` deletes NAME of the layers below, and
# `.wh..wh..opq` in a directory hides everything the layers below put in it (unpack.py reads them).
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


class _Sink:
    """A file-like object for tarfile: hashes the tar, gzips it, hashes and writes the gzip."""

    def __init__(self, out: BinaryIO, compress: bool) -> None:
        self.out = out
        self.diff = hashlib.sha256()
        self.blob = hashlib.sha256()
        self.size = 0
        self.z = zlib.compressobj(6, zlib.DEFLATED, 31) if compress else None

    def _emit(self, data: bytes) -> None:
        if data:
            self.blob.update(data)
            self.size += len(data)
            self.out.write(data)

    def write(self, data: bytes) -> int:
        self.diff.update(data)
        self._emit(self.z.compress(data) if self.z else bytes(data))
        return len(data)

    def finish(self) -> None:
        if self.z:
            self._emit(self.z.flush())


def tar_tree(root: Path, tar: tarfile.TarFile, overlay: bool = False, prefix: str = "") -> None:
    """Add everything under root to tar, sorted; with overlay=True, translate overlay whiteouts."""
    hardlinks: dict[tuple[int, int], str] = {}

    def add(path: Path, name: str) -> None:
        st = os.lstat(path)
        if overlay and is_whiteout(st):
            info = tarfile.TarInfo(_join(os.path.dirname(name), WHITEOUT + os.path.basename(name)))
            info.mtime = int(st.st_mtime)
            tar.addfile(info)
            return
        info = tar.gettarinfo(str(path), arcname=name)
        info.uname = info.gname = ""
        info.mtime = int(st.st_mtime)      # whole seconds: no PAX header needed for most entries
        key = (st.st_dev, st.st_ino)
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            if key in hardlinks:
                info.type = tarfile.LNKTYPE
                info.linkname = hardlinks[key]
                info.size = 0
                tar.addfile(info)
                return
            hardlinks[key] = name
        if info.isreg():
            with open(path, "rb") as f:
                tar.addfile(info, f)
        else:
            tar.addfile(info)
        if stat.S_ISDIR(st.st_mode):
            if overlay and is_opaque(path):
                opq = tarfile.TarInfo(_join(name, OPAQUE))
                opq.mtime = int(st.st_mtime)
                tar.addfile(opq)
            for child in sorted(os.listdir(path)):
                add(path / child, _join(name, child))

    for child in sorted(os.listdir(root)):
        add(root / child, _join(prefix, child))


def _join(a: str, b: str) -> str:
    return f"{a}/{b}" if a else b


def write_layer(store, root: Path, overlay: bool = False, compress: bool = True,
                prefix: str = "") -> tuple[Descriptor, str]:
    """Tar (and gzip) a directory into the store. Returns (layer descriptor, diff_id)."""
    store.ensure()
    fd, tmp_name = tempfile.mkstemp(prefix="layer-", dir=store.tmp)
    try:
        with os.fdopen(fd, "wb") as out:
            sink = _Sink(out, compress)
            with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                tar_tree(root, tar, overlay, prefix)
            sink.finish()
        digest = "sha256:" + sink.blob.hexdigest()
        with open(tmp_name, "rb") as f:
            store.write_blob(f, digest, sink.size)
        media_type = mt.OCI_LAYER_GZIP if compress else mt.OCI_LAYER
        return Descriptor(media_type, digest, sink.size), "sha256:" + sink.diff.hexdigest()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
