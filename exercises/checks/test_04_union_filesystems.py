"""Checks for lesson 04 (union filesystems). Run them with `make check EX=04`, or `check("4.2")` in the notebook.

The checks compare your answers with the kernel: they mount real overlays (as root) in a temporary
directory and unmount them before they finish. The milestone runs your runtime: two containers of
one image, `minicontainer --yours=04 diff`, and a root built by the copy driver with your 4.2 and 4.3.
"""

from __future__ import annotations

import os
import shutil
import stat
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
def test_options_escape_what_the_kernel_splits_on(ex):
    got = ex.overlay_options(["/l/a:b", "/l/c,d"], "/c/up\\per", "/c/work")
    want = "lowerdir=/l/c\\,d:/l/a\\:b,upperdir=/c/up\\\\per,workdir=/c/work"
    assert got == want, f"paths with ':', ',' and '\\' gave {got!r}; expected {want!r} (a backslash before each)"


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


def _entries(tmp_path: Path) -> Path:
    """A layer with one entry of each kind, owned by someone else, with odd modes and old times."""
    src = tmp_path / "layer"
    src.mkdir()
    (src / "setuid").write_bytes(b"\x7fELF pretend" * 1000)
    os.chown(src / "setuid", 1000, 1000)
    os.chmod(src / "setuid", 0o4755)
    (src / "private").mkdir(mode=0o700)
    os.symlink("/nowhere/at/all", src / "dangling")
    os.mkfifo(src / "fifo", 0o640)
    os.mknod(src / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    for name in ("setuid", "private", "fifo", "null"):
        os.utime(src / name, ns=(1_000_000_000_000_000_000, 1_200_000_000_000_000_000))
    os.utime(src / "dangling", ns=(1_000_000_000_000_000_000, 1_300_000_000_000_000_000), follow_symlinks=False)
    return src


def _looks(path: Path) -> tuple:
    st = os.lstat(path)
    what = path.read_bytes() if stat.S_ISREG(st.st_mode) else os.readlink(path) if stat.S_ISLNK(st.st_mode) else st.st_rdev
    return stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns, what


@pytest.mark.exercise("4.2")
def test_copy_up_keeps_type_content_owner_mode_and_times(ex, tmp_path):
    src = _entries(tmp_path)
    dest = tmp_path / "upper"
    dest.mkdir()
    for name in ("setuid", "private", "dangling", "fifo", "null"):
        ex.copy_up(str(src / name), str(dest / name))
        got, want = _looks(dest / name), _looks(src / name)
        labels = ("type", "mode", "uid", "gid", "mtime", "content")
        wrong = {label: (g, w) for label, g, w in zip(labels, got, want) if g != w}
        assert not wrong, f"copy_up of {name!r}: {{what: (yours, the layer's)}} = {wrong}"


@pytest.mark.exercise("4.2")
def test_copy_up_builds_the_kernels_tree_in_the_copy_driver(ex, tmp_path, monkeypatch):
    layers = make_layers(tmp_path)
    with unionfs.mount_rootfs(layers, tmp_path / "c", driver="overlay") as m:
        kernel = unionmodel.snapshot(unionmodel.scan(m.target))
    monkeypatch.setattr(unionfs, "copy_up", ex.copy_up)  # the runtime's copy driver, with your copy_up
    with unionfs.mount_rootfs(layers, tmp_path / "copy", driver="copy") as m:
        yours = unionmodel.snapshot(unionmodel.scan(m.target))
    wrong = sorted(p for p in set(kernel) | set(yours) if kernel.get(p) != yours.get(p))
    assert not wrong, f"the copy driver with your copy_up differs from the kernel's overlay at {wrong}"


def _every_path(layers: list[Path]) -> list[str]:
    return sorted({str(p.relative_to(layer)) for layer in layers for p in layer.rglob("*")})


@pytest.mark.exercise("4.3")
def test_lookup_matches_the_kernel_for_every_path(ex, tmp_path):
    layers = make_layers(tmp_path)
    l3 = tmp_path / "l3"
    (l3 / "usr").mkdir(parents=True)
    os.symlink("/etc", l3 / "usr" / "lib")          # a symlink where a lower layer has a directory
    (tmp_path / "l0" / "usr" / "lib").mkdir(parents=True)
    (tmp_path / "l0" / "usr" / "lib" / "libc.so").write_text("c")
    layers.append(l3)
    with unionfs.mount_rootfs(layers, tmp_path / "c", driver="overlay") as m:
        shown = set(unionmodel.scan(m.target))
    want = {p: e.layer for p, e in unionmodel.merge(layers).entries.items()}
    wrong = {}
    for path in _every_path(layers):
        got = ex.lookup(layers, path)
        expected = want.get(path) if path in shown else None
        if got != expected:
            wrong[path] = (got, expected)
    assert not wrong, f"lookup(layers, path) differs from the kernel for {{path: (yours, expected)}}: {wrong}"


@pytest.mark.exercise("4.3")
def test_lookup_in_the_copy_driver_gives_the_kernels_tree(ex, tmp_path, monkeypatch):
    layers = make_layers(tmp_path)
    with unionfs.mount_rootfs(layers, tmp_path / "c", driver="overlay") as m:
        kernel = unionmodel.snapshot(unionmodel.scan(m.target))
    monkeypatch.setattr(unionmodel, "lookup", ex.lookup)
    with unionfs.mount_rootfs(layers, tmp_path / "copy", driver="copy") as m:
        yours = unionmodel.snapshot(unionmodel.scan(m.target))
    assert sorted(yours) == sorted(kernel), \
        f"the copy driver with your lookup shows {sorted(set(yours) ^ set(kernel))} differently from the kernel"


OPS = [  # on make_layers(): etc/passwd, var/log/old.log, var/log/new.log and var/cache/b show
    [("write", "etc/passwd")],
    [("write", "etc/new.conf"), ("delete", "var/log/old.log")],
    [("delete", "var"), ("mkdir", "var"), ("write", "var/fresh")],
    [("write", "tmp/scratch"), ("delete", "tmp/scratch"), ("mkdir", "home"), ("write", "home/notes")],
    [("delete", "var/log"), ("write", "etc/passwd")],
    [("delete", "var/cache"), ("mkdir", "var/cache"), ("write", "var/cache/c")],
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


@pytest.mark.exercise("4.4")
@pytest.mark.parametrize("number", range(len(OPS)))
def test_diff_of_a_real_upper_dir(ex, tmp_path, number):
    layers = make_layers(tmp_path)
    ops = OPS[number]
    with unionfs.mount_rootfs(layers, tmp_path / "c", driver="overlay") as m:
        _apply(m.target, ops)
        got = ex.diff(m.upper, layers)
        want = unionmodel.diff(m.upper, layers)
    for field in ("added", "changed", "deleted", "opaque"):
        assert list(getattr(got, field)) == getattr(want, field), \
            f"after {ops}, diff(upper, layers).{field} is {getattr(got, field)}; expected {getattr(want, field)}"


# --- the milestone: your runtime -----------------------------------------------------------------

@pytest.mark.milestone("your runtime gave two containers of one image a copy-on-write root each, and saw what they changed")
def test_milestone_your_runtime_gives_each_container_its_own_root(yours):
    one, two = f"mc-m04a-{os.getpid()}", f"mc-m04b-{os.getpid()}"
    try:
        for name in (one, two):
            yours("run", "-d", "--name", name, "busybox", "sleep", "60")
        yours("exec", one, "sh", "-c", "echo one > /etc/motd; rm /bin/ls")
        yours("exec", two, "sh", "-c", "echo two > /etc/motd")
        seen = {name: yours("exec", name, "cat", "/etc/motd").stdout.strip() for name in (one, two)}
        assert seen == {one: "one", two: "two"}, f"each container wrote its own /etc/motd, then they read {seen}"
        assert yours("exec", two, "ls", "/bin/ls").returncode == 0, "the other container lost /bin/ls too"
        fresh = yours("run", "--rm", "busybox", "ls", "/etc", ok=False).stdout.split()
        assert "motd" not in fresh, "a new container of the image has /etc/motd: a container wrote into the image's layer"
        lines = yours("diff", one).stdout.splitlines()
        for line in ("C /etc", "A /etc/motd", "C /bin", "D /bin/ls"):
            assert line in lines, f"`diff {one}` printed {lines}; expected {line!r} among them (your diff, 4.4)"
    finally:
        yours("rm", "-f", one, two, ok=False)
    copy = yours("run", "--rm", "busybox", "sh", "-c", "ls /bin | wc -l; cat /etc/group",
                 env={"MC_UNIONFS_DRIVER": "copy"}).stdout.split()
    overlay = yours("run", "--rm", "busybox", "sh", "-c", "ls /bin | wc -l; cat /etc/group").stdout.split()
    assert copy == overlay, f"a root built by the copy driver (your copy_up and lookup) shows {copy[:3]}...; the overlay shows {overlay[:3]}..."
