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
# **中文摘要 · 第 02 课：命名空间、1 号进程与 exec**
#
# 命名空间让一组进程拥有自己的主机名（UTS）、进程号（PID）、挂载表、网络、IPC、用户和 cgroup 视图。
# 本课逐个创建它们：容器里的第一个进程是 PID 1，它要回收僵尸进程、转发信号；挂载命名空间让主机的挂载消失；
# 用户命名空间让容器里的 root 在主机上只是普通用户。再用 `setns` 实现 `exec`（进入正在运行的容器），
# 最后把这一切组合成 `minicontainer run`。对应教程“底层实现：命名空间”“安全：内核命名空间”和“操作容器：进入容器”。
#
# 本课构建的模块：`minicontainer/namespaces.py`；它周围的运行时依次读 `container.py`、`spawn.py`、`process.py`、`monitor.py`、`state.py`。

# %% [markdown]
# # 02 · Namespaces: an isolated process, PID 1, and `exec`
#
# **The module this lesson builds: `minicontainer/namespaces.py`.** The runtime around it, read in this order:
# `container.py` (run: validate, create), `spawn.py` (the helper and its handshake), `process.py` (PID 1
# and the workload), `monitor.py` (waiting, tearing down) and `state.py` (the record and its states).
#
# In lesson 01 a process got its own `/`. It could still see every process of the host, change
# the host's hostname, and reach the host's network. **Namespaces** close those doors one by one:
# each wraps one global resource of the kernel so that the processes inside see their own copy.
#
# By the end of this lesson `minicontainer run` starts a real isolated process, and you will have
# written the core pieces yourself (in `exercises/02-namespaces.py`):
#
# | part | function | what it does |
# |---|---|---|
# | 2.1 | `new_hostname` | a UTS namespace with its own hostname |
# | 2.2 | `mount_proc` | a `/proc` that shows only the container's processes |
# | 2.3 | `reap` | the job of PID 1: reap orphans, report the workload's status |
# | 2.4 | `join_namespace` | `setns`, the heart of `minicontainer exec` |
# | 2.5 | `namespace_flags` | the flags `unshare` takes for a list of namespaces |

# %%
from minicontainer.doctor import require

require("root", "mount-ns", "uts-ns", "ipc-ns", "pid-ns", "net-ns", "user-ns", "busybox")

# %% [markdown]
# ## 1. What a namespace is
#
# Every process belongs to exactly one namespace of each type. `/proc/PID/ns/` has one entry per
# type; the number in brackets is the namespace's inode. **Two processes share a namespace
# exactly when these numbers are equal.** Here are this notebook's:

# %%
import os

for name in sorted(os.listdir("/proc/self/ns")):
    if not name.endswith("_for_children"):
        print(f"{name:7} {os.readlink(f'/proc/self/ns/{name}')}")

# %% [markdown]
# Three system calls work with namespaces:
#
# * `unshare(flags)` moves the caller into new namespaces (one `CLONE_NEW*` flag per type);
# * `setns(fd)` joins an existing namespace through an open `/proc/PID/ns/*` file;
# * `clone(flags)` creates a child directly inside new namespaces.
#
# One warning before we start. This notebook's kernel has several threads, and namespaces belong
# to threads: `unshare(CLONE_NEWNS)` here would move one thread only, and `CLONE_NEWUSER` fails
# outright (EINVAL). So all namespace work happens in **fresh helper processes**. The checks of
# your exercises run in one; the demonstrations use the `unshare` command and our runtime.
#
# **Exercise 2.5** (a warm-up): write `namespace_flags(names)`, the flags for a list of names.

# %%
from minicontainer.exercises import check

check("2.5")

# %% [markdown]
# ## 2. UTS: a hostname of its own
#
# The UTS namespace holds the hostname (and the NIS domain name: "UTS" is the `struct utsname`
# that `uname` returns). In a new one, changing the hostname changes nothing outside:

# %%
import socket

host_name_before = socket.gethostname()
# !unshare --uts /bin/busybox sh -c 'hostname box; echo "inside: $(hostname)"'
print("outside, unchanged:", socket.gethostname() == host_name_before)

# %% [markdown]
# **Exercise 2.1**: write `new_hostname(name)`: `unshare(CLONE_NEWUTS)`, then `sethostname`.
# The check runs it in a child process and verifies the host's hostname did not move.

# %%
check("2.1")

# %% [markdown]
# ## 3. PID: the first process is PID 1
#
# A new PID namespace numbers its processes from 1. `unshare(CLONE_NEWPID)` is special: the
# caller stays where it is, and its **next child** becomes PID 1 of the new namespace. (That is
# why our runtime has a *helper* that unshares, then forks PID 1.)
#
# `ps` reads `/proc`, so a PID namespace also needs its own `/proc`, mounted from inside it:

