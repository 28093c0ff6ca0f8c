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
    ### BEGIN SOLUTION 4.1: the overlay's mount options for a stack of layers
    ### HINT: Three options separated by commas; lowerdir lists the layers from the top down. A path that holds ':' or ',' would be cut in two by the kernel unless escaped.
    ### HINT: os.fspath(p) gives a str for a Path; reversed(lowers) is the kernel's order; path.replace("\\", "\\\\").replace(":", "\\:").replace(",", "\\,") escapes (backslashes first).
    ### HINT: esc = lambda p: os.fspath(p).replace(...)...; return f"lowerdir={':'.join(esc(p) for p in reversed(lowers))},upperdir={esc(upper)},workdir={esc(work)}"
    def escape(path) -> str:
        return os.fspath(path).replace("\\", "\\\\").replace(":", "\\:").replace(",", "\\,")

    lowerdir = ":".join(escape(p) for p in reversed(lowers))
    return f"lowerdir={lowerdir},upperdir={escape(upper)},workdir={escape(work)}"
    ### END SOLUTION


def copy_up(source: str, dest: str) -> None:
    """Exercise 4.2: copy one entry out of a layer into a container's tree, as overlayfs copies a
    file up on its first write (the copy driver does it for every path). `dest` does not exist; its
    parent does. Make an entry of the same type: a directory (empty: its entries come one by one),
    a regular file (its bytes), a symlink (its target: never follow it), or a device or fifo (its
    device number). Then give it the source's owner, permission bits (setuid included: set them
    after the owner, chown clears them) and access/modification times."""
    ### BEGIN SOLUTION 4.2: copy one entry of a layer up into the container's tree, keeping what it is
    ### HINT: Look at the source with os.lstat (it does not follow a symlink) and branch on its type; then the same three pieces of metadata for every type, in an order that keeps them.
    ### HINT: stat.S_ISDIR / S_ISREG / S_ISLNK(st.st_mode); os.mkdir, open(...).write(open(...).read()) (or in chunks), os.symlink(os.readlink(source), dest), os.mknod(dest, st.st_mode, st.st_rdev); then os.lchown(dest, uid, gid), os.chmod(dest, stat.S_IMODE(mode)) (not on a symlink), os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False).
    ### HINT: st = os.lstat(source); if S_ISDIR: os.mkdir(dest) elif S_ISREG: copy the bytes elif S_ISLNK: os.symlink(os.readlink(source), dest) else: os.mknod(dest, st.st_mode, st.st_rdev); os.lchown(...); if not a link: os.chmod(...); os.utime(..., follow_symlinks=False)
    st = os.lstat(source)
    if stat.S_ISDIR(st.st_mode):
        os.mkdir(dest)
    elif stat.S_ISREG(st.st_mode):
        with open(source, "rb") as src, open(dest, "xb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
    elif stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(source), dest)
    else:
        os.mknod(dest, st.st_mode, st.st_rdev)
    os.lchown(dest, st.st_uid, st.st_gid)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(dest, stat.S_IMODE(st.st_mode))
    os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
    ### END SOLUTION


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
    ### BEGIN SOLUTION 4.3: which layer shows a path in the union (None: none does), by overlayfs' rules
    ### HINT: Top layer first, and in each layer walk the path's components one by one with os.lstat: a symlink or a file on the way is not a directory, so the walk stops there as the kernel's does.
    ### HINT: for index in range(len(layers) - 1, -1, -1): here = layers[index]; for each component: here = os.path.join(here, name); st = os.lstat(here) (FileNotFoundError: this layer has nothing); stat.S_ISDIR(st.st_mode) for a parent; remember is_opaque(here) of the parents.
    ### HINT: ...; if it is the last component: return None if is_whiteout(st) else index; if is_whiteout(st) or not stat.S_ISDIR(st.st_mode): return None; opaque = opaque or is_opaque(here) — and after the layer's walk: if opaque: return None
    parts = path.split("/")
    for index in range(len(layers) - 1, -1, -1):
        here = os.fspath(layers[index])
        opaque = False
        for depth, name in enumerate(parts, start=1):
            here = os.path.join(here, name)
            try:
                st = os.lstat(here)
            except FileNotFoundError:
                break
            if depth == len(parts):
                return None if is_whiteout(st) else index
            if is_whiteout(st) or not stat.S_ISDIR(st.st_mode):
                return None
            opaque = opaque or is_opaque(here)
        if opaque:
            return None
    return None
    ### END SOLUTION


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
    ### BEGIN SOLUTION 4.4: what a container changed (added, changed, deleted), from its upper dir
    ### HINT: Walk the upper dir recursively, names sorted; compare each path with the lower layers' union (merge(lowers).entries, a dict by path); whiteouts are deletions; an opaque directory deletes what the lowers had below it.
    ### HINT: os.scandir(directory) sorted by name; st = entry.stat(follow_symlinks=False); is_whiteout(st); recurse into directories; for an opaque dir, the lower paths p under it with not os.path.lexists(upper/p), skipping those whose parent is missing too.
    ### HINT: changes = Changes(); def walk(directory, rel): for each item: path = rel + item.name; whiteout -> changes.deleted; else (changes.changed if path in below else changes.added).append(path); if a dir: opaque handling, then walk(item.path, path + "/"); finally changes.deleted.sort()
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
                    for lower in below:
                        if not lower.startswith(path + "/"):
                            continue
                        inside = lower[len(path) + 1:].split("/")
                        parents_there = all(os.path.lexists(os.path.join(item.path, *inside[:i]))
                                            for i in range(1, len(inside)))
                        if parents_there and not os.path.exists(os.path.join(item.path, *inside)):
                            changes.deleted.append(lower)
                walk(item.path, path + "/")

    walk(os.fspath(upper), "")
    changes.deleted.sort()
    return changes
    ### END SOLUTION
