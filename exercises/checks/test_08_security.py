"""Checks for lesson 08 (security). Run them with `make check EX=08`, or `check("8.3")` in the notebook.

8.2 and 8.4 change the process that calls them: they run in a forked child. 8.3 and 8.5 are run by
the package's interpreters (seccomp.run, devices.run) and handed to the kernel's own verifiers.
"""

from __future__ import annotations

import errno
import os

import pytest

from minicontainer.errors import UsageError
from minicontainer.security import capabilities, devices, seccomp

ARCH = seccomp.native_arch()
DOCKER = 0xA80425FB


@pytest.mark.exercise("8.1")
def test_resolve_gives_dockers_default_set(ex):
    got = ex.resolve([], [])
    assert got == capabilities.DEFAULT, f"resolve([], []) returned {got!r}; expected Docker's 14: {capabilities.DEFAULT}"


@pytest.mark.exercise("8.1")
def test_resolve_adds_drops_and_knows_all(ex):
    got = ex.resolve(["net_admin"], ["MKNOD", "cap_kill"])
    expected = [c for c in capabilities.DEFAULT if c not in ("CAP_MKNOD", "CAP_KILL")] + ["CAP_NET_ADMIN"]
    assert got == expected, f"resolve(['net_admin'], ['MKNOD', 'cap_kill']) returned {got!r}; expected {expected!r}"
    assert ex.resolve(["CHOWN"], ["ALL"]) == ["CAP_CHOWN"], "--cap-drop ALL --cap-add CHOWN keeps only CAP_CHOWN"
    every = ex.resolve(["ALL"], ["SYS_ADMIN"])
    assert "CAP_SYS_ADMIN" not in every and len(every) == len(capabilities.all_names()) - 1, \
        "--cap-add ALL --cap-drop SYS_ADMIN: every capability but CAP_SYS_ADMIN"
    assert ex.resolve([], [], privileged=True) == capabilities.all_names(), "--privileged keeps all_names()"
    assert ex.resolve(["CHOWN"], []).count("CAP_CHOWN") == 1, "a capability added twice must appear once"


@pytest.mark.exercise("8.1")
def test_resolve_refuses_unknown_names(ex):
    with pytest.raises(UsageError):
        ex.resolve(["CAP_TAKE_OVER"], [])


@pytest.mark.exercise("8.2")
def test_apply_reduces_every_set(ex, in_child):
    def child() -> dict:
        ex.apply(DOCKER)
        return capabilities.read_sets()

    sets = in_child(child)
    for key in ("CapEff", "CapPrm", "CapBnd"):
        assert sets[key] == DOCKER, f"after apply({DOCKER:#x}) {key} is {sets[key]:#x}; expected {DOCKER:#x}"
    assert sets["CapInh"] == 0 and sets["CapAmb"] == 0, f"inheritable and ambient must be empty: {sets}"


@pytest.mark.exercise("8.2")
def test_apply_of_nothing_leaves_nothing(ex, in_child):
    def child() -> dict:
        ex.apply(0)
        return capabilities.read_sets()

    sets = in_child(child)
    assert sets["CapEff"] == 0 and sets["CapBnd"] == 0, f"apply(0) left {sets}"


@pytest.mark.exercise("8.3")
def test_arch_check_lets_native_calls_on_with_the_number_in_a(ex):
    prologue = [tuple(i) for i in ex.arch_check(ARCH)]
    getpid = seccomp.TABLES[ARCH]["getpid"]
    # after the prologue, A must hold the syscall number: refuse getpid with EIO, allow the rest
    program = prologue + [seccomp.jump(seccomp.JEQ, getpid, 0, 1), seccomp.stmt(seccomp.RET, seccomp.errno_action(5)),
                          seccomp.stmt(seccomp.RET, seccomp.SECCOMP_RET_ALLOW)]
    assert seccomp.run(program, getpid, ARCH) == seccomp.errno_action(5), \
        "after arch_check, A must hold the syscall number (load OFFSET_NR last)"
    assert seccomp.run(program, seccomp.TABLES[ARCH]["read"], ARCH) == seccomp.SECCOMP_RET_ALLOW


