"""gzip layers inflate the same with ISA-L (the `isal` package) and with the standard zlib fallback."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import zlib

import pytest

from minicontainer.errors import ContainerError
from minicontainer.image import unpack
from minicontainer.image.unpack import Limits, open_layer, unpack_tar

from image_helpers import make_tar


@pytest.fixture(params=["isal", "zlib"])
def inflater(request, monkeypatch):
    if request.param == "zlib":
        monkeypatch.setattr(unpack, "_inflater", lambda: zlib)
    else:
        assert unpack._inflater().__name__ == "isal.isal_zlib", "isal is a dependency: make venv installs it"
    return request.param


def _unpack(data: bytes, dest) -> str:
    dest.mkdir()
    return unpack_tar(open_layer(io.BytesIO(data), Limits()), dest, "overlay", Limits())


def test_multi_member_gzip_with_zero_padding_gives_the_diff_id(inflater, tmp_path):
    tar = make_tar([{"name": f"f{i}", "data": os.urandom(3000) + bytes([i]) * 3000} for i in range(30)])
    third = len(tar) // 3
    blob = b"".join(gzip.compress(tar[i * third:(i + 1) * third if i < 2 else None]) for i in range(3)) + b"\0" * 512
    assert _unpack(blob, tmp_path / "l") == "sha256:" + hashlib.sha256(tar).hexdigest()
    assert (tmp_path / "l" / "f29").read_bytes()[3000:] == bytes([29]) * 3000


def test_corrupt_gzip_is_a_layer_error(inflater, tmp_path):
    blob = bytearray(gzip.compress(make_tar([{"name": "f", "data": os.urandom(50000)}])))
    blob[100:120] = b"\xff" * 20
    with pytest.raises(ContainerError, match="corrupt|truncated|malformed|ends inside|CRC"):
        _unpack(bytes(blob), tmp_path / "l")
