"""seccomp: a filter program the kernel runs on every system call of the container (lesson 08).

Capabilities decide what root may do; seccomp decides which system calls may be made at all.
A filter is a program in *classic BPF*, the small virtual machine of tcpdump: the kernel runs it
before each system call, on this struct (linux/seccomp.h), and the value it returns is the verdict:

    struct seccomp_data {            offset
        int   nr;                      0    the system call's number (59 = execve on x86_64)
        __u32 arch;                    4    AUDIT_ARCH_X86_64 ... (the same numbers mean other calls
        __u64 instruction_pointer;     8     on another architecture: check it first!)
        __u64 args[6];                16    the arguments, 8 bytes each
    };

    verdicts: SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | errno (the call fails with that errno),
              SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_TRAP (SIGSYS), SECCOMP_RET_LOG

Each instruction is 8 bytes, `struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }`: load a word
of seccomp_data into the accumulator A, compare A with k and jump jt or jf instructions ahead, or
return k. A filter for "everything but mount" is five instructions:

    ld  [4]                  A = arch
    jeq #0xc000003e, 1, 0    x86_64? skip the next one
    ret #KILL_PROCESS        another ABI: its numbers mean other calls
    ld  [0]                  A = nr
    jeq #165, 0, 1           mount? ...
    ret #ERRNO|EPERM
    ret #ALLOW

Docker's default profile (default.json beside this file, from github.com/moby/profiles, Apache-2.0)
is an allowlist: about 370 system calls are allowed, some only with given arguments (clone without
namespace flags, socket without AF_VSOCK, personality with five values), some only with a
capability (mount with CAP_SYS_ADMIN), and every other call fails with EPERM. `compile_profile()`
turns such a JSON profile into a program; `install()` hands it to the kernel with seccomp(2).

What this compiler simplifies (Docker uses libseccomp): only the native architecture is allowed
(Docker also allows the 32-bit x86/x32 ABIs: here they fail with EPERM, see ARCH_MISMATCH);
SCMP_ACT_TRACE and SCMP_ACT_NOTIFY are refused; the conditions of one rule are ANDed, and several
rules for one call are tried in the profile's order, the first that matches wins.

This module is on the path of `run`: standard library's small modules only.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from ..errors import UsageError
from .syscall_table import TABLES

# --- classic BPF: the instruction set (linux/filter.h, linux/bpf_common.h) -------------------
BPF_LD, BPF_ALU, BPF_JMP, BPF_RET = 0x00, 0x04, 0x05, 0x06   # instruction classes
BPF_W, BPF_ABS, BPF_K = 0x00, 0x20, 0x00                       # word size, absolute address, constant operand
BPF_JA, BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET = 0x00, 0x10, 0x20, 0x30, 0x40
BPF_AND = 0x50

LD_ABS = BPF_LD | BPF_W | BPF_ABS       # A = seccomp_data[k]  (32 bits)
JEQ = BPF_JMP | BPF_JEQ | BPF_K         # if A == k: skip jt else skip jf
JGT = BPF_JMP | BPF_JGT | BPF_K         # A > k  (unsigned)
JGE = BPF_JMP | BPF_JGE | BPF_K         # A >= k (unsigned)
JA = BPF_JMP | BPF_JA                   # skip k instructions
AND = BPF_ALU | BPF_AND | BPF_K         # A &= k
RET = BPF_RET | BPF_K                   # return k

# --- seccomp_data offsets and return values (linux/seccomp.h, linux/audit.h) ----------------
OFFSET_NR, OFFSET_ARCH, OFFSET_ARGS = 0, 4, 16

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_KILL_THREAD = 0x00000000
SECCOMP_RET_TRAP = 0x00030000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_LOG = 0x7FFC0000
SECCOMP_RET_ALLOW = 0x7FFF0000

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}  # the names profiles use in "arches"
X32_SYSCALL_BIT = 0x40000000  # x86_64 also accepts x32 calls: same arch value, numbers + this bit
ARCH_MISMATCH = SECCOMP_RET_ERRNO | errno.EPERM  # see the docstring: foreign ABIs fail like denied calls

Insn = tuple  # (code, jt, jf, k): one struct sock_filter


def stmt(code: int, k: int) -> Insn:
    """An instruction that does not jump (load, ALU, return)."""
    return (code, 0, 0, k)


def jump(code: int, k: int, jt: int, jf: int) -> Insn:
    """A conditional jump: compare A with k, skip jt instructions if true, jf if false."""
    return (code, jt, jf, k)


def errno_action(number: int) -> int:
    """SECCOMP_RET_ERRNO with the errno the call fails with (EPERM = 1)."""
    return SECCOMP_RET_ERRNO | (number & 0xFFFF)


def native_arch() -> str:
    machine = os.uname().machine
    if machine not in AUDIT_ARCH:
        raise UsageError(f"seccomp filters are not supported on {machine} by this runtime", step="seccomp",
                         fix="run with --security-opt seccomp=unconfined")
    return machine


def arch_check(arch: str) -> list[Insn]:
    """The start of every filter: refuse calls of another ABI, then load the syscall number into A.

    On x86_64 a 64-bit process can make x32 calls (numbers with bit 30 set) and 32-bit calls
    (int 0x80: arch is AUDIT_ARCH_I386, and 165 is not mount there). A filter that checks only
    numbers can be walked around through another ABI: so check the arch, then the x32 bit."""
    prog = [stmt(LD_ABS, OFFSET_ARCH),
            jump(JEQ, AUDIT_ARCH[arch], 1, 0),
            stmt(RET, ARCH_MISMATCH),
            stmt(LD_ABS, OFFSET_NR)]
    if arch == "x86_64":
        prog += [jump(JGE, X32_SYSCALL_BIT, 0, 1),
                 stmt(RET, ARCH_MISMATCH)]
    return prog


def encode(program: list[Insn]) -> bytes:
    """The program as the kernel reads it: an array of struct sock_filter (native byte order)."""
    return b"".join(struct.pack("=HBBI", code, jt, jf, k) for code, jt, jf, k in program)


def decode(data: bytes) -> list[Insn]:
    return [struct.unpack_from("=HBBI", data, i) for i in range(0, len(data), 8)]


# --- a profile's rules -> instructions ---------------------------------------------------------

ACTIONS = {"SCMP_ACT_ALLOW": SECCOMP_RET_ALLOW, "SCMP_ACT_ERRNO": SECCOMP_RET_ERRNO,
           "SCMP_ACT_KILL": SECCOMP_RET_KILL_THREAD, "SCMP_ACT_KILL_THREAD": SECCOMP_RET_KILL_THREAD,
           "SCMP_ACT_KILL_PROCESS": SECCOMP_RET_KILL_PROCESS, "SCMP_ACT_TRAP": SECCOMP_RET_TRAP,
           "SCMP_ACT_LOG": SECCOMP_RET_LOG}
OPS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
       "SCMP_CMP_MASKED_EQ")


def action_value(name: object, errno_ret: object, where: str) -> int:
    """A profile's action name (and errnoRet) -> the filter's return value."""
    if name not in ACTIONS:
        raise UsageError(f"seccomp profile: unknown action {name!r} in {where}", step="load seccomp profile",
                         fix="use one of " + ", ".join(ACTIONS))
    if name == "SCMP_ACT_ERRNO":
        return errno_action(errno.EPERM if errno_ret is None else int(errno_ret))
    return ACTIONS[name]


def condition(arg: dict, fail: int) -> list[Insn]:
    """Instructions that fall through when one argument condition holds, and skip `fail`
    instructions past their own end when it does not.

    Arguments are 64 bits; classic BPF loads 32: the high word (offset + 4 on a little-endian
    machine) is compared first, then the low word."""
    index, op = arg["index"], arg["op"]
    value, two = int(arg["value"]), int(arg.get("valueTwo") or 0)
    lo_at = OFFSET_ARGS + 8 * index + (0 if struct.pack("=H", 1) == b"\x01\x00" else 4)
    hi_at = OFFSET_ARGS + 8 * index + (4 if lo_at % 8 == 0 else 0)
    hi, lo = value >> 32 & 0xFFFFFFFF, value & 0xFFFFFFFF
    if op == "SCMP_CMP_MASKED_EQ":  # (arg & value) == valueTwo
        mhi, mlo = hi, lo
        thi, tlo = two >> 32 & 0xFFFFFFFF, two & 0xFFFFFFFF
        return [stmt(LD_ABS, hi_at), stmt(AND, mhi), jump(JEQ, thi, 0, 3 + fail),
                stmt(LD_ABS, lo_at), stmt(AND, mlo), jump(JEQ, tlo, 0, fail)]
    if op == "SCMP_CMP_EQ":
        return [stmt(LD_ABS, hi_at), jump(JEQ, hi, 0, 2 + fail), stmt(LD_ABS, lo_at), jump(JEQ, lo, 0, fail)]
    if op == "SCMP_CMP_NE":  # fails only when both words are equal
        return [stmt(LD_ABS, hi_at), jump(JEQ, hi, 0, 2), stmt(LD_ABS, lo_at), jump(JEQ, lo, fail, 0)]
    # unsigned 64-bit order: decided by the high words unless they are equal
    low_test = {"SCMP_CMP_GT": (JGT, 0, fail), "SCMP_CMP_GE": (JGE, 0, fail),
                "SCMP_CMP_LT": (JGE, fail, 0), "SCMP_CMP_LE": (JGT, fail, 0)}[op]
    above_passes = op in ("SCMP_CMP_GT", "SCMP_CMP_GE")
    return [stmt(LD_ABS, hi_at),
            jump(JGT, hi, 3 if above_passes else 3 + fail, 0),   # hi > value's: GT/GE hold, LT/LE fail
            jump(JEQ, hi, 0, 2 + fail if above_passes else 2),   # hi < value's: GT/GE fail, LT/LE hold
            stmt(LD_ABS, lo_at),
            jump(low_test[0], lo, low_test[1], low_test[2])]


def syscall_block(nr: int, rules: list[tuple[list[dict], int]], default: int) -> list[Insn]:
    """All rules of one syscall number that have argument conditions, as one block:
    `if nr != A: skip the block`, then each rule's conditions and its return, then `default`."""
    body: list[Insn] = []
    for args, action in rules:
        checks: list[Insn] = []
        for arg in reversed(args):  # built back to front: each condition skips the rest on failure
            checks = condition(arg, len(checks) + 1) + checks
        body += checks + [stmt(RET, action)]
    body.append(stmt(RET, default))
    if len(body) <= 255:
        return [jump(JEQ, nr, 0, len(body))] + body
    return [jump(JEQ, nr, 1, 0), stmt(JA, len(body))] + body


