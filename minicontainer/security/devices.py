"""Devices: which device files a container may open, enforced by its cgroup (lesson 08).

A device file is only a name for a (type, major, minor) triple: `mknod /x b 8 0` makes a new name
for the host's first disk, in any directory, and CAP_MKNOD is one of the 14 capabilities a
container keeps. What stops the container from then reading the host's disk is the *device
controller* of its cgroup, checked by the kernel on every open (and mknod) of a device file:

  cgroup v1  files in the `devices` hierarchy:  devices.deny "a" (nothing), then one
             devices.allow line per device: "c 1:3 rwm" (char device 1:3, read, write, mknod)
  cgroup v2  no files: a small eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the
             group with bpf(BPF_PROG_ATTACH); the kernel runs it with (type, access, major, minor)
             and it returns 1 (allow) or 0 (deny)

The rules are Docker's (through runc): nodes of any device may be *created* (m), but only the
standard ones may be read and written: null, zero, full, random, urandom, tty, console, ptmx,
the pseudo-terminals and tun. `--privileged` allows every device; `--device` adds one.

    rules = default_rules() + [Rule("b", 7, 0, "rwm")]
    write_v1(group_dir, rules)                  # a v1 devices directory
    attach_v2(group_dir, program(rules))        # a cgroup2 directory

On the path of `run` (the runtime applies the rules to every container's group): small modules only.
"""

from __future__ import annotations

import ctypes
import os
import struct

from ..errors import ContainerError, UsageError
from ..record import Record


class Rule(Record, frozen=True):
    """One allowed device: type "c" (char), "b" (block) or "a" (all); major/minor -1 = any; access of "rwm"."""

    type: str
    major: int = -1
    minor: int = -1
    access: str = "rwm"

    def line(self) -> str:
        """The rule as cgroup v1 writes it: 'c 1:3 rwm', 'b *:* m', 'a'."""
        if self.type == "a":
            return "a"
        major = "*" if self.major < 0 else str(self.major)
        minor = "*" if self.minor < 0 else str(self.minor)
        return f"{self.type} {major}:{minor} {self.access}"


def default_rules() -> list[Rule]:
    """What a container may use: Docker's list (moby's DefaultLinuxSpec and runc's AllowedDevices)."""
    return [
        Rule("c", -1, -1, "m"), Rule("b", -1, -1, "m"),          # mknod of anything: opening is what counts
        Rule("c", 1, 3), Rule("c", 1, 5), Rule("c", 1, 7),       # null, zero, full
        Rule("c", 1, 8), Rule("c", 1, 9),                        # random, urandom
        Rule("c", 5, 0), Rule("c", 5, 1), Rule("c", 5, 2),       # tty, console, ptmx
        Rule("c", 136, -1),                                      # /dev/pts/N
        Rule("c", 10, 200),                                      # /dev/net/tun
    ]


def parse_device(text: str) -> tuple[str, str, str, Rule]:
    """`--device /dev/loop0[:/dev/disk][:rwm]` -> (host path, container path, access, its rule)."""
    parts = text.split(":")
    host = parts[0]
    target = parts[1] if len(parts) > 1 and parts[1].startswith("/") else host
    access = parts[-1] if len(parts) > 1 and not parts[-1].startswith("/") else "rwm"
    if not host.startswith("/") or len(parts) > 3 or not access or any(c not in "rwm" for c in access):
        raise UsageError(f"invalid device specification: {text}", step="parse --device",
                         fix="use --device /dev/HOST[:/dev/CONTAINER][:rwm]")
    try:
        st = os.stat(host)
    except OSError as exc:
        raise ContainerError(f"error gathering device information while adding custom device {host!r}: "
                             f"{exc.strerror.lower()}", step="parse --device", path=host,
                             fix="give a device file that exists on the host") from None
    import stat as stat_mod
    if stat_mod.S_ISBLK(st.st_mode):
        kind = "b"
    elif stat_mod.S_ISCHR(st.st_mode):
        kind = "c"
    else:
        raise UsageError(f"{host} is not a device", step="parse --device", path=host,
                         fix="give a character or block device file, e.g. /dev/loop0")
    return host, target, access, Rule(kind, os.major(st.st_rdev), os.minor(st.st_rdev), access)


# --- cgroup v1: two files ------------------------------------------------------------------------

def write_v1(group_dir: str, rules: list[Rule]) -> None:
    """Deny everything, then allow each rule (the group must not have processes yet)."""
    with open(os.path.join(group_dir, "devices.deny"), "w") as f:
        f.write("a")
    for rule in rules:
        with open(os.path.join(group_dir, "devices.allow"), "w") as f:  # one rule per write
            f.write(rule.line())


