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
# **中文摘要 · 第 04 课：联合文件系统，每个容器一个写时复制的根**
#
# 镜像由多个只读层叠成，容器在最上面得到一层可写层：这就是联合文件系统（Linux 的 overlayfs）。
# 本课手工做两层并挂载，观察写时复制（copy-up）、删除标记（whiteout）和不透明目录，看重命名和硬链接的行为；
# 再用纯 Python 的模型算出合并后的目录树并和内核对比，用 `diff` 看容器改了什么，最后给每个容器挂一个自己的根。
# 对应教程“底层实现：联合文件系统”以及“基本概念”里镜像的分层存储和容器存储层。
#
# 本课构建的模块：`minicontainer/unionfs.py`。

# %% [markdown]
# # 04 · Union filesystems: a copy-on-write root for every container
#
# **The module this lesson builds: `minicontainer/unionfs.py`** (its merge rules in plain Python: `unionmodel.py`).
#
# Ten containers of the same image must not need ten copies of it, and no container may change the
# image for the others. Images are therefore made of read-only **layers**, stacked, and each
# container gets its own thin writable layer on top. The kernel's **overlayfs** shows the stack as
# one tree; writing copies a file up into the container's layer (**copy-up**), deleting leaves a
# mark (a **whiteout**). In this lesson you build two layers by hand, mount them, watch what lands
# in the writable layer, and then write the merge rules in plain Python and check them against the
# kernel.
#
# What you will write (in `exercises/04-union-filesystems.py`):
#
# | part | function | what it does |
# |---|---|---|
# | 4.1 | `overlay_options` | the mount options: layers highest first |
# | 4.2 | `merge` | the union view, without mounting |
# | 4.3 | `predict_upper` | what a sequence of writes and deletes leaves in the upper dir |
# | 4.4 | `deleted_paths` | the whiteouts of an upper dir: what `commit` must delete |

# %%
from minicontainer.doctor import require

require("root", "mount-ns", "overlay")

# %% [markdown]
# ## 1. Two layers by hand
#
# A layer is just a directory. The *base* layer has a small `/etc` and a `/data` directory; the
# *update* layer changes one file, adds one, and deletes one. To delete a file of a lower layer, a
# layer holds a **whiteout**: a character device with device number 0/0 at the same path
# (`mknod old.conf c 0 0`).

# %%
import os
import stat
import tempfile
from pathlib import Path

from minicontainer import unionmodel

scratch = Path(tempfile.mkdtemp(prefix="minicontainer-lesson04-"))
base, update = scratch / "layers" / "base", scratch / "layers" / "update"
for path, text in {"etc/passwd": "root:x:0:0\n", "etc/motd": "hello from base\n", "etc/old.conf": "old\n",
                   "data/a": "a\n", "data/b": "b\n"}.items():
    (base / path).parent.mkdir(parents=True, exist_ok=True)
    (base / path).write_text(text)
(update / "etc").mkdir(parents=True)
(update / "etc/motd").write_text("hello from update\n")
(update / "etc/new.conf").write_text("new\n")
unionmodel.make_whiteout(update / "etc/old.conf")


def show(root: Path) -> None:
    """Like `ls -lR`, without dates: mode, size (or device number), path."""
    for path, e in unionmodel.scan(root).items():
        st = os.lstat(e.source)
        size = f"{os.major(st.st_rdev)}, {os.minor(st.st_rdev)}" if e.kind == "other" else str(st.st_size if e.kind == "file" else "")
        xattr = "  (opaque)" if e.kind == "dir" and unionmodel.is_opaque(e.source) else ""
        print(f"{stat.filemode(st.st_mode)} {size:>5}  {path}{xattr}")


print("base:"); show(base)
print("update:"); show(update)

# %% [markdown]
# ## 2. Mount them
#
# `mount -t overlay` takes the layers in `lowerdir` — **highest first**, separated by `:` — plus
# an `upperdir` (the container's writable layer) and a `workdir` (overlay's scratch space, on the
# same filesystem as the upper dir). Image manifests list layers the other way round, base first,
# and so does this package: `layers[0]` is the base.
#
# **Exercise 4.1**: write `overlay_options(lowers, upper, work)`.

# %%
from minicontainer.exercises import check

check("4.1")

# %% [markdown]
# `minicontainer.unionfs.mount_rootfs(layers, container_dir)` makes `rootfs/` (the merged tree,
# the container's `/`), `upper/` and `work/` in the container's directory, mounts, and returns an
# object that unmounts it (`with` or `.unmount()`):

# %%
from minicontainer import unionfs

c1 = unionfs.mount_rootfs([base, update], scratch / "c1", driver="overlay")
print(c1.options.replace(str(scratch), "SCRATCH"))
show(c1.target)

