"""Capabilities: root's power cut into 41 pieces, and a container keeps 14 of them (lesson 08).

Since Linux 2.2 "root" is not one privilege but a set of capabilities: CAP_SYS_ADMIN (mount,
unshare, ...), CAP_SYS_MODULE (load kernel code), CAP_NET_ADMIN, CAP_SYS_PTRACE ... Each process
carries five sets, shown as hex masks in /proc/PID/status:

    CapBnd  bounding     the most the process (and anything it ever execs) can have
    CapPrm  permitted    what it may switch on
    CapEff  effective    what the kernel checks now
    CapInh  inheritable  what may pass through execve to a program that asks for it
    CapAmb  ambient      what passes through execve to any program

A container's root is the host's root (no user namespace), so what keeps it from taking the host
is, first of all, that its sets are small. Docker (and so this runtime) keeps 14 capabilities
(DEFAULT below); `--cap-add`/`--cap-drop` change that, `--privileged` keeps all of them.

    caps = resolve(add=["NET_ADMIN"], drop=["MKNOD"], privileged=False)   # names, Docker's rules
    apply(numbers(caps))                                                  # in the workload, before execve
    decode(0xa80425fb)                                                    # a CapEff value -> names

This module is on the path of `run` (the workload calls apply()): standard library's small modules only.
"""

from __future__ import annotations

import ctypes
import os

from ..errors import UsageError

# Every capability the kernel knows, by number (linux/capability.h). The kernel may know fewer
# (/proc/sys/kernel/cap_last_cap says how many): see last_cap().
NAMES = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
         "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
         "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
         "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
         "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
         "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
         "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
         "CAP_CHECKPOINT_RESTORE"]
NUMBER = {name: number for number, name in enumerate(NAMES)}

# Docker's default set (moby: daemon/pkg/oci/caps/defaults.go), in Docker's order.
DEFAULT = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
           "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
           "CAP_AUDIT_WRITE"]


