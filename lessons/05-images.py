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
# **中文摘要 · 第 05 课：镜像——摘要、清单、配置和层**
#
# 镜像就是数据：清单（manifest）指向一份配置和若干层，每一块都按内容的 sha256 摘要存放在 OCI 镜像布局里。
# 本课读懂镜像存储，安全地解包层（不让 `../` 之类的条目跑出目录），把 whiteout 转换成 overlay 的形式，
# 实现 Docker 决定容器运行什么的规则（ENTRYPOINT / CMD），然后用 Dockerfile 逐层构建镜像（带缓存），
# 用 `commit` 把容器的改动变成新的一层，并看到多个镜像共享同一层。
# 对应教程“使用镜像”各节：获取、列出、删除镜像，利用 commit 理解镜像构成，使用 Dockerfile 定制镜像。
#
# 本课构建的包：`minicontainer/image/`。

# %% [markdown]
# # 05 · Images: digests, manifests, configs and layers
#
# **The package this lesson builds: `minicontainer/image/`.**
#
# In lesson 04 a container's root was an overlay of read-only layers. Where do layers come from,
# and how does `docker run nginx` know what to run? An **image** is just data, and every piece
# of it is named by the SHA-256 of its bytes (its **digest**):
#
# ```
# index.json ──> manifest ──> config   (what to run: Entrypoint, Cmd, Env, ...; the diff_ids)
#                         └─> layers   (tar files, usually gzip: the filesystem, in slices)
# ```
#
# In this lesson you read the course's default image by hand, unpack layers safely, turn OCI
# whiteouts into overlay whiteouts, write Docker's rule for the command line, then build an image
# from a Dockerfile and commit a container.
#
# What you will write (in `exercises/05-images.py`):
#
# | part | function | what it does |
# |---|---|---|
# | 5.1 | `blob_digest` | the name of a blob: `sha256:` + its hash |
# | 5.2 | `read_image` | index.json → manifest → config and layers, verified |
# | 5.3 | `safe_join` | where a tar entry may land (no `..`) |
# | 5.4 | `apply_whiteout` | OCI `.wh.` entries → overlayfs whiteouts |
# | 5.5 | `command_line` | Docker's Entrypoint/Cmd rule |

# %%
from minicontainer.doctor import require

require("root", "mount-ns", "overlay", "busybox")

# %% [markdown]
# ## 1. The image store is an OCI image layout
#
# `make lab` turned the busybox directory of lesson 01 into a real image, `localhost/busybox:latest`
# (podman's convention: images made on this machine are named under `localhost/`). The store is a
# plain directory in the **OCI image layout** format, which skopeo, umoci and containerd read too:

# %%
import json
import os
from pathlib import Path

from minicontainer.image import Store, prepare_default_image
from minicontainer.paths import Paths

paths = Paths.from_env()
prepare_default_image(paths)
store = Store(paths)
layout = store.root
print(sorted(p.name for p in layout.iterdir()))
print((layout / "oci-layout").read_text())
index = json.loads((layout / "index.json").read_text())
entry = [m for m in index["manifests"]
         if m["annotations"]["org.opencontainers.image.ref.name"] == "localhost/busybox:latest"][0]
print(json.dumps(entry, indent=2))

# %% [markdown]
# The entry points at a **manifest** by digest. Every blob lives at `blobs/sha256/<hex>`; open it:

# %%
def blob(digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()


manifest = json.loads(blob(entry["digest"]))
print(json.dumps(manifest, indent=2))

# %% [markdown]
# ### Exercise 5.1: a blob's name is the hash of its bytes
#
# Write `blob_digest(data)` in `exercises/05-images.py`. Because names are computed from content,
# anybody can check that a blob is what was asked for: a registry, a cache, a disk cannot swap it.

# %%
import importlib.util

from minicontainer.exercises import check
from minicontainer.paths import repo_root

# your exercise file, loaded as a module `ex` (re-run this cell after you edit it)
source = repo_root() / os.environ.get("MC_EXERCISES", "exercises") / "05-images.py"
spec = importlib.util.spec_from_file_location("lesson05", source)
ex = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ex)
check("5.1")

# %%
data = blob(entry["digest"])
print("digest in index.json:", entry["digest"])
print("sha256 of the bytes: ", ex.blob_digest(data))
print("same:", ex.blob_digest(data) == entry["digest"], "| size matches:", len(data) == entry["size"])

# %% [markdown]
# ## 2. The config: what to run, and the layers' diff_ids
#
# The manifest's `config` is another blob. Its `config` object holds the defaults for a container;
# `rootfs.diff_ids` lists the SHA-256 of each layer **uncompressed** (the manifest lists the
# compressed blobs: both are checked when a layer is unpacked).

