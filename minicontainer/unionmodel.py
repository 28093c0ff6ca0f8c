"""The union view in plain Python: what overlayfs shows, computed from the layer directories (lesson 04).

An image is a stack of layer directories. overlayfs shows them as one tree by three rules:

  1. the higher layer wins: a path in a higher layer hides the same path in every lower one;
  2. directories merge: a directory present in several layers lists the union of their entries
     (its owner and mode come from the highest one), unless the higher one is *opaque*
     (xattr `trusted.overlay.opaque="y"`): then nothing below it shows through;
  3. a *whiteout* (a character device with device number 0/0) deletes the path, and everything
     under it, from the layers below.

`merge(layers)` applies the layers bottom first, exactly like unpacking them one over the other,
and returns a `MergedTree`: for every visible path, which layer provides it and which lower layers
it shadows. The tests mount the same layers with the kernel and check that both trees are equal.

`lookup(layers, path)` answers the same question for one path, walking down from the top layer:
the copy driver (unionfs.copy_layers) asks it for every path (lesson 04, exercise 4.3).

`diff(upper, lowers)` reads a container's upper directory and says what the container changed:
added, changed and deleted paths (the input of `commit` in lesson 05; exercise 4.4).

Layers are always listed bottom first, the order of an image manifest: `layers[0]` is the base.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

OPAQUE_XATTR = "trusted.overlay.opaque"


# --- whiteouts and opaque directories: how overlayfs marks deletions on disk -------------------

def is_whiteout(st: os.stat_result) -> bool:
    """A whiteout is a character device with device number 0/0."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str | Path) -> bool:
    """True when directory `path` carries trusted.overlay.opaque="y" (needs root to read)."""
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def make_whiteout(path: str | Path) -> None:
    """Create a whiteout at `path`: mknod(path, S_IFCHR, makedev(0, 0)) (needs root)."""
    os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))


def make_opaque(path: str | Path) -> None:
    """Mark directory `path` opaque: the layers below it no longer show through."""
    os.setxattr(path, OPAQUE_XATTR, b"y", follow_symlinks=False)


def kind_of(mode: int) -> str:
    """'dir', 'file', 'symlink' or 'other' (devices, fifos, sockets)."""
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"


# --- the merged tree -------------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    """One visible path of the merged tree."""

    path: str                      # relative to the root, no leading slash: "etc/passwd"
    kind: str                      # dir | file | symlink | other
    mode: int                      # permission bits, stat.S_IMODE
    uid: int
    gid: int
    size: int
    layer: int                     # index of the layer that provides it (0 = bottom)
    source: Path                   # the real file in that layer
    shadows: tuple[int, ...] = ()  # lower layers that also had this path, now hidden
    rdev: int = 0


@dataclass(frozen=True)
class Removal:
    """A whiteout (or an opaque directory) that hid paths of lower layers."""

    path: str
    layer: int
    hidden: int         # how many lower paths it hid (the path itself and everything under it)
    opaque: bool = False


@dataclass
class MergedTree:
    """What the union shows: `entries` by path (sorted), and the whiteouts that removed things."""

    layers: list[Path]
    entries: dict[str, Entry]
    removals: list[Removal] = field(default_factory=list)

    def bytes_per_layer(self) -> list[int]:
        """How many bytes of visible regular files each layer provides."""
        sizes = [0] * len(self.layers)
        for e in self.entries.values():
            if e.kind == "file":
                sizes[e.layer] += e.size
        return sizes


@dataclass
class _Node:
    entry: Entry | None
    children: dict[str, "_Node"]


def _count(node: _Node) -> int:
    return 1 + sum(_count(c) for c in node.children.values())


