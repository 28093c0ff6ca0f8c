"""A copy-on-write root for every container: overlayfs over read-only layers (lesson 04).

An image's layers are shared by every container made from it, so they must never change. The
container writes into its own *upper* directory instead; overlayfs shows the layers and the upper
dir as one tree (the *merged* dir, the container's root):

    mount -t overlay overlay -o lowerdir=L2:L1:L0,upperdir=U,workdir=W  MERGED
                                       ^ highest first (the kernel's order)

Writing a file of a layer copies it up into U first (copy-up); deleting one leaves a whiteout in
U (a character device 0/0); see `unionmodel` for the rules in plain Python.

`mount_rootfs(lowers, container_dir)` gives a container its root, in one of two drivers:

  overlay   the kernel's overlayfs (what Docker's overlay2 and containerd do);
  copy      a full copy of the merged layers (like Docker's `vfs`), for hosts without overlayfs:
            slow to start and heavy on disk, but it needs nothing from the kernel.

and handles the real limits:

  - mount(2) takes at most one page (4096 bytes) of options: with many layers (or long paths) we
    make a *symlink farm* of short names (`l/0`, `l/1`, ...) and mount with paths relative to the
    container dir, from a helper process that chdir()s there (Docker's overlay2 does the same);
  - an upper dir cannot live on overlayfs itself (a container inside a container, Docker-in-Docker):
    then the upper and work dirs go on a small tmpfs mounted in the container dir;
  - the work dir must be on the same filesystem as the upper dir; missing layer dirs and
    unsupported filesystems get clear errors.

Everything this module mounts lives under MC_RUN_DIR / MC_LIB_DIR, and `sweep(paths)` unmounts
what a killed runtime left behind. Layers are listed bottom first (`lowers[0]` is the base layer).
"""

from __future__ import annotations

import errno
import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # `run` calls mount_layers() with str paths: pathlib would cost it ~8 ms (bench/bench_start_tricks.py)
    from pathlib import Path

from . import mountinfo, syscalls
from .proc import wait
from .errors import ContainerError
from .record import Record  # a dataclass without importing dataclasses: saves ~13 ms a run (bench/bench_start_tricks.py)

STEP = "mount rootfs"
# mount(2) copies at most one page of option text; keep a margin for the kernel's own use.
MAX_OPTIONS = os.sysconf("SC_PAGE_SIZE") - 96
# Filesystems that cannot hold an overlay upper dir (no whiteouts/xattrs/d_type, or overlay itself).
UNSUPPORTED_UPPER = {"overlay", "aufs", "nfs", "nfs4", "cifs", "smb3", "fuse", "9p", "vfat", "msdos", "exfat",
                     "iso9660", "squashfs", "ramfs"}
TMPFS_SOURCE = "minicontainer-upper"
DRIVER_ENV = "MC_UNIONFS_DRIVER"


class RootfsMount(Record):
    """A container's root: `target` is what the container sees; it writes into `upper`.

    mount_rootfs() fills the path fields with pathlib.Path objects, mount_layers() with strings."""

    driver: str               # "overlay" or "copy"
    target: Path              # the merged tree (the container's /)
    upper: Path               # where writes land (the copy driver writes into target itself)
    work: Path | None         # overlay's scratch dir (None for the copy driver)
    lowers: list[Path]        # the read-only layers, bottom first
    container_dir: Path
    tmpfs: Path | None = None           # set when upper/work live on their own tmpfs
    options: str = ""                   # the mount options given to the kernel
    made: list[Path] = []  # what unmount(remove=True) deletes

    def diff(self):
        """What the container changed (added/changed/deleted), for either driver."""
        from . import unionmodel

        if self.driver == "overlay":
            return unionmodel.diff(self.upper, self.lowers)
        return unionmodel.compare(unionmodel.merge(self.lowers).entries, unionmodel.scan(self.target))

    def unmount(self, remove: bool = True) -> None:
        """Unmount the merged tree (and the tmpfs), then delete target/upper/work if `remove`."""
        if self.driver == "overlay":
            _umount(self.target)
        if self.tmpfs is not None:
            _umount(self.tmpfs)
        if remove:
            _remove(self.made)

    def __enter__(self) -> "RootfsMount":
        return self

    def __exit__(self, *exc: object) -> None:
        self.unmount()


