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
# **中文摘要 · 第 09 课：容器的一生——它是什么、不是什么，以及它周围的架构**
#
# 中文 Docker 教程用一半的篇幅讲"容器是什么"：容器与虚拟机的区别、镜像/容器/仓库三个概念、Docker 的客户端与
# 守护进程、容器的生命周期。本课在你自己的机器上量一量：容器和主机用的是同一个内核（`uname -r` 一样），
# 启动只要几十毫秒；画出 Docker 的 client → dockerd → containerd → shim → runc 这条链，和 minicontainer
# 没有守护进程、每个容器一个监控进程（像 podman 的 conmon）的设计，比较各自的代价。然后把状态机
# （created → running → exited）打印出来，用 `create`、`start`、`restart` 走一遍；`--restart` 重启策略由容器
# 自己的监控进程执行；数据放在容器层里会随 `rm` 消失，放在数据卷（volume）里才能保留；`cp` 在主机和容器之间复制
# 文件，并拒绝指向容器外的路径。最后指出教程里已经过时的说法（LXC、AUFS、bootfs）。
# 练习 9.1–9.4 都是运行时真正调用的函数：状态转换表、重启决策、挂载点的创建、`cp` 的路径检查。
#
# 本课构建的模块：`minicontainer/state.py`、`minicontainer/restart.py`、`minicontainer/volumes.py`、`minicontainer/cp.py`。

# %% [markdown]
# # 09 · The container's life, and the architecture around it
#
# **The modules this lesson builds: `minicontainer/state.py` (the table of states),
# `minicontainer/restart.py` (restart policies), `minicontainer/monitor.py` (create = prepare,
# start = launch), `minicontainer/volumes.py`, `minicontainer/cp.py`.**
#
# Docker primers spend half their pages on what a container *is*: not a virtual machine; images,
# containers and registries; a client that talks to a daemon; the life of a container from `create`
# to `rm`. This lesson measures each claim on your machine with the runtime you built, and builds
# the last pieces that make `minicontainer` live like a Docker container:
#
# | part | function | what it does |
# |---|---|---|
# | 9.1 | `transition` | move a container's record along the table of states |
# | 9.2 | `should_restart` | Docker's restart policies: start it again? |
# | 9.3 | `mount_point` | make a missing mount point, in the container's own layer |
# | 9.4 | `resolve_in_container` | `cp`'s path check: refuse what points out of the container |
#
# Each is a step the runtime takes. The package's own versions, the reference, are in
# `minicontainer/state.py`, `restart.py`, `rootfs.py` and `cp.py`; `--yours=09` (section 8) runs yours
# in their place.

# %%
from minicontainer.doctor import require

require("root", "pid-ns", "mount-ns", "overlay", "busybox")

# %%
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from minicontainer.exercises import check

MC = str(Path(sys.executable).parent / "minicontainer")


def mc(*args: str) -> str:
    """The `minicontainer` command, as you would type it; its output (stdout and stderr)."""
    done = subprocess.run([MC, *args], capture_output=True, text=True)
    return (done.stdout + done.stderr).strip()


for name in ("lesson09-web", "lesson09-c1", "lesson09-r", "lesson09-a", "lesson09-cp", "lesson09-v1", "lesson09-v2",
             "lesson09-yours"):
    mc("rm", "-f", name)  # (what an interrupted earlier run of this lesson left)

# %% [markdown]
# ## 1. What a container is, and is not
#
# A container is **processes of the host**, each in namespaces of its own (lesson 02), in a cgroup
# (lesson 03), with a root filesystem made of an image's layers (lessons 04-05). There is no other
# machine and no other kernel: the container asks the host's kernel for everything. The primers say
# it; here is the proof, and what it costs:

# %%
host_kernel = os.uname().release
started = time.monotonic()
inside = mc("run", "--rm", "--network", "none", "busybox", "uname", "-r")
took = time.monotonic() - started
print("the host runs      Linux", host_kernel)
print("the container sees Linux", inside)
print("one kernel:", inside == host_kernel)
print("a whole container (start, run `uname -r`, stop, clean up) in under a second:", took < 1.0)

