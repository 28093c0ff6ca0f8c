"""What the workload starts with: its environment, its user and its program (lesson 02).

PID 1 (process.start_workload) finds these before its execve, inside the container's root:
`-e` and the defaults (environment), `--user` looked up in the *image's* /etc/passwd and /etc/group
as Docker does (lookup_user), and the program searched along $PATH with Docker's messages and
exit statuses: 127 not found, 126 not runnable (find_executable). A failure is a StepError, which
PID 1 sends to the runtime as one line (spawn.send_error).
"""

from __future__ import annotations

import os

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class StepError(Exception):
    """A failure inside the container, sent to the runtime as one JSON line (spawn.send_error).

    `exit_status`: what the runtime exits with, as Docker: 126 a command that cannot run, 127 one not found."""

    def __init__(self, step: str, message: str, path: str = "", fix: str = "", exit_status: int = 125) -> None:
        super().__init__(message)
        self.step, self.message, self.path, self.fix, self.exit_status = step, message, path, fix, exit_status


def environment(env: list[str], tty: bool, hostname: str) -> list[str]:
    """The workload's environment: PATH and HOSTNAME (TERM with -t), then each -e KEY=VALUE (or KEY:
    the host's value, if it has one). `run` computes it once; `exec` starts from the same."""
    from .errors import UsageError
    out = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname}
    if tty:
        out["TERM"] = "xterm"
    for item in env:
        key, eq, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid environment variable: {item}", step="parse -e", fix="use -e KEY=VALUE")
        if eq:
            out[key] = value
        elif key in os.environ:
            out[key] = os.environ[key]
    return [f"{k}={v}" for k, v in out.items()]


def lookup_user(spec: str, passwd: str = "/etc/passwd", group: str = "/etc/group") -> tuple[int, int, str]:
    """`--user` as Docker reads it: 'uid', 'uid:gid', 'name' or 'name:group', from the image's files.

    Returns (uid, gid, home)."""
    user, _, grp = spec.partition(":")
    uid = gid = None
    home = "/"
    entries = _read_db(passwd)
    for fields in entries:
        if len(fields) >= 6 and (fields[0] == user or fields[2] == user):
            uid, gid, home = int(fields[2]), int(fields[3]), fields[5]
            break
    if uid is None:
        if not user.isdigit():
            raise StepError("set the user", f"unable to find user {user}: no matching entries in passwd file",
                            path=passwd, fix="use a numeric uid, or a user listed in the image's /etc/passwd")
        uid, gid = int(user), 0 if gid is None else gid
    if grp:
        gid = None
        for fields in _read_db(group):
            if len(fields) >= 3 and (fields[0] == grp or fields[2] == grp):
                gid = int(fields[2])
        if gid is None:
            if not grp.isdigit():
                raise StepError("set the user", f"unable to find group {grp}: no matching entries in group file",
                                path=group, fix="use a numeric gid, or a group listed in the image's /etc/group")
            gid = int(grp)
    return uid, gid, home


def _read_db(path: str) -> list[list[str]]:
    try:
        with open(path) as f:
            return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
    except OSError:
        return []


def find_executable(name: str, path: str) -> str:
    """Search $PATH like execvp does, with Docker's messages and exit codes (127 not found, 126 not runnable)."""
    if "/" in name:
        candidates = [name]
    else:
        candidates = [os.path.join(d or ".", name) for d in path.split(":")]
    for candidate in candidates:
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return candidate
            raise StepError("start the workload", f'exec: "{name}": permission denied', path=candidate,
                            fix="make the file executable (chmod +x)", exit_status=126)
    if "/" in name:
        raise StepError("start the workload", f'exec: "{name}": stat {name}: no such file or directory',
                        path=name, fix="check the command's path inside the container", exit_status=127)
    raise StepError("start the workload", f'exec: "{name}": executable file not found in $PATH', path=name,
                    fix="check the command name, or give its full path inside the container", exit_status=127)