# --- choosing the driver -------------------------------------------------------------------------

def overlay_available(proc_filesystems: str = "/proc/filesystems", modules_dir: str | None = None) -> bool:
    """True when the kernel has overlayfs, or can load it (it may still refuse a mount: see mount_overlay).

    /proc/filesystems lists only the filesystems the kernel has *now*. On Debian's and Ubuntu's
    kernels overlayfs is a module (overlay.ko) that mount(2) loads on first use, so on a freshly
    booted VM it is not listed yet: the module file under /lib/modules/RELEASE is what tells."""
    try:
        with open(proc_filesystems) as f:
            if any(line.split()[-1] == "overlay" for line in f.read().splitlines() if line.strip()):
                return True
    except OSError:
        pass
    if modules_dir is None:
        modules_dir = os.path.join("/lib/modules", os.uname().release)
    return os.path.isdir(os.path.join(modules_dir, "kernel", "fs", "overlayfs"))


def choose_driver(driver: str = "auto") -> str:
    """'overlay' when the kernel has overlayfs, else 'copy'; MC_UNIONFS_DRIVER overrides 'auto'."""
    if driver == "auto":
        driver = os.environ.get(DRIVER_ENV, "auto")
    if driver == "auto":
        return "overlay" if overlay_available() else "copy"
    if driver not in ("overlay", "copy"):
        raise ContainerError(f"unknown union filesystem driver {driver!r}", step=STEP,
                             fix="use driver='overlay', 'copy' or 'auto'")
    return driver


# --- facts about the host's filesystems ------------------------------------------------------------

def filesystem_of(path: Path | str) -> str:
    """The type of the filesystem that holds `path` (the longest mount point above it)."""
    found = mountinfo.mount_of(os.fspath(path))
    return found.fstype if found else "unknown"


def is_mount_point(path: Path | str) -> bool:
    real = os.path.realpath(path)
    return any(m.point == real for m in mountinfo.read())


# --- the overlay driver ------------------------------------------------------------------------------

def _escape(path: str) -> str:
    """overlayfs splits lowerdir on ':' and options on ','; a backslash escapes them."""
    return path.replace("\\", "\\\\").replace(":", "\\:").replace(",", "\\,")


def overlay_options(lowers: list[Path | str], upper: Path | str, work: Path | str) -> str:
    """The option string for the kernel: lowerdir lists the *highest* layer first."""
    lowerdir = ":".join(_escape(os.fspath(p)) for p in reversed(lowers))
    return f"lowerdir={lowerdir},upperdir={_escape(os.fspath(upper))},workdir={_escape(os.fspath(work))}"


def check_layers(lowers: list[Path] | list[str]) -> None:
    """Every layer must be an existing directory: say which one is not, and what to do."""
    if not lowers:
        raise ContainerError("no layers given", step=STEP, fix="pass at least one layer directory (the image's rootfs)")
    for index, layer in enumerate(lowers):
        if not os.path.isdir(layer):
            what = "is not a directory" if os.path.exists(layer) else "does not exist"
            raise ContainerError(f"layer {index} {what}", step=STEP, path=os.fspath(layer),
                                 fix="unpack the image again (its layer store is incomplete) or check the path")


def check_upper(upper: Path | str, work: Path | str, fstype: str | None = None) -> None:
    """The upper dir needs a filesystem overlayfs can write whiteouts on, and work must be beside it.

    `fstype`: the upper dir's filesystem type, when the caller knows it already (saves reading the mount table)."""
    for d in (upper, work):
        if not os.path.isdir(d):
            raise ContainerError("the upper/work directory does not exist", step=STEP, path=os.fspath(d),
                                 fix="create it first (mount_rootfs does), on the same filesystem for both")
    fstype = fstype or filesystem_of(upper)
    if fstype in UNSUPPORTED_UPPER:
        raise ContainerError(f"an overlay upper dir cannot live on {fstype}", step=STEP, path=os.fspath(upper),
                             fix="put the upper and work dirs on ext4, xfs, btrfs or tmpfs "
                                 "(set MC_RUN_DIR to such a path, or let mount_rootfs use a tmpfs)")
    if os.stat(upper).st_dev != os.stat(work).st_dev:
        raise ContainerError("the work dir is on another filesystem than the upper dir", step=STEP, path=os.fspath(work),
                             fix=f"create the work dir next to the upper dir, on the same filesystem as {upper}")