# %% [markdown]
# The update's `motd` won, `new.conf` appeared, `old.conf` is gone, and the base's `passwd` and
# `data/` show through. The upper dir is still empty: nothing was written yet.

# %%
print("upper:", os.listdir(c1.upper))

# %% [markdown]
# ## 3. Copy-up and whiteouts
#
# Now act like a process in the container: append to `passwd`, create a file, delete one.

# %%
with open(c1.target / "etc/passwd", "a") as f:
    f.write("learner:x:1000:1000\n")
(c1.target / "hello.txt").write_text("hi\n")
os.unlink(c1.target / "data/a")
print("upper:"); show(c1.upper)
print("the base layer still has:", (base / "etc/passwd").read_text().splitlines(), sorted(os.listdir(base / "data")))

# %% [markdown]
# Writing to `passwd` first **copied it up**: the whole file (and its parent directory `etc`) now
# sits in the upper dir, and the write went there. Deleting `data/a` left a whiteout, shown by `ls -l` as
# `c---------  0, 0`. The layers did not change at all. (Copying up copies the *whole* file: append
# one byte to a 1 GB file and overlay copies 1 GB first. Databases belong in volumes.)
#
# Deleting a whole directory and creating it again must not bring back the old files. overlay
# marks the new directory **opaque** (xattr `trusted.overlay.opaque="y"`): nothing below it shows.

# %%
import shutil

shutil.rmtree(c1.target / "data")
(c1.target / "data").mkdir()
print("merged data/:", os.listdir(c1.target / "data"))
print("xattr:", os.getxattr(c1.upper / "data", "trusted.overlay.opaque"))
show(c1.upper)

# %% [markdown]
# **Exercise 4.3**: predict the upper dir after a sequence of operations, then the check runs the
# same operations on a real overlay and compares. Rules: writing copies the file and its parent
# directories up; deleting something the layers have leaves a whiteout; deleting something only
# the container made just removes it; `mkdir` over a whiteout makes an opaque directory.

# %%
check("4.3")

# %% [markdown]
# ## 4. Renames and hard links
#
# Renaming a file of a layer works (copy-up, then the rename in the upper dir, plus a whiteout at
# the old name). Renaming a *directory* of a layer would need to copy the whole tree, so by default
# overlay refuses with `EXDEV` ("cross-device link") — the same error as a rename between two
# filesystems — and `mv` falls back to copying. (The `redirect_dir=on` option makes it work.)

# %%
import errno

(c1.target / "etc/motd").rename(c1.target / "etc/motd.old")
try:
    os.rename(c1.target / "etc", c1.target / "etc2")
except OSError as exc:
    print("rename of a layer directory:", errno.errorcode[exc.errno])
shutil.move(str(c1.target / "etc"), str(c1.target / "etc2"))  # what `mv` does: copy, then delete
print(sorted(os.listdir(c1.target)))

# %% [markdown]
# Hard links are per file, and copy-up copies one name: if a layer has two names for one file and
# the container writes through one, the other still shows the layer's old content (the link is
# "broken"; `index=on` keeps it, at a cost).

# %%
os.link(base / "data/b", base / "data/b-link")        # two names for one file, in the base layer
c2 = unionfs.mount_rootfs([base, update], scratch / "c2", driver="overlay")
(c2.target / "data/b").write_text("changed\n")
print("b:", (c2.target / "data/b").read_text().strip(), "  b-link:", (c2.target / "data/b-link").read_text().strip())
c2.unmount()

# %% [markdown]
# ## 5. The merge rules in Python
#
# overlay's rules fit in a few lines: apply the layers base first; a whiteout deletes the path and
# everything under it; a directory over a directory merges unless it is opaque; anything else
# replaces what was there. **Exercise 4.2**: write `merge(layers)` returning `{path: layer index}`.

# %%
check("4.2")

# %% [markdown]
# The package's model is `minicontainer.unionmodel.merge`: it also records which lower layers each
# path *shadows* and which paths whiteouts hid. The tests compare it with the kernel on hundreds of
# random stacks (hypothesis); here is one comparison, on a fresh mount of our two layers:

# %%
tree = unionmodel.merge([base, update])
with unionfs.mount_rootfs([base, update], scratch / "c3") as c3:
    same = unionmodel.snapshot(unionmodel.scan(c3.target)) == unionmodel.snapshot(tree.entries)
print("model equals kernel:", same)
for path, e in tree.entries.items():
    print(f"{path:<14} from layer {e.layer}" + (f", shadows layer {e.shadows}" if e.shadows else ""))
print("whiteouts:", [(r.path, r.layer) for r in tree.removals])

