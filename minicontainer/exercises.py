"""How the course's exercises work: solutions, generated stubs and checks (lesson 00).

Every lesson has one solution file, the source of truth, kept apart for instructors:

    solutions/01-chroot.py          functions with their answers between markers:
                                        ### BEGIN SOLUTION 1.2: hint for the learner
                                        ...the answer...
                                        ### END SOLUTION

From it `make exercises` generates the learner's file, where each answer is replaced by

    exercises/01-chroot.py              raise NotImplementedError("Exercise 1.2: hint for the learner")

and the checks live beside it, one pytest test (or more) per part, marked with the part:

    exercises/checks/test_01_chroot.py  @pytest.mark.exercise("1.2") def test_...(ex): ...

The `ex` fixture loads the learner's file, or the solutions when MC_EXERCISES=solutions (or any
directory MC_EXERCISES names). `make check EX=01` and `check("1.2")` in a notebook run the checks
and print one OK/FAIL line per part with what was expected and a hint; `verify()` (run by
`make test`) proves that every check fails on the stubs and passes on the solutions.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from .paths import repo_root

BEGIN = re.compile(r"^(?P<indent>\s*)### BEGIN SOLUTION (?P<part>\d+\.\d+)(?::\s*(?P<hint>.*))?$")
END = re.compile(r"^\s*### END SOLUTION\s*$")

HEADER = '''\
# Your exercises for lesson {lesson}. Replace each `raise NotImplementedError(...)` with your code.
# Check your work with `make check EX={number}` (or the check cells in notebooks/{lesson}.ipynb).
# This file was generated from the instructors' solutions by `make exercises`.
'''


# --- generating the learner's stubs ---------------------------------------------------------

def make_stub(solution_text: str, lesson: str) -> str:
    """The learner's version of a solution file: every marked answer becomes a NotImplementedError."""
    out: list[str] = [HEADER.format(lesson=lesson, number=lesson.split("-")[0])]
    inside = False
    for number, line in enumerate(solution_text.splitlines(), start=1):
        begin = BEGIN.match(line)
        if begin:
            if inside:
                raise ValueError(f"line {number}: BEGIN SOLUTION inside another solution block")
            inside = True
            part, hint = begin["part"], (begin["hint"] or "").strip()
            message = f"Exercise {part}: {hint}" if hint else f"Exercise {part}"
            out.append(f"{begin['indent']}raise NotImplementedError({message!r})")
        elif END.match(line):
            if not inside:
                raise ValueError(f"line {number}: END SOLUTION without BEGIN SOLUTION")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError("a BEGIN SOLUTION block is never closed")
    return "\n".join(out) + "\n"


def solution_parts(solution_text: str) -> list[str]:
    """The exercise parts ('1.1', '1.2', ...) a solution file defines, in order."""
    return [m["part"] for line in solution_text.splitlines() if (m := BEGIN.match(line))]


@dataclass
class Lesson:
    """One lesson's exercise files."""

    name: str  # "01-chroot"
    root: Path = field(default_factory=repo_root)

    @property
    def solution(self) -> Path:
        return self.root / "solutions" / f"{self.name}.py"

    @property
    def stub(self) -> Path:
        return self.root / "exercises" / f"{self.name}.py"

    @property
    def checks(self) -> Path:
        return self.root / "exercises" / "checks" / f"test_{self.name.replace('-', '_')}.py"

    def generated_stub(self) -> str:
        return make_stub(self.solution.read_text(), self.name)

    def parts(self) -> list[str]:
        return solution_parts(self.solution.read_text())


def lessons(root: Path | None = None) -> list[Lesson]:
    """Every lesson that has a solution file, in lesson order."""
    root = root or repo_root()
    return [Lesson(p.stem, root) for p in sorted((root / "solutions").glob("[0-9][0-9]-*.py"))]


def find_lesson(key: str, root: Path | None = None) -> Lesson:
    """A lesson by number ('01', '1'), by name ('01-chroot'), or by an exercise part ('1.2')."""
    number = key.split(".")[0].zfill(2) if key[:1].isdigit() else key
    for lesson in lessons(root):
        if lesson.name == key or lesson.name.split("-")[0] == number:
            return lesson
    known = ", ".join(lesson.name for lesson in lessons(root))
    raise SystemExit(f"no exercises for {key!r}; the lessons with exercises are: {known}")


def write_stubs(root: Path | None = None) -> list[Path]:
    """Regenerate every learner file from its solution (`make exercises`). Returns the files written."""
    written = []
    for lesson in lessons(root):
        text = lesson.generated_stub()
        if not lesson.stub.exists() or lesson.stub.read_text() != text:
            lesson.stub.write_text(text)
            written.append(lesson.stub)
    return written


# --- running checks -------------------------------------------------------------------------

@dataclass
class Result:
    """What happened to one check."""

    part: str
    name: str
    outcome: str  # "passed", "failed", "skipped"
    message: str = ""


