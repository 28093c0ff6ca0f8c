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
# **中文摘要 · 第 10 课：OCI 运行时——让 podman 像调用 runc 一样调用我们的运行时**
#
# Docker、podman、containerd 并不直接创建容器：它们把一个 **bundle**（根文件系统 + `config.json`）交给一个
# **OCI 运行时**（runc、crun、youki），用 OCI 运行时规范规定的命令行驱动它：`create`、`start`、`state`、`kill`、`delete`。
# 本课先手工做一个 bundle（`minicontainer oci spec`，再用 Python 修改 config.json），和 runc 并排运行同一个 bundle；
# 然后讲清楚 create/start 为什么要分开（引擎要在程序运行前接好网络、日志、hooks；runc 用 exec fifo 让 PID 1 等待），
# hooks 如何从 stdin 读到容器状态；最后让 podman 以 `podman --runtime minicontainer-oci` 运行容器。
# 本课构建的模块是 `minicontainer/oci/`，练习 10.1–10.4 正是运行时真正调用的函数。
# 对应教程章节：底层实现——容器格式（OCI、runc）。本课结束时清理所有容器和临时文件。

# %% [markdown]
# # 10 · An OCI runtime: what podman and containerd call
#
# Engines do not make containers themselves. Docker (through containerd), podman and Kubernetes hand a
# **bundle** — a root filesystem and a `config.json` that says everything about the container — to a
# **runtime binary**: runc, crun, youki. They speak the command line of the OCI runtime specification:
#
#     runc create --bundle DIR --pid-file F ID    runc start ID    runc state ID    runc kill ID SIG    runc delete ID
#
# `minicontainer oci` (also installed as `minicontainer-oci`) speaks the same, on the runtime you built in
# lessons 01-08: it translates config.json into the configuration `run` uses (`minicontainer/oci/config.py`)
# and calls the same core. In this lesson you write four of its pieces (`exercises/10-oci-runtime.py`):
#
# | part | function | what it does |
# |---|---|---|
# | 10.1 | `mount_flags` | a mount's option words (`nosuid`, `ro`, `mode=755`) -> the numbers mount(2) takes |
# | 10.2 | `namespace_plan` | `linux.namespaces` -> the namespaces to create and those to join by path |
# | 10.3 | `state_document` | the state `state ID` prints and hooks read |
# | 10.4 | `run_hook` | run a hook with the state on its stdin, and a timeout |
#
# Each is a step `minicontainer oci` takes. The package's own versions, the reference, are in
# `minicontainer/oci/config.py`, `oci/state.py` and `oci/hooks.py`; `--yours=10` (section 6) runs yours
# in their place.
#
# **The package this lesson builds: `minicontainer/oci/`** (config, state, hooks, console, runtime, cli).

# %%
from minicontainer.doctor import require

require("root", "cgroups", "busybox")

# %% [markdown]
# ## 1. A bundle by hand
#
# A bundle is a directory: `rootfs/` (any root filesystem: here a copy of the course's busybox one) and
# `config.json`. `minicontainer-oci spec` writes the same default config as `runc spec`: a shell, a
# read-only root, the usual namespaces and mounts, runc's masked paths.

# %%
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from minicontainer.paths import default_paths

OCI = str(Path(sys.executable).parent / "minicontainer-oci")
work = Path(tempfile.mkdtemp(prefix="mc-lesson10-"))
root = work / "state"           # --root: where this lesson's containers are kept
bundle = work / "bundle"
bundle.mkdir()
shutil.copytree(default_paths().default_rootfs, bundle / "rootfs", symlinks=True)
subprocess.run([OCI, "spec", "--bundle", str(bundle)], check=True)
config = json.loads((bundle / "config.json").read_text())
print(sorted(config))
print(json.dumps(config["process"]["args"]), config["root"], config["hostname"])
# (on a cgroup v2 host, runc's spec and ours also list a cgroup namespace: shown apart, the rest is the same)
v2_only = [{"type": "cgroup"}]
print([ns["type"] for ns in config["linux"]["namespaces"] if ns not in v2_only])

# %% [markdown]
# It is plain JSON: edit it in Python. No terminal (we are in a notebook), and a program to run:

# %%
config["process"]["terminal"] = False
config["process"]["args"] = ["sh", "-c", "echo hello from $(hostname) as uid $(id -u); grep CapEff /proc/self/status; exit 3"]
config["hostname"] = "lesson10"
(bundle / "config.json").write_text(json.dumps(config, indent=2))


