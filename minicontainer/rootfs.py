"""Root filesystems: the busybox image directory, and moving a process into one (lessons 01-02).

A root filesystem is just a directory tree that looks like `/`. The course's default one holds a
single static binary, Debian's busybox (`/bin/busybox`), plus a symlink per applet (`/bin/ls ->
/bin/busybox`), a few files in /etc, and empty mount points for /proc, /dev and /sys.

`pivot_into()` is the safe way in: unlike chroot(2) it changes the root of the whole mount
namespace and lets us detach the old root, so nothing of the host stays reachable (lesson 01).

The steps the runtime takes here are lesson 01's exercises (seams.py; `minicontainer --yours` runs
yours): make_applet_links (1.1) and write_users (1.2) when it builds a rootfs (`minicontainer rootfs
DIR`, `make lab`), chroot_into (1.3) for `run --no-pivot`, pivot_without_old_dir (1.4) for every run.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # Path in annotations only: every `run` imports this module, pathlib costs it ~8 ms (bench/)
    from pathlib import Path

from . import syscalls
from .errors import ContainerError

BUSYBOX = "/bin/busybox"

# The users and groups of the default rootfs: /etc/passwd and /etc/group (write_users).
USERS = [("root", 0, 0, "/root", "/bin/sh"), ("nobody", 65534, 65534, "/nonexistent", "/bin/false")]
GROUPS = [("root", 0), ("nogroup", 65534)]
# Directories every rootfs needs: mount points the runtime fills, and the usual writable places.
DIRECTORIES = {"bin": 0o755, "sbin": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755, "etc": 0o755,
               "proc": 0o555, "sys": 0o555, "dev": 0o755, "tmp": 0o1777, "root": 0o700,
               "home": 0o755, "var": 0o755, "run": 0o755, "mnt": 0o755}


def find_busybox(path: str = BUSYBOX) -> Path:
    """The host's static busybox, or an error saying which Debian package to install."""
    from pathlib import Path
    found = Path(path)
    if not found.is_file():
        raise ContainerError("busybox not found", step="build rootfs", path=path,
                             fix="apt-get install busybox-static (or run `make lab`, which installs it)")
    return found


def busybox_applets(busybox: Path) -> list[str]:
    """The applet paths busybox knows, relative to / (`busybox --list-full`: 'bin/ls', 'usr/bin/wc', ...)."""
    import subprocess  # (here: `run` imports this module, and subprocess costs it more than `signal` does)
    out = subprocess.run([str(busybox), "--list-full"], check=True, capture_output=True, text=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def make_applet_links(rootfs: Path, applets: list[str], target: str = BUSYBOX) -> int:
    """Create one symlink per applet pointing at the busybox binary. Returns how many were made.

    `applets` are paths relative to the root ("bin/ls", "usr/bin/wc"); the link's target is a path
    *inside* the rootfs ("/bin/busybox"): it is resolved in the container, where the rootfs is "/".
    Missing parent directories are made; an existing file (busybox itself) is left alone."""
    from pathlib import Path
    made = 0
    for applet in applets:
        link = Path(rootfs) / applet
        if link.name == "busybox" or link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, link)
        made += 1
    return made


def write_users(rootfs: Path, users: list[tuple[str, int, int, str, str]], groups: list[tuple[str, int]]) -> None:
    """Write rootfs/etc/passwd and rootfs/etc/group: who `id`, `ls -l` and `run --user NAME` know.

    users:  (name, uid, gid, home, shell) -> "name:x:uid:gid:name:home:shell" (the 5th field: a comment)
    groups: (name, gid)                   -> "name:x:gid:" (no members listed)"""
    from pathlib import Path
    etc = Path(rootfs) / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "passwd").write_text("".join(f"{n}:x:{uid}:{gid}:{n}:{home}:{shell}\n" for n, uid, gid, home, shell in users))
    (etc / "group").write_text("".join(f"{n}:x:{gid}:\n" for n, gid in groups))


