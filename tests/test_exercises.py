"""The exercise mechanism holds for every lesson: stubs in sync, each check fails on the learner's
stub and passes on the solution (the proof that no check can accept a placeholder)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from minicontainer import exercises
from minicontainer.exercises import Lesson, lessons, make_stub, run_checks

LESSONS = lessons()
PARTS = [(lesson.name, part) for lesson in LESSONS for part in lesson.parts()]


@pytest.fixture(scope="session")
def outcomes() -> dict[str, dict[str, list]]:
    """Every lesson's checks, run once against the solutions and once against freshly generated stubs."""
    results: dict[str, dict[str, list]] = {}
    with tempfile.TemporaryDirectory() as stubs:
        for lesson in LESSONS:
            Path(stubs, f"{lesson.name}.py").write_text(lesson.generated_stub())
        for lesson in LESSONS:
            results[lesson.name] = {
                "solution": run_checks(lesson, str(lesson.root / "solutions")),
                "stub": run_checks(lesson, stubs),
            }
    return results


def test_there_are_exercises():
    assert LESSONS, "no solutions/NN-topic.py files found"
    assert len(LESSONS[0].parts()) >= 3, "lesson 01 must have at least 3 exercises"


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.name)
def test_learner_file_is_generated_from_solution(lesson: Lesson):
    assert lesson.stub.read_text() == lesson.generated_stub(), f"{lesson.stub} is out of date: run `make exercises`"


@pytest.mark.parametrize("name,part", PARTS, ids=[f"{n}:{p}" for n, p in PARTS])
def test_checks_pass_on_solution(outcomes, name, part):
    mine = [r for r in outcomes[name]["solution"] if r.part == part]
    assert mine, f"no check is marked exercise({part!r}) in the checks of {name}"
    bad = [f"{r.name}: {r.outcome}: {r.message[:300]}" for r in mine if r.outcome != "passed"]
    assert not bad, f"checks of {part} do not pass on the solution: {bad}"


@pytest.mark.parametrize("name,part", PARTS, ids=[f"{n}:{p}" for n, p in PARTS])
def test_checks_fail_on_stub(outcomes, name, part):
    mine = [r for r in outcomes[name]["stub"] if r.part == part]
    assert mine, f"no check of {part} ran against the stub"
    bad = [r.name for r in mine if r.outcome != "failed"]
    assert not bad, f"checks of {part} do not fail on the learner's stub (they could never catch a missing answer): {bad}"
    assert all(f"Exercise {part}" in r.message for r in mine), "a failure on the stub should show the exercise's hint"


def test_stub_replaces_each_answer_with_its_hint():
    solution = 'def f():\n    """Doc."""\n    ### BEGIN SOLUTION 9.1: add one\n    return 1 + 1\n    ### END SOLUTION\n'
    stub = make_stub(solution, "09-demo")
    assert "return 1 + 1" not in stub
    assert "    raise NotImplementedError('Exercise 9.1: add one')" in stub
    assert exercises.solution_parts(solution) == ["9.1"]


@pytest.mark.parametrize("text", [
    "### BEGIN SOLUTION 1.1\nx = 1\n",                              # never closed
    "x = 1\n### END SOLUTION\n",                                    # end without begin
    "### BEGIN SOLUTION 1.1\n### BEGIN SOLUTION 1.2\n### END SOLUTION\n",  # nested
])
def test_unbalanced_markers_are_refused(text):
    with pytest.raises(ValueError):
        make_stub(text, "09-demo")


def test_report_shows_progress_and_failures():
    lesson = Lesson("01-chroot")
    results = [exercises.Result("1.1", "test_a", "passed"), exercises.Result("1.2", "test_b", "failed", "NotImplementedError: Exercise 1.2: hint")]
    text = exercises.format_report(lesson, results, ["1.1", "1.2", "1.3"])
    assert "OK   1.1" in text and "FAIL 1.2" in text and "MISSING 1.3" in text
    assert "Progress: [#######-------------] 1/3" in text


def test_a_check_that_does_not_apply_to_this_host_counts_neither_way():
    """A v1-only check skipped on a v2 host (make test-vm) must not turn a correct part into FAIL."""
    lesson = Lesson("03-cgroups")
    results = [exercises.Result("3.4", "test_v2", "passed"), exercises.Result("3.4", "test_v1", "skipped", "a v2 host"),
               exercises.Result("3.5", "test_v1_only", "skipped", "a v2 host"),
               exercises.Result("3.3", "test_ok", "passed"), exercises.Result("3.3", "test_bad", "failed", "wrong"),
               exercises.Result("3.3", "test_v1", "skipped", "a v2 host")]
    text = exercises.format_report(lesson, results, ["3.3", "3.4", "3.5"])
    assert "OK   3.4  (1 check, 1 not for this host)" in text, text
    assert "SKIP 3.5" in text and "FAIL 3.3  (1/2 checks pass, 1 not for this host)" in text, text
    assert "1/3" in text