# %%
config = json.loads(blob(manifest["config"]["digest"]))
print(json.dumps({k: config[k] for k in ("architecture", "os", "config", "rootfs")}, indent=2))

# %% [markdown]
# ### Exercise 5.2: read an image by hand
#
# Write `read_image(layout, ref_name)`: find the name in index.json, read the manifest, then the
# config; verify each blob with `blob_digest`. This is all a runtime needs to know what to run.

# %%
check("5.2")

# %%
got_config, got_layers = ex.read_image(layout, "localhost/busybox:latest")
print("Cmd:", got_config["config"]["Cmd"], "| layers:", len(got_layers))

# %% [markdown]
# ## 3. A layer is a tar
#
# The layer blob is a gzip-compressed tar of the busybox tree. Python's `tarfile` can list it:

# %%
import tarfile

layer_digest = manifest["layers"][0]["digest"]
with tarfile.open(layout / "blobs" / "sha256" / layer_digest[7:], "r:gz") as tar:
    members = tar.getmembers()
print("a few of its entries:")
for m in [m for m in members if m.name in ("bin", "bin/busybox", "bin/sh", "etc/passwd")]:
    kind = "dir" if m.isdir() else "symlink -> " + m.linkname if m.issym() else f"file, {m.size} bytes"
    print(f"  {m.name:12} {oct(m.mode)}  {kind}")

# %% [markdown]
# ## 4. Unpacking safely
#
# `tar.extractall()` on an image you did not make is dangerous: entries can be called
# `../../etc/cron.d/x`, or a layer can first make a symlink `lib -> /` and then write `lib/etc/shadow`
# (the host's!). Every container runtime has had CVEs like these. The package's unpacker uses
# `tarfile` only to **parse**; it creates every file relative to the layer's directory with
# `O_NOFOLLOW`, so a symlink on the way makes the write fail. Two evil layers:

# %%
import io
import tempfile

from minicontainer.errors import ContainerError
from minicontainer.image.unpack import open_layer, unpack_tar

scratch = Path(tempfile.mkdtemp(prefix="minicontainer-lesson05-"))