def build_busybox_rootfs(dest: Path, busybox: str = BUSYBOX) -> Path:
    """Build the course's default root filesystem at `dest` (atomically: a half-built tree never shows)."""
    import shutil
    import tempfile
    from pathlib import Path
    dest = Path(dest)
    binary = find_busybox(busybox)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=dest.parent))
    try:
        tmp.chmod(0o755)
        for name, mode in DIRECTORIES.items():
            (tmp / name).mkdir(parents=True, exist_ok=True)
            (tmp / name).chmod(mode)
        shutil.copy2(binary, tmp / "bin" / "busybox")
        make_applet_links(tmp, busybox_applets(binary))
        write_users(tmp, USERS, GROUPS)
        for name in ("hostname", "hosts", "resolv.conf"):  # bind-mount targets the runtime fills in
            (tmp / "etc" / name).touch()
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def ensure_default_rootfs(dest: Path) -> Path:
    """Build the default rootfs once; later calls return it as it is (used by `make lab`/`make test`)."""
    from pathlib import Path
    if (Path(dest) / "bin" / "busybox").is_file():
        return Path(dest)
    return build_busybox_rootfs(dest)


def make_mounts_private() -> None:
    """Stop mount events in this namespace from propagating to the host (`mount --make-rprivate /`)."""
    syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)


def pivot_into(new_root: str | Path, old_dir: str = ".old-root") -> None:
    """Make `new_root` the root of this (already private) mount namespace and drop the host's root.

    The four steps every runtime performs (runc's rootfs_linux.go does the same):
    1. bind-mount new_root onto itself, because pivot_root needs a mount point;
    2. pivot_root(new_root, new_root/old_dir): the old root moves under the new one;
    3. chdir("/") so that no reference to the old tree remains;
    4. lazily unmount the old root and remove its directory: the host is gone from view.
    """
    new_root = os.fspath(new_root)
    bind_root(new_root)
    put_old = os.path.join(new_root, old_dir)
    os.makedirs(put_old, exist_ok=True)
    syscalls.pivot_root(new_root, put_old)
    os.chdir("/")
    syscalls.umount2("/" + old_dir, syscalls.MNT_DETACH)
    os.rmdir("/" + old_dir)


# --- lesson 02: what a container needs besides its files ------------------------------------
# Everything below runs inside the container's own mount namespace (in its PID 1, before the
# workload starts), so none of these mounts is ever visible on the host, and all of them vanish
# with the namespace when the container's last process exits.

# runc's and Docker's defaults: files a container must not read (host secrets, kernel memory) are
# covered by /dev/null, directories by an empty read-only tmpfs; others are made read-only. Docker
# adds /proc/interrupts, powercap (energy counters: a side channel) and each CPU's thermal_throttle
# (THERMAL_THROTTLE_GLOB, expanded when masking) to runc's list. Lesson 08: --privileged masks nothing.
MASKED_PATHS = ["/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                "/sys/devices/virtual/powercap", "/sys/firmware"]
THERMAL_THROTTLE = "/sys/devices/system/cpu/{}/thermal_throttle"
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

# The minimal /dev of the OCI runtime spec: name -> (type, major, minor, mode).
_NOSUID_NODEV_NOEXEC = syscalls.MS_NOSUID | syscalls.MS_NODEV | syscalls.MS_NOEXEC
MS_NODIRATIME, MS_RELATIME = 2048, 1 << 21


def locked_flags(path: str) -> int:
    """The mount flags a remount must keep (in a user namespace the kernel refuses to drop them)."""
    f = os.statvfs(path).f_flag
    flags = f & (_NOSUID_NODEV_NOEXEC | syscalls.MS_NOATIME | MS_NODIRATIME)
    return flags | (MS_RELATIME if f & 4096 else 0)  # ST_RELATIME is 4096, MS_RELATIME is 1 << 21


def inside(rootfs: str, path: str, max_links: int = 40) -> str:
    """`path`, as the container sees it, as a host path under `rootfs` (a "secure join", as runc does).

    The image's symlinks are followed as if `rootfs` were `/`: an image with `/mnt -> /etc` must
    make `-v x:/mnt/y` land on rootfs/etc/y, never on the host's /etc/y (the runtime mounts and
    creates mount points *before* pivot_root, on host paths). `..` stops at the root, as in the kernel.
    """
    root = os.path.normpath(rootfs)
    todo = [p for p in path.split("/") if p and p != "."]
    done: list[str] = []
    links = 0
    while todo:
        part = todo.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = os.path.join(root, *done, part)
        if os.path.islink(candidate):
            links += 1
            if links > max_links:
                raise ContainerError("too many levels of symbolic links", step="mount", path=path,
                                     fix="the image has a symlink loop on this path")
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []  # absolute: from the container's root, not the host's
            todo = [p for p in target.split("/") if p and p != "."] + todo
            continue
        done.append(part)
    return os.path.join(root, *done)


_inside = inside  # (its name before lesson 09 made it public: exercise 9.3 uses it)


def _mkmountpoint(target: str, is_dir: bool = True) -> None:
    """Create an empty directory (or file) to mount on, when the image lacks it."""
    if os.path.lexists(target):
        return
    if is_dir:
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))