# %% [markdown]
# A **virtual machine** boots a kernel of its own on emulated (or virtualised) hardware, and
# reserves its memory up front. We do not boot one here: the course's VMs seldom have nested
# virtualisation (KVM) and emulation is slow. The figures instead, from documentation and from this
# course's own test VM:
#
# | | starts in | memory it holds | kernel |
# |---|---|---|---|
# | this container | tens of ms (above; `make bench`) | its processes, plus one monitor (section 3) | the host's |
# | Firecracker microVM | ~125 ms to the guest's init (Firecracker's documentation) | < 5 MiB overhead + the guest's RAM | its own |
# | Debian VM under qemu/KVM | seconds | the RAM it is given (GiBs) | its own |
# | the same under qemu without KVM | ~40 s to multi-user (this course's `make test-vm`, shared/VM-NOTES) | 6 GiB given | its own |
#
# What the VM buys is isolation by hardware: a guest kernel bug stays in the guest. A container
# shares the host's kernel, so every kernel bug is shared too; that is why lesson 08's defences
# (capabilities, seccomp, devices) matter.
#
# ## 2. Images, containers, registries; client, daemon... and no daemon
#
# An **image** is a read-only stack of layers and a config (lesson 05); a **container** is an
# image's layers plus a writable layer of its own, and processes (lessons 02-04); a **registry**
# stores and serves images (lesson 06). Docker adds a fourth thing the primers draw: a
# **daemon**. `docker run` is a client that asks `dockerd` over a socket, and four programs sit
# between your command and the container's first process:
#
# ```
#   Docker                                        minicontainer
#   ──────                                        ─────────────
#   docker (CLI) ── REST over /var/run/docker.sock   minicontainer run -d ...   (exits once it runs)
#       │                                                │ forks
#   dockerd   (images, networks, volumes, restarts)     monitor   one per container: waits, logs,
#       │ gRPC                                           │        restarts, cleans up (monitor.py)
#   containerd (images, snapshots, tasks)                │ forks into a new PID namespace
#       │                                                PID 1 = your program (or mc-init with --init)
#   containerd-shim-runc-v2   one per container: holds its stdio, waits, reports the exit
#       │ runs, then exits
#   runc create/start ──> PID 1
# ```
#
# podman is daemonless too: `podman run` starts **conmon** (a small C program, one per container,
# the same job as our monitor) and runc or crun, then exits.
#
# What each design costs:
#
# * **A daemon** knows every container, restarts them at boot (`--restart always`), and keeps
#   networks and volumes in one place. But it is one process that everything depends on (restart
#   dockerd without `live-restore` and every container stops), and its socket is root: anyone who
#   can write to `docker.sock` owns the host.
# * **No daemon**: nothing runs when no container runs, each container is supervised by its own
#   process and a crash takes one container, not all. But the picture of "all containers" is
#   assembled from records on disk at each command (`ps` reads `state.json` files), and nothing
#   starts containers when the machine boots: a restart policy lives as long as the container's
#   monitor (`unless-stopped` and `always` only differ when a daemon restarts).
#
# Our monitor is the one process a detached container keeps on the host. It forks PID 1 itself:
# `unshare(CLONE_NEWPID)` puts its *next child* in a new PID namespace, so no helper process is needed
# between them (one is, for a rootless container, whose user namespace must come first). See:

# %%
cid = mc("run", "-d", "--name", "lesson09-web", "--network", "none", "busybox", "sleep", "600")
c = json.loads(mc("inspect", "lesson09-web"))[0]
monitor, pid1 = c["Minicontainer"]["MonitorPid"], c["State"]["Pid"]
children = Path(f"/proc/{monitor}/task/{monitor}/children").read_text().split()
print("the monitor's children:", ["PID 1" if int(p) == pid1 else "another" for p in children])
print("PID 1 runs:", Path(f"/proc/{pid1}/comm").read_text().strip(), "(the workload itself: no init unless --init)")
pss = sum(int(line.split()[1]) for line in Path(f"/proc/{monitor}/smaps_rollup").read_text().splitlines()
          if line.startswith("Pss:"))
print("the monitor's memory (PSS) is under 16 MiB:", pss < 16 * 1024)

# %% [markdown]
# (`bench/bench_memory.py` measures it for 1 and 50 containers, beside podman's conmon.)
#
# ## 3. The life of a container, as a table
#
# runc, youki and crun write a container's life as a state machine; so does `state.py`. Each row is
# one allowed change; the runtime changes a record only through this table (`state.transition`):

# %%
from minicontainer import state

print(state.describe())

# %% [markdown]
# `run` is `create` then `start`. `minicontainer create` does runc's create: the namespaces, the
# cgroup and the network exist, and PID 1 waits for "go" (its monitor holds it); `start` lets it
# run. An exited container can `start` again: a new PID 1, the same container (its files, its id).

