"""A detached container's log: each line with its time and stream, as podman's conmon writes it (lesson 09).

`docker logs -t --since 10m --tail 20 web` needs to know when each line was written and whether it
went to stdout or stderr. The workload cannot say, so its monitor (detach.py) holds the other end of
two pipes, its stdout and stderr, and writes each line it reads to container.log in the format
conmon uses for Kubernetes ("k8s-file"):

    2026-12-06T04:53:00.123456789Z stdout F hello
    2026-12-06T04:53:00.200000000Z stderr P a long line, cut here: P(artial), the rest follows

`pump()` is the monitor's loop; `records()` reads the file back; `show()` is `minicontainer logs`:
`--tail N` (the last N lines), `-t` (with their times), `--since`/`--until` (RFC 3339, a Unix time,
or a duration before now: 10m, 1h30m, 42s), `-f` (follow until the container exits).
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Iterator

MAX_LINE = 16384  # a longer line is written in pieces: P(artial) records, then one F(ull)


def stamp(now: float) -> str:
    """RFC 3339 with nanoseconds, in UTC (what `docker logs -t` prints)."""
    whole = int(now)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((now - whole) * 1e9):09d}Z"


def parse_stamp(text: str) -> float:
    """stamp() read back, and the RFC 3339 times `--since` accepts (with or without a fraction, Z or +hh:mm)."""
    import calendar
    zone = 0
    if text.endswith("Z"):
        text = text[:-1]
    elif len(text) > 6 and text[-6] in "+-" and text[-3] == ":":
        sign = 1 if text[-6] == "+" else -1
        zone = sign * (int(text[-5:-3]) * 3600 + int(text[-2:]) * 60)
        text = text[:-6]
    main, _, fraction = text.partition(".")
    if "T" not in main:
        main += "T00:00:00"
    seconds = calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S")) - zone
    return seconds + (float("0." + fraction) if fraction else 0.0)


def pump(out_r: int, err_r: int, log_fd: int) -> None:
    """Copy the workload's stdout and stderr into the log, line by line with a time, until both close."""
    import select
    streams = {out_r: ["stdout", b""], err_r: ["stderr", b""]}
    while streams:
        ready, _, _ = select.select(list(streams), [], [])
        for fd in ready:
            name, pending = streams[fd]
            try:
                data = os.read(fd, 65536)
            except InterruptedError:
                continue
            now = stamp(time.time())
            if not data:  # end of this stream: what is left is a last, partial line
                if pending:
                    write(log_fd, now, name, "F", pending)
                os.close(fd)
                del streams[fd]
                continue
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                write(log_fd, now, name, "F", line)
            while len(pending) > MAX_LINE:
                write(log_fd, now, name, "P", pending[:MAX_LINE])
                pending = pending[MAX_LINE:]
            streams[fd][1] = pending


def write(log_fd: int, when: str, stream: str, flag: str, text: bytes) -> None:
    os.write(log_fd, b"%s %s %s %s\n" % (when.encode(), stream.encode(), flag.encode(), text))


def records(f, offset: int = 0) -> Iterator[tuple[str, str, bool, bytes]]:
    """(time, stream, whole line?, text) for each record of an open log from `offset` on."""
    f.seek(offset)
    for raw in f:
        if not raw.endswith(b"\n"):
            f.seek(-len(raw), 1)
            break  # being written right now: the next read gets it whole
        parts = raw[:-1].split(b" ", 3)
        if len(parts) == 4 and parts[1] in (b"stdout", b"stderr") and parts[0][:2].isdigit():
            yield parts[0].decode(), parts[1].decode(), parts[2] == b"F", parts[3]
        else:  # a terminal's output (-dt) is kept as it came, without times
            yield "", "stdout", True, raw[:-1]


def parse_since(text: str, now: float | None = None) -> float:
    """--since/--until: an RFC 3339 time, a Unix time (1700000000 or with a fraction), or a duration
    before now (10m, 1h30m, 42s, 1.5h: Go's time.ParseDuration), as Docker reads them."""
    import re

    from .errors import UsageError
    now = time.time() if now is None else now
    if not text:
        return 0.0
    try:
        return float(text)
    except ValueError:
        pass
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ms|us|ns|h|m|s)", text)
    if parts and "".join(n + u for n, u in parts) == text:
        return now - sum(float(n) * units[u] for n, u in parts)
    try:
        return parse_stamp(text)
    except ValueError:
        raise UsageError(f'invalid value for "since": failed to parse value as time or duration: "{text}"',
                         step="parse --since", fix="use an RFC 3339 time, a Unix time, or a duration like 10m") from None


def show(path: str, tail: int = -1, timestamps: bool = False, since: float = 0.0, until: float = 0.0,
         follow: bool = False, done: Callable[[], bool] | None = None, offset: int = 0,
         out: int = 1, err: int = 2) -> None:
    """`logs`: write the container's lines to out (stdout records) and err (stderr records)."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return  # a foreground container's output went to the terminal
    with f:
        selected = [r for r in records(f, offset) if _in_window(r[0], since, until)]
        if tail >= 0:
            selected = _last_lines(selected, tail)
        position = f.tell()
        for record in selected:
            _emit(record, timestamps, out, err)
        while follow:
            more = list(records(f, position))
            position = f.tell() if more else position
            for record in more:
                if _in_window(record[0], since, until):
                    _emit(record, timestamps, out, err)
            if not more:
                if done is not None and done():
                    for record in records(f, position):
                        _emit(record, timestamps, out, err)
                    return
                time.sleep(0.05)


def _in_window(when: str, since: float, until: float) -> bool:
    if not since and not until or not when:
        return True
    moment = parse_stamp(when)
    return (not since or moment >= since) and (not until or moment <= until)


def _last_lines(selected: list, tail: int) -> list:
    """The records of the last `tail` lines (a line may be several P records and its F)."""
    if tail == 0:
        return []
    ends = [i for i, r in enumerate(selected) if r[2]]
    if len(ends) <= tail:
        return selected
    return selected[ends[-tail - 1] + 1:]


def _emit(record: tuple[str, str, bool, bytes], timestamps: bool, out: int, err: int) -> None:
    when, stream, whole, text = record
    data = (when.encode() + b" " if timestamps else b"") + text + (b"\n" if whole else b"")
    os.write(err if stream == "stderr" else out, data)