# --- lesson 09: mount points, in the container's own layer ------------------------------------
# An image need not have /proc, /dev or /sys (`FROM scratch` has nothing but its files), nor the
# directory a `-v` names. runc creates what is missing before it mounts. Where it creates it matters:
# an image's layers and a --rootfs directory are shared by every container made from them, so a
# mount point goes into the container's own upper layer (the overlay's upper dir), never into them.
# The runtime (container.validate) gives a --rootfs directory that lacks a mount point an overlay of
# its own for that reason (missing_mount_points), with the directory as its only layer.

MOUNT_POINTS = ("/proc", "/dev", "/sys")  # what every container mounts


def mount_point(rootfs: str, target: str, is_dir: bool = True) -> str:
    """The host path of `target` (a path in the container) under `rootfs`, made if it is missing: an
    empty directory, or an empty file to mount a file on (`is_dir=False`). Symlinks on the way are
    followed as the container would see them (inside), so an image cannot aim it at the host.

    Called by PID 1 on its copy-on-write root for /proc, /dev, /sys, -v and --tmpfs (exercise 9.3)."""
    where = inside(rootfs, target)
    _mkmountpoint(where, is_dir)
    return where


def missing_mount_points(rootfs: str, targets: list[str] | tuple[str, ...]) -> list[str]:
    """The targets (paths in the container) that `rootfs` lacks: a --rootfs directory that lacks one
    gets an overlay (the container's own layer to make them in) instead of being used as it is."""
    return [t for t in targets if not os.path.lexists(inside(rootfs, t))]


def bind_root(root: str, read_only: bool = False, in_userns: bool = False) -> None:
    """Make `root` a mount point of its own (pivot_root needs one), with the flags a root needs.

    A bind mount keeps its source's flags. A rootfs directory on systemd's /run (a tmpfs mounted
    noexec, nosuid, nodev) would give a container in which no program can start ("permission
    denied" from execve) and no setuid program works. So the bind mount is remounted without those
    flags (and read-only for --read-only). The real root may drop them; in a user namespace the
    kernel locks the flags the mount had when the namespace was made, so there a noexec root is an
    error that says what to do.
    """
    syscalls.mount(root, root, None, syscalls.MS_BIND | syscalls.MS_REC)
    inherited = os.statvfs(root).f_flag & _NOSUID_NODEV_NOEXEC  # (ST_NOSUID/ST_NODEV/ST_NOEXEC = MS_*)
    if not inherited and not read_only:
        return  # a fresh overlay, or a directory on an ordinary filesystem: nothing to change
    keep = locked_flags(root)
    if in_userns:
        if inherited & syscalls.MS_NOEXEC:
            raise ContainerError("the container's root directory is on a filesystem mounted noexec, and in a user "
                                 "namespace the kernel keeps that flag: no program could start", step="mount rootfs",
                                 path=root, fix="put the rootfs (or MC_RUN_DIR) on a filesystem mounted without "
                                                "noexec, for example under your home directory")
    else:
        keep &= ~_NOSUID_NODEV_NOEXEC
    syscalls.mount(None, root, None, syscalls.MS_BIND | syscalls.MS_REMOUNT | keep
                   | (syscalls.MS_RDONLY if read_only else 0))


def mount_proc(rootfs: str) -> None:
    """A fresh procfs: it shows the processes of the PID namespace of the process that mounts it."""
    syscalls.mount("proc", mount_point(rootfs, "/proc"), "proc", _NOSUID_NODEV_NOEXEC)


def mount_sys(rootfs: str, read_only: bool = True) -> None:
    """sysfs, read-only (the container must not reconfigure the host's devices; --privileged: writable)."""
    syscalls.mount("sysfs", mount_point(rootfs, "/sys"), "sysfs",
                   _NOSUID_NODEV_NOEXEC | (syscalls.MS_RDONLY if read_only else 0))