def ranges(numbers: dict[int, int]) -> list[tuple[int, int, int]]:
    """{nr: action} -> [(first, last, action)]: runs of consecutive numbers with one action."""
    out: list[list[int]] = []
    for nr in sorted(numbers):
        if out and out[-1][1] == nr - 1 and out[-1][2] == numbers[nr]:
            out[-1][1] = nr
        else:
            out.append([nr, nr, numbers[nr]])
    return [tuple(r) for r in out]


def build_program(arch: str, plain: dict[int, int], conditional: dict[int, list], default: int) -> list[Insn]:
    """arch_check, then one test per run of plain numbers, one block per conditional number, default.

    `plain`: {nr: action} for calls whose verdict does not depend on arguments.
    `conditional`: {nr: [(args, action), ...]} for the others."""
    program = arch_check(arch)
    for nr in sorted(conditional):
        program += syscall_block(nr, conditional[nr], plain.get(nr, default))
    for first, last, action in ranges({nr: a for nr, a in plain.items() if nr not in conditional}):
        if first == last:
            program += [jump(JEQ, first, 0, 1), stmt(RET, action)]
        else:  # nr > last: skip both; nr < first: skip the return
            program += [jump(JGT, last, 2, 0), jump(JGE, first, 0, 1), stmt(RET, action)]
    program.append(stmt(RET, default))
    if len(program) > 4096:
        raise UsageError(f"the seccomp program has {len(program)} instructions; the kernel takes at most 4096",
                         step="compile seccomp profile", fix="shorten the profile")
    return program