# %%
# !unshare --pid --fork --mount-proc /bin/busybox sh -c 'echo "my PID is $$"; /bin/busybox ps -o pid,comm'

# %% [markdown]
# **Exercise 2.2**: write `mount_proc(rootfs)`: mount a new procfs on `rootfs/proc` with
# `nosuid`, `nodev` and `noexec` (a container has no business running programs from /proc).

# %%
check("2.2")

# %% [markdown]
# ### PID 1 has two extra duties
#
# 1. **Orphans.** When a process exits, its children are re-parented to PID 1 of their
#    namespace. When they exit, they stay *zombies* until PID 1 calls `wait()` for them.
# 2. **Signals.** The kernel delivers to PID 1 only the signals it has a handler for. A shell
#    or a server that never expected to be PID 1 may ignore `SIGTERM`, so `stop` would hang.
#
# Many programs are not written to be PID 1, so runtimes can put a small *init* there (Docker's
# `--init`, tini). Ours is on by default: `mc-init` forwards SIGTERM/SIGINT/SIGHUP to the
# workload, reaps every child, and exits with the workload's status.
#
# See the difference. Without init, `sleep` is PID 1 and never waits for anyone: the orphan
# `sleep 0.3` stays a zombie (`Z`). `minicontainer exec` runs `ps` inside the container:

# %%
import sys

MC = f"{sys.executable} -m minicontainer"  # the `minicontainer` command of this environment

# !{MC} run -d --name no-init --no-init busybox sh -c '(sleep 0.3 &); exec sleep 30' > /dev/null
# !{MC} run -d --name with-init busybox sh -c '(sleep 0.3 &); exec sleep 30' > /dev/null
# !sleep 1.5
# !echo "without init:"; {MC} exec no-init ps -o pid,stat,comm
# !echo "with init:"; {MC} exec with-init ps -o pid,stat,comm
# !{MC} rm -f no-init with-init > /dev/null

# %% [markdown]
# **Exercise 2.3**: write `reap(workload)`, the loop of PID 1: wait for any child; if it is the
# workload, return its status the way a shell shows it (`128 + signal` when it was killed).

# %%
check("2.3")

# %% [markdown]
# ## 4. Mount: the host's mounts disappear
#
# A new mount namespace starts as a *copy* of the parent's mount table. Two more steps make it
# the container's own:
#
# * `mount --make-rprivate /`: otherwise new mounts may propagate back to the host (systemd
#   makes `/` shared);
# * `pivot_root` into the rootfs and detach the old root (lesson 01).
#
# Then the runtime mounts what a Linux program expects: `/proc`, a minimal `/dev` (a tmpfs with
# `null`, `zero`, `full`, `random`, `urandom`, `tty`, a private `devpts`, `shm`, `mqueue`),
# `/sys` read-only, its own cgroup at `/sys/fs/cgroup` (lesson 03), and it hides `/proc/kcore`,
# `/proc/keys` and friends as runc does (lesson 08). These are the mount points the container sees:

# %%
import minicontainer

from minicontainer.rootfs import MASKED_PATHS, READONLY_PATHS

LIST_MOUNTS = (
    "m=$(cut -d' ' -f5 /proc/self/mountinfo | sort); "
    # every mount point, but one line for the masked /proc and /sys paths (which exist depends on the kernel)
    # and for /sys/fs/cgroup's own mounts (one per v1 hierarchy, or a single v2 tree)
    "echo $(echo \"$m\" | grep -v -e '^/proc/.' -e '^/sys/firmware' -e '^/sys/fs/cgroup/.'); hidden=yes; "
    f"for p in {' '.join(MASKED_PATHS + READONLY_PATHS)}; do "
    "  if [ -e $p ] && ! echo \"$m\" | grep -qx $p; then echo \"not hidden: $p\"; hidden=no; fi; done; "
    "echo \"every masked or read-only path this kernel has is covered: $hidden\"")
c = minicontainer.run("busybox", "sh", "-c", LIST_MOUNTS)

# %% [markdown]
# All of them live in the container's mount namespace: when its last process exits, the kernel
# unmounts them. The host's mount table never changes (the tests run 50 containers, some of them
# killed, and compare `/proc/self/mountinfo` byte for byte).
#
# ## 5. Network, IPC, cgroup: more private copies
#
# A new network namespace has only `lo`, and it is down (our PID 1 brings it up). Lesson 07 adds
# a virtual cable to the host.

# %%
c = minicontainer.run("busybox", "sh", "-c", "ls /sys/class/net; ping -c 1 -W 1 127.0.0.1 > /dev/null && echo lo works")

