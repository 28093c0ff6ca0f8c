"""Lesson 08: what keeps a container's root from taking the host.

Each function below is one step the runtime takes for every container, with the same name and
signature as the package's own (minicontainer/security/): capabilities.resolve and .apply,
seccomp.arch_check and .install, devices.program. Compare yours with them when you are done.
"""

from __future__ import annotations

import ctypes
import os

from minicontainer.security.capabilities import (DEFAULT, NAMES, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL,
                                                 PR_CAPBSET_DROP, all_names, capset, last_cap, normalize)
from minicontainer.security.devices import (AND32_K, DEV_TYPE, EXIT, JNE_K, LDX_W, MOV32_X, MOV64_K, RSH32_K,
                                            Rule, access_mask)
from minicontainer.security.seccomp import (ARCH_MISMATCH, AUDIT_ARCH, JEQ, JGE, LD_ABS, OFFSET_ARCH, OFFSET_NR, RET,
                                            SECCOMP_SET_MODE_FILTER, SYS_seccomp, X32_SYSCALL_BIT, SockFilter,
                                            SockFprog, jump, stmt)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.syscall.restype = ctypes.c_long


def resolve(add: list[str], drop: list[str], privileged: bool = False) -> list[str]:
    """Exercise 8.1: the capability names a container gets, by Docker's rules.
    --privileged: all_names(). Otherwise normalize() every name first ("net_admin" -> "CAP_NET_ADMIN";
    it raises UsageError for unknown names). "ALL" in add: every capability but the dropped ones;
    "ALL" in drop: only the added ones; else DEFAULT without the dropped ones, plus the added ones.
    No name twice; keep the order (DEFAULT's, then the added)."""
    ### BEGIN SOLUTION 8.1: privileged -> all_names(); normalize each name; handle "ALL" in add, then in drop; else [c for c in DEFAULT if c not in drops] + adds; list(dict.fromkeys(...)) removes repeats
    if privileged:
        return all_names()
    adds = [normalize(n) for n in add]
    drops = [normalize(n) for n in drop]
    if "ALL" in adds:
        return [c for c in all_names() if c not in drops]
    if "ALL" in drops:
        caps = [c for c in adds if c != "ALL"]
    else:
        caps = [c for c in DEFAULT if c not in drops] + adds
    return list(dict.fromkeys(caps))
    ### END SOLUTION


def apply(keep: int) -> None:
    """Exercise 8.2: reduce this process to the capabilities in the mask `keep` (bit n = NAMES[n]).
    1. bounding set: prctl(PR_CAPBSET_DROP, n) for every n from 0 to last_cap() not in keep;
    2. ambient set: prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL);
    3. capset(effective=keep, permitted=keep, inheritable=0) (the helper is given).
    Raise OSError when a prctl fails (it returns -1; ctypes.get_errno() says why)."""
    ### BEGIN SOLUTION 8.2: for n in range(last_cap() + 1): if not keep >> n & 1: _libc.prctl(PR_CAPBSET_DROP, n, 0, 0, 0); then the ambient prctl; then capset(keep, keep, 0)
    for number in range(last_cap() + 1):
        if not keep >> number & 1 and _libc.prctl(PR_CAPBSET_DROP, number, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), f"PR_CAPBSET_DROP {NAMES[number]}")
    if _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_CAP_AMBIENT_CLEAR_ALL")
    capset(keep, keep, 0)
    ### END SOLUTION


