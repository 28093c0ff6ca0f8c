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
# **中文摘要 · 第 03 课：控制组（cgroup），容器用不了更多**
#
# 控制组限制并统计一组进程能用的资源。本课先看到每个进程本来就在某个 cgroup 里，再手工建一个组，
# 把 Docker 的单位（`-m 512m`、`--cpus 0.5`、`--pids-limit`）换算成内核文件；看内存超限时 OOM 杀手出手、
# CPU 被限流、fork 炸弹撞上 `pids.max`，并对比 cgroup v1 和 v2；`minicontainer stats` 实时显示用量。
# 对应教程“底层实现：控制组”和“安全：控制组”。
#
# 本课构建的包：`minicontainer/cgroups/`。

# %% [markdown]
# # 03 · Cgroups: limits a container cannot exceed
#
# **The package this lesson builds: `minicontainer/cgroups/`** (`__init__.py`: limits, stats, the one
# interface; `v1.py` and `v2.py`: the two drivers).
#
# Namespaces (lesson 02) decide what a process can *see*. They do not decide how much it can
# *use*: a container could still eat all the memory of the host, spin every CPU, or fork until
# the host cannot start a single process. **Control groups** (cgroups) close that door. A cgroup
# is a directory in a special filesystem; the kernel counts everything its processes use, and
# enforces the limits written in its files.
#
# By the end of this lesson `minicontainer run` takes Docker's `-m`, `--cpus`, `--pids-limit`
# (and friends), `minicontainer stats` shows what containers use, and you will have written the
# core pieces yourself (in `exercises/03-cgroups.py`):
#
# | part | function | what it does |
# |---|---|---|
# | 3.1 | `parse_memory` | Docker's sizes: `512m`, `1g` in bytes |
# | 3.2 | `join` | move a process into a group |
# | 3.3 | `set_memory_limit` | the memory limit file, on v1 and on v2 |
# | 3.4 | `cpu_limit_files` | `--cpus 0.5` as the kernel's CPU files, on v1 and on v2 |
# | 3.5 | `oom_kills` | how many processes the OOM killer killed |

# %%
from minicontainer.doctor import require

require("root", "cgroups", "busybox")

# %% [markdown]
# ## 1. Every process is already in a cgroup
#
# `/proc/PID/cgroup` says which group a process is in: one line per *hierarchy*,
# `ID:CONTROLLERS:PATH`. On a **v2** host there is a single line, `0::/some/path`. On a **v1**
# host each controller (memory, cpu, pids, ...) is its own tree, so there is one line per
# controller. This machine is *hybrid*: v1 controllers, plus an almost empty v2 tree (line `0::`).
# The controllers of each line of this notebook's kernel:

# %%
from pathlib import Path

for line in Path("/proc/self/cgroup").read_text().splitlines():
    number, controllers, path = line.split(":", 2)
    print(f"hierarchy {number}: {controllers or '(v2, unified)'}")

# %% [markdown]
# `minicontainer.cgroups.detect()` looks at `/sys/fs/cgroup` to tell which kind of host this is.
# (The root is a parameter: the tests point it at a temporary directory shaped like a v2 host.)

# %%
from minicontainer import cgroups

setup = cgroups.detect()
print(setup.version, "-> driver", setup.driver)
for name in ("memory", "cpu", "pids"):  # v1: a hierarchy each; v2: all in /sys/fs/cgroup
    print(f"  {name:8} {setup.controllers[name]}")

# %% [markdown]
# ## 2. A group by hand
#
# A group is made with `mkdir`; the kernel fills the directory with files. We make one in the
# **pids** hierarchy, under the course's parent group `minicontainer` (every group this course
# makes lives there, so leftovers are easy to find). On v2 it would be one directory in the
# unified tree, after enabling the controller for the children (`+pids` in `cgroup.subtree_control`).

# %%
import os
import subprocess
import time

if setup.driver == "v1":
    by_hand = setup.controllers["pids"] / "minicontainer" / "lesson03-by-hand"
    by_hand.parent.mkdir(exist_ok=True)
else:
    for parent in (setup.root, setup.root / "minicontainer"):
        parent.mkdir(exist_ok=True)
        (parent / "cgroup.subtree_control").write_text("+pids")
    by_hand = setup.root / "minicontainer" / "lesson03-by-hand"
by_hand.mkdir(exist_ok=True)
print(sorted(f.name for f in by_hand.iterdir() if f.name.startswith(("pids", "cgroup.procs"))))

