"""Where you are in the course: every lesson's exercise parts, done or not (lesson 00).

    $ minicontainer progress              (or `make progress`, or `show_progress()` in a notebook)
    Your progress (checks run on exercises/ just now)
      01-chroot             [#####-----]  2/5   1.1 ok   1.2 ok   1.3 --   1.4 --   1.5 --
      02-namespaces         [----------]  0/5   ...
    Done: 2 of 35 parts

Each part counts as done when all its checks pass (the same checks as `make check EX=01`). A lesson
can also have a milestone: the runtime doing the lesson's new thing end to end on your code. A
milestone is one more row, shown when the lesson defines one (`Lesson.milestone`, None until then).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from .exercises import Lesson, lessons, run_checks


@dataclass
class Row:
    """One thing to do: an exercise part ("1.2") or a lesson's milestone."""

    label: str
    done: bool
    kind: str = "part"     # "part" or "milestone"
    detail: str = ""       # the first failing check, when not done


@dataclass
class LessonProgress:
    name: str
    rows: list[Row] = field(default_factory=list)

    @property
    def parts(self) -> list[Row]:
        return [r for r in self.rows if r.kind == "part"]

    @property
    def milestone(self) -> Row | None:
        return next((r for r in self.rows if r.kind == "milestone"), None)

    @property
    def done(self) -> int:
        return sum(r.done for r in self.parts)


def milestone_row(lesson: Lesson, source: str | None = None) -> Row | None:
    """The lesson's milestone, checked, or None while the lesson has none (milestones come lesson by lesson)."""
    return None


def lesson_progress(lesson: Lesson, source: str | None = None) -> LessonProgress:
    """Run one lesson's checks (on exercises/, or the directory `source`) and say which parts pass."""
    results = run_checks(lesson, source)
    progress = LessonProgress(lesson.name)
    for part in lesson.parts():
        # as `make check`: a check that does not apply to this host (skipped) counts neither way
        ran = [r for r in results if r.part == part and r.outcome != "skipped"]
        failed = [r for r in ran if r.outcome != "passed"]
        detail = failed[0].message.splitlines()[0][:120] if failed and failed[0].message else ""
        progress.rows.append(Row(part, bool(ran) and not failed, "part", detail))
    milestone = milestone_row(lesson, source)
    if milestone is not None:
        progress.rows.append(milestone)
    return progress


def course_progress(source: str | None = None) -> list[LessonProgress]:
    """Every lesson's progress, in lesson order."""
    return [lesson_progress(lesson, source) for lesson in lessons()]


def render_text(course: list[LessonProgress]) -> str:
    """The table `minicontainer progress` prints."""
    lines = ["Your progress (checks run on your exercises just now)"]
    for lp in course:
        parts = lp.parts
        width = 10
        filled = round(width * lp.done / len(parts)) if parts else 0
        marks = "  ".join(f"{r.label} {'ok' if r.done else '--'}" for r in parts)
        lines.append(f"  {lp.name:<22} [{'#' * filled}{'-' * (width - filled)}] {lp.done:>2}/{len(parts):<2}  {marks}")
        if lp.milestone is not None:
            m = lp.milestone
            lines.append(f"  {'':<22} milestone {m.label}: {'done' if m.done else 'not yet'}")
    total = sum(len(lp.parts) for lp in course)
    done = sum(lp.done for lp in course)
    lines.append(f"Done: {done} of {total} parts")
    return "\n".join(lines)


def render_html(course: list[LessonProgress]) -> str:
    """The same table as HTML (a notebook shows this): green parts are done."""
    out = ["<table><tr><th style='text-align:left'>lesson</th><th>done</th><th style='text-align:left'>parts</th></tr>"]
    for lp in course:
        cells = "".join(
            f"<span title='{html.escape(r.detail)}' style='display:inline-block;margin:1px;padding:1px 6px;"
            f"border-radius:3px;background:{'#c8e6c9' if r.done else '#eeeeee'}'>{html.escape(r.label)}</span>"
            for r in lp.parts)
        out.append(f"<tr><td style='text-align:left'><code>{html.escape(lp.name)}</code></td>"
                   f"<td>{lp.done}/{len(lp.parts)}</td><td style='text-align:left'>{cells}</td></tr>")
        if lp.milestone is not None:
            m = lp.milestone
            out.append(f"<tr><td></td><td>{'done' if m.done else 'not yet'}</td>"
                       f"<td style='text-align:left'>milestone: {html.escape(m.label)}</td></tr>")
    total = sum(len(lp.parts) for lp in course)
    done = sum(lp.done for lp in course)
    out.append(f"</table><p>Done: {done} of {total} parts</p>")
    return "".join(out)


class ProgressView:
    """What show_progress() returns: a notebook shows the HTML table, a terminal the text."""

    def __init__(self, course: list[LessonProgress]) -> None:
        self.course = course

    def _repr_html_(self) -> str:
        return render_html(self.course)

    def __repr__(self) -> str:
        return render_text(self.course)


def show_progress(source: str | None = None) -> ProgressView:
    """Check every lesson's exercises now and show the table (in a notebook: the last line of a cell)."""
    return ProgressView(course_progress(source))


def main(source: str | None = None) -> int:
    """`minicontainer progress`: print the table."""
    print(render_text(course_progress(source)))
    return 0
