"""Writing a file so that a reader sees the old content or the new one, never half of each (lessons 02, 05, 07).

Container records (state.json), address leases, caches, the image store's index.json and the
credentials file are read by other processes while they change. The classic way (and runc's,
containerd's, git's): write the new content to a temporary file in the *same directory*, then
rename(2) it over the old name. A rename within one filesystem is atomic: at every moment the name
points at one complete file. A writer killed half-way leaves a `.NAME.PID.*.tmp` file beside it,
never a torn NAME.
"""

from __future__ import annotations

import os


def write_atomic(path: str | os.PathLike, data: bytes | str, mode: int | None = None, durable: bool = False,
                 tmp_dir: str | os.PathLike | None = None) -> None:
    """Replace `path` with `data` (str is written as UTF-8) atomically.

    `mode`: the new file's permissions, exactly (None: 0o666 less the umask, as open() makes files).
    `durable`: fsync before the rename, so that after a crash of the machine the name holds the
    new content or the old one (without it, possibly an empty file). `tmp_dir`: where to write the
    temporary file when not beside `path` (it must be on the same filesystem)."""
    path = os.fspath(path)
    directory = os.fspath(tmp_dir) if tmp_dir is not None else os.path.dirname(path) or "."
    # Unique per writer: the PID, and a random part for threads of one process writing at once.
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666 if mode is None else mode)
    try:
        with os.fdopen(fd, "wb") as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)  # exactly `mode`, whatever the umask
            f.write(data.encode() if isinstance(data, str) else data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
