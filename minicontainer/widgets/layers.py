"""Which layer gives each file of a container its content: a layer visualiser (lesson 04).

    path                 layer         shadows        size
    etc                  2 update      0 base
    etc/motd             2 update      0 base            13
    etc/passwd           0 base                          11
    whiteouts: etc/old.conf (layer 2 update hid 1 path)
    bytes per layer:  0 base   ████████████████  1.2 MB
                      2 update █                   13 B

`layer_view(source)` takes a list of layer dirs (bottom first), a `MergedTree`, or a mounted
`RootfsMount` (then the container's upper dir is the top layer); `container_stack(name)` gives
the layers and upper dir of a container made by `minicontainer run`. In a notebook it shows a search
box, a layer filter and one page of the table at a time (20 rows, with previous/next buttons, so a
rootfs of 5,000 files stays a short table), with a bar per layer; without ipywidgets it returns the
same as text.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from ..unionmodel import MergedTree, merge


@dataclass(frozen=True)
class Row:
    path: str
    kind: str
    layer: int
    shadows: tuple[int, ...]
    size: int


def _tree_and_names(source, names: list[str] | None) -> tuple[MergedTree, list[str]]:
    if isinstance(source, MergedTree):
        tree = source
    elif hasattr(source, "lowers") and hasattr(source, "upper"):  # a RootfsMount
        layers = list(source.lowers) + ([source.upper] if source.driver == "overlay" else [])
        tree = merge(layers)
        if names is None:
            names = [p.name for p in source.lowers] + (["upper (container)"] if source.driver == "overlay" else [])
    else:
        tree = merge(list(source))
    names = names or [Path(p).name for p in tree.layers]
    if len(names) != len(tree.layers):
        raise ValueError(f"{len(names)} names for {len(tree.layers)} layers")
    return tree, [f"{i} {n}" for i, n in enumerate(names)]


def container_stack(ref: str, paths=None) -> tuple[list[Path], list[str]]:
    """(layers + the upper dir, their names) of a container made by `run` from an image."""
    from ..container import default_paths, find, state_dir

    paths = paths or default_paths()
    c = find(paths, ref)
    layers = [Path(p) for p in c.spec.get("layers") or []]
    upper = Path(state_dir(paths, c.id), "upper")
    if not layers or not upper.is_dir():
        raise ValueError(f"container {ref} has no layers and upper dir (was it run with --rootfs DIR?)")
    return layers + [upper], [p.name for p in layers] + [f"upper ({c.name})"]


def rows(tree: MergedTree) -> list[Row]:
    """One row per visible path, in path order."""
    return [Row(e.path, e.kind, e.layer, e.shadows, e.size if e.kind == "file" else 0) for e in tree.entries.values()]


def select(all_rows: list[Row], text: str = "", layer: int | None = None, shadowing: bool = False) -> list[Row]:
    """The rows whose path contains `text`, provided by `layer` (None: any), that shadow something if asked."""
    return [r for r in all_rows
            if text in r.path and (layer is None or r.layer == layer) and (not shadowing or r.shadows)]


def human(size: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size} B"


def bars(tree: MergedTree, names: list[str], width: int = 30) -> list[str]:
    """A text bar per layer: the bytes of regular files it provides to the merged view."""
    sizes = tree.bytes_per_layer()
    top = max(sizes) or 1
    pad = max(len(n) for n in names)
    return [f"{n:<{pad}} {'█' * max(1 if s else 0, round(width * s / top)):<{width}} {human(s)}"
            for n, s in zip(names, sizes)]


def render_text(source, names: list[str] | None = None, text: str = "", layer: int | None = None,
                limit: int = 40) -> str:
    """The table, the whiteouts and the bars, as plain text."""
    tree, names = _tree_and_names(source, names)
    chosen = select(rows(tree), text, layer)
    pad = max([len(r.path) for r in chosen[:limit]] + [4])
    lname = max(len(n) for n in names)
    lines = [f"{'path':<{pad}}  {'layer':<{lname}}  {'shadows':<{lname}}  size"]
    for r in chosen[:limit]:
        shadows = ", ".join(names[i] for i in r.shadows)
        size = human(r.size) if r.kind == "file" else ("/" if r.kind == "dir" else r.kind)
        lines.append(f"{r.path:<{pad}}  {names[r.layer]:<{lname}}  {shadows:<{lname}}  {size}")
    if len(chosen) > limit:
        lines.append(f"... {len(chosen) - limit} more of {len(chosen)} paths")
    if tree.removals:
        lines.append("whiteouts: " + "; ".join(
            f"{r.path} ({'opaque dir' if r.opaque else 'whiteout'} in {names[r.layer]} hid {r.hidden} path"
            f"{'s' if r.hidden != 1 else ''})" for r in tree.removals[:limit]))
    lines.append("bytes per layer:")
    lines += ["  " + line for line in bars(tree, names)]
    return "\n".join(lines)


class TextView(str):
    """What layer_view returns without ipywidgets: text that a notebook shows as it is."""

    def __repr__(self) -> str:
        return str(self)


def _html_table(page: list[Row], names: list[str]) -> str:
    cells = []
    for r in page:
        shadows = ", ".join(names[i] for i in r.shadows)
        size = human(r.size) if r.kind == "file" else ("dir" if r.kind == "dir" else r.kind)
        cells.append(f"<tr><td style='font-family:monospace'>{html.escape(r.path)}</td><td>{html.escape(names[r.layer])}"
                     f"</td><td>{html.escape(shadows)}</td><td style='text-align:right'>{size}</td></tr>")
    return ("<table><tr><th>path</th><th>layer</th><th>shadows</th><th>size</th></tr>" + "".join(cells)
            + "</table>")


def _html_bars(tree: MergedTree, names: list[str]) -> str:
    sizes = tree.bytes_per_layer()
    top = max(sizes) or 1
    out = ["<b>bytes per layer</b><table>"]
    for n, s in zip(names, sizes):
        out.append(f"<tr><td>{html.escape(n)}</td><td><div style='background:#4a90d9;height:10px;"
                   f"width:{max(1 if s else 0, round(300 * s / top))}px'></div></td><td>{human(s)}</td></tr>")
    return "".join(out) + "</table>"


def page_label(start: int, shown: int, matching: int, total: int) -> str:
    """'paths 21-40 of 4951 matching (4951 in all)'."""
    if not matching:
        return f"no path matches ({total} in all)"
    return f"paths {start + 1}–{start + shown} of {matching} matching ({total} in all)"


def layer_view(source, names: list[str] | None = None, page_size: int = 20):
    """An interactive table of who provides each path, a page at a time (ipywidgets), or its text.

    A search box, a layer filter and a checkbox choose the rows; ◀ ▶ turn the pages (`page_size` rows
    each, so a rootfs of 5,000 files stays a short table); below, the whiteouts and the bytes per layer."""
    try:
        import ipywidgets as w
    except ImportError:
        return TextView(render_text(source, names, limit=page_size))
    from . import lesson_view, text_png

    tree, names = _tree_and_names(source, names)
    all_rows = rows(tree)
    search = w.Text(placeholder="path contains…", description="filter")
    which = w.Dropdown(options=[("all layers", -1)] + [(n, i) for i, n in enumerate(names)], description="layer")
    shadowing = w.Checkbox(value=False, description="only paths that shadow a lower copy", indent=False,
                           layout=w.Layout(width="auto"))
    previous = w.Button(description="previous", icon="chevron-left", layout=w.Layout(width="auto"))
    following = w.Button(description="next", icon="chevron-right", layout=w.Layout(width="auto"))
    where = w.Label()
    where.add_class("mc-page")  # (the browser tests find it by this class)
    table = w.HTML()
    removed = "".join(f"<li><code>{html.escape(r.path)}</code>: {'opaque dir' if r.opaque else 'whiteout'} in "
                      f"{html.escape(names[r.layer])} hid {r.hidden}</li>" for r in tree.removals[:page_size])
    whiteouts = w.HTML(f"<b>removed by whiteouts</b><ul>{removed}</ul>" if removed else "<i>no whiteouts</i>")
    start = 0

    def chosen() -> list[Row]:
        return select(all_rows, search.value, None if which.value == -1 else which.value, shadowing.value)

    def show_page() -> None:
        rows_now = chosen()
        page = rows_now[start:start + page_size]
        table.value = _html_table(page, names)
        where.value = page_label(start, len(page), len(rows_now), len(all_rows))
        previous.disabled = start == 0
        following.disabled = start + page_size >= len(rows_now)

    def refilter(_change=None) -> None:
        nonlocal start
        start = 0
        show_page()

    def turn(step: int) -> None:
        nonlocal start
        start = max(0, start + step * page_size)
        show_page()

    for control in (search, which, shadowing):
        control.observe(refilter, names="value")
    previous.on_click(lambda _: turn(-1))
    following.on_click(lambda _: turn(+1))
    show_page()

    def picture() -> bytes:
        layer = None if which.value == -1 else which.value
        plain_names = [n.split(" ", 1)[1] for n in names]  # render_text numbers them again
        return text_png(render_text(tree, plain_names, text=search.value, layer=layer, limit=page_size), "layer view")

    return lesson_view([w.HBox([search, which]), shadowing, w.HBox([previous, following, where]), table, whiteouts,
                        w.HTML(_html_bars(tree, names))],
                       picture=picture,
                       summary=f"layer view of {len(names)} layers: " + ", ".join(names))  # no count: the image's varies