def oci(*args: str, runtime: str = OCI, state_root: Path = root) -> subprocess.CompletedProcess:
    """Call a runtime binary as an engine does (output through files: a created container keeps them)."""
    with tempfile.TemporaryFile() as out:
        code = subprocess.run([runtime, "--root", str(state_root), *args], stdout=out, stderr=out).returncode
        out.seek(0)
        return subprocess.CompletedProcess(args, code, out.read().decode())


mine = oci("run", "--bundle", str(bundle), "hello")
print(mine.stdout, "exit status", mine.returncode)

# %% [markdown]
# The same bundle under runc, the reference (Debian's package): the same output and exit status.

# %%
RUNC = shutil.which("runc")
if RUNC:
    theirs = oci("run", "--bundle", str(bundle), "hello", runtime=RUNC, state_root=work / "runc-state")
    print("same output:", theirs.stdout == mine.stdout, "| same exit status:", theirs.returncode == mine.returncode)
else:
    print("runc is not installed here (sudo apt-get install runc): minicontainer-oci alone, then")

# %% [markdown]
# ## 2. From config.json to the runtime's own config
#
# `oci/config.py` reads every field with the spec's meaning, and turns it into the configuration
# `process.helper` already takes for `run`. Two of its small translations are yours. First the mounts:
# each has option *words*; mount(2) takes *numbers* (MS_NOSUID, MS_RDONLY, ...), a propagation change
# is a second mount call, and the words mount(2) does not know go to the filesystem as its data.

# %%
from minicontainer.oci import config as oci_config

for m in config["mounts"][:4]:
    flags, propagation, data = oci_config.mount_flags(m.get("options", []))
    print(f"{m['destination']:10} {m['type']:7} flags={flags:#07x} propagation={propagation} data={data!r}")

# %% [markdown]
# **Exercise 10.1.** Write `mount_flags(options)` in `exercises/10-oci-runtime.py`: `MOUNT_FLAGS` says,
# for each word, which flag it sets or clears ("rw" clears MS_RDONLY again), `PROPAGATION` the propagation
# words, every other word is the filesystem's data.

# %%
from minicontainer.exercises import check

check("10.1")

# %% [markdown]
# Then the namespaces: each entry of `linux.namespaces` is a namespace to *create*, or, with a `path`, one
# to *join* (a network namespace an engine prepared, `/proc/PID/ns/net` of another container: how pods share
# a network). The helper joins those with setns(2) first, then unshares the others.

# %%
print(oci_config.namespace_plan([ns for ns in config["linux"]["namespaces"] if ns not in v2_only]))
print(oci_config.namespace_plan([{"type": "mount"}, {"type": "network", "path": "/proc/1/ns/net"}]))

# %% [markdown]
# **Exercise 10.2.** Write `namespace_plan(namespaces)`: the runtime's names (`NAMESPACES`), new ones and
# (name, path) pairs to join; a type it does not know, or a type given twice, is an error naming the entry.
#
# A field of the spec this runtime does not have is refused *by its name* (silently skipping a block-I/O
# limit would be a lie to the engine); a field the spec itself does not have is ignored with a warning, as
# the spec requires of every runtime.

# %%
check("10.2")
config["linux"]["resources"]["blockIO"] = {"weight": 10}
(bundle / "config.json").write_text(json.dumps(config, indent=2))
print(oci("create", "--bundle", str(bundle), "refused").stdout)
del config["linux"]["resources"]["blockIO"]

# %% [markdown]
# ## 3. create, then start: why engines want them apart
#
# `run` is create + start + wait. An engine calls them one by one, because between them it has work to do
# on a container that exists but runs nothing yet: podman's conmon attaches the container's output to its
# log, a CNI plugin plugs the network namespace into a bridge, hooks run. So `create` makes everything —
# namespaces, cgroup, mounts, pivot_root, user, capabilities — and PID 1 then **waits**: it opens a fifo in
# the container's state directory for writing, which blocks until someone opens it for reading. `start`
# is that someone (runc's *exec fifo*).
#
# And `create` returns: nobody of the runtime stays behind (no monitor as `run -d` has). PID 1's parent is
# now whoever called `create`, a *subreaper* (conmon is one), which reaps it when it exits. This notebook
# is one for the next cells.

# %%
import ctypes

ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: the PID 1s `create` leaves become ours
config["process"]["args"] = ["sh", "-c", "echo started > /proc/1/fd/1; sleep 30"]
(bundle / "config.json").write_text(json.dumps(config, indent=2))


