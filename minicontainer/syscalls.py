"""The system calls a container runtime is made of, wrapped with ctypes (lessons 01 and 02).

Python 3.11's `os` module has `chroot` and `sethostname`-free `uname`, but no `unshare`, `setns`,
`mount`, `umount2` or `pivot_root`. We call libc directly. Every wrapper turns a failing call into
a `SyscallError` that names the call, the path and a fix, so a learner sees

    SyscallError: pivot_root(/tmp/rootfs, /tmp/rootfs/.old) failed: EINVAL (Invalid argument).
    Fix: new_root must be a mount point: bind-mount it onto itself first

instead of a bare `OSError: [Errno 22]`.
"""

from __future__ import annotations

import ctypes
import errno
import os

# --- clone(2)/unshare(2) flags: one per namespace type -------------------------------------
CLONE_NEWNS = 0x00020000      # mount namespace
CLONE_NEWCGROUP = 0x02000000  # cgroup namespace
CLONE_NEWUTS = 0x04000000     # hostname and domain name
CLONE_NEWIPC = 0x08000000     # System V IPC, POSIX message queues
CLONE_NEWUSER = 0x10000000    # user and group IDs
CLONE_NEWPID = 0x20000000     # process IDs (applies to the children of the caller)
CLONE_NEWNET = 0x40000000     # network devices, addresses, routes, ports
CLONE_NEWTIME = 0x00000080    # CLOCK_MONOTONIC / BOOTTIME offsets

# --- mount(2) flags -----------------------------------------------------------------------
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_STRICTATIME = 1 << 24

# --- umount2(2) flags ---------------------------------------------------------------------
MNT_FORCE = 1
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)
for _name in ("unshare", "setns", "mount", "umount2", "sethostname"):
    getattr(_libc, _name).restype = ctypes.c_int
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.syscall.restype = ctypes.c_long

SYS_pivot_root = 155  # x86_64; glibc has no pivot_root() wrapper
if os.uname().machine == "aarch64":
    SYS_pivot_root = 41


class SyscallError(OSError):
    """A system call failed. `str()` names the call, its arguments, the error and a fix."""

    def __init__(self, call: str, err: int, fix: str = "", path: str = "") -> None:
        super().__init__(err, os.strerror(err), path or None)
        self.call = call
        self.fix = fix

    def __str__(self) -> str:
        name = errno.errorcode.get(self.errno, str(self.errno))
        text = f"{self.call} failed: {name} ({self.strerror})"
        return f"{text}. Fix: {self.fix}" if self.fix else text


def _fix_for(call: str, err: int) -> str:
    """The advice a learner needs for the usual ways each call fails."""
    if err == errno.EPERM:
        if call == "unshare" and os.geteuid() != 0:
            return "run as root, or add CLONE_NEWUSER to create a user namespace first"
        return "this needs root (CAP_SYS_ADMIN): run as root, e.g. `sudo`, or inside the course VM"
    if err == errno.ENOENT:
        return "the path does not exist: create it first (os.makedirs)"
    if err == errno.ENOTDIR:
        return "a part of the path is not a directory"
    if call == "pivot_root" and err in (errno.EINVAL, errno.EBUSY):
        return ("new_root must be a mount point, put_old must be under new_root, and / must not be shared: "
                "bind-mount new_root onto itself and make / private (mount --make-rprivate /) first")
    if err == errno.EBUSY:
        return "something is still mounted or in use there: unmount it first (or use MNT_DETACH)"
    if call == "unshare" and err == errno.EINVAL:
        return ("CLONE_NEWUSER needs a single-threaded process (a Jupyter kernel has many threads): "
                "do namespace work in a fresh helper process")
    if call == "umount2" and err == errno.EINVAL:
        return "the path is not a mount point"
    if call == "setns" and err == errno.EINVAL:
        return "the file descriptor is not a namespace of the type asked for"
    return ""


def _check(result: int, call: str, path: str = "") -> None:
    if result == -1:
        err = ctypes.get_errno()
        raise SyscallError(call, err, _fix_for(call.split("(")[0], err), path)


