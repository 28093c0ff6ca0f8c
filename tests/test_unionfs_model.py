"""The pure-Python union model equals the kernel: random layer stacks, mounted for real, compared.

Hypothesis builds stacks of 1-4 layers from a few names (files, directories, opaque directories,
symlinks, whiteouts, at depth up to 3), we mount them with overlayfs and compare the merged tree
the kernel shows with `unionmodel.merge`: names, types, modes and contents (or link targets).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minicontainer import syscalls, unionfs, unionmodel
from minicontainer.unionmodel import make_opaque, make_whiteout, merge, scan, snapshot

NAMES = ["a", "b", "c"]
PATHS = [a for a in NAMES] + [f"{a}/{b}" for a in NAMES for b in NAMES] + [f"a/{b}/{c}" for b in NAMES for c in NAMES]

entry = st.one_of(
    st.tuples(st.just("file"), st.sampled_from([b"", b"one", b"two\n"]), st.sampled_from([0o644, 0o600, 0o755])),
    st.tuples(st.just("dir"), st.sampled_from([0o755, 0o700]), st.booleans()),
    # link targets that stay inside the test's directory (or lead nowhere): nothing follows them anyway
    st.tuples(st.just("symlink"), st.sampled_from(["a", "b/c", "../b", "/nonexistent-minicontainer-test"])),
    st.tuples(st.just("whiteout")),
)
layer = st.dictionaries(st.sampled_from(PATHS), entry, max_size=8)
stack = st.lists(layer, min_size=1, max_size=4)


def build(directory: Path, spec: dict[str, tuple]) -> None:
    """Make one layer directory from {path: entry}; parents missing from the spec become plain dirs."""
    directory.mkdir()
    for path in sorted(spec, key=lambda p: p.count("/")):
        ancestors = [directory.joinpath(*path.split("/")[:i]) for i in range(1, path.count("/") + 1)]
        if any(a.is_symlink() or (os.path.lexists(a) and not a.is_dir()) for a in ancestors):
            continue  # the spec made an ancestor a file, a link or a whiteout: no child can exist there
        for a in ancestors:
            a.mkdir(exist_ok=True)
        target = directory / path
        if target.exists() or target.is_symlink():
            continue
        kind = spec[path][0]
        if kind == "file":
            target.write_bytes(spec[path][1])
            target.chmod(spec[path][2])
        elif kind == "dir":
            target.mkdir()
            target.chmod(spec[path][1])
            if spec[path][2]:
                make_opaque(target)
        elif kind == "symlink":
            os.symlink(spec[path][1], target)
        else:
            make_whiteout(target)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stack)
def test_model_equals_the_kernels_merged_tree(specs):
    base = Path(tempfile.mkdtemp(prefix="minicontainer-prop-"))
    try:
        layers = []
        for i, spec in enumerate(specs):
            build(base / f"l{i}", spec)
            layers.append(base / f"l{i}")
        with unionfs.mount_rootfs(layers, base / "c", driver="overlay") as m:
            kernel = snapshot(scan(m.target))
        model = snapshot(merge(layers).entries)
        assert model == kernel
    finally:
        shutil.rmtree(base)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stack)
def test_lookup_of_each_path_agrees_with_the_kernel_and_the_copy_driver(specs):
    """unionmodel.lookup (exercise 4.3) for every path of every layer: what overlayfs shows, from the
    layer merge() names; and the copy driver (lookup + copy_up, exercise 4.2) builds the kernel's tree."""
    from minicontainer.unionmodel import lookup
    base = Path(tempfile.mkdtemp(prefix="minicontainer-prop-"))
    try:
        layers = []
        for i, spec in enumerate(specs):
            build(base / f"l{i}", spec)
            layers.append(base / f"l{i}")
        with unionfs.mount_rootfs(layers, base / "c", driver="overlay") as m:
            kernel = snapshot(scan(m.target))
        entries = merge(layers).entries
        every = {str(p.relative_to(layer)) for layer in layers for p in layer.rglob("*")}
        for path in sorted(every):
            want = entries[path].layer if path in entries else None
            assert lookup(layers, path) == want, (path, lookup(layers, path), want)
        assert set(entries) == set(kernel)
        with unionfs.mount_rootfs(layers, base / "copy", driver="copy") as m:
            assert snapshot(scan(m.target)) == kernel
    finally:
        shutil.rmtree(base)


