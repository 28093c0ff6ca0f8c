"""Every lesson is a reviewed text file paired with an executed notebook, and starts with the doctor."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.py"))


def test_lessons_exist():
    names = [p.stem for p in SOURCES]
    assert names[:2] == ["00-welcome", "01-chroot"], names


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_is_in_sync_with_its_text_file(source: Path):
    ipynb = source.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} is missing: run `make notebooks NB={source.stem[:2]}`"
    want = [(c.cell_type, c.source.strip()) for c in jupytext.read(source).cells]
    have = [(c.cell_type, c.source.strip()) for c in nbformat.read(ipynb, as_version=4).cells]
    assert have == want, f"{ipynb.name} differs from {source.name}: run `make notebooks NB={source.stem[:2]}`"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_was_executed_and_starts_with_the_doctor(source: Path):
    nb = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code), f"{source.stem}: execute it with `make notebooks`"
    assert any("require(" in c.source or "diagnose(" in c.source for c in code[:2]), \
        f"{source.stem}: the first code cells must ask the doctor what the lesson needs"
