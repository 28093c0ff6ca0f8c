"""Named volumes: data that outlives its container (lesson 09).

A container's own files live in its copy-on-write layer (its overlay's upper dir, lesson 04): `rm`
deletes them with the container. A *volume* is a directory the runtime keeps apart from any
container, bind-mounted where the container asks; `rm` leaves it, the next container finds the data.
Docker keeps each one in /var/lib/docker/volumes/NAME/_data; we keep them in the same shape under
our lib directory:

    <lib_dir>/volumes/NAME/_data           what the container sees at its mount point
    <lib_dir>/volumes/NAME/created         when `volume create` (or the first `run -v NAME:...`) made it

    minicontainer volume create data        docker volume create data
    minicontainer run -v data:/data ...     the volume, made if it is missing (Docker's too)
    minicontainer run -v /data ...          an anonymous volume: a random name; `run --rm` and `rm -v` delete it
    minicontainer volume ls | rm NAME       rm refuses a volume a container uses, as Docker does

Docker copies what the image has at the mount point into a new, empty volume the first time it is
mounted, with the mount point's owner and mode; PID 1 does the same here (process.setup_rootfs: populate()).
"""

from __future__ import annotations

import os
import time

from .errors import ContainerError, UsageError
from .paths import Paths

NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def root(paths: Paths) -> str:
    return os.path.join(paths.lib_root, "volumes")


def data_dir(paths: Paths, name: str) -> str:
    """Where volume NAME's files are (what a container sees)."""
    return os.path.join(root(paths), name, "_data")


def check_name(name: str) -> None:
    """Docker's rule for a local volume's name: [a-zA-Z0-9][a-zA-Z0-9_.-]+ (and so never a path)."""
    if len(name) < 2 or not name[0].isalnum() or not set(name) <= NAME_CHARS or not name.isascii():
        raise UsageError(f'create {name}: "{name}" includes invalid characters for a local volume name, only '
                         '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, '
                         "use absolute path", step="name a volume", fix="use letters, digits, '_', '.' and '-'")


def create(paths: Paths, name: str = "") -> str:
    """Make volume NAME (a random one if empty) unless it exists; return its name."""
    name = name or os.urandom(32).hex()
    check_name(name)
    directory = data_dir(paths, name)
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o755, exist_ok=True)
        with open(os.path.join(root(paths), name, "created"), "w") as f:
            f.write(f"{time.time()}\n")
    return name


def names(paths: Paths) -> list[str]:
    """Every volume, by name."""
    try:
        return sorted(n for n in os.listdir(root(paths)) if os.path.isdir(data_dir(paths, n)))
    except FileNotFoundError:
        return []


def users(paths: Paths, name: str) -> list[str]:
    """The ids of the containers (any state) whose -v names this volume."""
    from .state import all_containers
    return [c.id for c in all_containers(paths) if name in (c.spec.get("volume_dirs") or {})]


def remove(paths: Paths, name: str, force: bool = False) -> None:
    """`volume rm`: delete the volume and its data; refused while a container uses it (Docker's words)."""
    if not os.path.isdir(data_dir(paths, name)):
        raise ContainerError(f"get {name}: no such volume", step="remove a volume",
                             fix="list them with `minicontainer volume ls`")
    using = users(paths, name)
    if using and not force:
        raise ContainerError(f"remove {name}: volume is in use - [{', '.join(using)}]", step="remove a volume",
                             fix="remove the container first (minicontainer rm)")
    import shutil
    shutil.rmtree(os.path.join(root(paths), name))


def remove_anonymous(paths: Paths, names: list[str]) -> None:
    """`run --rm` and `rm -v`: the container's anonymous volumes (-v /path) go with it; named ones stay."""
    import shutil
    for name in names:
        shutil.rmtree(os.path.join(root(paths), name), ignore_errors=True)


def inspect(paths: Paths, name: str) -> dict:
    """`volume inspect`: Docker's fields."""
    if not os.path.isdir(data_dir(paths, name)):
        raise ContainerError(f"get {name}: no such volume", step="inspect a volume",
                             fix="list them with `minicontainer volume ls`")
    try:
        with open(os.path.join(root(paths), name, "created")) as f:
            made = float(f.read())
    except (OSError, ValueError):
        made = 0.0
    from .inspection import rfc3339
    return {"CreatedAt": rfc3339(made), "Driver": "local", "Labels": None, "Mountpoint": data_dir(paths, name),
            "Name": name, "Options": None, "Scope": "local"}


def populate(volume: str, target: str) -> None:
    """First mount of an empty volume: copy what the image has at the mount point into it, and the
    mount point's owner and mode (Docker's rule: `RUN mkdir /data && chown www /data`, `VOLUME /data`,
    `USER www` gives www a volume it can write).

    Runs in PID 1 before pivot_root: `target` is the host path of the mount point in the container's root."""
    if not os.path.isdir(target) or os.listdir(volume):
        return
    if os.listdir(target):
        import shutil
        shutil.copytree(target, volume, symlinks=True, dirs_exist_ok=True)
    st = os.stat(target)
    try:
        os.chown(volume, st.st_uid, st.st_gid)
        os.chmod(volume, st.st_mode & 0o7777)
    except OSError:
        pass  # a rootless container whose user namespace does not map that owner: keep the volume's
