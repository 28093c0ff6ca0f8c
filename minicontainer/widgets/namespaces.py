"""A namespace explorer: a container and the host side by side (lesson 02).

    namespace   host            container        shared?
    mnt         mnt:[4026531841] mnt:[4026532301]  no
    net         net:[4026531840] net:[4026532304]  no
    user        user:[4026531837] user:[4026531837] yes
    ...
    as the container sees them          |  as the host sees them
                                        |  pid 13010 (the runtime, waiting)
                                        |    pid 13011 (the helper, outside the PID namespace)
    1   mc-init                         |      pid 13012
      2   sh                            |        pid 13013

Everything is read from /proc at the moment you call it: /proc/PID/ns/* (same inode = same
namespace), /proc/PID/task/PID/children (the tree) and the NSpid line of /proc/PID/status (a
process's PID in each PID namespace it belongs to, outermost first). `show(pid)` displays it in
a notebook (an HTML widget with a Refresh button; plain text without ipywidgets); `render_text(pid)`
returns the text.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass

from ..namespaces import ALL


@dataclass
class Row:
    """One namespace type, for two processes."""

    name: str
    host: str
    container: str

    @property
    def shared(self) -> bool:
        return self.host == self.container


@dataclass
class Proc:
    """A process of the container: its PID on the host, its PID inside, its command, its depth."""

    host_pid: int
    inner_pid: int
    command: str
    depth: int


def compare(pid: int, other: int | str = "self", proc: str = "/proc") -> list[Row]:
    """Each namespace of `pid` beside the same one of `other` (default: this process, on the host)."""
    rows = []
    for name in ALL:
        try:
            a = os.readlink(f"{proc}/{other}/ns/{name}")
            b = os.readlink(f"{proc}/{pid}/ns/{name}")
        except OSError:
            continue
        rows.append(Row(name, a, b))
    return rows


def _children(pid: int, proc: str) -> list[int]:
    try:
        with open(f"{proc}/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _inner_pid(pid: int, proc: str) -> int:
    with open(f"{proc}/{pid}/status") as f:
        for line in f:
            if line.startswith("NSpid:"):
                return int(line.split()[-1])  # the innermost PID namespace's number
    return pid


def _command(pid: int, proc: str) -> str:
    try:
        with open(f"{proc}/{pid}/cmdline", "rb") as f:
            text = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"
    return text or "?"


def tree(pid: int, proc: str = "/proc") -> list[Proc]:
    """`pid` and its descendants, depth first, with their PIDs on the host and inside."""
    out: list[Proc] = []

    def walk(p: int, depth: int) -> None:
        try:
            out.append(Proc(p, _inner_pid(p, proc), _command(p, proc), depth))
        except OSError:
            return  # it exited while we looked
        for child in _children(p, proc):
            walk(child, depth + 1)

    walk(pid, 0)
    return out


def render_text(pid: int, other: int | str = "self") -> str:
    """The explorer as plain text."""
    rows = compare(pid, other)
    width = max([len(r.host) for r in rows] + [4])
    lines = [f"{'namespace':10} {'host':{width}}  {'container':{width}}  shared?"]
    for r in rows:
        lines.append(f"{r.name:10} {r.host:{width}}  {r.container:{width}}  {'yes' if r.shared else 'no'}")
    lines.append("")
    lines.append(f"{'as the container sees them':34}  |  as the host sees them")
    helper = parent(pid)
    runtime = parent(helper) if helper else 0
    if runtime:  # invisible from inside: they are outside the container's PID namespace
        lines.append(f"{'':34}  |  pid {runtime} (the runtime, waiting)")
    if helper:
        lines.append(f"{'':34}  |    pid {helper} (the helper, outside the PID namespace)")
    base = "    " if helper else ""
    for p in tree(pid):
        indent = "  " * p.depth
        lines.append(f"{indent}{p.inner_pid:<3} {p.command[:30]:<{30 - len(indent)}}  |  {base}{indent}pid {p.host_pid}")
    return "\n".join(lines)


def parent(pid: int, proc: str = "/proc") -> int:
    """The PID of a process's parent (0 when unknown)."""
    from ..proc import parent_pid
    try:
        return parent_pid(pid, proc)
    except (OSError, ValueError):
        return 0


def render_html(pid: int, other: int | str = "self") -> str:
    """The explorer as an HTML table: shared namespaces in green, private ones in orange."""
    rows = compare(pid, other)
    cells = "".join(
        f"<tr style='background:{'#e6f4ea' if r.shared else '#fdecd2'}'><td><b>{r.name}</b></td>"
        f"<td><code>{html.escape(r.host)}</code></td><td><code>{html.escape(r.container)}</code></td>"
        f"<td>{'shared' if r.shared else 'private'}</td></tr>" for r in rows)
    procs = tree(pid)
    pcells = "".join(
        f"<tr><td style='padding-left:{1 + 1.5 * p.depth}em'>{p.host_pid}</td>"
        f"<td style='padding-left:{1 + 1.5 * p.depth}em'>{p.inner_pid}</td>"
        f"<td><code>{html.escape(p.command[:60])}</code></td></tr>" for p in procs)
    return ("<table><tr><th>namespace</th><th>host</th><th>container</th><th></th></tr>" + cells + "</table>"
            "<table><tr><th>PID on the host</th><th>PID inside</th><th>command</th></tr>" + pcells + "</table>")


def gone_html(pid: int) -> str:
    """What the explorer says once the container's PID 1 is gone (instead of two empty tables)."""
    return (f"<p><b>The container has exited</b>: PID {pid} is gone, so there is nothing left to compare. "
            "Start a container again and call <code>show(pid)</code> with its PID.</p>")


def show(pid: int, other: int | str = "self") -> object:
    """The explorer with a Refresh button (ipywidgets), or its text without ipywidgets (printed).

    Display it (the last line of a cell): the widget, and a picture of it for a notebook opened
    before it runs. Refresh reads /proc again; once the container has exited it says so."""
    try:
        import ipywidgets as widgets
    except ImportError:
        print(render_text(pid, other))
        return None
    from . import lesson_view, text_png

    box = widgets.HTML(render_html(pid, other))
    button = widgets.Button(description="Refresh", icon="refresh")
    status = widgets.Label("read from /proc just now")
    status.add_class("mc-status")  # (the browser tests find it by this class)
    refreshes = 0

    def refresh(_: object) -> None:
        nonlocal refreshes
        refreshes += 1
        if not os.path.exists(f"/proc/{pid}"):
            box.value = gone_html(pid)
            status.value = f"refresh {refreshes}: the container has exited"
            return
        box.value = render_html(pid, other)
        status.value = f"refresh {refreshes}: read from /proc again"

    button.on_click(refresh)
    rows = compare(pid, other)
    summary = (f"namespace explorer: {sum(not r.shared for r in rows)} of {len(rows)} namespaces private, "
               f"{len(tree(pid))} processes in the container")
    return lesson_view([widgets.HBox([button, status]), box],
                       picture=lambda: text_png(render_text(pid, other), "namespace explorer"),
                       summary=summary)