def state(cid: str) -> dict:
    doc = json.loads(oci("state", cid).stdout)
    doc["pid"] = "a PID" if doc["pid"] else 0  # (PIDs differ from run to run)
    return doc


print(oci("create", "--bundle", str(bundle), "web").stdout or "created")
print(state("web"))

# %% [markdown]
# The container exists: its PID 1 is in its namespaces and its cgroup, with its mounts, waiting in
# `open()` on the fifo. Its command line is still the runtime's: the program has not been exec'd.

# %%
pid = json.loads(oci("state", "web").stdout)["pid"]
print(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode().rsplit("/", 1)[-1])
print(Path(f"/proc/{pid}/wchan").read_text())
oci("start", "web")
time.sleep(0.2)
print(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode())
print(state("web")["status"])

# %% [markdown]
# **Exercise 10.3.** `state ID` prints the state the spec defines. Write `state_document(c, status)`: from
# the runtime's record of a container (`minicontainer.state.Container`: its id, its PID 1, its `spec` with
# the bundle and annotations) and its status, the document. A stopped container's pid is 0, as runc prints.

# %%
check("10.3")
oci("kill", "web", "KILL")
time.sleep(0.2)
os.waitpid(pid, 0)  # we are the subreaper: reap it, as conmon would
print(state("web")["status"])
print(oci("delete", "web").returncode, oci("state", "web").stdout.strip())

# %% [markdown]
# runc goes through the same states on the same bundle:

# %%
def transitions(runtime: str, state_root: Path) -> list[str]:
    seen = []
    oci("create", "--bundle", str(bundle), "life", runtime=runtime, state_root=state_root)
    seen.append(json.loads(oci("state", "life", runtime=runtime, state_root=state_root).stdout)["status"])
    oci("start", "life", runtime=runtime, state_root=state_root)
    seen.append(json.loads(oci("state", "life", runtime=runtime, state_root=state_root).stdout)["status"])
    life = json.loads(oci("state", "life", runtime=runtime, state_root=state_root).stdout)["pid"]
    oci("kill", "life", "KILL", runtime=runtime, state_root=state_root)
    os.waitpid(life, 0)
    seen.append(json.loads(oci("state", "life", runtime=runtime, state_root=state_root).stdout)["status"])
    oci("delete", "life", runtime=runtime, state_root=state_root)
    return seen


print("minicontainer:", transitions(OCI, root))
if RUNC:
    print("runc:         ", transitions(RUNC, work / "runc-state"))

# %% [markdown]
# ## 4. Hooks
#
# `hooks` in config.json name programs to run at fixed points: `createRuntime` (namespaces made, before
# pivot_root, in the runtime's namespaces), `createContainer` and `startContainer` (in the container's),
# `poststart`, `poststop`. Each gets the state on its stdin: that is how a network hook knows which PID's
# network namespace to configure. A failing hook before the program starts fails `create`, and nothing of
# the container is left.

# %%
hook = work / "hook.sh"
hook.write_text(f"#!/bin/sh\n{{ echo \"$1:\"; cat; echo; }} >> {work}/hooks.log\n")
hook.chmod(0o755)
config["process"]["args"] = ["true"]
config["hooks"] = {phase: [{"path": str(hook), "args": ["hook.sh", phase]}]
                   for phase in ("createRuntime", "poststart", "poststop")}
(bundle / "config.json").write_text(json.dumps(config, indent=2))
print(oci("run", "--bundle", str(bundle), "hooked").returncode)
for line in (work / "hooks.log").read_text().split("\n"):
    if line.endswith(":"):
        phase = line
    elif line:
        doc = json.loads(line)
        print(phase, doc["status"], doc["id"], "pid:", "a PID" if doc["pid"] else 0)

# %% [markdown]
# **Exercise 10.4.** Write `run_hook(hook, state, default_timeout)`: fork, give the child the state on its
# stdin through a pipe, execve the hook; wait, and kill it if it outlives its timeout. With `os` only:
# PID 1 runs the `startContainer` hooks itself, after pivot_root, where no new module can be imported.

# %%
check("10.4")
config["hooks"] = {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "60"], "timeout": 1}]}
(bundle / "config.json").write_text(json.dumps(config, indent=2))
print(oci("create", "--bundle", str(bundle), "slow-hook").stdout.strip())
print("left behind:", oci("list", "--quiet").stdout.split())
del config["hooks"]
_ = (bundle / "config.json").write_text(json.dumps(config, indent=2))

