"""Checks for lesson 04 (union filesystems). Run them with `make check EX=04`, or `check("4.2")` in the notebook.

The checks compare your answers with the kernel: they mount real overlays (as root) in a temporary
directory and unmount them before they finish.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from minicontainer import unionfs, unionmodel


def make_layers(base: Path) -> list[Path]:
    """Three small layers: a base, an update (changes, a whiteout), a top with an opaque dir."""
    l0, l1, l2 = base / "l0", base / "l1", base / "l2"
    for path, text in {"etc/passwd": "root\n", "etc/motd": "hi\n", "var/log/old.log": "x", "var/cache/a": "a",
                       "bin/sh": "#!"}.items():
        (l0 / path).parent.mkdir(parents=True, exist_ok=True)
        (l0 / path).write_text(text)
    (l1 / "etc").mkdir(parents=True)
    (l1 / "etc/passwd").write_text("root\nlearner\n")
    unionmodel.make_whiteout(l1 / "etc/motd")
    (l1 / "var/log").mkdir(parents=True)
    (l1 / "var/log/new.log").write_text("y")
    (l2 / "var/cache").mkdir(parents=True)
    unionmodel.make_opaque(l2 / "var/cache")
    (l2 / "var/cache/b").write_text("b")
    unionmodel.make_whiteout(l2 / "bin")
    return [l0, l1, l2]


def kernel_upper(upper: Path) -> dict[str, str]:
    """The real upper dir as {path: "file" | "dir" | "whiteout" | "opaque dir"}."""
    out = {}
    for path, e in unionmodel.scan(upper).items():
        if e.kind == "other" and e.rdev == 0:
            out[path] = "whiteout"
        elif e.kind == "dir":
            out[path] = "opaque dir" if unionmodel.is_opaque(e.source) else "dir"
        else:
            out[path] = e.kind
    return out


@pytest.mark.exercise("4.1")
def test_options_list_the_highest_layer_first(ex):
    got = ex.overlay_options([Path("/l/base"), Path("/l/mid"), Path("/l/top")], Path("/c/upper"), Path("/c/work"))
    want = "lowerdir=/l/top:/l/mid:/l/base,upperdir=/c/upper,workdir=/c/work"
    assert got == want, f"overlay_options([base, mid, top], upper, work) returned {got!r}; expected {want!r}"


@pytest.mark.exercise("4.1")
def test_options_mount_for_real(ex, tmp_path):
    layers = make_layers(tmp_path)
    upper, work, target = tmp_path / "upper", tmp_path / "work", tmp_path / "merged"
    for d in (upper, work, target):
        d.mkdir()
    options = ex.overlay_options(layers, upper, work)
    unionfs._mount_overlay(options, target)
    try:
        passwd = (target / "etc/passwd").read_text()
    finally:
        unionfs._umount(target)
    assert passwd == "root\nlearner\n", f"with your options, etc/passwd reads {passwd!r}: is the top layer first?"


@pytest.mark.exercise("4.2")
def test_merge_matches_the_kernel(ex, tmp_path):
    layers = make_layers(tmp_path)
    got = ex.merge(layers)
    with unionfs.mount_rootfs(layers, tmp_path / "c", driver="overlay") as m:
        kernel = set(unionmodel.scan(m.target))
    assert isinstance(got, dict), f"merge() returned {type(got).__name__}; expected a dict {{path: layer index}}"
    missing, extra = sorted(kernel - set(got)), sorted(set(got) - kernel)
    assert not missing and not extra, f"merge() differs from the kernel: missing {missing}, should not show {extra}"


@pytest.mark.exercise("4.2")
def test_merge_names_the_providing_layer(ex, tmp_path):
    layers = make_layers(tmp_path)
    got = ex.merge(layers)
    want = {p: e.layer for p, e in unionmodel.merge(layers).entries.items()}
    wrong = {p: (got.get(p), want[p]) for p in want if got.get(p) != want[p]}
    assert not wrong, f"merge() gave the wrong layer for {{path: (yours, expected)}}: {wrong}"


OPS = [
    [("write", "etc/passwd")],
    [("write", "etc/new.conf"), ("delete", "etc/motd")],
    [("delete", "var"), ("mkdir", "var"), ("write", "var/fresh")],
    [("write", "tmp/scratch"), ("delete", "tmp/scratch"), ("mkdir", "home"), ("write", "home/notes")],
    [("delete", "var/log/old.log"), ("write", "var/log/new.log"), ("delete", "bin")],
]


def _apply(root: Path, ops: list[tuple[str, str]]) -> None:
    for op, path in ops:
        p = root / path
        if op == "write":
            p.parent.mkdir(parents=True, exist_ok=True)
            with open(p, "a") as f:
                f.write("x")
        elif op == "delete":
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        else:
            p.mkdir()


@pytest.mark.exercise("4.3")
@pytest.mark.parametrize("number", range(len(OPS)))
def test_predicted_upper_dir_matches_the_kernel(ex, tmp_path, number):
    base = tmp_path / "lower"
    for path, text in {"etc/passwd": "root\n", "etc/motd": "hi\n", "var/log/old.log": "x",
                       "var/log/new.log": "y", "bin/sh": "#!"}.items():
        (base / path).parent.mkdir(parents=True, exist_ok=True)
        (base / path).write_text(text)
    lower = {p: e.kind for p, e in unionmodel.scan(base).items()}
    ops = OPS[number]
    got = ex.predict_upper(lower, ops)
    with unionfs.mount_rootfs([base], tmp_path / "c", driver="overlay") as m:
        _apply(m.target, ops)
        want = kernel_upper(m.upper)
    assert got == want, f"predict_upper(lower, {ops}) returned {got}; the kernel's upper dir holds {want}"


@pytest.mark.exercise("4.4")
def test_deleted_paths_are_the_whiteouts(ex, tmp_path):
    layers = make_layers(tmp_path)
    with unionfs.mount_rootfs(layers, tmp_path / "c", driver="overlay") as m:
        os.unlink(m.target / "etc/passwd")
        shutil.rmtree(m.target / "var/log")
        (m.target / "new").write_text("n")
        got = ex.deleted_paths(m.upper)
    assert got == ["etc/passwd", "var/log"], f"deleted_paths(upper) returned {got!r}; expected ['etc/passwd', 'var/log']"