def test_model_names_the_layer_each_path_comes_from_and_what_it_shadows(tmp_path):
    l0, l1, l2 = tmp_path / "l0", tmp_path / "l1", tmp_path / "l2"
    build(l0, {"etc/passwd": ("file", b"0", 0o644), "etc/motd": ("file", b"0", 0o644), "tmp": ("dir", 0o755, False)})
    build(l1, {"etc/passwd": ("file", b"1", 0o644), "tmp": ("whiteout",)})
    build(l2, {"etc/passwd": ("file", b"2", 0o644)})
    tree = merge([l0, l1, l2])
    assert tree.entries["etc/passwd"].layer == 2 and tree.entries["etc/passwd"].shadows == (0, 1)
    assert tree.entries["etc/motd"].layer == 0
    assert "tmp" not in tree.entries
    assert [(r.path, r.layer, r.hidden) for r in tree.removals] == [("tmp", 1, 1)]
    assert tree.bytes_per_layer() == [1, 0, 1]


def test_opaque_dir_hides_everything_below_it(tmp_path):
    l0, l1 = tmp_path / "l0", tmp_path / "l1"
    build(l0, {"d/x": ("file", b"x", 0o644), "d/y/z": ("file", b"z", 0o644)})
    build(l1, {"d": ("dir", 0o700, True), "d/new": ("file", b"n", 0o644)})
    tree = merge([l0, l1])
    assert [p for p in tree.entries] == ["d", "d/new"]
    assert tree.entries["d"].mode == 0o700
    assert tree.removals[0].opaque and tree.removals[0].hidden == 3


def test_diff_of_an_upper_dir_without_mounting(tmp_path):
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    build(lower, {"etc/a": ("file", b"a", 0o644), "etc/b": ("file", b"b", 0o644), "var/log/x": ("file", b"", 0o644)})
    build(upper, {"etc/a": ("file", b"A", 0o644), "etc/b": ("whiteout",), "etc/c": ("file", b"c", 0o644),
                  "var": ("dir", 0o755, True)})
    changes = unionmodel.diff(upper, [lower])
    assert changes.added == ["etc/c"]
    assert changes.changed == ["etc", "etc/a", "var"]
    assert changes.deleted == ["etc/b", "var/log"]
    assert changes.opaque == ["var"]


def test_merge_of_a_missing_layer_names_it(tmp_path):
    try:
        merge([tmp_path / "nope"])
    except FileNotFoundError as exc:
        assert "nope" in str(exc)
    else:
        raise AssertionError("merge() of a missing layer must raise")


def test_merging_a_rootfs_over_itself_takes_every_path_from_the_top(busybox_rootfs):
    """The busybox rootfs (hundreds of applet links) merges with itself; the top copy wins everywhere."""
    tree = merge([busybox_rootfs, busybox_rootfs])
    assert tree.entries["bin/busybox"].layer == 1 and tree.entries["bin/busybox"].shadows == (0,)
    assert len(tree.entries) > 200


def test_mounts_are_not_left_by_the_property_test():
    assert not [line for line in Path("/proc/self/mountinfo").read_text().splitlines()
                if "minicontainer-prop" in line]


ops = st.lists(st.tuples(st.sampled_from(["write", "delete", "mkdir"]), st.sampled_from(PATHS)), max_size=6)


def _do(root: Path, op: str, path: str) -> None:
    """One operation of a process in the container; impossible ones (no parent, exists) are skipped.

    Never through a symlink: a link in a layer may point anywhere on the host."""
    p = root / path
    parts = path.split("/")
    if any(os.path.islink(root.joinpath(*parts[:i])) for i in range(1, len(parts) + (op != "delete"))):
        return
    try:
        if op == "write":
            with open(p, "a") as f:
                f.write("+")
        elif op == "delete":
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        else:
            p.mkdir()
    except (FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError):
        pass  # what a shell would report as an error; the test goes on


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stack, ops)
def test_model_reads_the_upper_dir_the_kernel_wrote(specs, operations):
    """After writes and deletes in the container, the model of layers + upper dir equals what the
    container sees, and diff() agrees with the before/after trees."""
    base = Path(tempfile.mkdtemp(prefix="minicontainer-prop-"))
    try:
        layers = []
        for i, spec in enumerate(specs):
            build(base / f"l{i}", spec)
            layers.append(base / f"l{i}")
        with unionfs.mount_rootfs(layers, base / "c", driver="overlay") as m:
            for op, path in operations:
                _do(m.target, op, path)
            kernel = snapshot(scan(m.target))
            model = snapshot(merge(layers + [m.upper]).entries)
            changes = unionmodel.diff(m.upper, layers)
        assert model == kernel
        before = merge(layers).entries
        assert all(p not in kernel for p in changes.deleted), f"diff says deleted, still there: {changes.deleted}"
        assert all(p in before for p in changes.deleted), f"diff says deleted, never there: {changes.deleted}"
        assert all(p not in before and p in kernel for p in changes.added)
        assert all(p in before and p in kernel for p in changes.changed)
    finally:
        shutil.rmtree(base)