# --- Docker's JSON profile format -------------------------------------------------------------

def kernel_at_least(version: str, release: str | None = None) -> bool:
    """minKernel "4.8" against this kernel (os.uname().release, e.g. "6.1.0-18-amd64")."""
    def numbers(text: str) -> tuple[int, ...]:
        parts = []
        for piece in text.split("-")[0].split(".")[:2]:
            digits = "".join(c for c in piece if c.isdigit())
            parts.append(int(digits or 0))
        return tuple(parts)
    return numbers(release or os.uname().release) >= numbers(version)


def _applies(entry: dict, arch: str, caps: list[str]) -> bool:
    """Docker's includes/excludes: arches, caps (against the bounding set) and minKernel."""
    inc, exc = entry.get("includes") or {}, entry.get("excludes") or {}
    go = GO_ARCH[arch]
    if exc.get("arches") and go in exc["arches"]:
        return False
    if exc.get("caps") and any(c in caps for c in exc["caps"]):
        return False
    if exc.get("minKernel") and kernel_at_least(exc["minKernel"]):
        return False
    if inc.get("arches") and go not in inc["arches"]:
        return False
    if inc.get("caps") and not all(c in caps for c in inc["caps"]):
        return False
    if inc.get("minKernel") and not kernel_at_least(inc["minKernel"]):
        return False
    return True