def _b(value: str | os.PathLike | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def unshare(flags: int) -> None:
    """Move the calling process (thread) into new namespaces of the types in `flags`."""
    _check(_libc.unshare(flags), f"unshare({namespace_names(flags)})")


def setns(fd: int, nstype: int = 0) -> None:
    """Join the namespace that `fd` (an open /proc/PID/ns/* file) refers to."""
    _check(_libc.setns(fd, nstype), f"setns(fd {fd})")


def mount(source: str | None, target: str, fstype: str | None = None, flags: int = 0, data: str | None = None) -> None:
    """mount(2): attach a filesystem (or change the propagation/flags of a mount) at `target`."""
    call = f"mount({source or 'none'}, {target}, {fstype or 'none'})"
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)), call, str(target))


def umount2(target: str, flags: int = 0) -> None:
    """umount2(2): detach the filesystem mounted at `target`."""
    _check(_libc.umount2(_b(target), flags), f"umount2({target})", str(target))


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2): make `new_root` the root of this mount namespace, move the old one to `put_old`."""
    result = _libc.syscall(ctypes.c_long(SYS_pivot_root), _b(new_root), _b(put_old))
    _check(result, f"pivot_root({new_root}, {put_old})", str(new_root))


def sethostname(name: str) -> None:
    """sethostname(2): set the hostname of this UTS namespace."""
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), f"sethostname({name})")


AF_INET = 2
SOCK_DGRAM = 2
SOCK_CLOEXEC = 0o2000000
_libc.socket.restype = ctypes.c_int
_libc.socket.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]


def socket(family: int, kind: int, protocol: int = 0) -> int:
    """socket(2), returning the bare file descriptor (close-on-exec); close it with os.close().

    For an ioctl on a network device a socket is all we need, and the `socket` module costs
    `run` ~7 ms of imports (see namespaces.loopback_up)."""
    fd = _libc.socket(family, kind | SOCK_CLOEXEC, protocol)
    _check(fd, f"socket({family}, {kind})")
    return fd


def chroot(path: str) -> None:
    """chroot(2), with the same clear errors as the others (os.chroot raises a bare OSError)."""
    try:
        os.chroot(path)
    except OSError as exc:
        raise SyscallError(f"chroot({path})", exc.errno or errno.EIO, _fix_for("chroot", exc.errno or 0), path) from None


NAMESPACE_FLAGS = {
    "mnt": CLONE_NEWNS,
    "uts": CLONE_NEWUTS,
    "ipc": CLONE_NEWIPC,
    "pid": CLONE_NEWPID,
    "net": CLONE_NEWNET,
    "user": CLONE_NEWUSER,
    "cgroup": CLONE_NEWCGROUP,
    "time": CLONE_NEWTIME,
}


def namespace_names(flags: int) -> str:
    """'CLONE_NEWNS|CLONE_NEWUTS' style text for a flags value (used in error messages)."""
    names = [f"CLONE_NEW{n.upper() if n != 'mnt' else 'NS'}" for n, f in NAMESPACE_FLAGS.items() if flags & f]
    rest = flags & ~sum(f for f in NAMESPACE_FLAGS.values() if flags & f)
    if rest:
        names.append(hex(rest))
    return "|".join(names) or "0"


# --- prctl(2): used by the container's helper and PID 1 (lesson 02) ---------------------------
PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36
_libc.prctl.restype = ctypes.c_int
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def prctl(option: int, arg: int = 0) -> None:
    """prctl(2) with one integer argument, e.g. prctl(PR_SET_PDEATHSIG, signal.SIGKILL)."""
    _check(_libc.prctl(option, arg, 0, 0, 0), f"prctl({option})")


def set_process_name(name: str) -> None:
    """The name `ps -o comm` and /proc/PID/comm show (at most 15 bytes)."""
    buf = ctypes.create_string_buffer(name.encode()[:15])
    _check(_libc.prctl(PR_SET_NAME, ctypes.cast(buf, ctypes.c_void_p).value, 0, 0, 0), "prctl(PR_SET_NAME)")


def set_command_line(text: str) -> None:
    """Overwrite this process's argv in memory, so that /proc/PID/cmdline (what `ps` shows) reads `text`.

    The kernel reads cmdline from the process's own argv area [arg_start, arg_end) (fields 48 and
    49 of /proc/self/stat); Python keeps its own copies of the arguments, so we may reuse the area.
    """
    from .proc import ARG_END, ARG_START, field, stat_fields
    fields = stat_fields("self")
    start, end = field(fields, ARG_START), field(fields, ARG_END)
    raw = text.encode()[: end - start - 1]
    ctypes.memset(start, 0, end - start)
    ctypes.memmove(start, raw, len(raw))
