"""`minicontainer progress`: every lesson's parts, done or not, from the real checks (lesson 00)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from minicontainer import progress
from minicontainer.exercises import lessons

ROOT = Path(__file__).resolve().parents[1]


def test_progress_on_the_solutions_is_all_done_and_on_the_stubs_nothing(tmp_path):
    for lesson in lessons():
        (tmp_path / f"{lesson.name}.py").write_text(lesson.generated_stub())
    done = progress.course_progress(str(ROOT / "solutions"))
    stubs = progress.course_progress(str(tmp_path))
    total = sum(len(lesson.parts()) for lesson in lessons())
    assert [lp.name for lp in done] == [lesson.name for lesson in lessons()]
    assert sum(lp.done for lp in done) == total, progress.render_text(done)
    assert sum(lp.done for lp in stubs) == 0, progress.render_text(stubs)
    assert progress.render_text(done).endswith(f"Done: {total} of {total} parts")
    assert "Exercise " in stubs[0].parts[0].detail, "a part not done says which exercise it is"


def test_the_command_prints_the_same_table():
    out = subprocess.run([sys.executable, "-m", "minicontainer", "progress", "--source", str(ROOT / "solutions")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1].split()[:3] == ["01-chroot", "[##########]", "5/5"]


def test_a_milestone_is_one_more_row():
    lp = progress.LessonProgress("09-demo", [progress.Row("9.1", True), progress.Row("9.2", False),
                                             progress.Row("runs a container on your code", False, "milestone")])
    assert lp.done == 1 and len(lp.parts) == 2 and lp.milestone.label == "runs a container on your code"
    text = progress.render_text([lp])
    assert "milestone runs a container on your code: not yet" in text and text.endswith("Done: 1 of 2 parts")
    assert "milestone: runs a container on your code" in progress.render_html([lp])
