"""The security modules on their own (lesson 08): capability sets, the seccomp compiler and filter,
no_new_privs, the device rules. Each is applied in a forked child on the real kernel, and each
kernel test also runs once without the defence, to prove it can fail."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import subprocess
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minicontainer import security
from minicontainer.errors import UsageError
from minicontainer.security import capabilities, devices, seccomp
from minicontainer.security.syscall_table import TABLES

ARCH = seccomp.native_arch()
NR = TABLES[ARCH]
DOCKER_DEFAULT_MASK = 0xA80425FB  # CapEff of a default Docker container
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def in_child(fn) -> object:
    """Run fn() in a forked child; return what it returns (repr-able values), or raise its error."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            out = repr(("ok", fn()))
        except BaseException as exc:  # noqa: BLE001
            out = repr(("error", f"{type(exc).__name__}: {exc}"))
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    import ast
    kind, value = ast.literal_eval(data.decode())
    if kind == "error":
        raise AssertionError(value)
    return value


def status(pid: str = "self") -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return {k: v.strip() for k, _, v in (line.partition(":") for line in f)}


def raw_syscall(name: str, *args: int) -> int:
    """The errno of a raw system call (0 if it succeeded)."""
    result = libc.syscall(NR[name], *[ctypes.c_long(a) for a in args])
    return 0 if result >= 0 else ctypes.get_errno()


# --- capabilities -------------------------------------------------------------------------------

def test_default_capabilities_are_dockers_14():
    assert capabilities.mask(capabilities.resolve([], [])) == DOCKER_DEFAULT_MASK
    assert len(capabilities.DEFAULT) == 14


def test_cap_add_and_drop_take_names_with_or_without_cap_and_any_case():
    caps = capabilities.resolve(["net_admin", "CAP_SYS_PTRACE"], ["MKNOD", "cap_net_raw"])
    assert "CAP_NET_ADMIN" in caps and "CAP_SYS_PTRACE" in caps
    assert "CAP_MKNOD" not in caps and "CAP_NET_RAW" not in caps
    assert len(caps) == 14


def test_cap_drop_all_keeps_only_the_added_and_cap_add_all_all_but_the_dropped():
    assert capabilities.resolve([], ["ALL"]) == []
    assert capabilities.resolve(["CHOWN"], ["all"]) == ["CAP_CHOWN"]
    every = capabilities.resolve(["ALL"], ["SYS_ADMIN"])
    assert "CAP_SYS_ADMIN" not in every and len(every) == len(capabilities.all_names()) - 1
    assert capabilities.resolve([], [], privileged=True) == capabilities.all_names()


@pytest.mark.parametrize("name", ["CAP_NOPE", "SYS_ADMN", ""])
def test_unknown_capability_names_are_usage_errors(name):
    with pytest.raises(UsageError, match="unknown capability"):
        capabilities.resolve([name], [])


def test_decode_reads_a_status_mask():
    assert capabilities.decode("00000000a80425fb") == sorted(capabilities.DEFAULT, key=capabilities.NUMBER.get)
    assert capabilities.decode(0) == []


def test_apply_leaves_a_root_process_exactly_the_set_after_execve():
    def child() -> str:
        capabilities.apply(DOCKER_DEFAULT_MASK)
        return subprocess.run(["grep", "^Cap", "/proc/self/status"], capture_output=True, text=True).stdout

    sets = dict(line.split(":\t") for line in in_child(child).splitlines())
    assert int(sets["CapEff"], 16) == DOCKER_DEFAULT_MASK
    assert int(sets["CapBnd"], 16) == DOCKER_DEFAULT_MASK
    assert int(sets["CapPrm"], 16) == DOCKER_DEFAULT_MASK
    assert int(sets["CapInh"], 16) == 0 and int(sets["CapAmb"], 16) == 0
    assert int(status()["CapEff"], 16) != DOCKER_DEFAULT_MASK, "the test process itself must have more (or it proves nothing)"


def test_a_non_root_user_runs_with_no_effective_capability():
    def child() -> str:
        sec = security.plan()
        security.before_user(sec)
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
        security.after_user(sec)
        return subprocess.run(["grep", "^Cap", "/proc/self/status"], capture_output=True, text=True).stdout

    sets = dict(line.split(":\t") for line in in_child(child).splitlines())
    assert int(sets["CapEff"], 16) == 0 and int(sets["CapPrm"], 16) == 0
    assert int(sets["CapBnd"], 16) == DOCKER_DEFAULT_MASK


