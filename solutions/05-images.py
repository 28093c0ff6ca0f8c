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
    ### BEGIN SOLUTION 5.1: store a blob while checking that it is the one that was asked for
    ### HINT: A blob's name is the sha256 of its bytes: hash them as they stream past, and count them; compare both with what was expected at the end, and stop early when there are already too many.
    ### HINT: h = hashlib.sha256(); h.update(chunk) and out.write(chunk) for each chunk; "sha256:" + h.hexdigest() is the digest; raise ContainerError(message, step="verify blob", fix=...).
    ### HINT: for chunk in chunks: h.update(chunk); out.write(chunk); size += len(chunk); if expected_size is not None and size > expected_size: break — then: if expected_size is not None and size != expected_size: raise ...; digest = "sha256:" + h.hexdigest(); if expected_digest is not None and digest != expected_digest: raise ...; return digest, size
    h = hashlib.sha256()
    size = 0
    for chunk in chunks:
        h.update(chunk)
        out.write(chunk)
        size += len(chunk)
        if expected_size is not None and size > expected_size:
            break
    if expected_size is not None and size != expected_size:
        raise ContainerError(f"blob has {size} bytes, expected {expected_size}", step="verify blob",
                             path=expected_digest or "", fix="the source is corrupt or truncated: fetch it again")
    digest = "sha256:" + h.hexdigest()
    if expected_digest is not None and digest != expected_digest:
        raise ContainerError(f"blob has digest {digest}, expected {expected_digest}", step="verify blob",
                             path=expected_digest, fix="the source is corrupt or was tampered with: fetch it again")
    return digest, size
    ### END SOLUTION


def clean(name: str, what: str) -> list[str]:
    """Exercise 5.2: where a tar entry called `name` lands inside the layer's root, as a list of path
    components: "etc/passwd" -> ["etc", "passwd"]. An absolute name is confined ("/etc/passwd" lands
    at root/etc/passwd); "" and "." components go ("./bin/./sh" -> ["bin", "sh"]). A ".." anywhere
    is refused: raise LayerError(message, name), the message naming `what` ("entry", "hard link
    target") and the name. (The unpacker then opens the directories one by one, never through a
    symlink: see Tree.dir_fd in unpack.py.)"""
    ### BEGIN SOLUTION 5.2: where a tar entry lands inside the layer's root (never above it)
    ### HINT: Split the name on '/', keep the components that name something; one that climbs ('..') is refused whatever comes after it, as '..' at the root would not climb but still says what the entry tries.
    ### HINT: name.split("/") gives "" for a leading '/' and for '//'; keep p for p in parts if p not in ("", "."); raise LayerError(f"{what} {name!r} climbs out of the layer with '..'", name).
    ### HINT: parts = [p for p in name.split("/") if p not in ("", ".")]; if ".." in parts: raise LayerError(...); return parts
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise LayerError(f"{what} {name!r} climbs out of the layer with '..'", name)
    return parts
    ### END SOLUTION


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
    ### BEGIN SOLUTION 5.3: turn an OCI whiteout entry into overlayfs' marks, through a directory's fd
    ### HINT: Decide by the name first (opaque marker, a .wh. prefix, or neither), then act in the directory `parent` refers to: every os call that takes a name gets dir_fd=parent.
    ### HINT: os.setxattr(parent, OPAQUE_XATTR, b"y"); os.stat(target, dir_fd=parent, follow_symlinks=False) to see what is there; os.unlink(target, dir_fd=parent) or rmtree_at(parent, target); os.mknod(target, stat.S_IFCHR, os.makedev(0, 0), dir_fd=parent).
    ### HINT: if name == ".wh..wh..opq": setxattr...; return True; if not name.startswith(".wh."): return False; target = name[4:]; if not target or target.startswith(".wh.") or target in (".", ".."): return True; remove what is at target; os.mknod(...); return True
    if name == ".wh..wh..opq":
        os.setxattr(parent, OPAQUE_XATTR, b"y")
        return True
    if not name.startswith(".wh."):
        return False
    target = name[len(".wh."):]
    if not target or target.startswith(".wh.") or target in (".", ".."):
        return True
    try:
        st = os.stat(target, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        st = None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            rmtree_at(parent, target)
        else:
            os.unlink(target, dir_fd=parent)
    os.mknod(target, stat.S_IFCHR, os.makedev(0, 0), dir_fd=parent)
    return True
    ### END SOLUTION


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
    ### BEGIN SOLUTION 5.4: an image's config and run's arguments become the process: argv, env, cwd, user
    ### HINT: Four answers, each by its own rule: the command line (three cases, in order of priority), the environment (a dict by key keeps the order and lets a later value win), then the two defaults.
    ### HINT: c = config.get("config", config) if "rootfs" in config else config; c.get("Entrypoint") or []; [entrypoint] if isinstance(entrypoint, str); key, _, value = item.partition("="); env_dict.setdefault("PATH", DEFAULT_PATH).
    ### HINT: argv = ([e for e in override if e != ""] + args) if entrypoint is not None else (ep + args) if args else (ep + cmd); if not argv: raise ContainerError(...); return ProcessSpec(argv=argv, env=[f"{k}={v}" for k, v in merged.items()], cwd=workdir or c.get("WorkingDir") or "/", user=user if user is not None else c.get("User") or "")
    c = (config.get("config", config) if "rootfs" in config else config) or {}
    args = list(args or [])
    image_entrypoint, image_cmd = list(c.get("Entrypoint") or []), list(c.get("Cmd") or [])
    if entrypoint is not None:
        override = [entrypoint] if isinstance(entrypoint, str) else list(entrypoint)
        argv = [a for a in override if a != ""] + args
    elif args:
        argv = image_entrypoint + args
    else:
        argv = image_entrypoint + image_cmd
    if not argv:
        raise ContainerError("no command specified", step="create container",
                             fix="give a command after the image name, or build the image with CMD or ENTRYPOINT")
    merged: dict[str, str] = {}
    for item in list(c.get("Env") or []) + list(env or []):
        key, _, value = item.partition("=")
        merged[key] = value
    merged.setdefault("PATH", DEFAULT_PATH)
    return ProcessSpec(argv=argv, env=[f"{k}={v}" for k, v in merged.items()],
                       cwd=workdir or c.get("WorkingDir") or "/",
                       user=user if user is not None else (c.get("User") or ""))
    ### END SOLUTION
