"""From an image name to what `run` needs: layer directories and the process (lesson 05).

`container.validate()` calls `for_run()` when IMAGE is a name rather than a directory. The
image's layers are unpacked once into the store (shared by every container of every image that
has them) and stacked bottom first by unionfs; the image's config supplies what the user did not
say on the command line, by Docker's rules (config.py): Entrypoint/Cmd, Env, WorkingDir, User.

A cache for `run`. Finding this in the store (store.py) means reading index.json, the manifest
and the config, and importing the code that parses them: json, pathlib, typing, reference.py
(which needs re) ... about 10 ms of `run busybox`, a third of runc's whole run. Docker and
containerd do not parse their image store on every run either: Docker keeps
/var/lib/docker/image/overlay2/repositories.json (name -> image ID) and a `layerdb` (layer ->
its overlay2 directory), containerd a metadata database (bolt) of images and snapshots. Our store
is a plain OCI layout that skopeo and umoci read, so we keep the answer next to it instead:

  <lib_dir>/cache/run.json   (not in images/: that directory belongs to the OCI layout)
    {"version": 1, "index": <the exact text of images/index.json the answers were computed from>,
     "images": {"busybox": {"name", "manifest_digest", "layers": [dir, ...], "blobs": {path: exists},
                            "entrypoint", "cmd", "env", "workdir", "user"}, ...}}

Why it is safe. The answer for a name depends on:
  - index.json, the only file of the store that changes (it maps names to manifest digests):
    the cache holds its whole text and is used only if the file still has exactly that text;
  - blobs (manifest, config), named by the sha256 of their content, so a blob can appear or
    disappear but never change: the cache notes which blob files the lookup opened or looked
    for, and is used only if each is still there (or still missing);
  - the unpacked layer directories: each must still be a directory.
Anything else is a miss: the full lookup through the store runs and rewrites the cache (written
to a temporary file and renamed, so a reader sees the old or the new file, never half of one; a
corrupt or unreadable cache is a miss too). A user who cannot write lib_dir simply gets no cache.
On a hit `run` reads two small files and imports only quickjson, config.py and record.py.
"""

from __future__ import annotations

import os

from ..atomic import write_atomic
from ..paths import Paths
from ..quickjson import dumps, loads  # json's C parser without json and re: saves ~8 ms a run (bench/bench_start_tricks.py)
from ..record import Record  # a dataclass without importing dataclasses: saves ~13 ms a run (bench/bench_start_tricks.py)

CACHE_VERSION = 1
MAX_CACHED_NAMES = 64  # the oldest answers go first; the whole cache starts again when index.json changes


class ImageRun(Record):
    """What an image contributes to a container."""

    name: str                 # the full name it resolved to
    manifest_digest: str
    layers: list[str]         # unpacked layer dirs, bottom first
    argv: list[str]
    env: list[str]            # the image's Env (the user's -e values go on top)
    workdir: str
    user: str


def cache_file(paths: Paths) -> str:
    return os.path.join(paths.lib_root, "cache", "run.json")


def for_run(paths: Paths, image: str, args: list[str], entrypoint: str | None = None) -> ImageRun | None:
    """Resolve `image` in the store; None if the store does not have it (the caller decides)."""
    index_file = os.path.join(paths.lib_root, "images", "index.json")
    try:
        with open(index_file, "rb") as f:
            index = f.read().decode("latin-1")  # any bytes -> str and back, exactly
    except (FileNotFoundError, NotADirectoryError):
        return None  # no store yet
    except OSError:
        index = None  # e.g. not readable by this user: the store says what is wrong (no cache)
    cache = _read_cache(paths)
    if index is None or cache.get("index") != index:
        cache = {"version": CACHE_VERSION, "index": index, "images": {}}
    answer = cache["images"].get(image)
    if not _still_valid(answer):
        answer = _lookup_in_store(paths, image, index)
        if answer is None:
            return None
        if index is not None:
            images = cache["images"]
            images.pop(image, None)
            while len(images) >= MAX_CACHED_NAMES:
                del images[next(iter(images))]
            images[image] = answer
            _write_cache(paths, cache)

    from .config import command_line

    return ImageRun(
        name=answer["name"],
        manifest_digest=answer["manifest_digest"],
        layers=list(answer["layers"]),
        argv=command_line(answer["entrypoint"], answer["cmd"], args, entrypoint),
        env=list(answer["env"]),
        workdir=answer["workdir"],
        user=answer["user"],
    )


def _read_cache(paths: Paths) -> dict:
    """The cache file's content, or {} if it is missing, unreadable, corrupt or of another version."""
    try:
        with open(cache_file(paths), "rb") as f:
            cache = loads(f.read())
        if cache["version"] == CACHE_VERSION and isinstance(cache["index"], str) and isinstance(cache["images"], dict):
            return cache
    except (OSError, ValueError, TypeError, KeyError):
        pass
    return {}


def _still_valid(answer: object) -> bool:
    """Are the blobs the answer was found with, and its layer dirs, as they were? (A wrong shape: no.)"""
    try:
        return (all(os.path.isfile(path) == bool(present) for path, present in answer["blobs"].items())
                and all(os.path.isdir(d) for d in answer["layers"])
                and all(isinstance(answer[k], str) for k in ("name", "manifest_digest", "workdir", "user"))
                and isinstance(answer["env"], list))
    except (TypeError, KeyError, AttributeError):
        return False


def _write_cache(paths: Paths, cache: dict) -> None:
    """Replace the cache file atomically (temporary file + rename); no cache if lib_dir is not writable."""
    target = cache_file(paths)
    try:
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        write_atomic(target, dumps(cache))
    except OSError:
        pass


def _lookup_in_store(paths: Paths, image: str, index: str | None) -> dict | None:
    """The full lookup through the store (the cache miss), as the cache stores it; None if not found.

    It runs against the index.json text we read (not a newer one another process may write in
    between), and notes every blob file it opens or looks for: what the answer depends on.
    """
    from .store import SnapshotStore

    store = SnapshotStore(paths, index)
    found = store.lookup(image)
    if found is None:
        return None
    resolved = store.resolve(image)
    blobs = dict(store.blobs_seen)  # before layer_dirs(), which may read layer blobs to unpack them
    config = resolved.run_config
    return {
        "name": found[0],
        "manifest_digest": resolved.manifest_digest,
        "layers": [str(d) for d in store.layer_dirs(resolved)],
        "blobs": blobs,
        "entrypoint": config.get("Entrypoint"),
        "cmd": config.get("Cmd"),
        "env": list(config.get("Env") or []),
        "workdir": config.get("WorkingDir") or "",
        "user": config.get("User") or "",
    }


def sweep_cache(paths: Paths) -> list[str]:
    """Remove temporary cache files a killed `run` left (the cache itself checks itself on every use)."""
    directory = os.path.dirname(cache_file(paths))
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        if name.endswith(".tmp"):
            try:
                os.unlink(os.path.join(directory, name))
                removed.append(f"removed unfinished {os.path.join(directory, name)}")
            except OSError:
                pass
    return removed