# --- seccomp: the compiler, checked by the interpreter ----------------------------------------------

@pytest.fixture(scope="module")
def default_program() -> bytes:
    return seccomp.default_program(capabilities.resolve([], []), ARCH)


@pytest.mark.parametrize("name", ["mount", "umount2", "pivot_root", "unshare", "setns", "keyctl", "add_key",
                                  "request_key", "bpf", "perf_event_open", "kexec_load", "open_by_handle_at",
                                  "init_module", "finit_module", "delete_module", "reboot", "swapon",
                                  "settimeofday", "acct", "syslog", "userfaultfd", "fsopen", "move_mount"])
def test_the_default_profile_refuses_the_dangerous_calls(default_program, name):
    assert seccomp.run(default_program, NR[name], ARCH) == seccomp.errno_action(errno.EPERM)


@pytest.mark.parametrize("name", ["read", "write", "openat", "execve", "clone", "wait4", "chroot", "ptrace",
                                  "mknod", "setuid", "capset", "prctl", "socket", "arch_prctl"])
def test_the_default_profile_allows_ordinary_calls(default_program, name):
    assert seccomp.allows(default_program, name, ARCH)


def test_clone_with_namespace_flags_and_clone3_are_refused(default_program):
    fork_flags = 0x01200011  # CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD
    assert seccomp.allows(default_program, "clone", ARCH, (fork_flags,))
    for ns_flag in (0x10000000, 0x00020000, 0x20000000, 0x40000000, 0x02000000):
        assert seccomp.run(default_program, NR["clone"], ARCH, (fork_flags | ns_flag,)) == seccomp.errno_action(1)
    assert seccomp.run(default_program, NR["clone3"], ARCH) == seccomp.errno_action(errno.ENOSYS)


def test_socket_and_personality_follow_the_argument_rules(default_program):
    assert seccomp.allows(default_program, "socket", ARCH, (2,))
    assert not seccomp.allows(default_program, "socket", ARCH, (40,)), "AF_VSOCK must be refused"
    assert not seccomp.allows(default_program, "socket", ARCH, (38,)), "AF_ALG must be refused"
    assert seccomp.allows(default_program, "personality", ARCH, (0xFFFFFFFF,))
    assert not seccomp.allows(default_program, "personality", ARCH, (0x0040000,))


def test_other_abis_are_refused(default_program):
    assert seccomp.run(default_program, 0, 0x40000003) == seccomp.ARCH_MISMATCH  # i386: read is 3 there
    if ARCH == "x86_64":
        assert seccomp.run(default_program, seccomp.X32_SYSCALL_BIT | NR["read"], ARCH) == seccomp.ARCH_MISMATCH


def test_cap_sys_admin_brings_mount_back_into_the_profile():
    program = seccomp.default_program(capabilities.resolve(["SYS_ADMIN"], []), ARCH)
    assert seccomp.allows(program, "mount", ARCH) and seccomp.allows(program, "unshare", ARCH)
    assert seccomp.allows(program, "clone", ARCH, (0x10000000,))


WORD = st.integers(min_value=0, max_value=2**64 - 1)
SMALL = st.sampled_from([0, 1, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 2**63, 2**64 - 1])


@given(op=st.sampled_from(seccomp.OPS), arg=WORD | SMALL, value=WORD | SMALL, two=WORD | SMALL,
       index=st.integers(0, 5))
def test_argument_conditions_compare_64_bit_values(op, arg, value, two, index):
    expected = {"SCMP_CMP_NE": arg != value, "SCMP_CMP_LT": arg < value, "SCMP_CMP_LE": arg <= value,
                "SCMP_CMP_EQ": arg == value, "SCMP_CMP_GE": arg >= value, "SCMP_CMP_GT": arg > value,
                "SCMP_CMP_MASKED_EQ": arg & value == two}[op]
    profile = {"defaultAction": "SCMP_ACT_ERRNO",
               "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                             "args": [{"index": index, "value": value, "valueTwo": two, "op": op}]}]}
    program = seccomp.compile_profile(profile, [], ARCH)
    args = [0] * 6
    args[index] = arg
    assert seccomp.allows(program, "read", ARCH, tuple(args)) == expected


def test_conditions_of_one_rule_are_all_needed():
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [
        {"index": 0, "value": 3, "op": "SCMP_CMP_EQ"}, {"index": 2, "value": 10, "op": "SCMP_CMP_LT"}]}]}
    program = seccomp.compile_profile(profile, [], ARCH)
    assert seccomp.allows(program, "read", ARCH, (3, 0, 9))
    assert not seccomp.allows(program, "read", ARCH, (3, 0, 10))
    assert not seccomp.allows(program, "read", ARCH, (4, 0, 9))


