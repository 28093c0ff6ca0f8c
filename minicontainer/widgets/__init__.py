"""Pictures for the lessons, drawn from live state (ipywidgets when present, plain text otherwise).

A widget lives in its kernel: a notebook opened before you run it has no kernel-side widget to show,
and JupyterLab would show only the widget's name. So every view here is a `LessonView`: a widget box
that also carries a PNG picture of itself and a one-line summary. JupyterLab shows the live widget
when the kernel has it, the picture otherwise; nbval compares the summary and ignores the picture.

    box = lesson_view([table, button], picture=lambda: text_png(text), summary="layer view: 12 paths")
"""

from __future__ import annotations

import base64
import functools
import io
from typing import Callable


def text_png(text: str, title: str = "") -> bytes:
    """A monospace picture of `text` (matplotlib's object API: no pyplot state, safe in a thread)."""
    from matplotlib.figure import Figure

    lines = (([title, ""] if title else []) + text.splitlines()) or [""]
    width = max(len(line) for line in lines)
    fig = Figure(figsize=(max(2.0, 0.075 * width + 0.3), 0.19 * len(lines) + 0.3), dpi=100)
    fig.patch.set_facecolor("white")
    fig.text(0.01, 0.99, "\n".join(lines), family="DejaVu Sans Mono", fontsize=9, va="top", ha="left",
             linespacing=1.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


@functools.lru_cache(maxsize=None)
def _view_class():
    """LessonView, made on first use (importing ipywidgets is the notebook's business, not the runtime's)."""
    import ipywidgets

    class LessonView(ipywidgets.VBox):
        """A VBox that also gives a notebook a picture of itself (image/png) and a summary (text/plain)."""

        def __init__(self, children, picture: Callable[[], bytes], summary: Callable[[], str], **kwargs) -> None:
            super().__init__(children, **kwargs)
            self._picture = picture
            self._summary = summary

        def _repr_mimebundle_(self, **kwargs):
            bundle = super()._repr_mimebundle_(**kwargs)
            if isinstance(bundle, tuple):  # (data, metadata)
                bundle = bundle[0]
            return {**bundle, **static_bundle(self._picture, self._summary)}

    return LessonView


def static_bundle(picture: Callable[[], bytes], summary: Callable[[], str]) -> dict[str, str]:
    """The picture (base64 PNG, as notebooks store it) and the summary, for a display bundle."""
    bundle = {"text/plain": summary()}
    try:
        bundle["image/png"] = base64.b64encode(picture()).decode("ascii")
    except Exception as exc:  # noqa: BLE001 - a picture that cannot be drawn must not hide the widget
        bundle["text/plain"] += f" (no picture: {exc})"
    return bundle


def lesson_view(children: list, picture: Callable[[], bytes], summary: Callable[[], str] | str, **kwargs):
    """A widget box with its own picture and summary (see the module's docstring)."""
    text = summary if callable(summary) else (lambda: summary)
    return _view_class()(children, picture, text, **kwargs)
