"""`run -t` and `exec -t`: a pseudo-terminal between your terminal and the workload (lesson 02).

The runtime opens a pty pair: the workload gets the slave side as its stdin/stdout/stderr and
controlling terminal (process.py makes it so), the runtime copies bytes between your terminal,
switched to raw mode, and the master side. Raw mode is why Ctrl-C reaches the workload as a byte
(the pty's line discipline turns it into SIGINT for the container's foreground process), and
SIGWINCH is how a resized window's size is copied across.
"""

from __future__ import annotations

import os

import _signal as signal  # `signal` without its enum classes: saves ~4 ms a run (bench/bench_start_tricks.py)


class Terminal:
    """`-t`: a pseudo-terminal between our terminal and the workload (raw mode, window size, Ctrl-C)."""

    def __init__(self, master: int, slave: int, stdin: int, stdout: int) -> None:
        self.master, self.slave, self.stdin, self.stdout = master, slave, stdin, stdout
        self.saved = None

    @classmethod
    def open(cls, stdio: tuple[int, int, int]) -> "Terminal":
        master, slave = os.openpty()
        t = cls(master, slave, stdio[0], stdio[1])
        t.copy_window_size()
        return t

    def copy_window_size(self, *_: object) -> None:
        import fcntl
        import termios
        try:
            size = fcntl.ioctl(self.stdin, termios.TIOCGWINSZ, b"\0" * 8)
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, size)
        except OSError:
            pass

    def pump(self) -> None:
        """Copy bytes both ways until the workload closes the terminal."""
        import select
        import termios
        import tty
        if os.isatty(self.stdin):
            self.saved = termios.tcgetattr(self.stdin)
            tty.setraw(self.stdin)
            try:
                signal.signal(signal.SIGWINCH, self.copy_window_size)
            except ValueError:
                pass
        inputs = [self.master, self.stdin]
        while True:
            try:
                ready, _, _ = select.select(inputs, [], [])
            except InterruptedError:
                continue
            if self.master in ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    data = b""
                if not data:
                    return
                os.write(self.stdout, data)
            if self.stdin in ready:
                data = os.read(self.stdin, 65536)
                if not data:
                    inputs.remove(self.stdin)
                    os.write(self.master, b"\x04")  # end of input: Ctrl-D to the terminal
                else:
                    os.write(self.master, data)

    def close(self) -> None:
        import termios
        if self.saved is not None:
            termios.tcsetattr(self.stdin, termios.TCSADRAIN, self.saved)
        for fd in (self.master,):
            try:
                os.close(fd)
            except OSError:
                pass