def check_profile(profile: object) -> None:
    """Refuse a malformed profile with one clear line (before anything is created)."""
    def bad(message: str) -> UsageError:
        return UsageError(f"seccomp profile: {message}", step="load seccomp profile",
                          fix="use Docker's profile format (github.com/moby/profiles, seccomp/default.json)")
    if not isinstance(profile, dict):
        raise bad("not a JSON object")
    if "defaultAction" not in profile:
        raise bad('no "defaultAction"')
    if "architectures" in profile and "archMap" in profile:
        raise bad("both 'architectures' and 'archMap' are specified, use either 'architectures' or 'archMap'")
    calls = profile.get("syscalls") or []
    if not isinstance(calls, list):
        raise bad('"syscalls" must be a list')
    for i, entry in enumerate(calls):
        if not isinstance(entry, dict):
            raise bad(f"syscalls[{i}] is not an object")
        if entry.get("name") and entry.get("names"):
            raise bad(f"syscalls[{i}]: both 'name' and 'names' are specified, use either 'name' or 'names'")
        names = entry.get("names") or ([entry["name"]] if entry.get("name") else None)
        if not names or not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise bad(f"syscalls[{i}] has no \"names\" list")
        if "action" not in entry:
            raise bad(f"syscalls[{i}] ({names[0]}) has no \"action\"")
        action_value(entry["action"], entry.get("errnoRet"), f"syscalls[{i}] ({names[0]})")
        for arg in entry.get("args") or []:
            if not isinstance(arg, dict) or not isinstance(arg.get("index"), int) or not 0 <= arg["index"] <= 5:
                raise bad(f"syscalls[{i}] ({names[0]}): an argument needs an \"index\" from 0 to 5")
            if arg.get("op") not in OPS:
                raise bad(f"syscalls[{i}] ({names[0]}): unknown comparison {arg.get('op')!r}; use one of "
                          + ", ".join(OPS))
            if not isinstance(arg.get("value", 0), int) or not isinstance(arg.get("valueTwo", 0) or 0, int):
                raise bad(f"syscalls[{i}] ({names[0]}): argument values must be integers")
    action_value(profile["defaultAction"], profile.get("defaultErrnoRet"), "defaultAction")


def compile_profile(profile: dict, caps: list[str], arch: str | None = None) -> bytes:
    """A Docker JSON profile -> the filter program (bytes), for a container with `caps`.

    Names this architecture lacks are skipped, as runc does (a profile lists the calls of every arch)."""
    check_profile(profile)
    arch = arch or native_arch()
    table = TABLES[arch]
    default = action_value(profile["defaultAction"], profile.get("defaultErrnoRet"), "defaultAction")
    plain: dict[int, int] = {}
    conditional: dict[int, list] = {}
    for entry in profile.get("syscalls") or []:
        if not _applies(entry, arch, caps):
            continue
        action = action_value(entry["action"], entry.get("errnoRet"), "syscalls")
        for name in entry.get("names") or [entry["name"]]:
            nr = table.get(name)
            if nr is None:
                continue
            if entry.get("args"):
                conditional.setdefault(nr, []).append((entry["args"], action))
            else:
                plain[nr] = action
    return encode(build_program(arch, plain, conditional, default))


DEFAULT_PROFILE = os.path.join(os.path.dirname(__file__), "default.json")
_compiled: dict[tuple, bytes] = {}


