# Your exercises for lesson 04-union-filesystems. Replace each `raise NotImplementedError(...)` with your code.
# Check your work with `make check EX=04` (or the check cells in notebooks/04-union-filesystems.ipynb).
# This file was generated from the instructors' solutions by `make exercises`.

"""Lesson 04: union filesystems. Mount options, the merge rules, and what lands in the upper dir.

Each function below is one step of the lesson. The package keeps its own versions in
minicontainer/unionfs.py (the mount) and minicontainer/unionmodel.py (the merge rules and diff):
compare yours with them when you are done.

Layers are listed bottom first, like an image manifest: layers[0] is the base layer.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

OPAQUE_XATTR = "trusted.overlay.opaque"


def is_whiteout(path: Path) -> bool:
    """Given: a whiteout is a character device with device number 0/0."""
    st = os.lstat(path)
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: Path) -> bool:
    """Given: a directory whose xattr trusted.overlay.opaque is b"y" hides the layers below it."""
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def overlay_options(lowers: list[Path], upper: Path, work: Path) -> str:
    """Exercise 4.1: the option string for `mount -t overlay`, e.g.
    "lowerdir=/l/top:/l/base,upperdir=/c/upper,workdir=/c/work".
    `lowers` is bottom first; the kernel wants lowerdir *highest first*, separated by ':'."""
    raise NotImplementedError('Exercise 4.1: reverse the layers, join them with \':\', then add ",upperdir=...,workdir=..."')


def merge(layers: list[Path]) -> dict[str, int]:
    """Exercise 4.2: the union view without mounting. Return {path: index of the layer that provides it}
    for every path the merged tree shows ("etc", "etc/passwd", ...: relative, no leading slash).

    Apply the layers bottom first, each over the result so far, walking each layer top-down:
      - a whiteout (is_whiteout) removes the path and everything under it;
      - a directory that is opaque (is_opaque), or that replaces a non-directory, removes what was
        under that path before; a plain directory over a directory keeps what was under it;
      - anything else replaces the path (and whatever was under it)."""
    raise NotImplementedError('Exercise 4.2: for each layer (index i), os.walk it top-down; for each name apply the three rules to a dict {path: i}')


def predict_upper(lower: dict[str, str], ops: list[tuple[str, str]]) -> dict[str, str]:
    """Exercise 4.3: predict the container's upper dir. `lower` describes the layers' merged tree as
    {path: "file" or "dir"}; `ops` are done in the container, in order:

        ("write", path)   write a file (an existing one, or a new one)
        ("delete", path)  remove a file, or a directory with everything in it (rm -rf)
        ("mkdir", path)   create a directory

    Return the upper dir as {path: kind}, kind one of "file", "dir", "whiteout", "opaque dir".
    Rules: writing copies the file up, and its parent directories too (as plain "dir");
    deleting something the lower layers have leaves a "whiteout" (and nothing under it), while
    deleting something only the upper dir has just removes it; mkdir over a whiteout makes an
    "opaque dir"."""
    raise NotImplementedError('Exercise 4.3: keep a dict upper; write -> parents "dir" + "file"; delete -> drop path+children, "whiteout" if in lower; mkdir -> "opaque dir" if upper[path] is a whiteout')


def deleted_paths(upper: Path) -> list[str]:
    """Exercise 4.4: what did the container delete? Return the sorted paths (relative to `upper`)
    of every whiteout in the upper dir: those are the paths `commit` must delete from the image."""
    raise NotImplementedError('Exercise 4.4: os.walk(upper) and keep the names for which is_whiteout() is true')