# %% [markdown]
# ## 5. podman drives minicontainer
#
# podman talks to its runtime through conmon, exactly as above: `create --bundle ... --pid-file ...`, then
# `start`, `state`, `kill`, `delete`. Give it `--runtime` and it uses ours. (Its storage goes to a temporary
# directory, with vfs; the image is imported from the busybox rootfs: nothing comes from the internet.
# `--ulimit` keeps podman from raising hard limits, which some sandboxes do not allow, for runc either.)

# %%
import tarfile

PODMAN = shutil.which("podman")
pod = ["podman", "--root", str(work / "podman"), "--runroot", str(work / "podman-run"), "--tmpdir",
       str(work / "podman-tmp"), "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs",
       "--events-backend", "file", "--runtime", OCI]
flags = ["--network", "none", "--cgroup-parent", "/minicontainer-podman",
         "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
if PODMAN:
    with tarfile.open(work / "busybox.tar", "w") as tar:
        tar.add(bundle / "rootfs", arcname=".")
    subprocess.run(pod + ["import", str(work / "busybox.tar"), "localhost/mc-busybox"], capture_output=True, check=True)
    print(subprocess.run(pod + ["run", "--rm", *flags, "localhost/mc-busybox", "echo", "hi"],
                         capture_output=True, text=True).stdout)
    print(subprocess.run(pod + ["info", "--format", "{{.Host.OCIRuntime.Path}}"],
                         capture_output=True, text=True).stdout.strip().rsplit("/", 1)[-1])
else:
    print("podman is not installed here: sudo apt-get install podman, then run this cell again")

# %% [markdown]
# ## 6. Your runtime
#
# Your four functions are steps of `minicontainer oci` (`minicontainer/oci/config.py`, `oci/state.py` and
# `oci/hooks.py` keep the runtime's own): your `mount_flags` reads each mount of config.json, your
# `namespace_plan` its namespaces, your `state_document` is what `state` prints and what every hook
# reads, and your `run_hook` runs the hooks. `minicontainer --yours=10 oci` is the same command line on
# your functions:

# %%
def yours(*args: str) -> subprocess.CompletedProcess:
    """`minicontainer --yours=10 oci --root ROOT ARGS`: runc's command line, on your functions."""
    with tempfile.TemporaryFile() as out:
        code = subprocess.run([str(Path(sys.executable).parent / "minicontainer"), "--yours=10", "oci", "--root",
                               str(root), *args], stdout=out, stderr=out).returncode
        out.seek(0)
        return subprocess.CompletedProcess(args, code, out.read().decode())


config["process"]["args"] = ["sh", "-c", "echo hello from $(hostname) as uid $(id -u); grep CapEff /proc/self/status; exit 3"]
config["hooks"] = {"poststop": [{"path": str(hook), "args": ["hook.sh", "poststop"]}]}
(bundle / "config.json").write_text(json.dumps(config, indent=2))
(work / "hooks.log").unlink()
ran = yours("run", "--bundle", str(bundle), "yours")
print(ran.stdout, "exit status", ran.returncode, "| the same as section 1's:", ran.stdout == mine.stdout)
phase, line = (work / "hooks.log").read_text().strip().split("\n", 1)
doc = json.loads(line)
print(phase, doc["status"], doc["id"], "pid:", doc["pid"])
del config["hooks"]

# %% [markdown]
# The milestone: your runtime runs a bundle and prints what runc prints on it, `state` goes created ->
# running -> stopped across create, start and kill, and hooks read the state on their stdin.

# %%
from minicontainer.exercises import milestone

milestone("10")

# %% [markdown]
# ## 7. Clean up
#
# Every container of this lesson, podman's storage and its cgroups, the temporary directory.

# %%
for cid in oci("list", "--quiet").stdout.split():
    oci("delete", "--force", cid)
if PODMAN:
    subprocess.run(pod + ["rm", "--all", "--force"], capture_output=True)
    subprocess.run(pod + ["system", "reset", "--force"], capture_output=True)
    for base in [*Path("/sys/fs/cgroup").glob("*/minicontainer-podman"), *Path("/sys/fs/cgroup").glob("minicontainer-podman")]:
        for top, _, _ in sorted(os.walk(base), key=lambda w: -w[0].count("/")):
            os.rmdir(top)
ctypes.CDLL(None).prctl(36, 0, 0, 0, 0)
shutil.rmtree(work, ignore_errors=True)
print("left:", oci("list", "--quiet").stdout.split(), work.exists())
