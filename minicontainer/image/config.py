"""How an image's config becomes a process: Docker's Entrypoint/Cmd rules, Env, WorkingDir, User (lesson 05).

The config's `config` object holds the defaults for a container:

  Entrypoint  the program (and first arguments) that always runs
  Cmd         default arguments, or the default command when there is no Entrypoint
  Env         ["KEY=value", ...];  WorkingDir  "/app";  User  "uid[:gid]" or "name[:group]"

Docker's rule for the final command line (`docker run [--entrypoint E] IMAGE [ARGS...]`):

  1. --entrypoint E given:  argv = [E] + ARGS          (the image's Cmd is dropped too)
  2. ARGS given:            argv = Entrypoint + ARGS    (ARGS replace Cmd)
  3. otherwise:             argv = Entrypoint + Cmd
  An empty result is an error: "no command specified".

In a Dockerfile the shell form `CMD echo hi` means ["/bin/sh", "-c", "echo hi"], and setting
ENTRYPOINT resets a Cmd inherited from the base image.
"""

from __future__ import annotations

from ..errors import ContainerError
from ..record import Record  # a dataclass without importing dataclasses: saves ~13 ms a run (bench/bench_start_tricks.py)

TYPE_CHECKING = False
if TYPE_CHECKING:  # for the annotations only: `run` imports command_line(), and pathlib would cost it ~8 ms
    from pathlib import Path

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def command_line(entrypoint: list[str] | None, cmd: list[str] | None, args: list[str] | None = None,
                 entrypoint_override: list[str] | str | None = None) -> list[str]:
    """The argv a container runs, by Docker's rules (see the module docstring)."""
    if entrypoint_override is not None:
        override = [entrypoint_override] if isinstance(entrypoint_override, str) else list(entrypoint_override)
        argv = [a for a in override if a != ""] + list(args or [])
    elif args:
        argv = list(entrypoint or []) + list(args)
    else:
        argv = list(entrypoint or []) + list(cmd or [])
    if not argv:
        raise ContainerError("no command specified", step="create container",
                             fix="give a command after the image name, or build the image with CMD or ENTRYPOINT")
    return argv


def merge_env(image_env: list[str] | None, overrides: list[str] | dict[str, str] | None = None) -> list[str]:
    """The image's Env with overrides applied by key (order kept, PATH added if missing, as Docker does)."""
    env: dict[str, str] = {}
    for item in image_env or []:
        key, _, value = item.partition("=")
        env[key] = value
    items = overrides.items() if isinstance(overrides, dict) else [o.partition("=")[::2] for o in overrides or []]
    for key, value in items:
        env[key] = value
    env.setdefault("PATH", DEFAULT_PATH)
    return [f"{k}={v}" for k, v in env.items()]


def _lookup(file: Path, name: str, field_count: int) -> list[str] | None:
    try:
        for line in file.read_text().splitlines():
            fields = line.split(":")
            if len(fields) >= field_count and fields[0] == name:
                return fields
    except OSError:
        pass
    return None


def resolve_user(user: str | None, rootfs: Path | None = None) -> tuple[int, int]:
    """(uid, gid) for a config's User: "", "1000", "1000:1000", "nobody", "nobody:nogroup".

    Names are looked up in the image's /etc/passwd and /etc/group, as Docker does.
    """
    if not user:
        return 0, 0
    name, _, group = user.partition(":")
    gid: int | None = None
    if name.isdigit():
        uid = int(name)
        if rootfs:
            for line in _read_lines(rootfs / "etc/passwd"):
                f = line.split(":")
                if len(f) >= 4 and f[2] == name:
                    gid = int(f[3])
                    break
    else:
        fields = _lookup(rootfs / "etc/passwd", name, 4) if rootfs else None
        if fields is None:
            raise ContainerError(f"user {name!r} is not in the image's /etc/passwd", step="set user",
                                 fix="use a numeric uid, or add the user to the image")
        uid, gid = int(fields[2]), int(fields[3])
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            gfields = _lookup(rootfs / "etc/group", group, 3) if rootfs else None
            if gfields is None:
                raise ContainerError(f"group {group!r} is not in the image's /etc/group", step="set user",
                                     fix="use a numeric gid")
            gid = int(gfields[2])
    return uid, gid if gid is not None else 0


def _read_lines(file: Path) -> list[str]:
    try:
        return file.read_text().splitlines()
    except OSError:
        return []


class ProcessSpec(Record):
    """What the image says to run, after the user's overrides: argv, env, cwd, user."""

    argv: list[str]
    env: list[str] = []
    cwd: str = "/"
    user: str = ""


def process_from_config(config: dict, args: list[str] | None = None, entrypoint: list[str] | str | None = None,
                        env: list[str] | None = None, workdir: str | None = None,
                        user: str | None = None) -> ProcessSpec:
    """Apply Docker's rules to an image config (the whole config JSON or its `config` object)."""
    c = config.get("config", config) if "rootfs" in config else config
    c = c or {}
    return ProcessSpec(
        argv=command_line(c.get("Entrypoint"), c.get("Cmd"), args, entrypoint),
        env=merge_env(c.get("Env"), env),
        cwd=workdir or c.get("WorkingDir") or "/",
        user=user if user is not None else (c.get("User") or ""),
    )


def shell_form(value: str | list[str]) -> list[str]:
    """A Dockerfile CMD/ENTRYPOINT/RUN value: JSON (exec) form as is, shell form through /bin/sh -c."""
    if isinstance(value, list):
        return value
    return ["/bin/sh", "-c", value]