# --- seccomp: bad profiles ------------------------------------------------------------------------

@pytest.mark.parametrize("profile,message", [
    ([], "not a JSON object"),
    ({"syscalls": []}, "defaultAction"),
    ({"defaultAction": "SCMP_ACT_EXPLODE"}, "unknown action"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_NOTIFY"}]},
     "unknown action"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO"}]}, "names"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                                                       "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
     "index"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                                                       "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_LIKE"}]}]},
     "unknown comparison"),
])
def test_malformed_profiles_are_refused_with_one_clear_line(profile, message):
    with pytest.raises(UsageError, match=message):
        seccomp.compile_profile(profile, [], ARCH)


def test_a_profile_that_refuses_execve_is_refused_before_anything_starts(tmp_path):
    path = tmp_path / "no-exec.json"
    path.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW",
                                "syscalls": [{"names": ["execve"], "action": "SCMP_ACT_ERRNO"}]}))
    with pytest.raises(UsageError, match="refuses execve"):
        security.plan(security_opt=[f"seccomp={path}"])


def test_a_profile_file_that_is_not_json_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(UsageError, match="decoding seccomp profile"):
        security.plan(security_opt=[f"seccomp={path}"])
    with pytest.raises(UsageError, match="opening seccomp profile"):
        security.plan(security_opt=[f"seccomp={tmp_path / 'missing.json'}"])


@pytest.mark.parametrize("option", ["seccomp", "apparmor=foo", "no-new-privileges=maybe", "nonsense"])
def test_unknown_security_options_are_usage_errors(option):
    with pytest.raises(UsageError):
        security.plan(security_opt=[option])


def test_privileged_means_no_filter_no_nnp_all_caps_all_devices():
    sec = security.plan(privileged=True)
    assert sec["program"] == "" and sec["seccomp"] == "unconfined" and sec["no_new_privs"] is False
    assert sec["devices"] is None and sec["capabilities"] == capabilities.all_names()


# --- seccomp and no_new_privs on the kernel ------------------------------------------------------------

@pytest.mark.parametrize("filtered", [True, False], ids=["filter", "no-filter"])
def test_the_installed_default_filter_refuses_mount_unshare_keyctl(default_program, filtered):
    def child() -> dict[str, int]:
        if filtered:
            seccomp.set_no_new_privs()
            seccomp.install(default_program)
        return {"mount": raw_syscall("mount", 0, 0, 0, 0, 0),
                "unshare": raw_syscall("unshare", 0x10000000),  # CLONE_NEWUSER
                "keyctl": raw_syscall("keyctl", 0x7FFFFFFF),
                "getpid": raw_syscall("getpid"),
                "clone3": raw_syscall("clone3", 0, 0)}

    got = in_child(child)
    if filtered:
        assert got == {"mount": errno.EPERM, "unshare": errno.EPERM, "keyctl": errno.EPERM, "getpid": 0,
                       "clone3": errno.ENOSYS}
    else:  # the same calls fail otherwise, or succeed, but not with EPERM: the filter makes the difference
        assert got["mount"] != errno.EPERM and got["unshare"] != errno.EPERM and got["keyctl"] != errno.EPERM


def test_the_interpreter_agrees_with_the_kernel_on_the_arch_and_x32_checks(default_program):
    if ARCH != "x86_64":
        pytest.skip("the x32 ABI exists only on x86_64")

    def child() -> int:
        seccomp.set_no_new_privs()
        seccomp.install(default_program)
        return raw_syscall("getpid") or 0, libc.syscall(ctypes.c_long(seccomp.X32_SYSCALL_BIT | NR["getpid"])), \
            ctypes.get_errno()

    plain, result, err = in_child(child)
    assert plain == 0 and result == -1 and err == errno.EPERM


def test_no_new_privs_is_set_and_stays_across_execve():
    def child() -> str:
        seccomp.set_no_new_privs()
        return subprocess.run(["grep", "NoNewPrivs", "/proc/self/status"], capture_output=True, text=True).stdout

    assert in_child(child).split() == ["NoNewPrivs:", "1"]
    assert status()["NoNewPrivs"] == "0"


