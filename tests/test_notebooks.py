"""Every lesson is a reviewed text file paired with an executed notebook, and starts with the doctor."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SOURCES = sorted((ROOT / "lessons").glob("[0-9][0-9]-*.py"))


def test_lessons_exist():
    names = [p.stem for p in SOURCES]
    assert names[:2] == ["00-welcome", "01-chroot"], names


def test_lesson_sources_live_apart_from_the_notebooks():
    """A learner's file browser shows each lesson once: the text sources are in lessons/, hidden by the lab."""
    stray = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]-*.py"))
    assert not stray, f"lesson sources belong in lessons/ (git mv notebooks/{stray[0]} lessons/): {stray}"
    assert sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]-*.ipynb")) == [p.stem for p in SOURCES]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_is_in_sync_with_its_text_file(source: Path):
    ipynb = NOTEBOOKS / f"{source.stem}.ipynb"
    assert ipynb.exists(), f"{ipynb.name} is missing: run `make notebooks NB={source.stem[:2]}`"
    want = [(c.cell_type, c.source.strip()) for c in jupytext.read(source).cells]
    have = [(c.cell_type, c.source.strip()) for c in nbformat.read(ipynb, as_version=4).cells]
    assert have == want, f"{ipynb.name} differs from {source.name}: run `make notebooks NB={source.stem[:2]}`"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_was_executed_and_starts_with_the_doctor(source: Path):
    nb = nbformat.read(NOTEBOOKS / f"{source.stem}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code), f"{source.stem}: execute it with `make notebooks`"
    assert any("require(" in c.source or "diagnose(" in c.source for c in code[:2]), \
        f"{source.stem}: the first code cells must ask the doctor what the lesson needs"
