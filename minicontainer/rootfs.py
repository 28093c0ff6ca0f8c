"""Root filesystems: the busybox image directory, and moving a process into one (lessons 01-02).

A root filesystem is just a directory tree that looks like `/`. The course's default one holds a
single static binary, Debian's busybox (`/bin/busybox`), plus a symlink per applet (`/bin/ls ->
/bin/busybox`), a few files in /etc, and empty mount points for /proc, /dev and /sys.

`pivot_into()` is the safe way in: unlike chroot(2) it changes the root of the whole mount
namespace and lets us detach the old root, so nothing of the host stays reachable (lesson 01).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import syscalls
from .errors import ContainerError

BUSYBOX = "/bin/busybox"

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""
GROUP = """\
root:x:0:
nogroup:x:65534:
"""
# Directories every rootfs needs: mount points the runtime fills, and the usual writable places.
DIRECTORIES = {"bin": 0o755, "sbin": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755, "etc": 0o755,
               "proc": 0o555, "sys": 0o555, "dev": 0o755, "tmp": 0o1777, "root": 0o700,
               "home": 0o755, "var": 0o755, "run": 0o755, "mnt": 0o755}


def find_busybox(path: str = BUSYBOX) -> Path:
    """The host's static busybox, or an error saying which Debian package to install."""
    found = Path(path)
    if not found.is_file():
        raise ContainerError("busybox not found", step="build rootfs", path=path,
                             fix="apt-get install busybox-static (or run `make lab`, which installs it)")
    return found


def busybox_applets(busybox: Path) -> list[str]:
    """The applet paths busybox knows, relative to / (`busybox --list-full`: 'bin/ls', 'usr/bin/wc', ...)."""
    out = subprocess.run([str(busybox), "--list-full"], check=True, capture_output=True, text=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def make_applet_links(rootfs: Path, applets: list[str], target: str = BUSYBOX) -> int:
    """Create one symlink per applet pointing at the busybox binary. Returns how many were made."""
    made = 0
    for applet in applets:
        link = rootfs / applet
        if link.name == "busybox" or link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, link)
        made += 1
    return made


def build_busybox_rootfs(dest: Path, busybox: str = BUSYBOX) -> Path:
    """Build the course's default root filesystem at `dest` (atomically: a half-built tree never shows)."""
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
        (tmp / "etc" / "passwd").write_text(PASSWD)
        (tmp / "etc" / "group").write_text(GROUP)
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
    syscalls.mount(new_root, new_root, None, syscalls.MS_BIND | syscalls.MS_REC)
    put_old = os.path.join(new_root, old_dir)
    os.makedirs(put_old, exist_ok=True)
    syscalls.pivot_root(new_root, put_old)
    os.chdir("/")
    syscalls.umount2("/" + old_dir, syscalls.MNT_DETACH)
    os.rmdir("/" + old_dir)