# %% [markdown]
# ## 6. What did the container change?
#
# The upper dir *is* the container's changes: `docker diff` and `docker commit` just read it.
# Every whiteout is a deletion, every other entry an addition (new path) or a change (the layers
# have it). **Exercise 4.4**: write `deleted_paths(upper)`.

# %%
check("4.4")

# %%
print("\n".join(c1.diff().lines()))

# %% [markdown]
# ## 7. Many layers, and hosts without overlay
#
# `mount(2)` accepts at most one page (4096 bytes) of options. A store that names each layer by
# its digest, `.../layers/sha256/<64 hex digits>/diff`, runs out of room at a few dozen layers.
# Docker and containerd give each layer a short name — a symlink `l/0`, `l/1`, ... — and mount from
# inside that directory with relative paths. `mount_rootfs` does the same when it must (in a
# short-lived child process, because the current directory belongs to the whole notebook kernel):

# %%
many = []
for i in range(40):
    layer = scratch / "layers" / "sha256" / f"{i:064x}" / "diff"
    (layer / "etc").mkdir(parents=True)
    (layer / "etc/version").write_text(f"{i}\n")
    many.append(layer)
print("options with full paths:", len(unionfs.overlay_options(many, scratch / "u", scratch / "w")), "bytes")
with unionfs.mount_rootfs(many, scratch / "c40") as c40:
    print("options used:", c40.options[:60], "...", len(c40.options), "bytes")
    print("etc/version:", (c40.target / "etc/version").read_text().strip())

# %% [markdown]
# Two more limits: the upper dir cannot live on an overlay itself (a container inside a container),
# so `mount_rootfs` then puts upper and work on a small tmpfs; and a host without overlayfs gets the
# **copy** driver (Docker's `vfs`): the merged tree copied into a plain directory. Same view, but
# every container start copies the whole image (see `bench/bench_unionfs.py`).

# %%
with unionfs.mount_rootfs([base, update], scratch / "copy", driver="copy") as copied:
    print("copy driver shows the same tree:",
          unionmodel.snapshot(unionmodel.scan(copied.target)) == unionmodel.snapshot(tree.entries))

# %% [markdown]
# ## 8. Which layer gives each file?
#
# The layer visualiser shows, for a stack or a running container, which layer provides each path,
# which lower copies it shadows, and what whiteouts removed, with the bytes each layer contributes.
# Here: the course's busybox image with our two layers on top, as text, then as a widget you can
# filter (it shows one page at a time, so it stays quick on an image of thousands of files).

# %%
from minicontainer.paths import Paths
from minicontainer.widgets.layers import layer_view, render_text

busybox = Paths.from_env().default_rootfs
print(render_text([busybox, base, update], names=["busybox", "base", "update"], text="etc", limit=10))

# %%
layer_view([busybox, base, update], names=["busybox", "base", "update"])

# %% [markdown]
# ## 9. Every container gets one
#
# `minicontainer run IMAGE` now mounts an overlay of the image's layers as the container's root,
# inside the container's own mount namespace (so it disappears with the container, even if the
# runtime is killed), with the upper dir in the container's state directory. `--rootfs DIR` still
# uses a plain directory as it is. `minicontainer diff` reads the upper dir:

# %%
import subprocess
import sys


def mc(*args: str) -> str:
    """The command line, as in a terminal: `minicontainer ARGS...`."""
    return subprocess.run([sys.executable, "-m", "minicontainer", *args], capture_output=True, text=True).stdout


print(mc("run", "--name", "lesson04", str(busybox), "/bin/sh", "-c",
         "grep ' / ' /proc/mounts | cut -d' ' -f1-3; echo hi > /etc/motd; rm /bin/vi"))
print(mc("diff", "lesson04"))
print("the image still has /bin/vi:", (busybox / "bin/vi").is_symlink())

# %% [markdown]
# The visualiser shows the container's upper dir as the top layer: `motd` comes from it, and its
# whiteout hides the image's `/bin/vi`.

# %%
from minicontainer.widgets.layers import container_stack

stack, names = container_stack("lesson04")
print(render_text(stack, names=names, text="motd"))

# %% [markdown]
# ## 10. Clean up
#
# Unmount what we mounted by hand, remove the container and the scratch directory, and check that
# no overlay is left.

# %%
c1.unmount()
print(mc("rm", "lesson04").strip())
shutil.rmtree(scratch)
left = [line for line in open("/proc/self/mountinfo") if " - overlay " in line or "minicontainer" in line]
print("mounts left:", len(left), " scratch removed:", not scratch.exists())

# %% [markdown]
# **What you built:** the mount options, the merge rules, a prediction of the upper dir and the
# container's deletions; the runtime gives every container a copy-on-write root.
# Next, **05 · images**: where layers come from — digests, manifests, configs, safe unpacking and `commit`.
