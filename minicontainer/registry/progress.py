"""Progress of a pull or push: tqdm bars in a terminal, ipywidgets bars in a notebook, else plain lines (lesson 06).

The client reports bytes as they arrive, from several download threads at once; a `Progress`
turns that into a bar per layer. Everything here is optional: without tqdm or ipywidgets, or when
output goes to a log, the pull prints one line per finished blob instead.
"""

from __future__ import annotations

import sys
import threading
from typing import Any


class Progress:
    """Silent progress: the interface every display implements."""

    def start(self, key: str, label: str, total: int) -> None: ...

    def advance(self, key: str, n: int) -> None: ...

    def finish(self, key: str, status: str = "done") -> None: ...

    def close(self) -> None: ...


class LineProgress(Progress):
    """One line per finished blob, for logs and pipes (what Docker prints when output is not a terminal)."""

    def __init__(self, stream: Any = None) -> None:
        self._stream = stream or sys.stderr
        self._labels: dict[str, str] = {}
        self._lock = threading.Lock()

    def start(self, key: str, label: str, total: int) -> None:
        self._labels[key] = label

    def finish(self, key: str, status: str = "done") -> None:
        with self._lock:
            print(f"{self._labels.get(key, key)}: {status}", file=self._stream, flush=True)


class TqdmProgress(Progress):
    """One tqdm bar per blob, in a terminal."""

    def __init__(self, stream: Any = None) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self._stream = stream or sys.stderr
        self._bars: dict[str, Any] = {}
        self._lock = threading.Lock()

    def start(self, key: str, label: str, total: int) -> None:
        with self._lock:
            self._bars[key] = self._tqdm(total=total, desc=label, unit="B", unit_scale=True, unit_divisor=1024,
                                         leave=True, file=self._stream, position=len(self._bars))

    def advance(self, key: str, n: int) -> None:
        bar = self._bars.get(key)
        if bar is not None:
            with self._lock:
                bar.update(n)

    def finish(self, key: str, status: str = "done") -> None:
        bar = self._bars.get(key)
        if bar is not None:
            with self._lock:
                bar.set_postfix_str(status)
                bar.n = bar.total or bar.n
                bar.refresh()

    def close(self) -> None:
        with self._lock:
            for bar in self._bars.values():
                bar.close()
            self._bars.clear()


class WidgetProgress(Progress):
    """An ipywidgets bar per blob in a notebook; updates come from the download threads."""

    def __init__(self) -> None:
        import ipywidgets as widgets
        from IPython.display import display

        from ..widgets import lesson_view, text_png

        self._w = widgets
        self._bars: dict[str, Any] = {}
        self._done: dict[str, int] = {}
        self._lock = threading.Lock()
        # The bars, and a picture of them for a notebook opened before it runs (updated at the end).
        self._box = lesson_view([], picture=lambda: text_png(self.text(), "pull progress"),
                                summary="progress: a bar per blob")  # the same text before and after
        self._handle = display(self._box, display_id=True)

    def text(self) -> str:
        """The bars as text: one line per blob."""
        lines = []
        for bar in list(self._bars.values()):
            filled = round(20 * bar.value / bar.max) if bar.max else 20
            lines.append(f"{bar.description:<20} {'█' * filled:<20} {bar.value}/{bar.max} B")
        return "\n".join(lines) or "(nothing to fetch)"

    def close(self) -> None:
        self._handle.update(self._box)  # the saved notebook keeps the finished bars

    def start(self, key: str, label: str, total: int) -> None:
        bar = self._w.IntProgress(value=0, min=0, max=max(total, 1), description=label[:20],
                                  layout=self._w.Layout(width="60%"))
        with self._lock:
            self._bars[key] = bar
            self._done[key] = 0
            self._box.children = tuple(self._bars.values())

    def advance(self, key: str, n: int) -> None:
        with self._lock:
            self._done[key] = self._done.get(key, 0) + n
            bar = self._bars.get(key)
            # Redrawing on every 1 MiB chunk would flood the front end: move in 2% steps.
            if bar is not None and (self._done[key] - bar.value) * 50 >= bar.max:
                bar.value = min(self._done[key], bar.max)

    def finish(self, key: str, status: str = "done") -> None:
        with self._lock:
            bar = self._bars.get(key)
            if bar is not None:
                bar.value = bar.max
                bar.bar_style = "success" if status != "failed" else "danger"
                bar.description = f"{bar.description[:12]} {status}"[:20]


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def auto_progress(enabled: bool = True) -> Progress:
    """The best display available: widgets in a notebook, tqdm on a terminal, else one line per blob."""
    if not enabled:
        return Progress()
    from ..launcher import ensure_site_packages

    if _in_notebook() or sys.stderr.isatty():
        ensure_site_packages()  # the fast launcher skips site-packages, where tqdm and ipywidgets live
    if _in_notebook():
        try:
            return WidgetProgress()
        except ImportError:
            return Progress()
    if sys.stderr.isatty():
        try:
            return TqdmProgress()
        except ImportError:
            return LineProgress()
    return LineProgress()