def read_v1(group_dir: str) -> list[str]:
    """The group's allow list as the kernel shows it (devices.list)."""
    with open(os.path.join(group_dir, "devices.list")) as f:
        return f.read().split("\n")[:-1]


# --- cgroup v2: an eBPF program -----------------------------------------------------------------
# eBPF is not the classic BPF of seccomp: ten 64-bit registers, 8-byte instructions
#   struct bpf_insn { u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm; }
# The program gets r1 = a pointer to  struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
# where access_type = (access << 16) | type, and returns its verdict in r0.

LDX_W = 0x61      # dst = *(u32 *)(src + off)
AND32_K = 0x54    # dst = (u32)dst & imm
RSH32_K = 0x74    # dst = (u32)dst >> imm
MOV32_X = 0xBC    # dst = (u32)src
MOV64_K = 0xB7    # dst = imm
JNE_K = 0x55      # if dst != imm: skip `off` instructions
EXIT = 0x95       # return r0

DEV_TYPE = {"b": 1, "c": 2}            # BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR
ACCESS = {"m": 1, "r": 2, "w": 4}      # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE

EbpfInsn = tuple  # (code, dst, src, off, imm)


def access_mask(access: str) -> int:
    bits = 0
    for c in access:
        bits |= ACCESS[c]
    return bits


def program(rules: list[Rule]) -> list[EbpfInsn]:
    """The device program for an allow-list: one block per rule, each ends in `return 1`; a request
    that no block allows falls through to `return 0` (deny).

        r2 = type  r3 = access  r4 = major  r5 = minor       (from the context r1 points at)
        block:  if r2 != TYPE goto next                       (no test for type "a")
                r1 = r3; r1 &= ~ACCESS; if r1 != 0 goto next  (asks for more than allowed?)
                if r4 != MAJOR goto next                      (no test for "*")
                if r5 != MINOR goto next
                r0 = 1; exit
        next:   ...
                r0 = 0; exit
    """
    prog: list[EbpfInsn] = [
        (LDX_W, 2, 1, 0, 0), (AND32_K, 2, 0, 0, 0xFFFF),   # r2 = access_type & 0xffff  (type)
        (LDX_W, 3, 1, 0, 0), (RSH32_K, 3, 0, 0, 16),       # r3 = access_type >> 16     (access)
        (LDX_W, 4, 1, 4, 0),                               # r4 = major
        (LDX_W, 5, 1, 8, 0),                               # r5 = minor
    ]
    for rule in rules:
        tests: list[tuple] = []  # (code, dst, src, imm) of the "goto next" tests, offsets filled in below
        if rule.type != "a":
            tests.append((JNE_K, 2, 0, DEV_TYPE[rule.type]))
        tests += [(MOV32_X, 1, 3, 0), (AND32_K, 1, 0, ~access_mask(rule.access) & 0xFFFFFFFF), (JNE_K, 1, 0, 0)]
        if rule.major >= 0:
            tests.append((JNE_K, 4, 0, rule.major))
        if rule.minor >= 0:
            tests.append((JNE_K, 5, 0, rule.minor))
        block = tests + [(MOV64_K, 0, 0, 1), (EXIT, 0, 0, 0)]
        for i, (code, dst, src, imm) in enumerate(block):
            off = len(block) - i - 1 if code == JNE_K else 0  # a failed test skips the rest of the block
            prog.append((code, dst, src, off, imm))
    prog += [(MOV64_K, 0, 0, 0, 0), (EXIT, 0, 0, 0, 0)]
    return prog


def encode(prog: list[EbpfInsn]) -> bytes:
    """struct bpf_insn[] (little-endian machines: dst in the low nibble of the second byte)."""
    out = bytearray()
    for code, dst, src, off, imm in prog:
        if imm >= 1 << 31:
            imm -= 1 << 32  # imm is an s32
        out += struct.pack("<BBhi", code, dst | src << 4, off, imm)
    return bytes(out)


def run(prog: list[EbpfInsn], kind: str, major: int, minor: int, access: str) -> int:
    """What the kernel would answer (1 allow, 0 deny): an interpreter of the instructions program() emits."""
    regs = [0] * 11
    ctx = struct.pack("<III", access_mask(access) << 16 | DEV_TYPE[kind], major, minor)
    pc = 0
    while True:
        code, dst, src, off, imm = prog[pc]
        pc += 1
        imm &= 0xFFFFFFFF
        if code == LDX_W:
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif code == AND32_K:
            regs[dst] = regs[dst] & imm & 0xFFFFFFFF
        elif code == RSH32_K:
            regs[dst] = (regs[dst] & 0xFFFFFFFF) >> imm
        elif code == MOV32_X:
            regs[dst] = regs[src] & 0xFFFFFFFF
        elif code == MOV64_K:
            regs[dst] = imm
        elif code == JNE_K:
            if regs[dst] != imm:
                pc += off
        elif code == EXIT:
            return regs[0]
        else:
            raise ValueError(f"instruction {pc - 1}: code {code:#x} is not one this interpreter knows")