def _entry(path: str, st: os.stat_result, layer: int, source: str, shadows: tuple[int, ...]) -> Entry:
    return Entry(path, kind_of(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                 st.st_size, layer, Path(source), shadows, st.st_rdev)


def _shadows(old: _Node | None) -> tuple[int, ...]:
    if old is None or old.entry is None:
        return ()
    return old.entry.shadows + (old.entry.layer,)


def _apply(directory: str, rel: str, node: _Node, layer: int, removals: list[Removal]) -> None:
    """Apply one directory of one layer over the tree built from the layers below."""
    with os.scandir(directory) as it:
        items = sorted(it, key=lambda d: d.name)
    for item in items:
        path = f"{rel}{item.name}"
        st = item.stat(follow_symlinks=False)
        old = node.children.get(item.name)
        if is_whiteout(st):                                  # rule 3: delete from below
            if old is not None:
                del node.children[item.name]
                removals.append(Removal(path, layer, _count(old)))
            continue
        if stat.S_ISDIR(st.st_mode):
            opaque = is_opaque(item.path)
            if old is not None and old.entry is not None and old.entry.kind == "dir" and not opaque:
                child = _Node(None, old.children)            # rule 2: directories merge
            else:
                child = _Node(None, {})                      # a new dir, or one that hides what was below
                if old is not None and opaque and old.children:
                    removals.append(Removal(path, layer, _count(old) - 1, opaque=True))
            child.entry = _entry(path, st, layer, item.path, _shadows(old))
            node.children[item.name] = child
            _apply(item.path, path + "/", child, layer, removals)
        else:                                                # rule 1: the higher layer wins
            node.children[item.name] = _Node(_entry(path, st, layer, item.path, _shadows(old)), {})


def _flatten(node: _Node, out: dict[str, Entry]) -> None:
    for name in sorted(node.children):
        child = node.children[name]
        out[child.entry.path] = child.entry
        _flatten(child, out)


def merge(layers: list[Path | str]) -> MergedTree:
    """The tree overlayfs would show for `layers` (bottom first), computed without mounting."""
    root = _Node(None, {})
    removals: list[Removal] = []
    paths = [Path(p) for p in layers]
    for index, layer in enumerate(paths):
        if not layer.is_dir():
            raise FileNotFoundError(f"layer {index} is not a directory: {layer}")
        _apply(str(layer), "", root, index, removals)
    entries: dict[str, Entry] = {}
    _flatten(root, entries)
    return MergedTree(paths, entries, removals)


def lookup(layers: list[Path | str], path: str) -> int | None:
    """The index of the layer that provides `path` in the union of `layers` (bottom first), or None
    when the union does not show it (exercise 4.3). Walking down from the top layer, in each layer:

      - the path itself is there: a whiteout hides it (None), anything else provides it;
      - otherwise a parent directory of the path in that layer may hide everything below it: a
        whiteout, an opaque directory, or a file (not a directory) with the name of one (None);
      - otherwise look in the next layer down. No layer has it: None.

    `path` is relative ("etc/passwd"). A directory is provided by the highest layer that has it
    (its mode and owner come from there), even when lower layers add entries to it."""
    parts = path.split("/")
    for index in range(len(layers) - 1, -1, -1):
        here = os.fspath(layers[index])
        opaque_above = False
        for depth, name in enumerate(parts, start=1):  # one component at a time: never through a symlink
            here = os.path.join(here, name)
            try:
                st = os.lstat(here)
            except FileNotFoundError:
                break  # this layer has nothing at this path
            if depth == len(parts):
                return None if is_whiteout(st) else index
            if is_whiteout(st) or not stat.S_ISDIR(st.st_mode):
                return None  # a parent deleted, or replaced by a file or a link: nothing below it shows
            opaque_above = opaque_above or is_opaque(here)
        if opaque_above:
            return None  # an opaque parent in this layer hides the layers below it
    return None


def scan(root: Path | str) -> dict[str, Entry]:
    """Every path under one directory as it is (no union rules): used to read a mounted merged tree.

    A name that is listed but cannot be looked up is left out: overlayfs lists the whiteouts of a
    directory that only one layer has (it does not merge, so nothing filters them; `ls -l` shows
    `c?????????`), but opening such a name fails with ENOENT, as for any deleted file."""
    out: dict[str, Entry] = {}

    def walk(directory: str, rel: str) -> None:
        with os.scandir(directory) as it:
            items = sorted(it, key=lambda d: d.name)
        for item in items:
            path = f"{rel}{item.name}"
            try:
                st = item.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            out[path] = _entry(path, st, 0, item.path, ())
            if stat.S_ISDIR(st.st_mode):
                walk(item.path, path + "/")

    walk(str(root), "")
    return out


def snapshot(entries: dict[str, Entry]) -> dict[str, tuple]:
    """A comparable picture of a tree: path -> (kind, mode, content or link target or rdev).

    Two trees with equal snapshots look the same to a program inside the container."""
    out: dict[str, tuple] = {}
    for path, e in entries.items():
        if e.kind == "file":
            detail: object = e.source.read_bytes()
        elif e.kind == "symlink":
            detail = os.readlink(e.source)
        elif e.kind == "other":
            detail = e.rdev
        else:
            detail = None
        out[path] = (e.kind, e.mode, detail)
    return out


# --- diff: what a container changed ------------------------------------------------------------

@dataclass
class Changes:
    """What a container changed, as `docker diff` shows it: A (added), C (changed), D (deleted)."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)   # directories whose lower content was all replaced

    def lines(self) -> list[str]:
        """`docker diff` style lines: 'A /new', 'C /etc', 'D /old', sorted by path."""
        tagged = ([(p, "A") for p in self.added] + [(p, "C") for p in self.changed]
                  + [(p, "D") for p in self.deleted])
        return [f"{tag} /{path}" for path, tag in sorted(tagged)]


def diff(upper: Path | str, lowers: list[Path | str] = ()) -> Changes:
    """Read an overlay upper directory: each whiteout is a deletion, every other entry an addition
    (if the lowers do not have the path) or a change (if they do). Opaque directories also delete
    whatever the lowers had below them."""
    below = merge(list(lowers)).entries if lowers else {}
    changes = Changes()

    def walk(directory: str, rel: str) -> None:
        with os.scandir(directory) as it:
            items = sorted(it, key=lambda d: d.name)
        for item in items:
            path = f"{rel}{item.name}"
            st = item.stat(follow_symlinks=False)
            if is_whiteout(st):
                changes.deleted.append(path)
                continue
            (changes.changed if path in below else changes.added).append(path)
            if stat.S_ISDIR(st.st_mode):
                if is_opaque(item.path):
                    changes.opaque.append(path)
                    inside = Path(item.path)
                    changes.deleted.extend(p for p in below if p.startswith(path + "/")
                                           and not (inside / p[len(path) + 1:]).exists()
                                           and not _parent_deleted(p, path, inside))
                walk(item.path, path + "/")

    walk(str(upper), "")
    changes.deleted.sort()
    return changes


def _parent_deleted(path: str, opaque_dir: str, inside: Path) -> bool:
    """True when an ancestor of `path` below `opaque_dir` is already reported as deleted."""
    parts = path[len(opaque_dir) + 1:].split("/")[:-1]
    for i in range(1, len(parts) + 1):
        if not os.path.lexists(inside.joinpath(*parts[:i])):
            return True
    return False


def compare(before: dict[str, Entry], after: dict[str, Entry]) -> Changes:
    """Changes between two trees (used by the copy driver, which has no upper directory).

    Reported like `diff` reports an upper dir: a directory that held a change counts as changed."""
    changes = Changes()
    touched: set[str] = set()
    for path, e in after.items():
        old = before.get(path)
        if old is None:
            changes.added.append(path)
        elif (old.kind, old.mode, old.uid, old.gid, old.size) != (e.kind, e.mode, e.uid, e.gid, e.size) or (
                e.kind != "dir" and os.lstat(old.source).st_mtime_ns != os.lstat(e.source).st_mtime_ns):
            changes.changed.append(path)
        else:
            continue
        touched.add(path)
    for path in before:
        parent = path.rpartition("/")[0]
        if path not in after and (parent == "" or parent in after):
            changes.deleted.append(path)
            touched.add(path)
    for path in touched:                       # the directories that hold a change changed too
        parent = path.rpartition("/")[0]
        while parent and parent in before and parent not in changes.changed:
            changes.changed.append(parent)
            parent = parent.rpartition("/")[0]
    changes.changed.sort()
    return changes