def load_profile(path: str) -> dict:
    """Read a JSON profile (quickjson: `run` does not import json); errors name the file."""
    from .. import quickjson
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise UsageError(f"opening seccomp profile ({path}) failed: {exc.strerror.lower()}",
                         step="load seccomp profile", path=path, fix="give the path of a JSON profile") from None
    try:
        return quickjson.loads(data)
    except ValueError as exc:
        raise UsageError(f"decoding seccomp profile failed: {exc}", step="load seccomp profile", path=path,
                         fix="the file must be JSON, in Docker's profile format") from None


def default_program(caps: list[str], arch: str | None = None) -> bytes:
    """Docker's default profile compiled for `caps` (kept per caps: the same set compiles once)."""
    arch = arch or native_arch()
    key = (arch, tuple(sorted(caps)))
    if key not in _compiled:
        _compiled[key] = compile_profile(load_profile(DEFAULT_PROFILE), caps, arch)
    return _compiled[key]


# --- what a program does: a classic BPF interpreter (for tests and the lesson) ------------------

def run(program: bytes | list[Insn], nr: int, arch: str | int = "x86_64", args: tuple = ()) -> int:
    """Run a filter on one call as the kernel would; returns the verdict (SECCOMP_RET_...)."""
    insns = decode(program) if isinstance(program, (bytes, bytearray)) else list(program)
    arch_value = AUDIT_ARCH[arch] if isinstance(arch, str) else arch
    args = tuple(args) + (0,) * (6 - len(args))
    data = struct.pack("=iIQ6Q", nr, arch_value, 0, *args)
    a, pc = 0, 0
    while pc < len(insns):
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == LD_ABS:
            a = struct.unpack_from("=I", data, k)[0]
        elif code == AND:
            a &= k
        elif code == RET:
            return k
        elif code == JA:
            pc += k
        elif code in (JEQ, JGT, JGE):
            taken = a == k if code == JEQ else a > k if code == JGT else a >= k
            pc += jt if taken else jf
        else:
            raise ValueError(f"instruction {pc - 1}: code {code:#x} is not one this interpreter knows")
    raise ValueError("the program ran off its end (the kernel refuses such a program)")


def allows(program: bytes | list[Insn], name: str, arch: str | None = None, args: tuple = ()) -> bool:
    """Whether the filter lets the call `name` (with `args`) through."""
    arch = arch or native_arch()
    return run(program, TABLES[arch][name], arch, args) == SECCOMP_RET_ALLOW


def describe(verdict: int) -> str:
    """A verdict as text: 'allow', 'errno EPERM', 'kill process' ..."""
    action = verdict & 0xFFFF0000
    if verdict == SECCOMP_RET_ALLOW:
        return "allow"
    if action == SECCOMP_RET_ERRNO:
        return f"errno {errno.errorcode.get(verdict & 0xFFFF, verdict & 0xFFFF)}"
    return {SECCOMP_RET_KILL_PROCESS: "kill process", SECCOMP_RET_KILL_THREAD: "kill thread",
            SECCOMP_RET_TRAP: "trap (SIGSYS)", SECCOMP_RET_LOG: "log and allow"}.get(action, hex(verdict))


# --- installing: prctl(PR_SET_NO_NEW_PRIVS) and seccomp(2) ------------------------------------

PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS = 38, 39
PR_SET_DUMPABLE = 4
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
SYS_seccomp = {"x86_64": 317, "aarch64": 277}.get(os.uname().machine, 317)


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.prctl.restype = ctypes.c_int
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.syscall.restype = ctypes.c_long


def set_no_new_privs() -> None:
    """PR_SET_NO_NEW_PRIVS: execve never grants privileges again (setuid bits, file capabilities),
    for this process and every descendant. It lets a process without CAP_SYS_ADMIN install a filter."""
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(err)}")


def no_new_privs() -> bool:
    return _libc.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1


def install(program: bytes) -> None:
    """seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog): from now on the kernel runs `program` on every
    system call of this process and of all its children (filters are inherited and never removed).

    Without no_new_privs the caller needs CAP_SYS_ADMIN (a filter could fool a setuid program)."""
    count = len(program) // 8
    buf = ctypes.create_string_buffer(bytes(program), len(program))
    prog = SockFprog(count, ctypes.cast(buf, ctypes.POINTER(SockFilter)))
    if _libc.syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, ctypes.byref(prog)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp(SECCOMP_SET_MODE_FILTER) with {count} instructions: {os.strerror(err)}")
