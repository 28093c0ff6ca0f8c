"""The cache of `run IMAGE`'s lookup (image/run.py): same answers as the store, misses when anything changed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from minicontainer.image.config import DEFAULT_PATH

from image_helpers import default_store, variant
from minicontainer import quickjson
from minicontainer.image import Store
from minicontainer.image import run as image_run
from minicontainer.image.run import cache_file, for_run


@pytest.fixture
def store(paths) -> Store:
    return default_store(paths)



def _cached_names(paths) -> list[str]:
    return list(quickjson.loads(Path(cache_file(paths)).read_text())["images"])


def _miss_counter(monkeypatch) -> list[str]:
    """Counts the full lookups through the store (the misses)."""
    misses: list[str] = []
    real = image_run._lookup_in_store

    def counting(paths, image, index):
        misses.append(image)
        return real(paths, image, index)

    monkeypatch.setattr(image_run, "_lookup_in_store", counting)
    return misses


def test_a_hit_gives_what_the_store_gives(store, paths, monkeypatch):
    misses = _miss_counter(monkeypatch)
    first = for_run(paths, "busybox", ["echo", "hi"])
    assert misses == ["busybox"] and _cached_names(paths) == ["busybox"]
    second = for_run(paths, "busybox", ["echo", "hi"])
    assert misses == ["busybox"], "the second lookup should have been a cache hit"
    assert second == first
    resolved = store.resolve("busybox")
    assert first.name == "localhost/busybox:latest" and first.manifest_digest == resolved.manifest_digest
    assert first.layers == [str(d) for d in store.layer_dirs(resolved)]
    assert first.argv == ["echo", "hi"] and for_run(paths, "busybox", []).argv == ["sh"]
    assert for_run(paths, "busybox", ["x"], "printf").argv == ["printf", "x"]
    assert misses == ["busybox"]


def test_retagging_the_name_misses_and_gives_the_new_image(store, paths, monkeypatch):
    variant(store, "app:1", Cmd=["echo", "one"])
    assert for_run(paths, "app:1", []).argv == ["echo", "one"]
    misses = _miss_counter(monkeypatch)
    new_digest = variant(store, "app:1", Cmd=["echo", "two"], Env=["A=b"], WorkingDir="/tmp", User="1:1")
    got = for_run(paths, "app:1", [])
    assert misses == ["app:1"]
    assert (got.manifest_digest, got.argv, got.env, got.workdir, got.user) == (
        new_digest, ["echo", "two"], ["A=b", f"PATH={DEFAULT_PATH}"], "/tmp", "1:1")  # (Docker adds PATH too)
    assert for_run(paths, "app:1", []) == got and misses == ["app:1"]


def test_removing_a_name_makes_it_unknown_again(store, paths):
    variant(store, "gone:1", Cmd=["true"])
    assert for_run(paths, "gone:1", []) is not None
    store.remove("localhost/gone:1")
    assert for_run(paths, "gone:1", []) is None


def test_a_removed_layer_dir_forces_a_miss_that_unpacks_it_again(store, paths, monkeypatch):
    first = for_run(paths, "busybox", [])
    shutil.rmtree(first.layers[-1])
    misses = _miss_counter(monkeypatch)
    again = for_run(paths, "busybox", [])
    assert misses == ["busybox"] and again == first and os.path.isdir(again.layers[-1])


def test_a_removed_blob_forces_a_miss(store, paths, monkeypatch):
    """A name@digest run needs only the manifest blob: when gc removes it, the cache must not answer."""
    digest = variant(store, "pinned:1", Cmd=["true"])
    name = f"localhost/pinned@{digest}"
    assert for_run(paths, name, []).manifest_digest == digest
    store.untag("localhost/pinned:1")
    assert for_run(paths, name, []).manifest_digest == digest     # untagged, but the blobs are still there
    store.blob_path(digest).unlink()
    misses = _miss_counter(monkeypatch)
    assert for_run(paths, name, []) is None and misses == [name]


@pytest.mark.parametrize("garbage", [b"", b"{not json", b"[]", b'{"version": 1, "index": 3, "images": {}}',
                                     b"\xff\xfe\x00", None])
def test_a_corrupt_cache_is_ignored_and_rewritten(store, paths, monkeypatch, garbage):
    good = for_run(paths, "busybox", [])
    index = quickjson.loads(Path(cache_file(paths)).read_text())["index"]
    if garbage is None:  # right index text, an answer of the wrong shape
        garbage = quickjson.dumps({"version": 1, "index": index, "images": {"busybox": {"layers": 5}}}).encode()
    Path(cache_file(paths)).write_bytes(garbage)
    misses = _miss_counter(monkeypatch)
    assert for_run(paths, "busybox", []) == good and misses == ["busybox"]
    assert _cached_names(paths) == ["busybox"]
    assert for_run(paths, "busybox", []) == good and misses == ["busybox"]


def test_an_unwritable_cache_only_costs_the_cache(store, paths):
    os.makedirs(os.path.dirname(cache_file(paths)), exist_ok=True)
    os.mkdir(cache_file(paths))  # a directory where the file should be: writing fails with an OSError
    assert for_run(paths, "busybox", []).argv == ["sh"]
    assert os.listdir(os.path.dirname(cache_file(paths))) == ["run.json"]  # no temporary file left


def test_no_store_is_none_and_sweep_removes_unfinished_cache_files(paths, store):
    from minicontainer.image import sweep

    os.makedirs(os.path.dirname(cache_file(paths)), exist_ok=True)
    leftover = cache_file(paths) + ".12345.tmp"
    Path(leftover).write_text("{")
    assert any(leftover in line for line in sweep(paths)) and not os.path.exists(leftover)
    shutil.rmtree(paths.lib_dir / "images")
    assert for_run(paths, "busybox", []) is None


def test_a_hit_imports_neither_the_store_nor_pathlib_re_json_typing(store, paths):
    for_run(paths, "busybox", [])  # warm the cache
    root = str(Path(image_run.__file__).parents[2])
    code = (f"import sys; sys.path.insert(0, {root!r})\n"
            "from minicontainer.paths import Paths\n"
            "from minicontainer.image.run import for_run\n"
            f"got = for_run(Paths({paths.lib_root!r}, {paths.run_root!r}), 'busybox', ['true'])\n"
            "assert got.argv == ['true'], got\n"
            "print(' '.join(sorted(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    loaded = set(out.stdout.split())
    heavy = {"minicontainer.image.store", "minicontainer.image.manifest", "minicontainer.reference", "pathlib",
             "re", "json", "typing", "enum", "functools", "collections", "contextlib", "dataclasses"}
    assert loaded & heavy == set()
    assert "minicontainer.image.run" in loaded
