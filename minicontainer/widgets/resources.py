"""A live resource monitor for a running container: memory, CPU and pids over time (lesson 03).

    monitor = resource_monitor("hog")      # a container name or id, or a cgroups.Cgroup
    monitor                                # in a notebook: a plot that updates a few times a second

A background thread reads the container's cgroup (`Cgroup.stats()`) every `interval` seconds, so the
notebook's kernel stays free while it runs. The plot has three panels: memory in use with the
limit as a dashed line, CPU in % of one CPU (from two readings, as `docker stats` computes it), and
the number of tasks with the pids limit. Each OOM kill (the memory.oom_control / memory.events
counter going up) is marked with a red line. The thread stops when the container's group is empty
or gone (the container exited), or on `monitor.stop()`.

Without ipywidgets or matplotlib the monitor still samples, and shows itself as a text table.
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass

from ..cgroups import Cgroup, Stats, cpu_percent, group, human_bytes


@dataclass
class Sample:
    """One point of the plot."""

    t: float                 # seconds since the monitor started
    memory: int | None
    cpu: float | None        # % of one CPU since the previous sample
    pids: int | None
    oom_kills: int


def find_group(target: str | Cgroup) -> tuple[str, Cgroup, str]:
    """(a label, the group, the container id or "") for a container name/id, a group name, or a Cgroup."""
    if isinstance(target, Cgroup):
        return target.name[:12], target, ""
    from .. import container
    try:
        c = container.find(container.default_paths(), target)
        return c.name, group(c.id), c.id
    except Exception:  # noqa: BLE001 - not a container of this instance: a group name
        return target[:12], group(target), ""


class ResourceMonitor:
    """Samples one group in a thread; draws with matplotlib into an ipywidgets Image."""

    def __init__(self, target: str | Cgroup, interval: float = 0.1, window: float = 60.0, redraw: float = 0.5) -> None:
        self.label, self.group, self.container_id = find_group(target)
        self.interval = interval
        self.redraw = redraw
        self.window = window
        self.samples: list[Sample] = []
        self.oom_times: list[float] = []
        self.memory_limit: int | None = None
        self.pids_limit: int | None = None
        self.peak: int | None = None
        self.status = "starting"
        self._stop = threading.Event()
        self._done = threading.Event()
        self._start = time.monotonic()
        self._last: Stats | None = None
        self._widgets = None  # the sampler starts first: loading matplotlib can take a second
        self._handle = None   # the notebook output showing the monitor (updated with the last picture)
        self._alive = self.sample()  # the first reading at once (a few file reads), the rest in a thread
        self._thread = threading.Thread(target=self._run, name=f"resource-monitor-{self.label}", daemon=True)
        self._thread.start()
        self._widgets = _make_widgets(self)
        if not self._thread.is_alive():
            self._draw()  # the container was already gone: draw what was seen

    # --- sampling ---------------------------------------------------------------------------
    def sample(self) -> bool:
        """Read the group once; False when the container is gone (the group is empty or removed)."""
        try:
            if not self.group.exists():
                return False
            s = self.group.stats()
            alive = bool(self.group.procs())
            if not self.group.exists():  # removed while we read: its files read as "not counted" (None)
                return False
        except OSError:  # removed between the two reads
            return False
        cpu = cpu_percent(self._last, s) if self._last else None
        kills = s.oom_kills or 0
        seen = max((x.oom_kills for x in self.samples), default=0)
        if kills > seen:  # the counter went past anything seen before: mark it (a reading of a dying group
            self.oom_times.append(s.time - self._start)  # can show 0 for a moment; that is no new kill)
        self.samples.append(Sample(s.time - self._start, s.memory, cpu, s.pids, kills))
        self.memory_limit, self.pids_limit = s.memory_limit, s.pids_limit
        self.peak = s.memory_peak
        self._last = s
        return alive

    def _oom_from_state(self) -> None:
        """The group may be gone before the last reading: the container's state says if it was OOM-killed."""
        if not self.container_id or any(x.oom_kills for x in self.samples):
            return
        from .. import container
        deadline = time.monotonic() + 30  # the monitor records the exit after its teardown: slow on a busy host
        while time.monotonic() < deadline:
            try:
                c = container.load(container.default_paths(), self.container_id)
            except (OSError, ValueError):
                return
            if c.status == "exited":
                if c.oom_killed:
                    when = time.monotonic() - self._start
                    self.oom_times.append(when)
                    self.samples.append(Sample(when, 0, 0.0, 0, 1))
                return
            time.sleep(0.05)

    def _run(self) -> None:
        """The sampler thread: reads the group every `interval` s; a second thread draws (drawing is slower)."""
        self.status = "running"
        drawer = threading.Thread(target=self._draw_loop, name=f"resource-plot-{self.label}", daemon=True)
        drawer.start()
        while not self._stop.is_set():
            if not self._alive or not self.sample():
                self.status = "exited"
                self._oom_from_state()
                break
            self._stop.wait(self.interval)
        else:
            self.status = "stopped"
        self._done.set()
        drawer.join()
        self._draw()
        if self._handle is not None:  # the saved notebook keeps the last picture, not the first
            self._handle.update(self._widgets[0])

    def _draw_loop(self) -> None:
        while not self._done.wait(self.redraw):
            self._draw()

    def stop(self) -> None:
        """Stop sampling (the plot keeps its last picture)."""
        self._stop.set()
        self._thread.join(timeout=5)

    def wait(self, timeout: float | None = None) -> "ResourceMonitor":
        """Block until the container exits (for scripts and tests; a notebook need not wait)."""
        self._thread.join(timeout)
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    # --- showing ----------------------------------------------------------------------------
    def summary(self) -> str:
        """One line: what happened while the monitor watched."""
        samples = list(self.samples)
        cpu = [s.cpu for s in samples if s.cpu is not None]
        pids = [s.pids for s in samples if s.pids is not None]
        kills = samples[-1].oom_kills if samples else 0
        return (f"{self.label}: {self.status}, {len(samples)} samples; memory peak {human_bytes(self.peak)}"
                f" of {human_bytes(self.memory_limit) if self.memory_limit else 'unlimited'}; "
                f"CPU max {max(cpu, default=0):.0f}%; pids max {max(pids, default=0)}; OOM kills {kills}")

    def text(self, rows: int = 10) -> str:
        """The last samples as a table (what the monitor shows without ipywidgets)."""
        lines = [f"{'t (s)':>7} {'memory':>10} {'CPU %':>7} {'pids':>5} {'OOM':>4}"]
        for s in self.samples[-rows:]:
            lines.append(f"{s.t:7.2f} {human_bytes(s.memory):>10} {'-' if s.cpu is None else f'{s.cpu:.0f}':>7} "
                         f"{'-' if s.pids is None else s.pids:>5} {s.oom_kills:>4}")
        return "\n".join(lines + [self.summary()])

    def __repr__(self) -> str:
        return self.text()

    def _repr_mimebundle_(self, **kwargs):
        if self._widgets is None:
            return {"text/plain": self.text()}
        return self._widgets[0]._repr_mimebundle_(**kwargs)  # the plot, a picture of it and a summary

    def _ipython_display_(self) -> None:
        """Shown by a notebook: with a display id, so the end of the run can update the saved picture."""
        from IPython.display import display

        if self._widgets is None:
            display(self._repr_mimebundle_(), raw=True)
            return
        self._handle = display(self._widgets[0], display_id=True)
        if not self.running:
            self._handle.update(self._widgets[0])

    def _draw(self) -> None:
        if self._widgets is None:
            return
        box, image, label = self._widgets
        try:
            image.value = render_png(self)
        except Exception as exc:  # noqa: BLE001 - a drawing problem must not kill the sampler
            label.value = f"cannot draw: {exc}"
            return
        label.value = self.summary()


