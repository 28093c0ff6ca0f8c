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
    ### BEGIN SOLUTION 4.1: reverse the layers, join them with ':', then add ",upperdir=...,workdir=..."
    lowerdir = ":".join(str(p) for p in reversed(lowers))
    return f"lowerdir={lowerdir},upperdir={upper},workdir={work}"
    ### END SOLUTION


def merge(layers: list[Path]) -> dict[str, int]:
    """Exercise 4.2: the union view without mounting. Return {path: index of the layer that provides it}
    for every path the merged tree shows ("etc", "etc/passwd", ...: relative, no leading slash).

    Apply the layers bottom first, each over the result so far, walking each layer top-down:
      - a whiteout (is_whiteout) removes the path and everything under it;
      - a directory that is opaque (is_opaque), or that replaces a non-directory, removes what was
        under that path before; a plain directory over a directory keeps what was under it;
      - anything else replaces the path (and whatever was under it)."""
    ### BEGIN SOLUTION 4.2: for each layer (index i), os.walk it top-down; for each name apply the three rules to a dict {path: i}
    result: dict[str, int] = {}
    kinds: dict[str, bool] = {}  # path -> is a directory

    def remove_under(path: str, keep_self: bool) -> None:
        for p in [p for p in result if p == path or p.startswith(path + "/")]:
            if keep_self and p == path:
                continue
            del result[p]
            del kinds[p]

    for index, layer in enumerate(layers):
        for directory, dirnames, filenames in os.walk(layer):
            rel_dir = os.path.relpath(directory, layer)
            for name in sorted(dirnames + filenames):
                full = Path(directory) / name
                path = name if rel_dir == "." else f"{rel_dir}/{name}"
                if is_whiteout(full):
                    remove_under(path, keep_self=False)
                    continue
                is_dir = full.is_dir() and not full.is_symlink()
                if is_dir and path in result and kinds[path] and not is_opaque(full):
                    pass                                  # directories merge
                else:
                    remove_under(path, keep_self=False)
                result[path] = index
                kinds[path] = is_dir
    return result
    ### END SOLUTION


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
    ### BEGIN SOLUTION 4.3: keep a dict upper; write -> parents "dir" + "file"; delete -> drop path+children, "whiteout" if in lower; mkdir -> "opaque dir" if upper[path] is a whiteout
    upper: dict[str, str] = {}

    def copy_up_parents(path: str) -> None:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            upper.setdefault("/".join(parts[:i]), "dir")

    for op, path in ops:
        copy_up_parents(path)
        if op == "write":
            upper[path] = "file"
        elif op == "delete":
            for p in [p for p in upper if p == path or p.startswith(path + "/")]:
                del upper[p]
            if path in lower:
                upper[path] = "whiteout"
        elif op == "mkdir":
            upper[path] = "opaque dir" if upper.get(path) == "whiteout" else "dir"
    return upper
    ### END SOLUTION


def deleted_paths(upper: Path) -> list[str]:
    """Exercise 4.4: what did the container delete? Return the sorted paths (relative to `upper`)
    of every whiteout in the upper dir: those are the paths `commit` must delete from the image."""
    ### BEGIN SOLUTION 4.4: os.walk(upper) and keep the names for which is_whiteout() is true
    found = []
    for directory, dirnames, filenames in os.walk(upper):
        for name in filenames + dirnames:
            if is_whiteout(Path(directory) / name):
                found.append(os.path.relpath(Path(directory) / name, upper))
    return sorted(found)
    ### END SOLUTION