@pytest.mark.exercise("8.3")
def test_arch_check_refuses_other_abis(ex):
    program = [tuple(i) for i in ex.arch_check(ARCH)] + [seccomp.stmt(seccomp.RET, seccomp.SECCOMP_RET_ALLOW)]
    other = 0x40000003  # AUDIT_ARCH_I386: a 32-bit call on a 64-bit kernel
    got = seccomp.run(program, 3, other)
    assert got == seccomp.ARCH_MISMATCH, f"a call with arch {other:#x} got {seccomp.describe(got)}; expected it refused"
    if ARCH == "x86_64":
        got = seccomp.run(program, seccomp.X32_SYSCALL_BIT | 39, ARCH)
        assert got == seccomp.ARCH_MISMATCH, f"an x32 call (nr | 0x40000000) got {seccomp.describe(got)}; expected refused"


@pytest.mark.exercise("8.4")
def test_install_puts_a_filter_on_the_process(ex, in_child):
    mkdir = seccomp.TABLES[ARCH]["mkdir"] if "mkdir" in seccomp.TABLES[ARCH] else -1
    program = seccomp.arch_check(ARCH) + [
        seccomp.jump(seccomp.JEQ, seccomp.TABLES[ARCH]["mkdirat"], 1, 0),
        seccomp.jump(seccomp.JEQ, mkdir & 0xFFFFFFFF, 0, 1),
        seccomp.stmt(seccomp.RET, seccomp.errno_action(errno.EROFS)),
        seccomp.stmt(seccomp.RET, seccomp.SECCOMP_RET_ALLOW)]

    def child() -> tuple:
        seccomp.set_no_new_privs()
        ex.install(seccomp.encode(program))
        try:
            os.mkdir("/tmp/mc-check-8-4-never")
            made = "made"
        except OSError as exc:
            made = errno.errorcode[exc.errno]
        with open("/proc/self/status") as f:
            mode = [line.split()[1] for line in f if line.startswith("Seccomp:")][0]
        return made, mode

    made, mode = in_child(child)
    assert mode == "2", f"/proc/self/status says Seccomp: {mode} after install(); expected 2 (a filter)"
    assert made == "EROFS", f"mkdir under a filter that refuses it with EROFS gave {made}"


@pytest.mark.exercise("8.4")
def test_install_raises_when_the_kernel_refuses(ex, in_child):
    def child() -> str:
        seccomp.set_no_new_privs()
        try:
            ex.install(seccomp.encode([seccomp.stmt(seccomp.LD_ABS, 0)]))  # no return: the kernel refuses it
        except OSError as exc:
            return errno.errorcode.get(exc.errno, str(exc.errno))
        return "installed"

    assert in_child(child) == "EINVAL", "a program without a return must be refused with OSError (EINVAL)"


CASES = [("c", 1, 3, "rw"), ("c", 1, 9, "r"), ("c", 136, 4, "rw"), ("b", 7, 0, "m"), ("b", 7, 0, "r"),
         ("b", 8, 0, "rw"), ("c", 4, 1, "r"), ("c", 10, 229, "rw"), ("c", 5, 1, "w"), ("c", 1, 3, "rwm")]


@pytest.mark.exercise("8.5")
def test_device_program_allows_exactly_the_rules(ex):
    rules = devices.default_rules()
    prog = [tuple(i) for i in ex.program(rules)]
    for case in CASES:
        expected = devices.run(devices.program(rules), *case)
        got = devices.run(prog, *case)
        assert got == expected, (f"device {case[0]} {case[1]}:{case[2]} access {case[3]!r}: your program "
                                 f"returned {got}, expected {expected} ({'allow' if expected else 'deny'})")


@pytest.mark.exercise("8.5")
def test_device_program_passes_the_kernels_verifier(ex):
    code = devices.encode([tuple(i) for i in ex.program([devices.Rule("c", 1, 3, "rw"), devices.Rule("a", -1, -1, "m")])])
    fd = devices.load(code)  # bpf(BPF_PROG_LOAD): the verifier checks every path ends in EXIT
    os.close(fd)
