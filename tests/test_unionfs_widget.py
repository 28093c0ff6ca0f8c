"""The layer visualiser: who provides each path, what it shadows, whiteouts, bytes per layer."""

from __future__ import annotations

import base64
import sys

import pytest

from minicontainer import unionfs
from minicontainer.unionmodel import make_whiteout
from minicontainer.widgets import layers as view


@pytest.fixture
def stack(tmp_path):
    """A rootfs of 5,000 files in a base layer, and an update layer that shadows and deletes some."""
    base, update = tmp_path / "base", tmp_path / "update"
    for d in range(50):
        (base / f"usr/lib/d{d:02d}").mkdir(parents=True)
        for f in range(100):
            (base / f"usr/lib/d{d:02d}/f{f:03d}").write_bytes(b"x" * 10)
    (update / "usr/lib/d00").mkdir(parents=True)
    (update / "usr/lib/d00/f000").write_bytes(b"y" * 1000)
    make_whiteout(update / "usr/lib/d01")
    return [base, update]


def test_text_view_names_layers_shadows_and_whiteouts(stack):
    text = view.render_text(stack, names=["base", "update"], text="d00/f00", limit=5)
    lines = text.splitlines()
    assert lines[1].split() == ["usr/lib/d00/f000", "1", "update", "0", "base", "1.0", "kB"]
    assert "... 5 more of 10 paths" in text
    assert "usr/lib/d01 (whiteout in 1 update hid 101 paths)" in text
    assert any(line.strip().startswith("0 base") and "49.0 kB" in line for line in lines)


def test_widget_shows_one_page_of_a_5000_file_rootfs_and_filters(stack):
    pytest.importorskip("ipywidgets", reason="the lab extra installs ipywidgets")  # installed by make venv
    box = view.layer_view(stack, page_size=20)
    (search, which), shadowing = box.children[0].children, box.children[1]
    (previous, following, where), table = box.children[2].children, box.children[3]
    assert table.value.count("<tr>") == 21, "one header row and one page of 20 rows"
    assert where.value == "paths 1–20 of 4951 matching (4951 in all)" and previous.disabled
    following.click()
    assert where.value == "paths 21–40 of 4951 matching (4951 in all)" and not previous.disabled
    which.value = 1
    assert where.value == "paths 1–4 of 4 matching (4951 in all)", "layer 1 provides usr, usr/lib, usr/lib/d00 and its f000"
    assert following.disabled
    shadowing.value = True
    search.value = "f000"
    assert where.value.startswith("paths 1–1 of 1") and "usr/lib/d00/f000" in table.value
    search.value = "nothing-like-this"
    assert where.value == "no path matches (4951 in all)"


def test_widget_carries_a_picture_and_a_stable_summary_for_a_notebook_opened_before_it_runs(stack):
    pytest.importorskip("ipywidgets")
    bundle = view.layer_view(stack, names=["base", "update"])._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"] == "layer view of 2 layers: 0 base, 1 update"
    png = base64.b64decode(bundle["image/png"])
    assert png.startswith(b"\x89PNG")


def test_widget_shows_a_mounted_containers_upper_dir_as_the_top_layer(stack, paths):
    with unionfs.mount_rootfs(stack, paths.containers_dir / "c1", driver="overlay") as m:
        (m.target / "hello").write_text("hi\n")
        text = view.render_text(m, text="hello")
    assert "hello" in text and "2 upper (container)" in text


def test_without_ipywidgets_the_view_is_text(stack, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    shown = view.layer_view(stack, names=["base", "update"])
    assert isinstance(shown, str) and repr(shown).startswith("path")