def test_without_no_new_privs_and_without_cap_sys_admin_no_filter_can_be_installed(default_program):
    def child() -> str:
        capabilities.apply(DOCKER_DEFAULT_MASK)
        try:
            seccomp.install(default_program)
        except OSError as exc:
            return errno.errorcode[exc.errno]
        return "installed"

    assert in_child(child) == "EACCES"


# --- devices -------------------------------------------------------------------------------------

@given(kind=st.sampled_from(["c", "b"]), major=st.sampled_from([1, 4, 5, 7, 8, 10, 136, 200]),
       minor=st.sampled_from([0, 1, 2, 3, 5, 7, 8, 9, 200, 229]),
       access=st.sampled_from(["r", "w", "m", "rw", "rwm"]))
def test_the_device_program_allows_what_the_rules_allow(kind, major, minor, access):
    rules = devices.default_rules()
    expected = any(r.type in ("a", kind) and r.major in (-1, major) and r.minor in (-1, minor)
                   and set(access) <= set(r.access) for r in rules)
    assert devices.run(devices.program(rules), kind, major, minor, access) == int(expected)


def open_block_device(group_file: str) -> str:
    """In a child: join a cgroup, make a node for loop0 (block 7:0), open it; what happened."""
    def child() -> str:
        with open(group_file, "w") as f:
            f.write("0")
        node = f"/tmp/mc-test-blk-{uuid.uuid4().hex[:8]}"
        os.mknod(node, 0o600 | 0o060000, os.makedev(7, 0))
        try:
            os.close(os.open(node, os.O_RDONLY))
            result = "opened"
        except OSError as exc:
            result = errno.errorcode[exc.errno]
        finally:
            os.unlink(node)
        os.close(os.open("/dev/null", os.O_RDWR))
        return result
    return in_child(child)


@pytest.mark.parametrize("with_rules", [True, False], ids=["rules", "no-rules"])
def test_v1_device_rules_stop_a_new_block_device_node_from_being_opened(with_rules):
    if not os.path.isdir("/sys/fs/cgroup/devices"):
        pytest.skip("no v1 devices hierarchy on this host (a cgroup v2 host: see the v2 test)")
    group = f"/sys/fs/cgroup/devices/minicontainer-test-{uuid.uuid4().hex[:8]}"
    os.mkdir(group)
    try:
        if with_rules:
            devices.write_v1(group, devices.default_rules())
            assert "b 7:0 rwm" not in devices.read_v1(group)
        got = open_block_device(os.path.join(group, "cgroup.procs"))
    finally:
        os.rmdir(group)
    assert got == ("EPERM" if with_rules else "opened")


def unified_root() -> str:
    for candidate in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        if os.path.exists(os.path.join(candidate, "cgroup.controllers")):
            return candidate
    pytest.fail("no cgroup2 hierarchy on this host: the v2 device program cannot be checked")


@pytest.mark.parametrize("with_program", [True, False], ids=["program", "no-program"])
def test_v2_device_program_stops_a_new_block_device_node_from_being_opened(with_program):
    group = os.path.join(unified_root(), f"minicontainer-test-{uuid.uuid4().hex[:8]}")
    os.mkdir(group)
    try:
        if with_program:
            devices.attach_v2(group, devices.encode(devices.program(devices.default_rules())))
            assert devices.attached_v2(group) == 1
        got = open_block_device(os.path.join(group, "cgroup.procs"))
    finally:
        os.rmdir(group)
    assert got == ("EPERM" if with_program else "opened")


def test_a_program_the_verifier_refuses_is_a_clear_error():
    group = os.path.join(unified_root(), f"minicontainer-test-{uuid.uuid4().hex[:8]}")
    os.mkdir(group)
    try:
        bad = devices.encode([(devices.MOV64_K, 0, 0, 0, 1)])  # no exit: the verifier refuses it
        with pytest.raises(Exception, match="BPF_PROG_LOAD"):
            devices.attach_v2(group, bad)
    finally:
        os.rmdir(group)


def test_parse_device_reads_dockers_forms(tmp_path):
    host, target, access, rule = devices.parse_device("/dev/null")
    assert (host, target, access, rule.line()) == ("/dev/null", "/dev/null", "rwm", "c 1:3 rwm")
    assert devices.parse_device("/dev/zero:/dev/z:r")[1:3] == ("/dev/z", "r")
    with pytest.raises(UsageError):
        devices.parse_device("/dev/null:/dev/x:rwx")
    with pytest.raises(Exception, match="device information"):
        devices.parse_device(str(tmp_path / "missing"))
