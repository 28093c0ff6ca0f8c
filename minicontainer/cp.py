"""`minicontainer cp`: files between the host and a container, without letting the container aim it (lesson 09).

`docker cp web:/etc/nginx/nginx.conf .` and `docker cp site/ web:/www/` copy through the container's
own view of its files: its root (a running container's is /proc/PID/root; a stopped one's is its
overlay, mounted for the copy in a private mount namespace) with its mounts. The danger is the same
as in unpacking an image (lesson 05): a path the container controls may hold `..` or a symlink that
points out of it, and the runtime, root on the host, would follow it onto the host's files (Docker's
CVE-2018-15664 was exactly this, raced while the copy ran). So:

  1. resolve_in_container(root, path): the path as the container sees it, symlinks followed the
     way the container would follow them; `..` that would climb above the root, or a symlink that
     points out of it, is refused (exercise 9.4). The result has no symlink in it;
  2. open_beneath(root, parts): open that result component by component with O_NOFOLLOW from a
     descriptor of the root, so a symlink swapped in after step 1 makes the open fail rather than
     leave the container (image/unpack.py's Tree does the same);
  3. the files travel as a tar, as Docker's do, and are written by unpack.py's Tree: everything it
     refuses in a layer, it refuses here.

Docker's rules for where things land (`docker cp SRC DEST`): a file onto a missing DEST becomes
DEST; into an existing directory it keeps its name; a directory onto a missing DEST becomes DEST;
into an existing directory it goes in under its name, or only its content with `SRC/.`; DEST's
parent must exist; a directory cannot replace a file.
"""

from __future__ import annotations

import os
import stat
import tarfile
import tempfile

from .errors import ContainerError, UsageError
from .paths import Paths
from .state import Container, find, is_running, state_dir

MAX_LINKS = 40


def resolve_in_container(root: str, path: str) -> str:
    """The host path of `path` (a path in the container) under `root`, every symlink followed as the
    container would follow it; ContainerError if `..` or a symlink would take it out of the root.

    An absolute symlink starts again at the container's root (it points inside); a `..` that would
    climb above the root, in the path or in a symlink, is refused (the kernel would stop it at the
    container's root; here, where the root is just a directory of the host, nothing would).
    Exercise 9.4: `cp` calls it for both directions."""
    root = os.path.normpath(root)
    todo = [(p, "") for p in path.split("/") if p and p != "."]  # (component, the symlink it came from)
    done: list[str] = []
    links = 0
    while todo:
        part, via = todo.pop(0)
        if part == "..":
            if not done:
                what = f"the symlink {via}" if via else repr(path)
                raise ContainerError(f"{what} points out of the container", step="copy", path=path,
                                     fix="give a path inside the container (a symlink's target is copied by its own path)")
            done.pop()
            continue
        here = os.path.join(root, *done, part)
        if os.path.islink(here):
            links += 1
            if links > MAX_LINKS:
                raise ContainerError("too many levels of symbolic links", step="copy", path=path,
                                     fix="the container has a symlink loop on this path")
            target = os.readlink(here)
            link = "/" + "/".join(done + [part]) + " -> " + target
            if target.startswith("/"):
                done = []  # absolute: from the container's root
            todo = [(p, link) for p in target.split("/") if p and p != "."] + todo
            continue
        done.append(part)
    return os.path.join(root, *done)


