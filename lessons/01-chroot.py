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
# **中文摘要 · 第 01 课：chroot，给进程换一个根**
#
# 容器首先是一个“看到不同的 `/`”的进程。本课用一个静态编译的 busybox 搭出最小的根文件系统（rootfs），
# 用 `chroot` 在里面运行进程；然后亲眼看到 root 用户怎样逃出 chroot，再在私有的挂载命名空间里用
# `pivot_root` 把这个漏洞堵上。对应教程“基本概念：镜像”（根文件系统）和“底层实现：基本架构”。
#
# 本课构建的模块：`minicontainer/rootfs.py`。

# %% [markdown]
# # 01 · chroot: another root for a process
#
# **The module this lesson builds: `minicontainer/rootfs.py`** (the escape demos live beside it in `chroot.py`).
#
# A container is, first of all, a process that sees a different `/`. In this lesson you build a
# tiny root filesystem from a single static binary (busybox), run a process inside it with
# `chroot`, watch root break out of it, and then fix the hole with `pivot_root` — the call every
# real runtime (runc, crun, youki) uses.
#
# What you will write (in `exercises/01-chroot.py`):
#
# | part | function | what it does |
# |---|---|---|
# | 1.1 | `make_applet_links` | one symlink per busybox applet |
# | 1.2 | `write_users` | `/etc/passwd` and `/etc/group` |
# | 1.3 | `enter_chroot` | chroot + chdir |
# | 1.4 | `escape_chroot` | the classic chroot escape |
# | 1.5 | `pivot_into` | pivot_root, the fix |

# %%
from minicontainer.doctor import require

require("root", "mount-ns", "busybox")

# %% [markdown]
# ## 1. A process's view of the filesystem
#
# The kernel keeps, for every process, a *root directory* and a *current directory*. Path lookups
# that start with `/` begin at the root. `/proc/PID/root` shows a process's root: for us, it is the
# host's `/`.

# %%
import os

print("my root is", os.readlink("/proc/self/root"))
print("my cwd is ", os.readlink("/proc/self/cwd").replace(os.getcwd(), "<this notebook's directory>"))

# %% [markdown]
# ## 2. Build a root filesystem
#
# Debian's `busybox-static` is one statically linked binary that contains ~270 small programs
# ("applets": `sh`, `ls`, `ps`, `mount`, ...). It decides which one to be from the name it was
# started as, so `/bin/ls -> /bin/busybox` is all `ls` needs. Ask it for its applets:

# %%
from minicontainer.rootfs import busybox_applets, find_busybox

applets = busybox_applets(find_busybox())
print(len(applets) > 200, applets[:6])

# %% [markdown]
# A root filesystem is just a directory that looks like `/`: the binary, one link per applet, a
# few files in `/etc`, and empty directories where `/proc`, `/dev` and `/sys` will be mounted later.
# **Exercise 1.1**: write `make_applet_links(rootfs, applets)` in `exercises/01-chroot.py`.
# **Exercise 1.2**: write `write_users(rootfs, users)`. Then check them:

# %%
from minicontainer.exercises import check

check("1.1")
check("1.2")

# %% [markdown]
# The package's version of these steps is `minicontainer.rootfs.build_busybox_rootfs`. It builds
# into a temporary directory and renames it into place at the end, so a half-built tree never
# shows. We build one for this lesson in a scratch directory (removed at the end):

# %%
import tempfile
from pathlib import Path

from minicontainer.rootfs import build_busybox_rootfs

scratch = Path(tempfile.mkdtemp(prefix="mc-lesson01-"))
rootfs = build_busybox_rootfs(scratch / "rootfs")
print(sorted(os.listdir(rootfs)))
print((rootfs / "etc" / "passwd").read_text())

# %% [markdown]
# ## 3. chroot
#
# `chroot(path)` changes the root directory of the calling process. It must be done in a *fresh
# child process*: it would change this notebook's kernel otherwise. `run_in_chroot` starts a small
# helper that calls `chroot(rootfs)`, `chdir("/")` and then `exec`s the command:

# %%
from minicontainer.chroot import run_in_chroot

out = run_in_chroot(rootfs, ["/bin/sh", "-c", "echo I am $(id -un); ls /"])
print(out.stdout)

# %% [markdown]
# The process sees only the busybox tree: `ls /` lists the rootfs, and `id -un` found `root` in
# *our* `/etc/passwd`. Note the `chdir("/")`: chroot alone leaves the current directory where it
# was, outside the new root. **Exercise 1.3**: write `enter_chroot(rootfs)`.