# %% [markdown]
# Now put a process in it: write its PID to `cgroup.procs`. Its children are born in the same
# group. We limit the group to 5 tasks, then let a shell in the group try to start 10 `sleep`s:

# %%
(by_hand / "pids.max").write_text("5")
shell = subprocess.Popen(["sh", "-c", "read go; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 5 & done 2>/dev/null; wait"],
                         stdin=subprocess.PIPE, text=True)
(by_hand / "cgroup.procs").write_text(str(shell.pid))
line = [l for l in Path(f"/proc/{shell.pid}/cgroup").read_text().splitlines() if ":pids:" in l or l.startswith("0::")][0]
print("the shell's group:", line.split(":", 2)[2])  # the path: the last field of its pids (v1) or unified (v2) line
shell.stdin.write("go\n")
shell.stdin.flush()
for _ in range(300):  # until the kernel refuses a fork: a moment (at most 30 s on a very busy machine)
    if int((by_hand / "pids.events").read_text().split()[1]) > 0:
        break
    time.sleep(0.1)
print("tasks in the group:", (by_hand / "pids.current").read_text().strip())
print("forks refused:", int((by_hand / "pids.events").read_text().split()[1]) > 0)

# %% [markdown]
# Five tasks (the shell and 4 sleeps); the next fork failed with `EAGAIN` ("Resource temporarily
# unavailable"), and the shell gave up. `pids.events` counts the refusals. To remove a group,
# it must be empty: kill its processes, wait until `cgroup.procs` is empty (a killed process
# takes a moment to exit), then `rmdir` (the files go with it).

# %%
for pid in (by_hand / "cgroup.procs").read_text().split():
    os.kill(int(pid), 9)
shell.wait()
for _ in range(300):
    if not (by_hand / "cgroup.procs").read_text():
        break
    time.sleep(0.1)
by_hand.rmdir()
print("removed:", not by_hand.exists())

# %% [markdown]
# ## 3. Docker's units
#
# `docker run -m 512m` means 512 MiB (binary units: `k` = 1024). **Exercise 3.1**: write
# `parse_memory(text)`, bytes from `512m`, `1g`, `64k`, `100`, `512mb`; `ValueError` for the rest.
# (The package's version, `cgroups.parse_bytes`, also takes fractions like `1.5g`.)

# %%
from minicontainer.exercises import check

check("3.1")

# %% [markdown]
# **Exercise 3.2**: write `join(group, pid)`, what you just did by hand. **Exercise 3.3**: write
# `set_memory_limit(group, limit, version)`: the file is `memory.limit_in_bytes` on v1 and
# `memory.max` on v2. The check starts a process that wants 64 MiB in a group limited to 16 MiB.

# %%
check("3.2")
check("3.3")

# %% [markdown]
# ## 4. The memory limit and the OOM killer
#
# `minicontainer run -m 32m` makes the container's group (in every controller's hierarchy here:
# `/sys/fs/cgroup/memory/minicontainer/<id>/`, `.../cpu/...`, `.../pids/...`), writes the
# limits, and puts PID 1 in it **before** the workload starts. When the group needs more memory
# than its limit and nothing can be reclaimed (no swap here), the kernel's **OOM killer** kills a
# process of the group, the one using the most memory. The host is never touched.
#
# Our hog fills `/dev/shm` (a tmpfs: files in memory, charged to the group) with `dd`:

# %%
import sys

MC = f"{sys.executable} -m minicontainer"  # the `minicontainer` command of this environment


def mc(*args: str) -> subprocess.CompletedProcess:
    """`minicontainer ARGS...` as in a terminal (its output is printed by the caller)."""
    return subprocess.run([sys.executable, "-m", "minicontainer", *args], capture_output=True, text=True)


mc("rm", "-f", "lesson03-hog")
hog_run = mc("run", "--name", "lesson03-hog", "-m", "32m", "busybox",
             "dd", "if=/dev/zero", "of=/dev/shm/fill", "bs=1M", "count=100")
print(hog_run.stderr.strip())
print("exit status:", hog_run.returncode)

# %% [markdown]
# Exit status 137 is 128 + 9: killed by SIGKILL. The runtime read the group's OOM counter
# (`memory.oom_control` on v1, `memory.events` on v2) before removing the group, and noted it in
# the container's state, as `docker inspect` shows `OOMKilled`:

# %%
from minicontainer import container

hog = container.find(container.default_paths(), "lesson03-hog")
print("oom_killed:", hog.oom_killed, " exit code:", hog.exit_code)