def run_checks(lesson: Lesson, source: str | None = None, parts: list[str] | None = None) -> list[Result]:
    """Run a lesson's checks in a fresh process against `source` (a directory of exercise files)."""
    env = dict(os.environ)
    # The checks use no pytest plugin: without autoload a check starts in ~0.5 s instead of ~7 s
    # (nbval, hypothesis and the others installed for `make test` are not imported).
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    if source is not None:
        env["MC_EXERCISES"] = str(source)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-header",
               "-o", "junit_family=xunit1", f"--junitxml={report}", str(lesson.checks)]
        if parts:
            cmd += ["-m", " or ".join(f"part_{p.replace('.', '_')}" for p in parts)]
        subprocess.run(cmd, env=env, cwd=lesson.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not report.exists():
            raise RuntimeError(f"the checks in {lesson.checks} did not run (try: pytest {lesson.checks})")
        return _read_report(report)


def _read_report(report: Path) -> list[Result]:
    results = []
    for case in ET.parse(report).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = "skipped" if tag == "skipped" else "failed"
                message = (node.get("message") or node.text or "").strip()
                break
        results.append(Result(props.get("exercise", "?"), case.get("name", "?"), outcome, message))
    return results


def _short(message: str) -> str:
    """The first useful lines of a failure, without pytest's 'AssertionError: assert ...' noise."""
    lines = [ln for ln in message.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.lstrip().startswith(("assert ", "+  where", "+    where"))] or lines
    text = " ".join(lines[:3])
    return re.sub(r"^(AssertionError|NotImplementedError): ", "", text)[:500]


def format_report(lesson: Lesson, results: list[Result], parts: list[str] | None = None) -> str:
    """xv6/rustlings-style text: one line per part, what went wrong, and a progress bar."""
    wanted = parts or lesson.parts()
    lines = [f"Exercises of lesson {lesson.name}"]
    done = 0
    for part in wanted:
        mine = [r for r in results if r.part == part]
        if not mine:
            lines.append(f"  MISSING {part}: no check ran for this part")
            continue
        # A check that does not apply to this host (a v1-only check on a v2 host) is skipped: it counts
        # neither way, but a part needs at least one check that ran and passed.
        ran = [r for r in mine if r.outcome != "skipped"]
        failed = [r for r in ran if r.outcome != "passed"]
        skipped = f", {len(mine) - len(ran)} not for this host" if len(ran) < len(mine) else ""
        if ran and not failed:
            done += 1
            lines.append(f"  OK   {part}  ({len(ran)} check{'s' if len(ran) > 1 else ''}{skipped})")
        elif not ran:
            lines.append(f"  SKIP {part}  (no check of this part applies to this host)")
        else:
            lines.append(f"  FAIL {part}  ({len(ran) - len(failed)}/{len(ran)} checks pass{skipped})")
            for r in failed:
                lines.append(f"         {r.name}: {_short(r.message)}")
    width = 20
    filled = round(width * done / len(wanted)) if wanted else width
    lines.append(f"Progress: [{'#' * filled}{'-' * (width - filled)}] {done}/{len(wanted)}")
    return "\n".join(lines)


def check(key: str, source: str | None = None) -> None:
    """Check one part ('1.2') or a whole lesson ('01') and print the report. Used by notebooks."""
    check_passed(key, source)


def check_passed(key: str, source: str | None = None) -> bool:
    """Like check(), and say whether every check of the part (or lesson) passed."""
    lesson = find_lesson(key)
    parts = [key] if "." in key else None
    results = run_checks(lesson, source, parts)
    print(format_report(lesson, results, parts))
    wanted = parts or lesson.parts()
    ran = [r for r in results if r.part in wanted and r.outcome != "skipped"]
    return all(r.outcome == "passed" for r in ran) and {r.part for r in ran} >= set(wanted)


def verify(root: Path | None = None) -> list[str]:
    """Prove the exercise mechanism: stubs in sync, every check fails on stubs and passes on solutions.

    Returns a list of problems (empty when everything holds).
    """
    problems: list[str] = []
    all_lessons = lessons(root)
    with tempfile.TemporaryDirectory() as tmp:
        for lesson in all_lessons:
            Path(tmp, f"{lesson.name}.py").write_text(lesson.generated_stub())
        for lesson in all_lessons:
            if not lesson.stub.exists() or lesson.stub.read_text() != lesson.generated_stub():
                problems.append(f"{lesson.stub} is not in sync with {lesson.solution}: run `make exercises`")
            if not lesson.checks.exists():
                problems.append(f"{lesson.name}: no checks at {lesson.checks}")
                continue
            on_solution = run_checks(lesson, str(lesson.root / "solutions"))
            on_stub = run_checks(lesson, tmp)
            for part in lesson.parts():
                sol = [r for r in on_solution if r.part == part]
                stub = [r for r in on_stub if r.part == part]
                if not sol:
                    problems.append(f"{lesson.name} {part}: no check is marked exercise({part!r})")
                for r in sol:
                    if r.outcome != "passed":
                        problems.append(f"{lesson.name} {part} {r.name}: {r.outcome} on the solution: {_short(r.message)}")
                for r in stub:
                    if r.outcome != "failed":
                        problems.append(f"{lesson.name} {part} {r.name}: {r.outcome} on the learner's stub (it must fail)")
            stray = {r.part for r in on_solution} - set(lesson.parts())
            for part in sorted(stray):
                problems.append(f"{lesson.name}: checks marked {part!r}, which no solution block defines")
    return problems


def main(argv: list[str] | None = None) -> int:
    """`python -m minicontainer.exercises check 01 | generate | verify`."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = args.pop(0) if args else "help"
    if command == "check" and args:
        return 0 if check_passed(args[0], args[1] if len(args) > 1 else None) else 1
    if command == "generate":
        for path in write_stubs():
            print(f"wrote {path}")
        return 0
    if command == "verify":
        problems = verify()
        for p in problems:
            print(f"FAIL {p}")
        print("exercises: every check fails on its stub and passes on its solution" if not problems else
              f"exercises: {len(problems)} problem(s)")
        return 1 if problems else 0
    print("usage: python -m minicontainer.exercises check LESSON|PART [SOURCE_DIR] | generate | verify")
    return 2


if __name__ == "__main__":
    sys.exit(main())