# %%
check("1.3")

# %% [markdown]
# ## 4. The escape
#
# chroot was never meant as a security boundary. It changes where lookups of `/` start, nothing
# more, and a root process may call it again. The classic escape:
#
# 1. `mkdir /x; chroot("/x")` — the root moves down into `/x`, but the current directory stays
#    where it was, which is now *above* the root;
# 2. `chdir("..")` many times — nothing stops us, because we never pass through our root on the
#    way up; at the host's real root, `..` is the root itself;
# 3. `chroot(".")` — the host's root is our root again.
#
# `look_from(mode, rootfs, escape)` runs a helper set up as asked and reports what its `/` is.
# We compare `/` by device and inode number with directories of the host:

# %%
from minicontainer.chroot import look_from

inside = look_from("chroot", rootfs)
print("chrooted:         / is the rootfs:", inside.is_directory(rootfs))
escaped = look_from("chroot", rootfs, escape=True)
print("after the escape: / is the rootfs:", escaped.is_directory(rootfs), "| / is the host's /:", escaped.is_directory("/"))

# %% [markdown]
# **Exercise 1.4**: write `escape_chroot()` yourself. (The check runs it in a forked child inside
# a chroot of a scratch rootfs, and looks at where `/` ends up.)

# %%
check("1.4")

# %% [markdown]
# ## 5. The fix: pivot_root in a private mount namespace
#
# `pivot_root(new_root, put_old)` does not move a process: it swaps the root *mount* of the whole
# mount namespace, and moves the old root to `put_old`, where we can unmount it. After that the
# host's tree is not reachable by any path, `..` included. The steps (the package keeps them in
# `minicontainer.rootfs.pivot_into`):
#
# 1. `unshare(CLONE_NEWNS)` and make every mount private, so nothing we do is seen by the host;
# 2. bind-mount `new_root` onto itself — pivot_root wants a mount point, not a plain directory;
# 3. `pivot_root(new_root, new_root/.old-root)` and `chdir("/")`;
# 4. `umount2("/.old-root", MNT_DETACH)` and remove the directory.
#
# Forget step 2 and the kernel refuses, with an error the package explains:

# %%
from minicontainer import syscalls

(rootfs / "old").mkdir()
try:
    syscalls.pivot_root(str(rootfs), str(rootfs / "old"))
except syscalls.SyscallError as exc:
    # (the error is EBUSY on recent kernels and EINVAL on older ones, such as Debian 12's 6.1: same cause)
    print(f"{exc.call.replace(str(rootfs), 'ROOTFS')} failed: {'EBUSY or EINVAL' if exc.errno in (16, 22) else exc.strerror}")
    print("Fix:", exc.fix)

# %% [markdown]
# (That call ran in the notebook's own process: safe only because it is bound to fail, as `rootfs`
# is no mount point. The real steps run in a helper.) Now the same escape, tried after a pivot:

# %%
pivoted = look_from("pivot", rootfs, escape=True)
print("pivoted + escape: / is the rootfs:", pivoted.is_directory(rootfs), "| / is the host's /:", pivoted.is_directory("/"))

# %% [markdown]
# The escape climbed `..` as before, but the top of this mount namespace *is* the rootfs: the host's
# root was unmounted in step 4. **Exercise 1.5**: write `pivot_into(new_root)`; its checks verify
# that `/` is the rootfs, `/.old-root` is gone, and the escape no longer reaches the host.

# %%
check("1.5")

# %% [markdown]
# A whole run, the way lesson 02 builds on it: a process pivoted into the rootfs, in its own mount
# namespace. It cannot even see `/proc` yet — mounting it is the first thing lesson 02 does.

# %%
from minicontainer.chroot import run_pivoted

print(run_pivoted(rootfs, ["/bin/sh", "-c", "echo in $(pwd); ls /proc | wc -l"]).stdout)

# %% [markdown]
# ## 6. Clean up
#
# The pivot happened in a mount namespace that died with its helper process, so nothing stayed
# mounted. We check that and remove the scratch rootfs:

# %%
import shutil

mounted = [line for line in open("/proc/self/mountinfo") if str(scratch) in line]
print("mounts left:", len(mounted))
shutil.rmtree(scratch)
print("scratch removed:", not scratch.exists())

# %% [markdown]
# **What you built:** a root filesystem, a chrooted process, the escape, and the pivot_root fix.
# Next, **02 · namespaces**: the process gets its own PIDs, hostname, mounts and network.