# %%
_ = mc("create", "--name", "lesson09-c1", "--network", "none", "busybox", "sh", "-c", "echo hello from c1")
for step in ("create", "start", "start again"):
    if step != "create":
        mc("start", "-a", "lesson09-c1")
    status = mc("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "lesson09-c1")
    print(f"after {step:12} {status:10} logs: {mc('logs', 'lesson09-c1').splitlines()}")

# %% [markdown]
# **Exercise 9.1**: write `transition(c, event)`: find the table's row for the record's state and
# the event, refuse what the table does not allow, and stamp the time of entering `running` or
# `exited`.

# %%
check("9.1")

# %% [markdown]
# ## 4. Restart policies, without a daemon
#
# `--restart on-failure:2` asks for at most two restarts after a failure; `always` restarts even a
# success; `unless-stopped` too (the difference needs a daemon that restarts). In Docker, dockerd
# applies the policy. Here the container's monitor does: when the workload ends it decides, waits
# (100 ms, doubling up to a minute, as Docker), and runs `prepare` and `launch` again. `stop` and
# `kill` leave a note (`state.STOP_FILE`) that cancels the policy, as Docker's do.

# %%
mc("run", "-d", "--name", "lesson09-r", "--network", "none", "--restart", "on-failure:2", "busybox",
   "sh", "-c", "echo run; exit 3")
deadline = time.monotonic() + 30  # the back-off: 0.1 s, then 0.2 s
while mc("inspect", "-f", "{{.State.Status}}", "lesson09-r") != "exited" and time.monotonic() < deadline:
    time.sleep(0.1)
print(mc("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}", "lesson09-r"))
print(mc("logs", "lesson09-r").split())

# %% [markdown]
# **Exercise 9.2**: write `should_restart(policy, exit_code, restart_count, stopped)`, Docker's rule.

# %%
check("9.2")

# %% [markdown]
# ## 5. Where data lives: the container's layer, or a volume
#
# A container writes into its own layer (its overlay's upper directory, lesson 04): `rm` deletes it.
# A **volume** is a directory the runtime keeps apart (`<lib>/volumes/NAME/_data`, as Docker's
# `/var/lib/docker/volumes`), mounted where the container asks. It outlives every container:

# %%
mc("volume", "create", "lesson09-data")
mc("run", "--name", "lesson09-v1", "--network", "none", "-v", "lesson09-data:/data", "busybox", "sh", "-c",
   "echo in the volume > /data/kept; echo in the layer > /lost")
print("the first container changed:", mc("diff", "lesson09-v1").split("\n"))
mc("rm", "lesson09-v1")
print(mc("run", "--rm", "--network", "none", "-v", "lesson09-data:/data", "busybox", "sh", "-c",
         "cat /data/kept; cat /lost 2>&1"))
print(mc("volume", "rm", "lesson09-data"))

# %% [markdown]
# (`diff` lists the container's layer: `/lost` is there; `/data` is a mount point, and what went into
# the volume is not in the layer at all.)
#
# A mount needs a directory (or file) to mount on. An image made `FROM scratch` has no `/proc`,
# `/dev` or `/sys`; `-v` may name a path no image has. runc creates what is missing; where matters:
# in the image's layers it would change every container of that image (this course's busybox
# rootfs once got a `/www` that way). PID 1 makes mount points in the container's own upper layer,
# and a `--rootfs` directory that lacks one gets an overlay for it. A `FROM scratch` image with one
# static binary:

# %%
import shutil
import tempfile

ctx = Path(tempfile.mkdtemp(prefix="mc-lesson09-"))
shutil.copy2("/bin/busybox", ctx / "busybox")
(ctx / "Dockerfile").write_text('FROM scratch\nCOPY busybox /busybox\nENTRYPOINT ["/busybox"]\n')
_ = mc("build", "-q", "-t", "lesson09-scratch:1", str(ctx))
print(mc("run", "--rm", "--network", "none", "lesson09-scratch:1", "ls", "/"))

# %% [markdown]
# **Exercise 9.3**: write `mount_point(rootfs, target, is_dir)`.

# %%
check("9.3")

# %% [markdown]
# ## 6. `cp`, and the paths a container controls
#
# `docker cp` copies between the host and a container, running or not. The container controls its
# own files, and the runtime is root on the host: a symlink in the container that points at
# `../../../etc` must not make `cp` write into the host's `/etc` (Docker's CVE-2018-15664 raced
# exactly this). `cp` resolves the path as the container sees it and refuses what points out, opens
# what it found one component at a time without following symlinks, and writes with lesson 05's
# safe unpacker.

# %%
mc("run", "-d", "--name", "lesson09-cp", "--network", "none", "busybox", "sh", "-c",
   "mkdir /site; ln -s ../../../../../etc /site/escape; exec sleep 600")
(ctx / "index.html").write_text("copied in\n")
_ = mc("cp", str(ctx / "index.html"), "lesson09-cp:/site/")
print(mc("exec", "lesson09-cp", "cat", "/site/index.html"))
print(mc("cp", str(ctx / "index.html"), "lesson09-cp:/site/escape/"))
print(mc("cp", "lesson09-cp:/../../etc/hostname", str(ctx)))

# %% [markdown]
# **Exercise 9.4**: write `resolve_in_container(root, path)`, the check behind both refusals.

# %%
check("9.4")

# %% [markdown]
# ## 7. Where the primers are out of date
#
# * **"Docker uses LXC."** It did until 2014: Docker 0.9 replaced LXC with its own library,
#   *libcontainer* (Go), which became **runc** when Docker gave it to the Open Container Initiative
#   in 2015. runc is what containerd runs today, and what `minicontainer oci` stands in for (lesson 10).
# * **"Images are AUFS layers."** AUFS was never in the mainline kernel. Docker moved to
#   **overlay2** (overlayfs, in the kernel since 3.18) and removed the AUFS driver in Docker 24:
#   lesson 04 mounts exactly that.
# * **"A container has a bootfs (kernel, bootloader) and a rootfs."** An image has no kernel and
#   nothing boots: section 1's `uname -r` shows the host's. The "bootfs" of old drawings was LXC's
#   picture of a Linux system, not something a container has.
# * **"The Docker daemon runs your containers."** It asks containerd, which asks a shim to run runc;
#   with `live-restore` the containers outlive a daemon restart. And runtimes without a daemon
#   (podman, minicontainer) run the same images.
# * **"`docker run -p` needs `--network bridge`"**: Docker's default network *is* the bridge, and so
#   is ours since this lesson (`--network none` for a container with only `lo`).

# %% [markdown]
# ## 8. Your runtime
#
# Your four functions are steps the runtime takes (`minicontainer/state.py`, `restart.py`, `rootfs.py`
# and `cp.py` keep the runtime's own): your `transition` moves every record (create, start, each restart,
# the exit), your `should_restart` answers the monitor when a workload ends, your `mount_point` makes
# /proc, /dev, /sys and every `-v` and `--tmpfs` target in PID 1, and your `resolve_in_container` judges
# both ends of each `cp`. With `--yours=09`:

# %%
print(mc("--yours=09", "run", "--name", "lesson09-yours", "--restart", "on-failure:2", "--tmpfs", "/scratch",
         "busybox", "sh", "-c", "echo run, with $(ls -d /scratch); exit 3"))
print(mc("--yours=09", "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}, restarts: {{.RestartCount}}",
         "lesson09-yours"))
print(mc("--yours=09", "cp", "lesson09-yours:/../../etc/hostname", str(ctx)))

# %% [markdown]
# The milestone: your runtime creates and starts a container, restarts an `on-failure:2` one exactly
# twice, keeps a file across `rm` only in a named volume (mounted on a directory busybox lacks), and
# `cp` copies out of a container but refuses a path that leaves it.

# %%
from minicontainer.exercises import milestone

milestone("09")

# %% [markdown]
# ## 9. Clean up

# %%
for name in ("lesson09-web", "lesson09-c1", "lesson09-r", "lesson09-cp", "lesson09-yours"):
    mc("rm", "-f", name)
mc("rmi", "lesson09-scratch:1")
shutil.rmtree(ctx)
left = [c for c in mc("ps", "-a", "--no-trunc").splitlines()[1:] if "lesson09-" in c]
print("containers of this lesson left:", left, "| volume left:", "lesson09-data" in mc("volume", "ls", "-q"))

# %% [markdown]
# **What you built:** the table of a container's states and the commands that walk it (`create`,
# `start`, `restart`, `stop`, `rm`), restart policies kept by the container's own monitor, mount points
# in the container's layer, volumes that outlive containers, and a `cp` that a container cannot
# aim at the host. Next, **10 · the OCI runtime**: `config.json` bundles, and podman driving this
# runtime as it drives runc.