def arch_check(arch: str) -> list[tuple]:
    """Exercise 8.3: the first instructions of every seccomp filter, as (code, jt, jf, k) tuples.
    Load the arch (stmt(LD_ABS, OFFSET_ARCH)); if it is not AUDIT_ARCH[arch], return ARCH_MISMATCH;
    load the syscall number (stmt(LD_ABS, OFFSET_NR)), which stays in A for the rest of the filter.
    On x86_64 only: numbers >= X32_SYSCALL_BIT (x32 calls) also return ARCH_MISMATCH."""
    ### BEGIN SOLUTION 8.3: [stmt(LD_ABS, OFFSET_ARCH), jump(JEQ, AUDIT_ARCH[arch], 1, 0), stmt(RET, ARCH_MISMATCH), stmt(LD_ABS, OFFSET_NR)], then for x86_64 jump(JGE, X32_SYSCALL_BIT, 0, 1) and stmt(RET, ARCH_MISMATCH)
    program = [stmt(LD_ABS, OFFSET_ARCH),
               jump(JEQ, AUDIT_ARCH[arch], 1, 0),
               stmt(RET, ARCH_MISMATCH),
               stmt(LD_ABS, OFFSET_NR)]
    if arch == "x86_64":
        program += [jump(JGE, X32_SYSCALL_BIT, 0, 1), stmt(RET, ARCH_MISMATCH)]
    return program
    ### END SOLUTION


def install(program: bytes) -> None:
    """Exercise 8.4: hand a filter (struct sock_filter[], 8 bytes each) to the kernel:
    seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog) through _libc.syscall(SYS_seccomp, ...), where prog is a
    SockFprog(len=number of instructions, filter=a pointer to them). The caller has set no_new_privs.
    Raise OSError (with ctypes.get_errno()) if the call returns non-zero."""
    ### BEGIN SOLUTION 8.4: buf = ctypes.create_string_buffer(program, len(program)); prog = SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.POINTER(SockFilter))); _libc.syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, ctypes.byref(prog))
    buf = ctypes.create_string_buffer(bytes(program), len(program))
    prog = SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.POINTER(SockFilter)))
    if _libc.syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, ctypes.byref(prog)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    ### END SOLUTION


def program(rules: list[Rule]) -> list[tuple]:
    """Exercise 8.5: the cgroup v2 device program (eBPF) for an allow list, as (code, dst, src, off, imm).
    Start by loading the context (r1): r2 = type (LDX_W at offset 0, then AND32_K 0xFFFF), r3 = access
    (LDX_W at 0, then RSH32_K 16), r4 = major (offset 4), r5 = minor (offset 8). Then one block per rule:
    JNE_K tests that skip (off) to the end of the block when r2 != DEV_TYPE[rule.type] (not for type "a"),
    when the access asked for is not within the rule's (r1 = r3 with MOV32_X; r1 &= ~access_mask, as an
    unsigned 32-bit imm; r1 != 0), when r4 != major and r5 != minor (not for -1); the block ends with
    r0 = 1 (MOV64_K) and EXIT. After the last block: r0 = 0, EXIT."""
    ### BEGIN SOLUTION 8.5: header of 6 loads; for each rule collect the tests, then append (MOV64_K, 0, 0, 0, 1), (EXIT, 0, 0, 0, 0); a JNE_K at index i of a block of n instructions has off = n - i - 1; end with r0 = 0 and EXIT
    prog = [(LDX_W, 2, 1, 0, 0), (AND32_K, 2, 0, 0, 0xFFFF),
            (LDX_W, 3, 1, 0, 0), (RSH32_K, 3, 0, 0, 16),
            (LDX_W, 4, 1, 4, 0), (LDX_W, 5, 1, 8, 0)]
    for rule in rules:
        tests = []
        if rule.type != "a":
            tests.append((JNE_K, 2, 0, DEV_TYPE[rule.type]))
        tests += [(MOV32_X, 1, 3, 0), (AND32_K, 1, 0, ~access_mask(rule.access) & 0xFFFFFFFF), (JNE_K, 1, 0, 0)]
        if rule.major >= 0:
            tests.append((JNE_K, 4, 0, rule.major))
        if rule.minor >= 0:
            tests.append((JNE_K, 5, 0, rule.minor))
        block = tests + [(MOV64_K, 0, 0, 1), (EXIT, 0, 0, 0)]
        for i, (code, dst, src, imm) in enumerate(block):
            prog.append((code, dst, src, len(block) - i - 1 if code == JNE_K else 0, imm))
    return prog + [(MOV64_K, 0, 0, 0, 0), (EXIT, 0, 0, 0, 0)]
    ### END SOLUTION