def evil_tar(*entries: tuple[str, str, str]) -> bytes:
    """A tar from (name, kind, content-or-target) triples."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        for name, kind, value in entries:
            info = tarfile.TarInfo(name)
            if kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, value
                t.addfile(info)
            else:
                info.size = len(value)
                t.addfile(info, io.BytesIO(value.encode()))
    return out.getvalue()


for title, tar_bytes in [
    ("climb out with ..", evil_tar(("../escaped", "file", "pwned"))),
    ("write through a symlink", evil_tar(("lib", "symlink", str(scratch)), ("lib/escaped", "file", "pwned"))),
]:
    (scratch / "layer").mkdir(exist_ok=True)
    try:
        unpack_tar(open_layer(io.BytesIO(tar_bytes)), scratch / "layer")
    except ContainerError as exc:
        print(f"{title}: refused ({exc.message})")
    print("  written outside the layer:", (scratch / "escaped").exists())

# %% [markdown]
# ### Exercise 5.3: where may an entry land?
#
# Write `safe_join(root, name)`, the first line of defence: absolute names are confined to the
# layer, and `..` is refused.

# %%
check("5.3")

# %% [markdown]
# ## 5. Whiteouts: how a layer deletes
#
# A tar can only add files. To delete `/etc/motd` of a lower layer, an OCI layer holds an empty
# entry `etc/.wh.motd`; to hide a whole directory's lower contents, `dir/.wh..wh..opq`. Overlayfs
# (lesson 04) speaks another dialect: a 0/0 character device, and the `trusted.overlay.opaque`
# xattr. The unpacker translates, so each layer can be mounted as it is.
#
# ### Exercise 5.4: translate a whiteout

# %%
check("5.4")

# %%
demo = scratch / "whiteouts"
demo.mkdir()
print(ex.apply_whiteout(demo, "etc/.wh.motd"), ex.apply_whiteout(demo, "var/cache/.wh..wh..opq"),
      ex.apply_whiteout(demo, "etc/hostname"))
st = os.lstat(demo / "etc/motd")
print("etc/motd is a character device", f"{os.major(st.st_rdev)}/{os.minor(st.st_rdev)};",
      "var/cache opaque:", os.getxattr(demo / "var/cache", "trusted.overlay.opaque"))

# %% [markdown]
# The store unpacks each layer **once**, into `layers/sha256/<diff_id>`, and checks the sha256 of
# the tar against the config's diff_id while it streams. The directory above them is mode 0700:
# a setuid binary in a layer must not be reachable by the host's users.

# %%
image = store.resolve("busybox")
dirs = store.layer_dirs(image)
print("busybox ->", image.reference)
print("unpacked at layers/sha256/<its diff_id>:", dirs[0] == paths.lib_dir / "layers/sha256" / image.diff_ids[0][7:])
print("layers/ mode:", oct(os.stat(paths.lib_dir / "layers").st_mode & 0o777))

# %% [markdown]
# ## 6. From config to process: Docker's rule
#
# `docker run IMAGE [ARGS]` combines the image's `Entrypoint` and `Cmd` with what you typed:
# arguments replace `Cmd`; `--entrypoint` replaces `Entrypoint` and drops `Cmd`.
#
# ### Exercise 5.5: the command line

# %%
check("5.5")

# %%
print(ex.command_line(["echo", "hello"], ["world"], []))
print(ex.command_line(["echo", "hello"], ["world"], ["learner"]))
print(ex.command_line(["echo", "hello"], ["world"], ["-n", "x"], entrypoint_override="printf"))

# %% [markdown]
# `minicontainer run` applies the same rule, plus the image's `Env`, `WorkingDir` and `User`:

# %%
import subprocess
import sys


def mc(*args: str) -> str:
    """The command line, as in a terminal: `minicontainer ARGS...` (stdout and stderr)."""
    res = subprocess.run([sys.executable, "-m", "minicontainer", *args], capture_output=True, text=True)
    return (res.stdout + res.stderr).strip()


print(mc("run", "--rm", "busybox", "sh", "-c", 'echo "PATH=$PATH"; pwd'))

# %% [markdown]
# ## 7. Build an image, layer by layer
#
# A Dockerfile is a recipe of steps. `RUN` runs in a container on the layers so far and its upper
# dir (lesson 04) becomes a new layer; `COPY` makes a layer from the build directory; `ENV`, `CMD`,
# ... change only the config.

# %%
context = scratch / "hello-app"
context.mkdir()
(context / "greeting.txt").write_text("hello from a layer\n")
(context / "Dockerfile").write_text("""\
FROM busybox
ENV GREETING=hi
WORKDIR /app
COPY greeting.txt .
RUN echo "built by RUN" > /app/built.txt
CMD ["sh", "-c", "cat /app/greeting.txt /app/built.txt; echo $GREETING"]
""")
print(mc("build", "--no-cache", "-t", "lesson05-hello:1", str(context)))

# %%
print(mc("run", "--rm", "lesson05-hello:1"))

# %% [markdown]
# Build it again: every step's result is found in the cache (its key is the previous step's plus the
# instruction and the files it copies), so nothing runs and the image ID is the same.

# %%
print(mc("build", "-t", "lesson05-hello:1", str(context)).splitlines()[-3:])

# %% [markdown]
# ## 8. Commit a container
#
# `commit` is the same thing by hand: a container's upper dir becomes a layer; its deletions become
# `.wh.` entries.

# %%
mc("run", "--name", "lesson05-changer", "busybox", "sh", "-c", "echo committed > /note; rm /etc/group")
print(mc("commit", "lesson05-changer", "lesson05-committed:1").startswith("sha256:"))
print(mc("run", "--rm", "lesson05-committed:1", "sh", "-c", "cat /note; ls /etc/group 2>&1 || true"))

# %% [markdown]
# ## 9. Layers are shared
#
# Three images, one busybox layer: it is stored and unpacked once.

# %%
images = {name: store.resolve(name) for name in ("busybox", "lesson05-hello:1", "lesson05-committed:1")}
base = images["busybox"].diff_ids[0]
for name, img in images.items():
    print(f"{name:22} {len(img.layers)} layers, shares the busybox layer: {img.diff_ids[0] == base}")

# %% [markdown]
# ## 10. Clean up
#
# Remove the container and the images we made (`rmi` also collects blobs nobody uses any more),
# then the scratch directory. The default image stays.

# %%
print(mc("rm", "lesson05-changer"))
print(mc("rmi", "lesson05-hello:1", "lesson05-committed:1"))
store.gc(grace_seconds=0)
import shutil

shutil.rmtree(scratch)
print(sorted(n for n in store.names()), "| scratch removed:", not scratch.exists())

# %% [markdown]
# **What you built:** digests, reading an image by hand, safe paths, whiteouts and Docker's command
# rule; the runtime runs images by name, builds and commits them, and shares their layers.
# Next, **06 · registry**: where images come from — pull and push over the distribution API.