def mount_overlay(lowers: list[Path] | list[str], upper: Path | str, work: Path | str, target: Path | str,
                  farm: Path | str | None = None, upper_fstype: str | None = None, volatile: bool = False) -> str:
    """mount -t overlay: `lowers` (bottom first) under `upper`, seen at `target`. Returns the options used.

    When the options do not fit in one page, `farm` (a directory beside upper/work) gets one short
    symlink per layer and the mount is done with relative paths from inside that directory.
    `volatile` (Linux 5.10+): overlayfs never syncs the upper dir's filesystem, in particular not at
    unmount; for an upper dir that need not survive a crash (see mount_layers)."""
    suffix = ",volatile" if volatile else ""
    lowers = [os.fspath(p) for p in lowers]
    check_layers(lowers)
    check_upper(upper, work, upper_fstype)
    options = overlay_options(lowers, upper, work)
    needs_farm = len(options) > MAX_OPTIONS or any(c in os.fspath(p) for p in lowers + [upper, work] for c in ",:\\")
    if not needs_farm:
        _mount_overlay(options + suffix, target)
        return options + suffix
    if farm is None:
        raise ContainerError(f"{len(lowers)} layers need {len(options)} bytes of mount options, more than one page",
                             step=STEP, path=os.fspath(target), fix="pass farm= (a directory for short symlinks)")
    farm = os.fspath(farm)
    base = os.path.dirname(farm)
    os.makedirs(farm, exist_ok=True)
    names = []
    for index, layer in enumerate(lowers):
        link = os.path.join(farm, str(index))
        if os.path.islink(link):
            os.unlink(link)
        os.symlink(os.path.realpath(layer), link)
        names.append(f"{os.path.basename(farm)}/{index}")
    options = overlay_options(names, os.path.relpath(upper, base), os.path.relpath(work, base))
    if len(options) > MAX_OPTIONS:
        raise ContainerError(f"too many layers ({len(lowers)}) even with short names", step=STEP, path=os.fspath(target),
                             fix="squash the image into fewer layers (overlayfs stacks at most 500)")
    _mount_from(base, options + suffix, os.path.abspath(target))
    return options + suffix


def _mount_overlay(options: str, target: Path | str) -> None:
    try:
        syscalls.mount("overlay", os.fspath(target), "overlay", 0, options)
    except syscalls.SyscallError as exc:
        if exc.errno == errno.EINVAL:
            raise ContainerError("the kernel refused the overlay mount (EINVAL)", step=STEP, path=os.fspath(target),
                                 fix="check `dmesg | tail` for overlayfs' reason: usually an upper/work dir on an "
                                     "unsupported filesystem, or a work dir used by another mount") from None
        raise


