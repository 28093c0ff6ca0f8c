"""--console-socket: how a runtime hands a container's terminal to its engine (lesson 10).

With `"terminal": true` the container's program needs a terminal, and the engine (podman's conmon, a
test, `recvtty`) must hold the other end to copy bytes to and from the user. The runtime makes a
pseudo-terminal pair, gives the *slave* to the container as stdin/stdout/stderr (and /dev/console),
and sends the *master* over the unix socket the engine listens on, as ancillary data of type
SCM_RIGHTS: the kernel installs a copy of the file descriptor in the receiving process, which is the
only way to pass an open file between unrelated processes.

runc opens the pty inside the container (from its new devpts instance); minicontainer opens it on
the host, as `run -t` does (terminal.py), and binds the slave onto /dev/console.
"""

from __future__ import annotations

import os

from ..errors import ContainerError


def open_pty(size: dict | None = None) -> tuple[int, int]:
    """A pseudo-terminal pair (master, slave), with config.json's process.consoleSize if given."""
    master, slave = os.openpty()
    if size:
        import fcntl
        import struct
        import termios
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", size.get("height", 0), size.get("width", 0), 0, 0))
    return master, slave


def send_fd(socket_path: str, fd: int, name: str = "/dev/ptmx") -> None:
    """Connect to the engine's unix socket and pass `fd` with SCM_RIGHTS (runc sends the name too)."""
    import socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(socket_path)
            socket.send_fds(sock, [name.encode()], [fd])
    except OSError as exc:
        raise ContainerError(f"could not send the terminal to the console socket: {exc.strerror or exc}",
                             step="console socket", path=socket_path,
                             fix="give --console-socket the path of a unix socket someone listens on") from None


def receive_fd(listener) -> tuple[int, str]:
    """The other side (tests, the lesson): accept one connection and take the fd it carries."""
    import socket
    conn, _ = listener.accept()
    with conn:
        msg, fds, _flags, _addr = socket.recv_fds(conn, 1024, 1)
    if not fds:
        raise ContainerError("no file descriptor came with the message", step="console socket")
    return fds[0], msg.decode()
