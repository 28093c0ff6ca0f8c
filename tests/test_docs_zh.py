"""The course for Chinese-speaking learners stays in sync with the course: every lesson opens with a
Chinese summary cell, docs/zh/README.md maps every lesson, the glossary points at lessons and modules
that exist, and the cheatsheet's commands exist (or are marked as still to come, until they land)."""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import nbformat
import pytest

from minicontainer.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
ZH = ROOT / "docs" / "zh"
CJK = re.compile(r"[\u4e00-\u9fff]")


def lesson_sources() -> list[Path]:
    """The lessons' text sources (lessons/NN-*.py, or notebooks/NN-*.py where they used to live)."""
    found = {}
    for folder in (ROOT / "notebooks", ROOT / "lessons"):
        for path in sorted(folder.glob("[0-9][0-9]-*.py")):
            found[path.stem] = path
    return [found[k] for k in sorted(found)]


LESSONS = lesson_sources()


def test_there_are_lessons():
    assert [p.stem[:2] for p in LESSONS][:2] == ["00", "01"]


@pytest.mark.parametrize("source", LESSONS, ids=lambda p: p.stem)
def test_every_lesson_opens_with_a_chinese_summary(source: Path):
    first = jupytext.read(source).cells[0]
    hint = (f"{source.relative_to(ROOT)}: the first cell must be a markdown cell starting with "
            f"'**中文摘要 · 第 {source.stem[:2]} 课：…**' and a few sentences in Chinese (see docs/zh/README.md); "
            "add it, then put the same cell first in the .ipynb (a markdown cell needs no re-execution)")
    assert first.cell_type == "markdown", hint
    assert first.source.startswith(f"**中文摘要 · 第 {source.stem[:2]} 课"), hint
    assert len(CJK.findall(first.source)) >= 60, hint
    ipynb = ROOT / "notebooks" / f"{source.stem}.ipynb"
    if ipynb.exists():
        cell = nbformat.read(ipynb, as_version=4).cells[0]
        assert (cell.cell_type, cell.source.strip()) == ("markdown", first.source.strip()), \
            f"{ipynb.name}: its first cell is not the summary of {source.name}: run `make notebooks NB={source.stem[:2]}`"


def test_the_chinese_readme_maps_every_lesson():
    text = (ZH / "README.md").read_text()
    rows = {m.group(1) for m in re.finditer(r"^\| (\d\d) ", text, re.M)}
    missing = [p.stem for p in LESSONS if p.stem[:2] not in rows]
    assert not missing, f"docs/zh/README.md: add a row for {missing} to the lesson table"


def _table_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def test_glossary_points_at_lessons_and_modules_that_exist():
    rows = [r for r in _table_rows((ZH / "glossary.md").read_text()) if r[0] != "中文"]
    assert len(rows) >= 40
    names = {"镜像", "容器", "仓库", "命名空间", "控制组", "联合文件系统", "写时复制", "删除标记", "挂载"}
    assert names <= {r[0].split(" / ")[0] for r in rows} | {r[0] for r in rows}, "a core term is missing"
    for term, english, _, lessons, modules in rows:
        assert english and re.fullmatch(r"\d\d(, \d\d)*", lessons), f"glossary row {term!r}: lessons {lessons!r}"
        assert all(0 <= int(n) <= 11 for n in lessons.split(", "))
        for module in re.findall(r"`([^`]+)`", modules):
            assert (ROOT / "minicontainer" / module).exists(), \
                f"docs/zh/glossary.md row {term!r} names minicontainer/{module}, which does not exist: update it"


def _commands() -> dict:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sub.choices


def _known(words: list[str], commands: dict) -> bool:
    """Whether `minicontainer WORDS` names a command (and subcommand, and options) that exists."""
    if words == ["--version"]:
        return True
    if not words or words[0] not in commands:
        return False
    parser = commands[words[0]]
    rest = words[1:]
    subs = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    if subs and rest and not rest[0].startswith("-"):
        if rest[0] not in subs[0].choices:
            return False
        parser, rest = subs[0].choices[rest[0]], rest[1:]
    known = parser._option_string_actions
    for word in (w.split("=")[0] for w in rest if w.startswith("-")):
        if word not in known and not (word[1] != "-" and all(f"-{c}" in known for c in word[1:])):
            return False          # (-it is -i -t)
    return True


def test_cheatsheet_commands_exist_or_are_marked_to_come():
    commands = _commands()
    rows = [r for r in _table_rows((ZH / "cheatsheet.md").read_text()) if r[0] != "docker（教程）"]
    assert len(rows) >= 45
    for docker, ours, state, _, _ in rows:
        spans = [span[span.index("minicontainer"):].split() for span in re.findall(r"`([^`]*)`", ours)
                 if "minicontainer" in span]
        spans = [[w for w in words[1:] if w != "…"] for words in spans]
        if state == "✅":
            assert spans, f"cheatsheet row {docker}: no minicontainer command"
            for words in spans:
                assert _known(words, commands), \
                    f"docs/zh/cheatsheet.md: `minicontainer {' '.join(words)}` (for {docker}) does not exist"
        elif state.startswith("🚧"):
            assert "待实现" in state and spans, f"cheatsheet row {docker}: mark it '🚧 待实现' with the planned command"
            assert not _known(spans[0], commands), \
                f"docs/zh/cheatsheet.md: `minicontainer {' '.join(spans[0])}` exists now: mark the row {docker} ✅ " \
                "and say how to use it"
        else:
            assert state == "—", f"cheatsheet row {docker}: state must be ✅, 🚧 待实现 or —"
