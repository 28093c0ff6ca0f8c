# Your exercises for lesson 05-images. Replace each `raise NotImplementedError(...)` with your code.
# Check your work with `make check EX=05` (or the check cells in notebooks/05-images.ipynb).
# This file was generated from the instructors' solutions by `make exercises`.

"""Lesson 05: images as data: digests, an OCI layout read by hand, safe paths, whiteouts, Docker's command rule.

Each function below is one step of the lesson. The package keeps its own versions in
minicontainer/image/ (digest.py, store.py, unpack.py, config.py): compare yours with them when you are done.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import stat
from pathlib import Path


def blob_digest(data: bytes) -> str:
    """Exercise 5.1: the OCI digest of some bytes: "sha256:" followed by the 64 hex characters
    of their SHA-256 hash. This is the name of every blob: manifests, configs and layers."""
    raise NotImplementedError('Exercise 5.1: "sha256:" + hashlib.sha256(data).hexdigest()')


def read_image(layout: Path, ref_name: str) -> tuple[dict, list[str]]:
    """Exercise 5.2: read an image from an OCI image layout directory, by hand.
    index.json lists manifests; the one whose annotations["org.opencontainers.image.ref.name"]
    equals `ref_name` is ours. Its blob (layout/blobs/sha256/<hex>) is the manifest, whose
    "config" descriptor names the config blob and whose "layers" list the layer blobs.
    Return (the config as a dict, the list of layer digests, bottom first). Raise KeyError if
    no manifest has that name. Check each blob you read against its digest (use blob_digest)
    and raise ValueError if one does not match."""
    raise NotImplementedError('Exercise 5.2: json.loads index.json; find the entry by its ref.name annotation; read blobs/sha256/<hex> for the manifest, then its config; verify each with blob_digest')


def safe_join(root: Path, name: str) -> Path:
    """Exercise 5.3: where a tar entry called `name` goes inside the layer directory `root`.
    An absolute name ("/etc/passwd") is confined: it lands at root/etc/passwd. Ignore "" and "."
    components. If any component is "..", raise ValueError: the entry tries to climb out.
    (The package also refuses writes through symlinks, which needs file descriptors: see unpack.py.)"""
    raise NotImplementedError('Exercise 5.3: split name on "/", drop "" and "."; if ".." in the parts raise ValueError; else return Path(root).joinpath(*parts)')


def apply_whiteout(root: Path, entry_name: str) -> bool:
    """Exercise 5.4: turn one OCI whiteout entry of a layer into what overlayfs understands.
    - ".../.wh..wh..opq" (opaque): set the extended attribute trusted.overlay.opaque = b"y" on the
      directory that holds it (root/...), creating the directory if needed.
    - ".../.wh.NAME": create a character device with device number 0/0 at root/.../NAME
      (os.mknod(path, stat.S_IFCHR, os.makedev(0, 0))), creating parent directories if needed.
    - any other name: do nothing.
    Return True if the entry was a whiteout, False otherwise."""
    raise NotImplementedError('Exercise 5.4: dirname/basename with posixpath; basename ".wh..wh..opq" -> os.setxattr(dir, "trusted.overlay.opaque", b"y"); basename ".wh.X" -> os.mknod(dir / X, stat.S_IFCHR, os.makedev(0, 0))')


def command_line(entrypoint: list[str] | None, cmd: list[str] | None, args: list[str],
                 entrypoint_override: str | None = None) -> list[str]:
    """Exercise 5.5: the command a container runs, by Docker's rules.
    - `--entrypoint E` given: [E] + args (the image's Cmd is dropped too);
    - else, args given: the image's Entrypoint + args (args replace Cmd);
    - else: Entrypoint + Cmd.
    None counts as empty. If the result is empty, raise ValueError("no command specified")."""
    raise NotImplementedError('Exercise 5.5: if entrypoint_override is not None: [override] + args; elif args: (entrypoint or []) + args; else (entrypoint or []) + (cmd or []); empty -> ValueError')