def mount_cgroups(rootfs: str, mounts: list[tuple[str, str, str]], read_only: bool = True) -> None:
    """/sys/fs/cgroup: the container's own cgroup, read-only (cgroups.namespace_mounts() says what).

    PID 1 mounts it after unsharing its cgroup namespace, so the mount's root is the container's
    group: `cat /sys/fs/cgroup/memory.max` inside shows the container's own limit."""
    where = inside(rootfs, "/sys/fs/cgroup")
    flags = _NOSUID_NODEV_NOEXEC | (syscalls.MS_RDONLY if read_only else 0)  # --privileged: writable
    if [name for name, _, _ in mounts] == [""]:  # v2: one tree
        _, fstype, options = mounts[0]
        syscalls.mount("cgroup", where, fstype, flags, options or None)
        return
    syscalls.mount("tmpfs", where, "tmpfs", _NOSUID_NODEV_NOEXEC, "mode=755")  # v1: a directory per hierarchy
    for name, fstype, options in mounts:
        os.mkdir(f"{where}/{name}")
        syscalls.mount("cgroup", f"{where}/{name}", fstype, flags, options or None)
    syscalls.mount(None, where, None, syscalls.MS_BIND | syscalls.MS_REMOUNT | flags)


def bind_mount(rootfs: str, source: str, target: str, read_only: bool = False) -> None:
    """`-v SOURCE:TARGET[:ro]`: make a host file or directory appear inside the container."""
    if not os.path.exists(source):
        raise ContainerError("bind mount source does not exist", step="bind mount", path=source,
                             fix="create it on the host first, or correct the -v HOST:CONTAINER path")
    where = mount_point(rootfs, target, os.path.isdir(source))
    syscalls.mount(source, where, None, syscalls.MS_BIND | syscalls.MS_REC)
    if read_only:  # a bind mount becomes read-only only by remounting it (keeping its locked flags)
        syscalls.mount(None, where, None, syscalls.MS_BIND | syscalls.MS_REMOUNT | syscalls.MS_RDONLY
                       | locked_flags(where))


def mount_tmpfs(rootfs: str, target: str, options: str = "") -> None:
    """`--tmpfs /path[:options]`: an empty in-memory filesystem at `target`."""
    where = mount_point(rootfs, target)
    syscalls.mount("tmpfs", where, "tmpfs", syscalls.MS_NOSUID | syscalls.MS_NODEV, options or None)


def mount_entry(rootfs: str, m: dict) -> None:
    """One mount of a bundle's list (lesson 10), already translated by oci/config.py into numbers:
    {"source", "destination", "type", "flags" (MS_*), "data", "propagation" (MS_* or 0)}.

    A bind mount takes its flags only when remounted, as `-v ...:ro` does; a mount point the image
    lacks is made, a file for a file and a directory for the rest."""
    where = _inside(rootfs, m["destination"])
    flags, data = m["flags"], m["data"] or None
    if flags & syscalls.MS_BIND:
        if not os.path.exists(m["source"]):
            raise ContainerError("bind mount source does not exist", step="mount", path=m["source"],
                                 fix="create it on the host, or correct the mount's source in config.json")
        _mkmountpoint(where, os.path.isdir(m["source"]))
        syscalls.mount(m["source"], where, None, flags & (syscalls.MS_BIND | syscalls.MS_REC))
        extra = flags & ~(syscalls.MS_BIND | syscalls.MS_REC | syscalls.MS_REMOUNT)
        if extra:
            syscalls.mount(None, where, None, syscalls.MS_BIND | syscalls.MS_REMOUNT | extra | locked_flags(where))
    else:
        _mkmountpoint(where)
        syscalls.mount(m["source"] or m["type"], where, m["type"], flags, data)
    if m.get("propagation"):
        syscalls.mount(None, where, None, m["propagation"])


def remount_root_readonly() -> None:
    """After pivot_root: make / read-only (config.json's root.readonly; the mounts on it stay as they are)."""
    syscalls.mount(None, "/", None, syscalls.MS_BIND | syscalls.MS_REMOUNT | syscalls.MS_RDONLY | locked_flags("/"))