def _mount_from(directory: Path | str, options: str, target: str) -> None:
    """Mount with relative paths: in a child process that chdir()s to `directory` first.

    The working directory belongs to the whole process (every thread of a Jupyter kernel shares it),
    so we change it in a short-lived fork, not in the caller."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only syscalls, then _exit
        code = 0
        try:
            os.close(read)
            os.chdir(directory)
            _mount_overlay(options, target)
        except BaseException as exc:  # noqa: BLE001 - reported to the parent through the pipe
            os.write(write, str(exc).encode()[:4000])
            code = 1
        os._exit(code)
    os.close(write)
    message = b""
    while chunk := os.read(read, 4096):
        message += chunk
    os.close(read)
    if wait(pid) != 0:
        raise ContainerError(message.decode() or "the mount helper died", step=STEP, path=target,
                             fix="see the message; `dmesg | tail` shows overlayfs' own reason")


def _umount(target: Path | str) -> None:
    """Unmount `target` if it is mounted; lazily when something still uses it."""
    try:
        syscalls.umount2(os.fspath(target))
    except syscalls.SyscallError as exc:
        if exc.errno == errno.EBUSY:
            syscalls.umount2(os.fspath(target), syscalls.MNT_DETACH)
        elif exc.errno not in (errno.EINVAL, errno.ENOENT):  # not mounted (any more): nothing to do
            raise


# --- the copy driver -------------------------------------------------------------------------------

def copy_layers(lowers: list[Path], target: Path) -> int:
    """Write the merged tree of `lowers` into the empty directory `target`. Returns how many paths.

    Each file is copied on its own (hard links are not kept), with its mode, owner and times."""
    import shutil
    from pathlib import Path

    from . import unionmodel

    target = Path(target)

    tree = unionmodel.merge(lowers)
    dirs = []
    for path, e in tree.entries.items():
        dest = target / path
        if e.kind == "dir":
            dest.mkdir()
            dirs.append((dest, e))
        elif e.kind == "file":
            shutil.copy2(e.source, dest, follow_symlinks=False)
        elif e.kind == "symlink":
            os.symlink(os.readlink(e.source), dest)
            st = os.lstat(e.source)
            os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
        else:
            os.mknod(dest, os.lstat(e.source).st_mode, e.rdev)
        os.lchown(dest, e.uid, e.gid)
        if e.kind not in ("dir", "symlink"):
            os.chmod(dest, os.lstat(e.source).st_mode & 0o7777)
    for dest, e in reversed(dirs):  # last, so that writing the children did not change them
        os.chmod(dest, os.lstat(e.source).st_mode & 0o7777)
        st = os.lstat(e.source)
        os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns))
    root_mode = os.lstat(lowers[-1]).st_mode & 0o7777
    os.chmod(target, root_mode)
    return len(tree.entries)


# --- the entry point ---------------------------------------------------------------------------------

def mount_rootfs(lowers: list[Path], container_dir: Path, driver: str = "auto",
                 upper_on_tmpfs: bool | None = None, tmpfs_size: str = "1g") -> RootfsMount:
    """Give a container a copy-on-write root made of `lowers` (bottom first), under `container_dir`:

        container_dir/rootfs   the merged tree (mount point), the container's /
        container_dir/upper    its writes;  container_dir/work  overlay's scratch dir
        container_dir/rw/      a tmpfs holding upper/ and work/ when the store's fs cannot hold them
        container_dir/l/       short symlinks to the layers, when the mount options are too long

    `upper_on_tmpfs=None` decides by the container dir's filesystem. Call `.unmount()` when done
    (or use it as a context manager); on failure nothing is left mounted or created."""
    from pathlib import Path

    m = mount_layers(lowers, container_dir, driver, upper_on_tmpfs, tmpfs_size)
    return m.replace(target=Path(m.target), upper=Path(m.upper), work=None if m.work is None else Path(m.work),
                     lowers=[Path(p) for p in m.lowers], container_dir=Path(m.container_dir),
                     tmpfs=None if m.tmpfs is None else Path(m.tmpfs), made=[Path(p) for p in m.made])


def mount_layers(lowers: list[Path] | list[str], container_dir: Path | str, driver: str = "auto",
                 upper_on_tmpfs: bool | None = None, tmpfs_size: str = "1g", upper_fstype: str | None = None,
                 volatile: bool = False) -> RootfsMount:
    """mount_rootfs() with plain string paths in the result: what PID 1 of `run` calls (no pathlib).

    `upper_fstype`: the filesystem type of container_dir when the caller knows it (see plan()).
    `volatile`: see mount_overlay. `run` sets it: a container's upper dir lives under the run
    directory, which does not survive a reboot anyway, and without it every unmount (every
    container's exit) would sync the host filesystem that holds the upper dir."""
    lowers = [os.fspath(p) for p in lowers]
    container_dir = os.fspath(container_dir)
    check_layers(lowers)
    driver = choose_driver(driver)
    os.makedirs(container_dir, exist_ok=True)
    target = os.path.join(container_dir, "rootfs")
    if os.path.exists(target) and (is_mount_point(target) or os.listdir(target)):
        raise ContainerError("the container's rootfs dir is already in use", step=STEP, path=target,
                             fix="unmount it or remove the old container (`minicontainer reset` cleans up)")
    os.makedirs(target, exist_ok=True)
    made = [target]
    try:
        if driver == "copy":
            copy_layers(lowers, target)
            return RootfsMount("copy", target, target, None, lowers, container_dir, made=made)
        tmpfs = None
        if upper_on_tmpfs is None:
            upper_fstype = filesystem_of(container_dir)
            upper_on_tmpfs = upper_fstype in UNSUPPORTED_UPPER
        if upper_on_tmpfs:
            tmpfs = os.path.join(container_dir, "rw")
            os.makedirs(tmpfs, exist_ok=True)
            made.append(tmpfs)
            syscalls.mount(TMPFS_SOURCE, tmpfs, "tmpfs", syscalls.MS_NODEV, f"size={tmpfs_size},mode=0755")
            upper_fstype = "tmpfs"
        rw = tmpfs or container_dir
        upper, work = os.path.join(rw, "upper"), os.path.join(rw, "work")
        for d in (upper, work):
            os.makedirs(d, exist_ok=True)
            if tmpfs is None:
                made.append(d)
        farm = os.path.join(container_dir, "l")
        made.append(farm)
        mount = RootfsMount("overlay", target, upper, work, lowers, container_dir, tmpfs=tmpfs, made=made)
        try:
            mount.options = mount_overlay(lowers, upper, work, target, farm=farm, upper_fstype=upper_fstype,
                                          volatile=volatile)
        except BaseException:
            if tmpfs is not None:
                _umount(tmpfs)
            raise
        return mount
    except BaseException:
        _remove([p for p in made if not is_mount_point(p)])
        raise


def plan(container_dir: str) -> dict:
    """The decisions mount_layers() would make, made ahead by the runtime for PID 1 of `run`.

    PID 1 is a fork of the runtime: every page it writes is first copied (copy-on-write), so
    Python work there costs 2-3 times more than before the fork. Reading /proc/filesystems and the
    mount table is done once here instead. Returns mount_layers()' keyword arguments."""
    driver = choose_driver()
    fstype = filesystem_of(container_dir)
    return {"unionfs_driver": driver, "upper_on_tmpfs": fstype in UNSUPPORTED_UPPER, "upper_fstype": fstype}


def _remove(made: list[Path] | list[str]) -> None:
    """Delete what mount_layers made: symlinks and files, and directory trees."""
    for path in made:
        if os.path.islink(path) or os.path.isfile(path):
            os.unlink(path)
        elif os.path.exists(path):
            import shutil  # (here: `run` imports this module, and shutil would cost it ~8 ms)
            shutil.rmtree(path)


def release(container_dir: Path | str) -> list[str]:
    """Unmount a container's rootfs (and upper tmpfs) if they are mounted in this mount namespace.

    `run` mounts them inside the container's own namespace, where the kernel drops them with its
    last process; this is for a root mounted on the host (a notebook, a test). Idempotent."""
    done = []
    for point in (os.path.join(container_dir, "rootfs"), os.path.join(container_dir, "rw")):
        if os.path.exists(point) and is_mount_point(point):
            _umount(point)
            done.append(f"unmounted {point}")
    return done


def container_changes(container_dir: Path, lowers: list[Path]):
    """`minicontainer diff`: what a container changed, read from its upper dir (or its copied root)."""
    from pathlib import Path

    from . import unionmodel

    container_dir = Path(container_dir)
    upper = container_dir / "upper"
    if upper.is_dir():
        return unionmodel.diff(upper, lowers)
    target = container_dir / "rootfs"
    if target.is_dir() and not (container_dir / "rw").exists():  # the copy driver
        return unionmodel.compare(unionmodel.merge(lowers).entries, unionmodel.scan(target))
    raise ContainerError("this container has no upper dir to read", step="diff", path=str(container_dir),
                         fix="diff works for containers of images (not --rootfs DIR); an upper dir on a tmpfs "
                             "is gone once the container exits")


# --- minicontainer reset -------------------------------------------------------------------------------

def leftover_mounts(paths) -> list[str]:
    """Overlay (and upper tmpfs) mounts under the course's directories, deepest first."""
    roots = [os.path.realpath(paths.run_dir), os.path.realpath(paths.lib_dir)]
    found = [m.point for m in mountinfo.read()
             if (m.fstype == "overlay" or m.source == TMPFS_SOURCE)
             and any(m.point == r or m.point.startswith(r.rstrip("/") + "/") for r in roots)]
    return sorted(set(found), key=len, reverse=True)


def sweep(paths) -> list[str]:
    """Unmount every overlay and upper tmpfs a killed runtime left under MC_RUN_DIR / MC_LIB_DIR."""
    removed = []
    for point in leftover_mounts(paths):
        try:
            syscalls.umount2(point, syscalls.MNT_DETACH)
            removed.append(f"unmounted {point}")
        except OSError as exc:
            removed.append(f"could not unmount {point}: {exc}")
    return removed
