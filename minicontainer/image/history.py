"""`history`: which instruction made each layer of an image, and how big each layer is (lesson 05).

An image config carries a `history` list, one entry per build step, oldest first:

    {"created": "...", "created_by": "COPY site/ /www/ # buildkit", "comment": "buildkit.dockerfile.v0"}
    {"created": "...", "created_by": "EXPOSE [8080/tcp]", "empty_layer": true, ...}

Entries without `empty_layer` made a layer: the n-th of them goes with the n-th diff_id of
`rootfs`. `docker history` prints them newest first with the size of each layer: what the layer's
files take once unpacked (Docker's DiffSize: the sizes of its files, a hard link counted once).

A layer can only ADD bytes: deleting a file in a later step writes a whiteout (a tiny marker),
and the bytes stay in the lower layer. That is why `RUN rm big-file` never makes an image smaller,
and why one `RUN download && use && rm` is better than three RUNs.
"""

from __future__ import annotations

import calendar
import os
import stat
import time
from dataclasses import dataclass

from .store import Image, Store

EMPTY_LAYER_ID = "<missing>"     # what Docker shows for steps that are not a local image of their own


@dataclass
class HistoryRow:
    """One line of `history`, newest first."""

    id: str            # the image ID on the newest row, `<missing>` below it (as Docker since BuildKit)
    created: str       # RFC 3339 from the config
    created_by: str
    size: int          # bytes the layer adds; 0 for a step that changed only the config
    comment: str
    empty_layer: bool


def layer_size(store: Store, layer, diff_id: str) -> int:
    """What one layer's files take once unpacked: files_size() of its directory (lesson 11: 11.4)."""
    from .unpack import ensure_layer

    return files_size(str(ensure_layer(store, layer, diff_id)))


def files_size(root: str) -> int:
    """The bytes of everything under `root` but directories: files, symlinks (the length of their
    target), whiteouts (0); a file with several hard links is counted once, as `du` does."""
    total, seen = 0, set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            st = os.lstat(os.path.join(dirpath, name))
            if stat.S_ISDIR(st.st_mode) or (st.st_ino in seen):
                continue
            if st.st_nlink > 1:
                seen.add(st.st_ino)
            total += st.st_size
    return total


def image_history(store: Store, image: Image) -> list[HistoryRow]:
    """The rows `minicontainer history IMAGE` prints, newest first."""
    entries = list(image.config.get("history") or [])
    rows: list[HistoryRow] = []
    n = 0
    for entry in entries:
        empty = bool(entry.get("empty_layer"))
        size = 0
        if not empty and n < len(image.layers):
            size = layer_size(store, image.layers[n], image.diff_ids[n])
            n += 1
        rows.append(HistoryRow(EMPTY_LAYER_ID, entry.get("created", ""), entry.get("created_by", ""), size,
                               entry.get("comment", ""), empty))
    while n < len(image.layers):             # an image whose config has no history for some layers
        rows.append(HistoryRow(EMPTY_LAYER_ID, image.config.get("created", ""), "", layer_size(
            store, image.layers[n], image.diff_ids[n]), "", False))
        n += 1
    rows.reverse()
    if rows:
        rows[0].id = image.id
    return rows


# --- Docker's way of printing sizes and times (github.com/docker/go-units) -------------------------

def human_size(size: float) -> str:
    """units.HumanSizeWithPrecision(size, 3): decimal units, 3 significant digits: 0B, 4.1kB, 1.05MB."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000
        i += 1
    return f"{size:.3g}{units[i]}"


def human_duration(seconds: float) -> str:
    """units.HumanDuration: 'Less than a second', '5 seconds', 'About a minute', '3 hours', '2 weeks'."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def created_seconds(created: str) -> int | None:
    """Seconds since the epoch of an RFC 3339 time ('2024-05-01T10:00:00.123Z'), or None."""
    try:
        return calendar.timegm(time.strptime(created[:19], "%Y-%m-%dT%H:%M:%S"))
    except (ValueError, TypeError):
        return None


def created_since(created: str, now: float | None = None) -> str:
    """'5 minutes ago', or N/A for a time before 2000 (Docker hides such dates)."""
    t = created_seconds(created)
    if t is None or t <= 946684800:
        return "N/A"
    return human_duration((time.time() if now is None else now) - t) + " ago"


def created_at(created: str) -> str:
    """The time as Docker prints it without -H: RFC 3339 in UTC."""
    t = created_seconds(created)
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)) if t is not None else ""


def ellipsis(text: str, width: int) -> str:
    """Docker's formatter.Ellipsis: cut to `width` characters, the last one an '…'."""
    return text if len(text) <= width else text[:width - 1] + "…"


def format_table(rows: list[list[str]]) -> list[str]:
    """Columns as Docker's tabwriter lays them out: at least 10 wide, 3 spaces between."""
    widths = [max(10, max(len(r[i]) for r in rows) + 3) for i in range(len(rows[0]) - 1)]
    return ["".join(c.ljust(w) for c, w in zip(r, widths)) + r[-1] for r in rows]


def history_lines(rows: list[HistoryRow], human: bool = True, trunc: bool = True, quiet: bool = False,
                  now: float | None = None) -> list[str]:
    """`docker history` output: IMAGE, CREATED (or CREATED AT), CREATED BY, SIZE, COMMENT."""
    def ident(row: HistoryRow) -> str:
        return row.id.split(":", 1)[1][:12] if trunc and row.id.startswith("sha256:") else row.id
    if quiet:
        return [ident(r) for r in rows]
    table = [["IMAGE", "CREATED" if human else "CREATED AT", "CREATED BY", "SIZE", "COMMENT"]]
    for r in rows:
        created_by = r.created_by.replace("\t", " ")
        table.append([ident(r), created_since(r.created, now) if human else created_at(r.created),
                      ellipsis(created_by, 45) if trunc else created_by,
                      human_size(r.size) if human else str(r.size), r.comment])
    return [line.rstrip() for line in format_table(table)]