def thermal_throttle_paths(cpu_dir: str = "/sys/devices/system/cpu") -> list[str]:
    """Docker masks each CPU's thermal_throttle directory (its counters leak what other tenants run)."""
    try:
        names = os.listdir(cpu_dir)
    except OSError:
        return []
    return [THERMAL_THROTTLE.format(n) for n in sorted(names) if n[3:].isdigit() and n.startswith("cpu")
            and os.path.isdir(THERMAL_THROTTLE.format(n))]


def mask_paths(masked: list[str] = MASKED_PATHS, readonly: list[str] = READONLY_PATHS) -> None:
    """After pivot_root: hide host-revealing files under /proc and /sys as runc does."""
    for path in masked + (thermal_throttle_paths() if masked is MASKED_PATHS else []):
        if os.path.isdir(path):
            syscalls.mount("tmpfs", path, "tmpfs", syscalls.MS_RDONLY)
        elif os.path.exists(path):
            syscalls.mount("/dev/null", path, None, syscalls.MS_BIND)
    for path in readonly:
        if os.path.exists(path):
            syscalls.mount(path, path, None, syscalls.MS_BIND | syscalls.MS_REC)
            syscalls.mount(None, path, None, syscalls.MS_BIND | syscalls.MS_REMOUNT | syscalls.MS_RDONLY
                           | syscalls.MS_REC | locked_flags(path))


def pivot_without_old_dir(new_root: str) -> None:
    """Make `new_root` the root of this mount namespace and detach the old root (every `run`).

    pivot_root(".", "."): the old root is stacked under the new one and detached at once.
    runc's trick: it needs no `.old-root` directory, so it works on a read-only root and on one
    we may not write to (a rootless container whose files belong to the host's root).
    `new_root` must already be a mount point (the bind-mount onto itself of pivot_into, step 1).
    """
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.chdir(new_root)
        syscalls.pivot_root(".", ".")
        os.fchdir(fd)  # we are now "above" the new root, on the old one: detach it
        syscalls.mount(None, ".", None, syscalls.MS_SLAVE | syscalls.MS_REC)
        syscalls.umount2(".", syscalls.MNT_DETACH)
    finally:
        os.close(fd)
    os.chdir("/")


def chroot_into(new_root: str) -> None:
    """The fallback when pivot_root cannot be used (`run --no-pivot`, runc's --no-pivot; a root on a
    ramdisk, where pivot_root fails): move the root mount onto "/", then chroot into it.

    MS_MOVE makes `new_root` the top of the mount tree, so the classic chroot escape ("..", chroot(".")),
    climbs back into it; but the host's root is still mounted underneath, in this namespace: a process
    that may unmount "/" (CAP_SYS_ADMIN) finds it again. That is why pivot_root is the default.
    `new_root` must already be a mount point (bind_root)."""
    os.chdir(new_root)
    syscalls.mount(new_root, "/", None, syscalls.MS_MOVE)
    syscalls.chroot(".")
    os.chdir("/")


def etc_files(hostname: str, resolv_conf: str = "/etc/resolv.conf") -> dict[str, str]:
    """The text of /etc/hostname, /etc/hosts and /etc/resolv.conf for a container (Docker writes the same)."""
    hosts = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
             f"127.0.1.1\t{hostname}\n")
    try:
        with open(resolv_conf) as f:  # the host's resolvers, without loopback ones the container cannot reach
            lines = [ln for ln in f if not (ln.startswith("nameserver") and ln.split()[1:2] and
                                            ln.split()[1].startswith(("127.", "::1")))]
    except OSError:
        lines = []
    if not any(ln.startswith("nameserver") for ln in lines):
        lines.append("nameserver 8.8.8.8\n")
    return {"hostname": hostname + "\n", "hosts": hosts, "resolv.conf": "".join(lines)}


def bind_etc_files(rootfs: str, files: dict[str, str], create: bool = False) -> None:
    """Bind the runtime's per-container copies over /etc/<name>, when the image has a file to mount on
    (or, with `create`: a copy-on-write root, the container's own layer gets one, as Docker's does).

    A shared directory is never written to (several containers may share the same rootfs directory).
    `files` maps a name ('hosts') to the host path of the container's copy.
    """
    for name, source in files.items():
        target = mount_point(rootfs, f"/etc/{name}", is_dir=False) if create else inside(rootfs, f"/etc/{name}")
        if os.path.isfile(target):
            syscalls.mount(source, target, None, syscalls.MS_BIND)