def _make_widgets(monitor: ResourceMonitor):
    """(box, image, label), or None without ipywidgets/matplotlib (then the monitor is text)."""
    try:
        import ipywidgets as w
        import matplotlib  # noqa: F401
    except ImportError:
        return None
    from . import lesson_view

    image = w.Image(format="png", layout=w.Layout(width="720px"))
    label = w.Label("starting")
    box = lesson_view([image, label], picture=lambda: render_png(monitor),
                      summary=f"resource monitor for {monitor.label}")  # a stable text for nbval
    return box, image, label


def render_png(monitor: ResourceMonitor) -> bytes:
    """The three panels as a PNG (matplotlib's object API: no pyplot state, safe in a thread)."""
    from matplotlib.figure import Figure

    samples = list(monitor.samples)  # the sampler thread appends meanwhile
    end = samples[-1].t if samples else 0.0
    start = max(0.0, end - monitor.window)
    shown = [s for s in samples if s.t >= start]
    t = [s.t for s in shown]
    fig = Figure(figsize=(7.2, 4.2), dpi=80)
    mem, cpu, pids = fig.subplots(3, 1, sharex=True)
    mem.plot(t, [(s.memory or 0) / 2**20 for s in shown], color="tab:blue")
    if monitor.memory_limit:
        mem.axhline(monitor.memory_limit / 2**20, color="tab:blue", linestyle="--", linewidth=1)
    mem.set_ylabel("memory MiB")
    cpu.plot(t, [s.cpu or 0 for s in shown], color="tab:orange")
    cpu.set_ylabel("CPU %")
    pids.plot(t, [s.pids or 0 for s in shown], color="tab:green")
    if monitor.pids_limit:
        pids.axhline(monitor.pids_limit, color="tab:green", linestyle="--", linewidth=1)
    pids.set_ylabel("pids")
    pids.set_xlabel("seconds")
    for when in monitor.oom_times:
        if when >= start:
            for ax in (mem, cpu, pids):
                ax.axvline(when, color="red", linewidth=1.5)
            mem.annotate("OOM kill", (when, 0), color="red", fontsize=8, xytext=(3, 3), textcoords="offset points")
    fig.suptitle(f"{monitor.label} ({monitor.status})", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def resource_monitor(target: str | Cgroup, interval: float = 0.1, window: float = 60.0,
                     redraw: float = 0.5) -> ResourceMonitor:
    """Start watching a container (name or id) or a cgroup; returns at once (display it in a notebook).

    Samples every `interval` seconds, redraws the plot every `redraw` seconds, shows the last `window` seconds.
    """
    return ResourceMonitor(target, interval, window, redraw)
