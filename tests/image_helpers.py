"""Helpers for the image tests: build tars entry by entry, describe a tree for comparison, and a
private store holding the default image and variants of it."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

from minicontainer.image import Store, prepare_default_image
from minicontainer.image.mutate import base_state, write_image
from minicontainer.paths import Paths


def make_tar(entries: list[dict]) -> bytes:
    """A tar from dicts: {name, type: file|dir|symlink|hardlink|char|fifo, data, target, mode}."""
    types = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
             "hardlink": tarfile.LNKTYPE, "char": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e["name"])
            info.type = types[e.get("type", "file")]
            info.mode = e.get("mode", 0o755 if info.type == tarfile.DIRTYPE else 0o644)
            info.linkname = e.get("target", "")
            info.uid = e.get("uid", 0)
            info.gid = e.get("gid", 0)
            data = e.get("data", b"")
            info.size = len(data) if info.type == tarfile.REGTYPE else 0
            if "pax" in e:
                info.pax_headers = e["pax"]
            tar.addfile(info, io.BytesIO(data) if info.size else None)
    return out.getvalue()


def describe_tree(root: Path) -> dict[str, tuple]:
    """path -> (type, mode, uid, gid, content sha256 or link target) for every entry under root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = os.lstat(path)
            rel = str(path.relative_to(root))
            if stat.S_ISREG(st.st_mode):
                what = hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                what = os.readlink(path)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                what = st.st_rdev
            else:
                what = ""
            out[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, what)
    return out


def default_store(paths: Paths) -> Store:
    """A store under `paths` holding the course's default image (localhost/busybox:latest)."""
    prepare_default_image(paths)
    return Store(paths)


def variant(store: Store, tag: str, **config) -> str:
    """Store the default image with some config fields changed under `tag`; returns its manifest digest."""
    layers, full = base_state(store.resolve("localhost/busybox:latest"))
    full["config"].update(config)
    write_image(store, layers, full, tag)
    return store.resolve(tag).manifest_digest