def open_beneath(root: str, host_path: str) -> int:
    """An O_PATH descriptor of host_path (a result of resolve_in_container, under root), opened one
    component at a time with O_NOFOLLOW: a symlink put there since it was resolved makes it fail."""
    rel = os.path.relpath(host_path, root)
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in ([] if rel == "." else rel.split("/")):
            try:
                nxt = os.open(part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except OSError as exc:
                raise ContainerError(f"{part}: {exc.strerror.lower()}", step="copy", path=host_path,
                                     fix="the container changed this path while it was copied: try again") from None
            os.close(fd)
            fd = nxt
            if stat.S_ISLNK(os.fstat(fd).st_mode) and part != rel.split("/")[-1]:
                raise ContainerError("a symlink appeared on the path while it was copied", step="copy",
                                     path=host_path, fix="try again")
        return fd
    except BaseException:
        os.close(fd)
        raise


# --- a tree as a tar, read through descriptors -----------------------------------------------------

def _info(name: str, st: os.stat_result, link: str = "", keep_owner: bool = False) -> tarfile.TarInfo | None:
    """The tar header for one entry (None for what a tar cannot hold: sockets)."""
    info = tarfile.TarInfo(name)
    info.mode, info.mtime = stat.S_IMODE(st.st_mode), int(st.st_mtime)
    info.uid, info.gid = (st.st_uid, st.st_gid) if keep_owner else (0, 0)  # Docker: root's, unless -a
    kinds = {stat.S_IFDIR: tarfile.DIRTYPE, stat.S_IFLNK: tarfile.SYMTYPE, stat.S_IFCHR: tarfile.CHRTYPE,
             stat.S_IFBLK: tarfile.BLKTYPE, stat.S_IFIFO: tarfile.FIFOTYPE, stat.S_IFREG: tarfile.REGTYPE}
    kind = kinds.get(stat.S_IFMT(st.st_mode))
    if kind is None:
        return None
    info.type = kind
    if kind == tarfile.REGTYPE:
        info.size = st.st_size
    elif kind == tarfile.SYMTYPE:
        info.linkname = link
    elif kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    return info


def add_tree(tar: tarfile.TarFile, parent: int, name: str, arcname: str, keep_owner: bool = False,
             content_only: bool = False) -> None:
    """Add parent/name (not following it if it is a symlink) and everything under it, reading only
    through descriptors opened with O_NOFOLLOW. `content_only`: a directory's entries, not itself."""
    st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    link = os.readlink(name, dir_fd=parent) if stat.S_ISLNK(st.st_mode) else ""
    info = _info(arcname or ".", st, link, keep_owner)
    if info is None:
        return
    if info.isreg():
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        with os.fdopen(fd, "rb") as f:
            tar.addfile(info, f)
        return
    if not content_only:
        tar.addfile(info)
    if info.isdir():
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        try:
            for entry in sorted(os.listdir(fd)):
                add_tree(tar, fd, entry, f"{arcname}/{entry}" if arcname else entry, keep_owner)
        finally:
            os.close(fd)


def extract(tar_file, into: int) -> None:
    """Write the tar's entries under the directory `into` (a descriptor) with unpack.py's Tree: no
    entry may climb out, be written through a symlink, or replace the directory itself."""
    from .image.unpack import Tree
    tree = Tree(into, whiteouts="apply")
    try:
        tar = tarfile.open(fileobj=tar_file, mode="r:")
        for member in tar:
            if member.name in (".", "./", ""):
                continue
            tree.add(member, tar_file, tar)
    finally:
        tree.close()


# --- Docker's rules for where a copy lands ---------------------------------------------------------

def plan(src_is_dir: bool, src: str, dest_kind: str, dest: str) -> tuple[str, bool]:
    """Where a copy of SRC goes, given what DEST is ("dir", "file" or "missing"): (the name it gets
    inside the directory the copy is written into, whether only a directory's content goes). The
    directory is DEST itself when it exists and is a directory, else DEST's parent."""
    content = src_is_dir and (src.endswith("/.") or src == ".")
    base = os.path.basename(os.path.normpath(src)) if not content else ""
    if dest_kind == "dir":
        return base, content
    if dest.endswith("/"):
        raise ContainerError("no such directory", step="copy", path=dest,
                             fix="a destination that ends with / must be an existing directory")
    if dest_kind == "file" and src_is_dir:
        raise ContainerError("cannot copy directory", step="copy", path=dest,
                             fix="copy a directory onto a directory, or onto a path that does not exist yet")
    return os.path.basename(os.path.normpath(dest)), False


# --- cp ------------------------------------------------------------------------------------------

def split(arg: str) -> tuple[str, str]:
    """"web:/etc/hosts" -> ("web", "/etc/hosts"); a host path -> ("", path). (Docker's rule: a colon
    before any slash names a container; ./a:b is a local path.)"""
    if arg.startswith(("/", ".")):
        return "", arg
    name, colon, path = arg.partition(":")
    return (name, path or "/") if colon else ("", arg)


def copy(paths: Paths, src: str, dest: str, archive: bool = False, follow: bool = False) -> None:
    """`cp SRC DEST`, one of them CONTAINER:PATH (Docker's rules; see the module docstring)."""
    (src_ref, src_path), (dest_ref, dest_path) = split(src), split(dest)
    if src_ref and dest_ref:
        raise UsageError("copying between containers is not supported", step="copy",
                         fix="copy to the host first, then into the other container")
    if not src_ref and not dest_ref:
        raise UsageError("must specify at least one container source", step="copy",
                         fix="minicontainer cp CONTAINER:SRC_PATH DEST_PATH, or cp SRC_PATH CONTAINER:DEST_PATH")
    if not src_path or not dest_path:
        raise UsageError("source can not be empty" if not src_path else "destination can not be empty", step="copy",
                         fix="minicontainer cp CONTAINER:SRC_PATH DEST_PATH")
    c = find(paths, src_ref or dest_ref)
    job = {"out": bool(src_ref), "ref": src_ref or dest_ref, "container_path": src_path if src_ref else dest_path,
           "host_path": os.path.abspath(dest_path if src_ref else src_path) + ("/" if (dest_path if src_ref else "").endswith("/") else ""),
           "host_arg": dest_path if src_ref else src_path, "archive": archive, "follow": follow}
    job.update(_where(paths, c))
    from . import spawn
    report_r, report_w = os.pipe()
    try:
        pid = spawn.fresh(copy_job, dict(job, report_fd=report_w), keep=(report_w,), close=(report_r,))
    finally:
        os.close(report_w)
    answer = spawn.read_all(report_r)
    os.close(report_r)
    from .proc import wait
    wait(pid)
    if answer:
        raise spawn.child_error(answer.splitlines()[0], "copy")


def _where(paths: Paths, c: Container) -> dict:
    """How to reach the container's files: a running one's root through /proc; a stopped one's
    layers, to mount in a private mount namespace, with its volumes."""
    if is_running(c):
        return {"root": f"/proc/{c.pid}/root"}
    layers = c.spec.get("layers")
    if not layers:
        return {"root": c.rootfs}  # --rootfs DIR used as it is
    from .state import load_config
    cfg = load_config(paths, c)
    return {"layers": layers, "container_dir": state_dir(paths, c.id),
            "binds": [b for b in cfg.get("binds", [])],
            "unionfs": {k: cfg[k] for k in ("unionfs_driver", "upper_on_tmpfs", "upper_fstype") if k in cfg}}


def copy_job(job: dict) -> int:
    """The copy itself, in a process of its own (spawn.fresh): a stopped container's root is mounted
    in its private mount namespace, which the kernel removes when the process ends."""
    from . import spawn
    try:
        root = job.get("root")
        if root is None:
            from . import rootfs as rootfs_mod
            from . import syscalls, unionfs
            syscalls.unshare(syscalls.CLONE_NEWNS)
            rootfs_mod.make_mounts_private()
            opts = job["unionfs"]
            root = unionfs.mount_layers(job["layers"], job["container_dir"], opts.get("unionfs_driver", "auto"),
                                        opts.get("upper_on_tmpfs"), upper_fstype=opts.get("upper_fstype"),
                                        volatile=True).target
            for source, target, read_only in job["binds"]:
                rootfs_mod.bind_mount(root, source, target, read_only)
        (copy_out if job["out"] else copy_in)(root, job)
    except BaseException as exc:  # noqa: BLE001 - one line to the command
        return spawn.send_error(job["report_fd"], "copy", exc)
    return 0


def _kind(path: str) -> str:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "missing"
    return "dir" if stat.S_ISDIR(st.st_mode) else "file"


def copy_out(root: str, job: dict) -> None:
    """CONTAINER:SRC -> a host path: tar the source through descriptors, write it with Tree."""
    cpath = job["container_path"]
    parent_path, _, name = cpath.rstrip("/").rpartition("/")  # (as given: `..` is resolve_in_container's to judge)
    if job["follow"] or name in ("", ".", ".."):  # -L (or the root, or a `..`): resolve the last component too
        resolved = resolve_in_container(root, cpath)
        parent_host, name = os.path.split(resolved) if resolved != os.path.normpath(root) else (resolved, ".")
    else:
        parent_host = resolve_in_container(root, parent_path)
    if not os.path.isdir(parent_host):
        raise ContainerError(f"Could not find the file {cpath} in container {job['ref']}", step="copy",
                             path=cpath, fix="check the path with `minicontainer exec CONTAINER ls`")
    parent = open_beneath(root, parent_host)
    try:
        try:
            st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            raise ContainerError(f"Could not find the file {cpath} in container {job['ref']}", step="copy",
                                 path=cpath, fix="check the path with `minicontainer exec CONTAINER ls`") from None
        dest = job["host_path"]
        base, content = plan(stat.S_ISDIR(st.st_mode), cpath, _kind(dest.rstrip("/") or "/"), dest)
        into = dest.rstrip("/") if _kind(dest.rstrip("/")) == "dir" else os.path.dirname(dest.rstrip("/"))
        if _kind(into) != "dir":
            raise ContainerError("no such directory", step="copy", path=into, fix="create the destination's directory first")
        with tempfile.TemporaryFile() as spool:
            with tarfile.open(fileobj=spool, mode="w:", format=tarfile.PAX_FORMAT) as tar:
                add_tree(tar, parent, name, base, job["archive"], content_only=content)
            spool.seek(0)
            fd = os.open(into, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                extract(spool, fd)
            finally:
                os.close(fd)
    finally:
        os.close(parent)


def copy_in(root: str, job: dict) -> None:
    """A host path -> CONTAINER:DEST: tar the host's files, write them with Tree under a directory
    of the container opened with open_beneath."""
    src = job["host_arg"]
    try:
        st = os.stat(src) if job["follow"] else os.lstat(src)
    except FileNotFoundError:
        raise ContainerError(f"lstat {os.path.abspath(src)}: no such file or directory", step="copy", path=src,
                             fix="check the host path") from None
    cpath = job["container_path"]
    resolved = resolve_in_container(root, cpath)
    kind = _kind(resolved)
    base, content = plan(stat.S_ISDIR(st.st_mode), src, kind, cpath)
    into = resolved if kind == "dir" else os.path.dirname(resolved)
    if _kind(into) != "dir":
        raise ContainerError(f"Could not find the file {os.path.dirname(cpath.rstrip('/')) or '/'} in container "
                             f"{job['ref']}", step="copy", path=cpath, fix="create the directory in the container first")
    where = open_beneath(root, into)
    try:
        fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=where)
    finally:
        os.close(where)
    try:
        with tempfile.TemporaryFile() as spool:
            host_dir, host_name = os.path.split(os.path.abspath(src))
            if job["follow"] and stat.S_ISLNK(os.lstat(src).st_mode):
                host_dir, host_name = os.path.split(os.path.realpath(src))
            hfd = os.open(host_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                with tarfile.open(fileobj=spool, mode="w:", format=tarfile.PAX_FORMAT) as tar:
                    add_tree(tar, hfd, host_name, base, job["archive"], content_only=content)
            finally:
                os.close(hfd)
            spool.seek(0)
            extract(spool, fd)
    finally:
        os.close(fd)
