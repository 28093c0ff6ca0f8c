"""Safe layer unpacking: each escape class is refused or confined, and nothing lands outside.

Every test unpacks into `tmp_path/layer` with a sentinel directory `tmp_path/outside` next to it,
then proves the outside is untouched (and /tmp, where absolute paths would point, too).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
from pathlib import Path

import pytest

from minicontainer.errors import ContainerError
from minicontainer.image.unpack import Limits, open_layer, unpack_tar

from image_helpers import describe_tree, make_tar


@pytest.fixture
def box(tmp_path: Path):
    layer = tmp_path / "layer"
    outside = tmp_path / "outside"
    layer.mkdir()
    outside.mkdir()
    (outside / "victim").write_text("original")
    return layer, outside


def _unpack(data: bytes, dest: Path, mode: str = "overlay", limits: Limits = Limits()) -> str:
    return unpack_tar(open_layer(io.BytesIO(data), limits), dest, mode, limits)


def _untouched(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["victim"], "something was written outside the layer"
    assert (outside / "victim").read_text() == "original"


def test_dotdot_path_is_refused(box):
    layer, outside = box
    with pytest.raises(ContainerError, match=r"climbs out"):
        _unpack(make_tar([{"name": "../outside/evil", "data": b"x"}]), layer)
    _untouched(outside)


def test_absolute_path_is_confined_to_the_layer(box, tmp_path):
    layer, outside = box
    target = f"{outside}/abs-evil"
    _unpack(make_tar([{"name": target, "data": b"x"}]), layer)
    assert (layer / target.lstrip("/")).read_bytes() == b"x"
    _untouched(outside)


def test_write_through_symlink_placed_earlier_is_refused(box):
    layer, outside = box
    tar = make_tar([{"name": "link", "type": "symlink", "target": str(outside)},
                    {"name": "link/evil", "data": b"x"}])
    with pytest.raises(ContainerError, match="through a symlink"):
        _unpack(tar, layer)
    _untouched(outside)


def test_relative_symlink_escape_is_refused(box):
    layer, outside = box
    tar = make_tar([{"name": "a", "type": "symlink", "target": "../outside"},
                    {"name": "a/victim", "data": b"overwritten"}])
    with pytest.raises(ContainerError):
        _unpack(tar, layer)
    _untouched(outside)


def test_file_over_existing_symlink_replaces_the_link_not_its_target(box):
    layer, outside = box
    tar = make_tar([{"name": "victim", "type": "symlink", "target": str(outside / "victim")},
                    {"name": "victim", "data": b"overwritten"}])
    _unpack(tar, layer)
    assert not (layer / "victim").is_symlink() and (layer / "victim").read_bytes() == b"overwritten"
    _untouched(outside)


def test_hardlink_to_outside_is_refused(box):
    layer, outside = box
    for target in ["../outside/victim", str(outside / "victim")]:
        with pytest.raises(ContainerError):
            _unpack(make_tar([{"name": "h", "type": "hardlink", "target": target}]), layer)
    assert (outside / "victim").stat().st_nlink == 1
    _untouched(outside)


def test_hardlink_through_symlink_is_refused(box):
    layer, outside = box
    tar = make_tar([{"name": "s", "type": "symlink", "target": str(outside)},
                    {"name": "h", "type": "hardlink", "target": "s/victim"}])
    with pytest.raises(ContainerError):
        _unpack(tar, layer)
    assert (outside / "victim").stat().st_nlink == 1
    _untouched(outside)


def test_symlink_named_dot_is_refused(box):
    layer, outside = box
    tar = make_tar([{"name": ".", "type": "symlink", "target": str(outside)},
                    {"name": "evil", "data": b"x"}])
    with pytest.raises(ContainerError, match="root"):
        _unpack(tar, layer)
    assert layer.is_dir() and not layer.is_symlink()
    _untouched(outside)


def test_entry_count_and_size_limits_stop_bombs(box):
    layer, outside = box
    many = make_tar([{"name": f"f{i}", "data": b""} for i in range(50)])
    with pytest.raises(ContainerError, match="entries"):
        _unpack(many, layer, limits=Limits(max_entries=10))
    bomb = gzip.compress(make_tar([{"name": "zeros", "data": b"\0" * (4 << 20)}]))
    assert len(bomb) < 40_000
    with pytest.raises(ContainerError, match="bomb"):
        _unpack(bomb, layer, limits=Limits(max_bytes=1 << 20))
    _untouched(outside)


def test_setuid_kept_and_owner_applied_before_mode(box):
    layer, _ = box
    _unpack(make_tar([{"name": "su", "data": b"#!", "mode": 0o4755, "uid": 1000, "gid": 1000}]), layer)
    st = os.lstat(layer / "su")
    assert (st.st_uid, st.st_gid) == (1000, 1000)
    assert stat.S_IMODE(st.st_mode) == 0o4755, "chmod must come after chown, which clears setuid"


def test_trusted_overlay_xattrs_from_the_tar_are_ignored(box):
    layer, _ = box
    _unpack(make_tar([{"name": "d", "type": "dir", "pax": {"SCHILY.xattr.trusted.overlay.opaque": "y"}}]), layer)
    with pytest.raises(OSError):
        os.getxattr(layer / "d", "trusted.overlay.opaque")


def test_whiteouts_become_overlay_whiteouts(box):
    layer, _ = box
    tar = make_tar([{"name": "etc", "type": "dir"}, {"name": "etc/.wh.motd"},
                    {"name": "opt", "type": "dir"}, {"name": "opt/.wh..wh..opq"}, {"name": "opt/new", "data": b"n"}])
    _unpack(tar, layer)
    st = os.lstat(layer / "etc/motd")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(layer / "opt", "trusted.overlay.opaque") == b"y"
    assert not (layer / "etc/.wh.motd").exists() and (layer / "opt/new").read_bytes() == b"n"


def test_whiteouts_delete_when_applied_to_one_tree(box):
    layer, _ = box
    _unpack(make_tar([{"name": "a", "data": b"1"}, {"name": "d", "type": "dir"}, {"name": "d/old", "data": b"o"}]),
            layer, "apply")
    _unpack(make_tar([{"name": ".wh.a"}, {"name": "d", "type": "dir"}, {"name": "d/.wh..wh..opq"},
                      {"name": "d/new", "data": b"n"}]), layer, "apply")
    assert sorted(describe_tree(layer)) == ["d", "d/new"]


def test_multi_member_gzip_and_multi_frame_zstd_are_read_to_the_end(box, tmp_path):
    import zstandard

    tar = make_tar([{"name": f"f{i}", "data": bytes([i]) * 5000} for i in range(20)])
    want = "sha256:" + hashlib.sha256(tar).hexdigest()
    half = len(tar) // 2
    gz = gzip.compress(tar[:half]) + gzip.compress(tar[half:])
    zs = zstandard.ZstdCompressor().compress(tar[:half]) + zstandard.ZstdCompressor().compress(tar[half:])
    for name, blob in [("plain", tar), ("gz", gz), ("zst", zs)]:
        dest = tmp_path / name
        dest.mkdir()
        assert _unpack(blob, dest) == want, f"{name}: diff_id differs: stream not read to the end"
        assert (dest / "f19").read_bytes() == bytes([19]) * 5000


def test_truncated_gzip_is_an_error(box):
    layer, _ = box
    gz = gzip.compress(make_tar([{"name": "f", "data": os.urandom(20000)}]))
    with pytest.raises(ContainerError, match="truncated|malformed|ends inside"):
        _unpack(gz[: len(gz) // 2], layer)


def test_hardlink_to_a_directory_is_a_clear_error(box):
    layer, outside = box
    tar = make_tar([{"name": "d", "type": "dir"}, {"name": "h", "type": "hardlink", "target": "d"}])
    with pytest.raises(ContainerError, match="cannot create entry 'h'"):
        _unpack(tar, layer)
    _untouched(outside)


def test_sweep_removes_half_written_files_and_build_tags(paths):
    from minicontainer.image import Store, sweep

    store = Store(paths).ensure()
    (store.tmp / "blob-leftover").write_bytes(b"x")
    (store.tmp / "layer-leftover").mkdir()
    store.write_blob(b"m")
    removed = sweep(paths)
    assert len(removed) == 2 and list(store.tmp.iterdir()) == []