# bpf(2): load the program, attach it to a cgroup directory
BPF_PROG_LOAD, BPF_PROG_ATTACH, BPF_PROG_QUERY = 5, 8, 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2
SYS_bpf = {"x86_64": 321, "aarch64": 280}.get(os.uname().machine, 321)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _bpf(cmd: int, attr: ctypes.Array, what: str, path: str = "") -> int:
    result = _libc.syscall(SYS_bpf, cmd, attr, len(attr))
    if result < 0:
        err = ctypes.get_errno()
        raise ContainerError(f"bpf({what}) failed: {os.strerror(err)}", step="devices: cgroup v2 program",
                             path=path, fix="a kernel with CONFIG_CGROUP_BPF, and root (CAP_SYS_ADMIN or CAP_BPF)")
    return result


def load(code: bytes, name: str = "mc_devices") -> int:
    """bpf(BPF_PROG_LOAD): the kernel verifies the program and returns a file descriptor for it."""
    insns = ctypes.create_string_buffer(code, len(code))
    license = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(65536)
    attr = ctypes.create_string_buffer(128)  # union bpf_attr, the BPF_PROG_LOAD member, zeroes elsewhere
    struct.pack_into("=IIQQ", attr, 0, BPF_PROG_TYPE_CGROUP_DEVICE, len(code) // 8,
                     ctypes.addressof(insns), ctypes.addressof(license))
    struct.pack_into("16s", attr, 48, name.encode()[:15])
    try:
        return _bpf(BPF_PROG_LOAD, attr, "BPF_PROG_LOAD")
    except ContainerError as exc:  # once more with the verifier's log (log_level 1), to say why
        struct.pack_into("=IIQ", attr, 24, 1, len(log), ctypes.addressof(log))
        if _libc.syscall(SYS_bpf, BPF_PROG_LOAD, attr, len(attr)) < 0 and log.value:
            exc.message += "; the verifier said: " + log.value.decode(errors="replace").strip().splitlines()[-1]
            exc.args = (str(exc),)
        raise


def attach_v2(group_dir: str, code: bytes) -> None:
    """Load the program and attach it to the cgroup2 directory (it lives as long as the group)."""
    prog_fd = load(code)
    try:
        dir_fd = os.open(group_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            attr = ctypes.create_string_buffer(struct.pack("=IIII", dir_fd, prog_fd, BPF_CGROUP_DEVICE,
                                                           BPF_F_ALLOW_MULTI), 32)
            _bpf(BPF_PROG_ATTACH, attr, "BPF_PROG_ATTACH", group_dir)
        finally:
            os.close(dir_fd)
    finally:
        os.close(prog_fd)


def attached_v2(group_dir: str) -> int:
    """How many device programs are attached to the cgroup2 directory itself (BPF_PROG_QUERY)."""
    ids = (ctypes.c_uint32 * 64)()
    dir_fd = os.open(group_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        attr = ctypes.create_string_buffer(struct.pack("=IIIIQI", dir_fd, BPF_CGROUP_DEVICE, 0, 0,
                                                       ctypes.addressof(ids), 64), 40)
        _bpf(BPF_PROG_QUERY, attr, "BPF_PROG_QUERY", group_dir)
    finally:
        os.close(dir_fd)
    return struct.unpack_from("=I", attr, 24)[0]


def apply(group, rules: list[Rule]) -> str:
    """Give a container's new cgroup (cgroups.Cgroup) its device rules; returns how ("v1" or "v2").

    Called by the runtime right after cgroups.create(), before any process joins the group."""
    dirs = getattr(group, "controller_dirs", None)
    if group.setup.driver == "v1":
        if dirs is None or "devices" not in dirs():
            raise ContainerError("this host's cgroup v1 has no devices hierarchy: a container could open any "
                                 "device it creates", step="devices", path=group.setup.root_dir,
                                 fix="mount it (mount -t cgroup -o devices none /sys/fs/cgroup/devices), or run "
                                     "with --privileged")
        write_v1(dirs()["devices"], rules)
        return "v1"
    attach_v2(group.main_dir, encode(program(rules)))
    return "v2"
