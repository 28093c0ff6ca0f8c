# Your exercises for lesson 05-images. Replace each `raise NotImplementedError(...)` with your code.
# Check your work with `make check EX=05` (or the check cells in notebooks/05-images.ipynb).
# This file was generated from the instructors' solutions by `make exercises`.

"""Lesson 05: images as data: digests, safe unpacking, whiteouts, and Docker's rules for the process.

Each function below is a step the runtime takes, with the same name and arguments as the package's
own: write_verified in minicontainer/image/digest.py, clean and apply_whiteout in
minicontainer/image/unpack.py, process_from_config in minicontainer/image/config.py.
`minicontainer --yours load -i ARCHIVE` stores and unpacks an image with yours; `minicontainer
--yours run IMAGE` starts what your process_from_config says.
"""

from __future__ import annotations

import hashlib
import os
import stat
from typing import BinaryIO, Iterable

from minicontainer.errors import ContainerError
from minicontainer.image.config import DEFAULT_PATH, ProcessSpec
from minicontainer.image.unpack import LayerError, rmtree_at

OPAQUE_XATTR = "trusted.overlay.opaque"


def write_verified(chunks: Iterable[bytes], out: BinaryIO, expected_digest: str | None,
                   expected_size: int | None) -> tuple[str, int]:
    """Exercise 5.1: every blob the store keeps comes through here. Write each chunk to `out` while
    hashing (sha256) and counting it; return ("sha256:<hex>", size). Stop reading as soon as more
    than `expected_size` bytes came. Raise ContainerError(..., step="verify blob") if the size is not
    `expected_size` or the digest not `expected_digest` (None: that one is not checked). Never hold
    the whole blob in memory: a layer can be gigabytes."""
    raise NotImplementedError('Exercise 5.1: store a blob while checking that it is the one that was asked for')


def clean(name: str, what: str) -> list[str]:
    """Exercise 5.2: where a tar entry called `name` lands inside the layer's root, as a list of path
    components: "etc/passwd" -> ["etc", "passwd"]. An absolute name is confined ("/etc/passwd" lands
    at root/etc/passwd); "" and "." components go ("./bin/./sh" -> ["bin", "sh"]). A ".." anywhere
    is refused: raise LayerError(message, name), the message naming `what` ("entry", "hard link
    target") and the name. (The unpacker then opens the directories one by one, never through a
    symlink: see Tree.dir_fd in unpack.py.)"""
    raise NotImplementedError("Exercise 5.2: where a tar entry lands inside the layer's root (never above it)")


def apply_whiteout(parent: int, name: str) -> bool:
    """Exercise 5.3: turn one OCI whiteout entry of a layer into overlayfs' own marks. `parent` is
    an open file descriptor of the directory the entry is in, `name` the entry's last component.
      - ".wh..wh..opq": the directory hides what lower layers have in it: set the extended attribute
        trusted.overlay.opaque to b"y" on the directory itself (os.setxattr takes an fd);
      - ".wh.NAME": NAME is deleted. Remove what this layer has at NAME (a directory with everything
        in it: rmtree_at(parent, NAME); anything else: unlink), then create a character device with
        device number 0/0 named NAME;
      - ".wh..wh.XXX" (aufs metadata), and ".wh." / ".wh.." / ".wh..." (nothing or . or ..): do nothing;
      - any other name: not a whiteout.
    Return True for a whiteout entry (whatever was done), False otherwise. Work through `parent`
    only (dir_fd=parent, follow_symlinks=False): never look a path up from the root."""
    raise NotImplementedError("Exercise 5.3: turn an OCI whiteout entry into overlayfs' marks, through a directory's fd")


def process_from_config(config: dict, args: list[str] | None = None, entrypoint: list[str] | str | None = None,
                        env: list[str] | None = None, workdir: str | None = None,
                        user: str | None = None) -> ProcessSpec:
    """Exercise 5.4: what `run IMAGE [ARGS]` starts, by Docker's rules, as a ProcessSpec(argv, env,
    cwd, user). `config` is an image config's `config` object ({"Entrypoint", "Cmd", "Env",
    "WorkingDir", "User"}, any may be missing or None), or the whole config JSON with it inside.
      argv: --entrypoint given (a string, or a list): it (empty strings dropped) + args (the image's
            Cmd is dropped too); else args given: the image's Entrypoint + args; else Entrypoint + Cmd.
            Empty: raise ContainerError("no command specified", step="create container").
      env:  the image's Env ("KEY=value" strings) with `env` applied by key, in order; PATH=DEFAULT_PATH
            added at the end if no entry set PATH.
      cwd:  workdir, else the image's WorkingDir, else "/";   user: user if not None, else the image's User or ""."""
    raise NotImplementedError("Exercise 5.4: an image's config and run's arguments become the process: argv, env, cwd, user")