# %% [markdown]
# What does a process *inside* see? PID 1 unshared a **cgroup namespace** (lesson 02) after the
# runtime placed it in its group, so the container sees its own group as the root `/` of every
# hierarchy, and cannot tell where on the host it lives:

# %%
print(mc("run", "--rm", "-m", "64m", "busybox", "cat", "/proc/self/cgroup").stdout)

# %% [markdown]
# **Exercise 3.5**: write `oom_kills(group, version)`, the counter the runtime reads.

# %%
check("3.5")

# %% [markdown]
# ## 5. Watching it live
#
# `resource_monitor(container)` plots memory (with the limit as a dashed line), CPU and tasks a
# few times a second, from a thread, so the notebook stays usable; a red line marks each OOM kill;
# it stops when the container exits. This hog grows a shell variable by 250 kB per step until the
# 48 MiB limit (each step copies the whole string: a few seconds to watch it climb). It makes the
# 250 kB once and forks nothing while it grows: a fork of a big shell is as big as the shell, and the
# OOM killer might kill that fork first, then the shell: two kills.

# %%
from minicontainer.widgets.resources import resource_monitor

mc("rm", "-f", "lesson03-grow")
mc("run", "-d", "--name", "lesson03-grow", "-m", "48m", "busybox",
   "sh", "-c", "sleep 1; y=$(head -c 250000 /dev/zero | tr '\\000' a); x=; while :; do x=\"$x$y\"; done")
monitor = resource_monitor("lesson03-grow")
monitor

# %% [markdown]
# The cell above returned at once; the plot kept updating. Waiting for the end here (a notebook
# does not have to):

# %%
monitor.wait(timeout=180)
print("status:", monitor.status)
print("OOM kill marked:", len(monitor.oom_times) == 1)
print("memory never above the limit:", max(s.memory or 0 for s in monitor.samples) <= monitor.memory_limit)

# %% [markdown]
# ## 6. Half a CPU
#
# CPU time is limited by a *quota per period*: `--cpus 0.5` means 50 ms of CPU every 100 ms,
# however many CPUs the group's processes would like to use. When the quota runs out, the
# group's processes wait for the next period: they are *throttled* (`cpu.stat` counts it).
#
# **Exercise 3.4**: write `cpu_limit_files(cpus, version)`: v1 has two files,
# `cpu.cfs_quota_us` and `cpu.cfs_period_us`; v2 has one, `cpu.max`, holding `"QUOTA PERIOD"`.

# %%
check("3.4")

# %% [markdown]
# Two busy loops (they would use two CPUs) under `--cpus 0.5`, measured over 2 seconds from the
# group's CPU counter (`cpuacct.usage` on v1, `usage_usec` in `cpu.stat` on v2). On a busy machine
# the container may get *less* than its quota (the limit is a ceiling, not a reservation):

# %%
_ = mc("rm", "-f", "lesson03-spin")
mc("run", "-d", "--name", "lesson03-spin", "--cpus", "0.5", "busybox", "sh", "-c", "while :; do :; done & while :; do :; done")
spin = cgroups.group(container.find(container.default_paths(), "lesson03-spin").id)
before = spin.stats()
time.sleep(2)
after = spin.stats()
cores = cgroups.cpu_percent(before, after) / 100
print(f"used {cores:.2f} cores")
print("at most half a core (+15%):", cores <= 0.575)
print(f"throttled in {after.cpu_throttled - before.cpu_throttled} of {after.cpu_periods - before.cpu_periods} periods")
_ = mc("rm", "-f", "lesson03-spin")

# %% [markdown]
# ## 7. A fork bomb meets pids.max
#
# `bomb() { bomb | bomb & }; bomb` doubles its processes until the machine cannot fork any more.
# With `--pids-limit 20` it stops at 20 tasks, and the host does not notice. (The container's
# shell starts its `sleep 60` *before* the bomb, starts the bomb with one fork (`bomb &`), and then
# only `wait`s: busybox `sh` exits when one of its own forks fails, and the container would end with it.) We read the group once the kernel
# has refused a fork:

# %%
_ = mc("rm", "-f", "lesson03-bomb")
mc("run", "-d", "--name", "lesson03-bomb", "--pids-limit", "20", "busybox", "sh", "-c", "sleep 60 & bomb() { bomb | bomb & }; bomb & wait")
group = cgroups.group(container.find(container.default_paths(), "lesson03-bomb").id)
for _ in range(300):  # a moment (at most 30 s on a very busy machine)
    if group.stats().pids_refused:
        break
    time.sleep(0.1)