# %% [markdown]
# The IPC namespace gives the container its own System V semaphores and message queues, and the
# cgroup namespace makes the container's own cgroup look like the root `/` (lesson 03):

# %%
c = minicontainer.run("busybox", "sh", "-c", "echo the container is in: $(cut -d: -f3 /proc/self/cgroup | sort -u)")

# %% [markdown]
# ## 6. User: root inside, nobody outside
#
# A user namespace maps user IDs. Written by the parent into `/proc/PID/uid_map`, a line
# `0 1000 1` means "uid 0 inside is uid 1000 outside". The process is root in its namespaces
# (it may mount, set the hostname...) but the host sees an ordinary user: files of the host's
# root stay out of reach. This is how `minicontainer run` works when you are not root (*rootless*
# mode; there are no cgroup limits then, and the runtime says so):

# %%
from minicontainer.namespaces import rootless_maps

uid_maps, gid_maps = rootless_maps(uid=1000, gid=1000)
print("uid_map:", uid_maps[0].line(), "gid_map:", gid_maps[0].line(), end="")

# %% [markdown]
# ## 7. `exec`: joining a running container
#
# `minicontainer exec` opens the container's `/proc/PID/ns/*` files and calls `setns` on each
# (user first, mount last), then forks, because joining a PID namespace, like creating one,
# applies to the children. The new process sees what the container sees:

# %%
# !{MC} run -d --name web --hostname web busybox sh -c 'exec sleep 300' > /dev/null
# !{MC} exec web sh -c 'echo "hostname: $(hostname)"; ps -o pid,comm'

# %% [markdown]
# **Exercise 2.4**: write `join_namespace(pid, name)`.

# %%
check("2.4")

# %% [markdown]
# ## 8. The namespace explorer
#
# The host and the container side by side: which namespaces they share (only `user`, when you
# run as root) and the container's processes as each side numbers them. `show(pid)` draws the
# same as a widget with a Refresh button (opened before it runs, the notebook shows a picture of it).

# %%
from minicontainer import container
from minicontainer.widgets.namespaces import render_text, show

web = container.find(container.default_paths(), "web")
print(render_text(web.pid))

# %%
show(web.pid)  # Refresh reads /proc again; after the clean-up below it says the container has exited

# %% [markdown]
# ## 9. All together: `minicontainer.run`
#
# `run` is the whole lesson in one call: a helper unshares the namespaces, PID 1 waits until the
# runtime has placed it (cgroups, network), mounts the rootfs, pivots, names the host, starts the
# workload and reaps. The exit status comes back to you:

# %%
c = minicontainer.run("busybox", "sh", "-c", "echo I am $(id -un) on $(hostname) as PID $$; exit 3",
                      hostname="lesson02", init=False)
print("exit code:", c.exit_code)

# %% [markdown]
# ## 10. Why `run` starts fast
#
# `runc run` starts a container in about 30 ms. A Python interpreter alone needs about 8 ms
# (`python -I -S`, without site-packages: that is what the `minicontainer` command starts), and
# every `import` adds to it: `import json` looks free, but it imports `re`, which imports `enum`,
# `functools` and `collections`, about 5 ms together. So the modules on the way of `run` import only
# small ones (paths are strings and `os.path`, JSON goes through `quickjson`, flags through
# `flags.py`), and what PID 1 needs is imported before the fork. The whole `run --rm busybox true`
# then takes less time than runc's (`make bench` measures both, side by side).
#
# What does a fresh interpreter load for a few imports, and for a whole `run`?

# %%
import subprocess
import sys

from minicontainer.paths import repo_root

HEAVY = ("re", "enum", "functools", "collections", "json", "pathlib", "argparse", "typing")


def heavy_modules_after(code: str) -> list[str]:
    """The heavier standard modules a fresh `python -I -S` has loaded after running `code`."""
    probe = f"import sys; sys.path.insert(0, {str(repo_root())!r})\n{code}\nprint(*[m for m in {HEAVY!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-I", "-S", "-c", probe], capture_output=True, text=True, check=True)
    return done.stdout.split()


print("import json         ->", heavy_modules_after("import json"))
print("import pathlib      ->", heavy_modules_after("import pathlib"))
print("minicontainer run   ->", heavy_modules_after("from minicontainer.cli import main; main(['run', '--rm', 'busybox', 'true'])"))

# %% [markdown]
# ## Clean up
#
# Remove the container we left running. (`minicontainer reset` removes everything the course made.)

# %%
# !{MC} rm -f web > /dev/null
ours = [c.name for c in container.all_containers(container.default_paths()) if c.name in ("web", "no-init", "with-init")]
print("containers of this lesson left:", ours)
