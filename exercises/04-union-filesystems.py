# Your exercises for lesson 04-union-filesystems. Replace each `raise NotImplementedError(...)` with your code.
# Check your work with `make check EX=04` (or the check cells in notebooks/04-union-filesystems.ipynb).
# This file was generated from the instructors' solutions by `make exercises`.

"""Lesson 04: union filesystems. The overlay's options, copy-up, the merge rules, and what a container changed.

Each function below is a step the runtime takes, with the same name and arguments as the package's
own: overlay_options and copy_up in minicontainer/unionfs.py, lookup and diff in
minicontainer/unionmodel.py. `minicontainer --yours run IMAGE ...` mounts its root with your options;
with MC_UNIONFS_DRIVER=copy (a host without overlayfs) it builds the root with your lookup and
copy_up; `minicontainer --yours diff NAME` is your diff. Layers are listed bottom first, like an
image manifest: layers[0] is the base layer.
"""

from __future__ import annotations

import os
import stat

from minicontainer.unionmodel import Changes, is_opaque, is_whiteout, merge


def overlay_options(lowers: list, upper, work) -> str:
    """Exercise 4.1: the option string for `mount -t overlay`, e.g.
    "lowerdir=/l/top:/l/base,upperdir=/c/upper,workdir=/c/work".
    `lowers` is bottom first; the kernel wants lowerdir *highest first*, separated by ':'. The
    kernel splits on ':' and ',': in a path, write a backslash before each of them (and before a
    backslash). Paths may be str or pathlib.Path."""
    raise NotImplementedError("Exercise 4.1: the overlay's mount options for a stack of layers")


def copy_up(source: str, dest: str) -> None:
    """Exercise 4.2: copy one entry out of a layer into a container's tree, as overlayfs copies a
    file up on its first write (the copy driver does it for every path). `dest` does not exist; its
    parent does. Make an entry of the same type: a directory (empty: its entries come one by one),
    a regular file (its bytes), a symlink (its target: never follow it), or a device or fifo (its
    device number). Then give it the source's owner, permission bits (setuid included: set them
    after the owner, chown clears them) and access/modification times."""
    raise NotImplementedError("Exercise 4.2: copy one entry of a layer up into the container's tree, keeping what it is")


def lookup(layers: list, path: str) -> int | None:
    """Exercise 4.3: the index of the layer that provides `path` ("etc/passwd", relative) in the
    union of `layers` (bottom first), or None when the union does not show it. Walk down from the
    top layer; in each layer, look at the path one component at a time (never through a symlink):
      - the path itself is there: a whiteout (is_whiteout of its lstat) hides it: None; anything
        else: this layer provides it;
      - a parent on the way is a whiteout, or not a directory: it hides everything below: None;
      - the layer has nothing at the path: if a parent on the way was opaque (is_opaque), the layers
        below are hidden: None; otherwise look in the next layer down.
    No layer has it: None."""
    raise NotImplementedError("Exercise 4.3: which layer shows a path in the union (None: none does), by overlayfs' rules")


def diff(upper, lowers: list = ()) -> Changes:
    """Exercise 4.4: what a container changed, as `docker diff` shows it, read from its overlay
    upper dir. Return Changes(added, changed, deleted, opaque), lists of relative paths:
      - a whiteout in the upper dir: the path was deleted;
      - any other entry: changed if the lower layers' union has the path (merge(lowers).entries),
        added if not; a directory's entries are read too;
      - an opaque directory (is_opaque) is also listed in `opaque`, and every path the lowers have
        under it that the upper dir does not have any more is deleted (only the topmost of them:
        not the children of a deleted directory).
    Sort `deleted`; the others come in the order of a walk of the upper dir, sorted by name."""
    raise NotImplementedError('Exercise 4.4: what a container changed (added, changed, deleted), from its upper dir')