bomb = group.stats()
print("tasks in the container at most the limit of", bomb.pids_limit, ":", bomb.pids <= bomb.pids_limit)
print("forks refused:", bomb.pids_refused > 0)
print("the host still forks:", subprocess.run(["true"]).returncode == 0)
_ = mc("rm", "-f", "lesson03-bomb")

# %% [markdown]
# ## 8. `minicontainer stats`
#
# Like `docker stats`: one line per running container with a cgroup, refreshed every second
# (`--no-stream` prints one reading). The Python API behind it is `Cgroup.stats()`.

# %%
# !{MC} rm -f lesson03-idle > /dev/null 2>&1
# !{MC} run -d --name lesson03-idle -m 64m --pids-limit 10 busybox sleep 60 > /dev/null
# !{MC} stats --no-stream lesson03-idle
# !{MC} rm -f lesson03-idle > /dev/null

# %% [markdown]
# ## 9. v1 and v2 side by side
#
# The package hides the two versions behind one interface (`cgroups.create(name, limits)` returns
# a `Cgroup` with `add`, `procs`, `stats`, `kill`, `remove`), with one driver per version:
# `minicontainer/cgroups/v1.py` and `v2.py`. What each writes for the same `docker run` flags:
#
# | flag | v1 (a directory per controller) | v2 (one directory) |
# |---|---|---|
# | `-m 512m` | `memory/…/memory.limit_in_bytes` = `536870912` | `memory.max` = `536870912` |
# | `--memory-swap 1g` | `memory.memsw.limit_in_bytes` = `1073741824` (memory + swap) | `memory.swap.max` = `536870912` (swap only) |
# | `--cpus 0.5` | `cpu.cfs_quota_us` = `50000`, `cpu.cfs_period_us` = `100000` | `cpu.max` = `50000 100000` |
# | `--cpu-shares 512` | `cpu.shares` = `512` | `cpu.weight` = `20` (converted as runc does) |
# | `--cpuset-cpus 0` | `cpuset.cpus` = `0` (and `cpuset.mems` copied: a new v1 cpuset is empty!) | `cpuset.cpus` = `0` |
# | `--pids-limit 20` | `pids/…/pids.max` = `20` | `pids.max` = `20` |
# | join | PID into `cgroup.procs` of **each** hierarchy | PID into `cgroup.procs` once |
# | kill all | SIGKILL each PID in `cgroup.procs` until empty | write `1` to `cgroup.kill` |
# | empty? | `cgroup.procs` is empty | `cgroup.events` says `populated 0` |
# | OOM kills | `memory.oom_control`: `oom_kill N` | `memory.events`: `oom_kill N` |
# | pressure | (none) | `cpu.pressure`, `memory.pressure`, `io.pressure` (PSI) |
#
# Two v2 rules shape its driver: a controller is usable in a group only if its parent lists it
# in `cgroup.subtree_control` (*delegation*), and a group that delegates controllers may not hold
# processes itself (*no internal processes*), so the parent `minicontainer` only holds groups.
#
# Here is the v2 driver writing its files into a temporary directory shaped like a v2 host (a
# fake: this machine's v2 tree has no memory, cpu or pids controller):

# %%
import tempfile

with tempfile.TemporaryDirectory() as fake:
    (Path(fake) / "cgroup.controllers").write_text("cpuset cpu io memory pids")
    (Path(fake) / "cgroup.subtree_control").write_text("")
    limits = cgroups.Limits.parse(memory="512m", cpus="0.5", cpu_shares="512", pids_limit="20")
    g = cgroups.create("demo", limits, setup=cgroups.detect(fake))
    print("root cgroup.subtree_control:", (Path(fake) / "cgroup.subtree_control").read_text())
    for f in sorted(g.path.iterdir()):
        print(f"  minicontainer/demo/{f.name:12} {f.read_text()}")

# %% [markdown]
# ## Clean up
#
# The containers of this lesson are gone with their groups (`run` removes a container's group
# when it ends; `minicontainer reset` collects the groups of a runtime that crashed). We remove
# the stopped containers, and check that no group of this lesson is left:

# %%
ids = {c.id for c in container.all_containers(container.default_paths()) if c.name.startswith("lesson03-")}
mc("rm", "-f", "lesson03-hog", "lesson03-grow")
ours = [c.name for c in container.all_containers(container.default_paths()) if c.name.startswith("lesson03-")]
print("containers of this lesson left:", ours)
print("groups of this lesson left:", [n for n in cgroups.names() if n in ids or n == "lesson03-by-hand"])