def last_cap() -> int:
    """The highest capability number this kernel knows (41 capabilities on 5.9+: 40)."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(NAMES) - 1


def available() -> int:
    """The capabilities this runtime can give: its own bounding set (a runtime that is itself confined,
    in a container or a CI sandbox, cannot give what it lacks; Docker checks the same)."""
    return read_sets()["CapBnd"]


def all_names() -> list[str]:
    """Every capability of this kernel that we have: what --privileged keeps."""
    have = available()
    return [name for number, name in enumerate(NAMES[:last_cap() + 1]) if have >> number & 1]


def normalize(name: str, have: int | None = None) -> str:
    """'net_admin', 'NET_ADMIN', 'CAP_NET_ADMIN' -> 'CAP_NET_ADMIN' ('ALL' stays 'ALL'); unknown: UsageError.

    `have`: the capabilities we can give (available(), read once by the caller)."""
    upper = name.strip().upper()
    if upper == "ALL":
        return upper
    full = upper if upper.startswith("CAP_") else "CAP_" + upper
    if full not in NUMBER:
        raise UsageError(f'unknown capability: "{full}"', step="parse --cap-add/--cap-drop",
                         fix="use a name from `man 7 capabilities`, with or without CAP_ (e.g. NET_ADMIN), or ALL")
    have = available() if have is None else have
    if NUMBER[full] > last_cap() or not have >> NUMBER[full] & 1:
        raise UsageError(f'capability not supported by your kernel or not available in the current environment: '
                         f'"{full}"', step="parse --cap-add/--cap-drop",
                         fix="leave it out: this kernel is older than it, or this runtime itself runs without it")
    return full


def resolve(add: list[str], drop: list[str], privileged: bool = False) -> list[str]:
    """The capabilities a container gets, by Docker's rules (moby's TweakCapabilities):

    --privileged: all;  --cap-add ALL: all but the dropped ones;  --cap-drop ALL: only the added
    ones;  otherwise DEFAULT minus the dropped, plus the added. Names may lack "CAP_"."""
    if privileged:
        return all_names()
    have = available()
    adds = [normalize(n, have) for n in add]
    drops = [normalize(n, have) for n in drop]
    if "ALL" in adds:
        return [c for c in all_names() if c not in drops]
    if "ALL" in drops:
        caps = [c for c in adds if c != "ALL"]
    else:
        caps = [c for c in DEFAULT if c not in drops] + adds
    return list(dict.fromkeys(caps))  # without repeats, in order


def mask(names: list[str]) -> int:
    """Names -> the bit mask /proc/PID/status shows (CAP_CHOWN is bit 0)."""
    bits = 0
    for name in names:
        upper = name.upper()
        bits |= 1 << NUMBER[upper if upper.startswith("CAP_") else "CAP_" + upper]
    return bits


def decode(bits: int | str) -> list[str]:
    """A mask (an int, or the hex text of /proc/PID/status) -> capability names, lowest bit first."""
    if isinstance(bits, str):
        bits = int(bits, 16)
    return [NAMES[n] if n < len(NAMES) else f"CAP_{n}" for n in range(64) if bits >> n & 1]


def read_sets(pid: int | str = "self") -> dict[str, int]:
    """The five sets of a process: {"CapInh": ..., "CapPrm": ..., "CapEff": ..., "CapBnd": ..., "CapAmb": ...}."""
    sets = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Cap"):
                key, _, value = line.partition(":")
                sets[key] = int(value, 16)
    return sets


# --- applying a set: prctl(2) and capset(2) through ctypes ------------------------------------

PR_CAPBSET_DROP = 24
PR_SET_KEEPCAPS = 8
PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, PR_CAP_AMBIENT_CLEAR_ALL = 47, 2, 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
SYS_capset = {"x86_64": 126, "aarch64": 91}.get(os.uname().machine, 126)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):  # one per 32 capabilities: version 3 takes two of them
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.prctl.restype = ctypes.c_int
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.syscall.restype = ctypes.c_long


def _prctl(option: int, arg2: int = 0, arg3: int = 0) -> None:
    if _libc.prctl(option, arg2, arg3, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}, {arg2}): {os.strerror(err)}")


def drop_bounding(keep: int) -> None:
    """Remove from the bounding set every capability not in the mask `keep` (needs CAP_SETPCAP).

    Nothing this process execs later, setuid-root programs included, can get them back."""
    for number in range(last_cap() + 1):
        if not keep >> number & 1:
            _prctl(PR_CAPBSET_DROP, number)


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """capset(2): set this thread's effective, permitted and inheritable sets (64-bit masks)."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = effective >> shift & 0xFFFFFFFF
        data[i].permitted = permitted >> shift & 0xFFFFFFFF
        data[i].inheritable = inheritable >> shift & 0xFFFFFFFF
    if _libc.syscall(SYS_capset, ctypes.byref(header), ctypes.byref(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")


def keep_caps(on: bool) -> None:
    """PR_SET_KEEPCAPS: keep the permitted set across setuid() from root to another user."""
    _prctl(PR_SET_KEEPCAPS, 1 if on else 0)


def apply(keep: int) -> None:
    """Reduce this process to the capabilities in the mask `keep`, as runc does before execve:

    1. bounding set: drop every other capability (for good: no execve brings them back);
    2. ambient set: clear it;
    3. effective and permitted: `keep`; inheritable: empty (Docker's default since CVE-2022-24769).

    After execve, root gets permitted = effective = its bounding set; another user gets nothing
    (no ambient set, no file capabilities): a non-root `--user` runs with CapEff 0.
    """
    drop_bounding(keep)
    set_sets(keep)


def set_all(effective: int, permitted: int, inheritable: int, ambient: int) -> None:
    """Each set as given (lesson 10: config.json's process.capabilities names all five).

    An ambient capability must be permitted and inheritable too: the kernel refuses it otherwise, and
    those are skipped (runc's own default config.json lists ambient ones that are not inheritable)."""
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    capset(effective, permitted, inheritable)
    for number in range(last_cap() + 1):
        if (ambient & permitted & inheritable) >> number & 1:
            _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, number)


def set_sets(keep: int) -> None:
    """Ambient empty; effective and permitted `keep`; inheritable empty (steps 2-3 of apply)."""
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    capset(keep, keep, 0)
