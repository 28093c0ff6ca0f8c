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
# **中文摘要 · 第 06 课：镜像仓库——用 HTTP 拉取和推送镜像**
#
# 镜像仓库（registry）就是一个 HTTP 服务器。本课在 127.0.0.1 上运行自己的 docker-registry，
# 手工走一遍分发 API：`GET /v2/` 和 401 认证挑战、令牌，按摘要获取清单，边下载边校验层，
# 镜像名的规则，一个名字下的多平台索引；最后用客户端 `minicontainer push` 和 `minicontainer pull` 完成推送和拉取。
# 对应教程“访问仓库”（Docker Hub、私有仓库、私有仓库高级配置）。
#
# 本课构建的包：`minicontainer/registry/`。

# %% [markdown]
# # 06 · Registries: pulling and pushing images over HTTP
#
# **The package this lesson builds: `minicontainer/registry/`.**
#
# `docker pull busybox` talks HTTP to a *registry*. Every registry — Docker Hub, GitHub's GHCR,
# Quay, the one your company runs — speaks the same small API, the **OCI distribution API**. In
# this lesson you run a real registry on this machine, talk to it by hand (the login dance, a
# manifest, a blob, each checked against its digest), then use the client the package builds
# on the same steps: `minicontainer pull` and `minicontainer push`.
#
# What you will write (in `exercises/06-registry.py`):
#
# | part | function | what it does |
# |---|---|---|
# | 6.1 | `parse_reference` | `busybox` → `docker.io/library/busybox:latest`, as Docker reads names |
# | 6.2 | `copy_verified` | write a download to disk while checking its size and sha256 |
# | 6.3 | `pick_platform` | choose this machine's image from a multi-platform index |
# | 6.4 | `token_url` | from a `WWW-Authenticate` challenge to the token server's URL |

# %%
from minicontainer.doctor import require

require("root", "docker-registry")

# %% [markdown]
# ## 1. A registry of our own
#
# Debian packages the reference registry (CNCF *distribution*, the code Docker Hub grew from) as
# `docker-registry`. `minicontainer registry start` runs it on `127.0.0.1:5000` for the whole
# course, seeded with the course's busybox image. For this lesson we start a private one on a
# free port, **with token authentication like Docker Hub's**: the registry does not check
# passwords itself; a separate *token server* does, and signs tokens the registry can verify.
# `minicontainer.registry.tokenserver` is a 100-line token server made for this lesson.

# %%
import os
import tempfile
from pathlib import Path

from minicontainer.registry.server import RegistryServer
from minicontainer.registry.tokenserver import TokenServer

scratch = Path(tempfile.mkdtemp(prefix="mc-lesson06-"))
os.environ["DOCKER_CONFIG"] = str(scratch / "docker")  # keep the lesson's logins out of your ~/.docker
tokens = TokenServer(scratch / "tokens", users={"learner": "lesson06"}).start()
registry = RegistryServer(scratch / "registry", auth=tokens.auth_config()).start()
print("registry:   ", registry.url)
print("token realm:", tokens.realm)
print("the registry trusts tokens signed by:", tokens.cert.name)

# %% [markdown]
# ## 2. `/v2/` and the 401 challenge
#
# `GET /v2/` asks "are you a registry, and may I come in?". Ours answers **401** with a
# `WWW-Authenticate` header that says where to get a token (`realm`) and for which `service`.
# Plain `http.client` is all we need:

# %%
import http.client
import json


def get(host: str, path: str, headers: dict | None = None, method: str = "GET"):
    """One HTTP request; returns (status, headers, body)."""
    conn = http.client.HTTPConnection(host, timeout=10)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, response.headers, body


status, headers, body = get(registry.address, "/v2/")
print(status)
print("WWW-Authenticate:", headers["WWW-Authenticate"])
print(body.decode().strip())

# %% [markdown]
# The client now asks the realm for a token granting a **scope**: which repository, which
# actions (`pull`, or `pull,push`). **Exercise 6.4**: write `token_url(challenge, repository,
# actions)`, which builds that URL from the challenge.

# %%
from minicontainer.exercises import check

check("6.4")

# %% [markdown]
# Ask for a token to pull `busybox`, without a password (an *anonymous* token: Docker Hub and
# GHCR want one even for public images). The answer is JSON; the token is a **JWT**: three
# base64url parts, `header.claims.signature`. Decode the middle one to see what we were granted:

# %%
import base64

from minicontainer.registry.auth import parse_challenge
from minicontainer.registry.transport import is_loopback

scheme, params = parse_challenge(headers["WWW-Authenticate"])
realm = params["realm"]
print("realm is https or loopback:", realm.startswith("https://") or is_loopback(realm.split("/")[2].split(":")[0]))
token_host, _, token_path = realm.removeprefix("http://").partition("/")
query = f"/{token_path}?service={params['service']}&scope=repository:busybox:pull"
status, _, body = get(token_host, query)
answer = json.loads(body)
token = answer["token"]


def claims_of(jwt: str) -> dict:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


claims = claims_of(token)
print(status, "expires_in:", answer["expires_in"])
print("audience:", claims["aud"], " subject:", repr(claims["sub"]))
print("access:", claims["access"])

# %% [markdown]
# Never send a password to a realm over plain HTTP on the network, and never to a host the
# registry did not name: the package's client refuses a realm that is not `https` (plain
# `http` is allowed on loopback only, as here).
#
# With the token in `Authorization: Bearer ...`, the registry lets us in:

# %%
status, _, body = get(registry.address, "/v2/", {"Authorization": f"Bearer {token}"})
print(status, body.decode().strip())

# %% [markdown]
# ## 3. Push the course's image with the client
#
# The registry is empty. Pushing needs the `push` action, which our token server only grants to
# a user with a password: `minicontainer login` checks the credentials against the registry, then
# saves them where Docker does (`~/.docker/config.json`, here the lesson's own copy).

# %%
import subprocess
import sys


def mc(*args: str, stdin: str | None = None) -> str:
    """The command line, as in a terminal: `minicontainer ARGS...` (stdout and stderr)."""
    done = subprocess.run([sys.executable, "-m", "minicontainer", *args], capture_output=True, text=True,
                          input=stdin)
    return (done.stdout + done.stderr).strip()


print(mc("login", registry.address, "-u", "learner", "--password-stdin", stdin="wrong\n"))
print(mc("login", registry.address, "-u", "learner", "--password-stdin", stdin="lesson06\n"))
print(json.loads((scratch / "docker" / "config.json").read_text())["auths"].keys())

# %% [markdown]
# A push sends the **blobs first** (each layer, then the config), and the **manifest last**: a
# registry refuses a manifest whose blobs it does not have. For each blob the client asks `HEAD`
# first and skips what is already there; otherwise it opens an upload (`POST .../blobs/uploads/`),
# sends the bytes (`PUT <Location>?digest=...`), and the registry checks the digest itself.

# %%
from minicontainer.image import prepare_default_image
from minicontainer.paths import Paths

prepare_default_image(Paths.from_env())  # the course's busybox image, localhost/busybox:latest
print(mc("push", "-q", "localhost/busybox:latest", f"{registry.address}/busybox:latest"))
print(mc("push", "-q", "localhost/busybox:latest", f"{registry.address}/busybox:latest"))

# %% [markdown]
# The second push found every blob in place (`exists`) and only sent the manifest again.
#
# ## 4. A manifest by hand
#
# Pulling starts with the **manifest**. `HEAD /v2/NAME/manifests/TAG` returns its digest in
# `Docker-Content-Digest` without the body; then `GET` it **by digest**, and check that the sha256
# of the bytes is that digest. `Accept` lists the four formats we understand (OCI index and
# manifest, Docker's manifest list and schema 2).

# %%
import hashlib

from minicontainer.registry.client import ACCEPT

status, _, body = get(token_host, query)  # a fresh anonymous pull token, as in section 2
auth = {"Authorization": f"Bearer {json.loads(body)['token']}", "Accept": ACCEPT}
status, headers, _ = get(registry.address, "/v2/busybox/manifests/latest", auth, method="HEAD")
digest = headers["Docker-Content-Digest"]
print(status, headers["Content-Type"])
print("Docker-Content-Digest:", digest)

status, headers, manifest_bytes = get(registry.address, f"/v2/busybox/manifests/{digest}", auth)
print("sha256 of the bytes matches:", "sha256:" + hashlib.sha256(manifest_bytes).hexdigest() == digest)
manifest = json.loads(manifest_bytes)
print("config:", manifest["config"]["mediaType"])
print("layers:", [layer["mediaType"] for layer in manifest["layers"]])

# %% [markdown]
# ## 5. A blob by hand, verified while it streams
#
# Blobs (layers and the config) come from `GET /v2/NAME/blobs/DIGEST`. A layer can be gigabytes,
# so it must be checked **while it streams** to disk, never loaded whole. **Exercise 6.2**: write
# `copy_verified(chunks, out, digest, size)`. The check downloads a real blob from a registry.

# %%
check("6.2")

# %% [markdown]
# Here is the config blob, read the same way: its digest, then the part of it `run` uses.

# %%
config_digest = manifest["config"]["digest"]
status, headers, config_bytes = get(registry.address, f"/v2/busybox/blobs/{config_digest}", auth)
print(status, "verified:", "sha256:" + hashlib.sha256(config_bytes).hexdigest() == config_digest)
config = json.loads(config_bytes)
print(config["os"], config["architecture"], config["config"].get("Cmd"))

# %% [markdown]
# ## 6. Names
#
# `busybox`, `myuser/app:1`, `localhost:5000/app@sha256:...`: Docker fills in what is left out.
# The first component is a registry only if it contains `.` or `:` or is `localhost`; otherwise
# the image is on Docker Hub (`docker.io`), and a one-word name lives under `library/`.
# **Exercise 6.1**: write `parse_reference(text)`.

# %%
check("6.1")

# %%
from minicontainer.reference import parse_reference

for name in ["busybox", "myuser/app:1", f"{registry.address}/busybox", "index.docker.io/alpine:3.19"]:
    ref = parse_reference(name)
    print(f"{name} -> {ref}  (API host {ref.api_host})")

# %% [markdown]
# ## 7. One name, many platforms
#
# On Docker Hub, `busybox:latest` is not one image but an **index** listing one manifest per
# platform (`linux/amd64`, `linux/arm64/v8`, `linux/arm/v7`, ...) and, since BuildKit,
# *attestations* (SBOMs) with the platform `unknown/unknown`. A pull picks this machine's entry.
# **Exercise 6.3**: write `pick_platform(index, os, architecture, variant)`.

# %%
check("6.3")

# %%
from minicontainer.registry.platforms import host_platform

print("this machine is", host_platform())

# %% [markdown]
# ## 8. The client: `minicontainer pull`
#
# `minicontainer.registry.pull.pull()` does all of the above: HEAD then GET by digest, a platform
# from an index, the layers in parallel (a progress bar per layer: tqdm in a terminal, ipywidgets
# in a notebook), each streamed to a `.part` file, checked, and only then renamed into the store.
# If the connection drops, the next pull resumes the `.part` file with `Range: bytes=N-`. We pull
# into a scratch store so your own images stay as they are:

# %%
from minicontainer.image.store import Store
from minicontainer.registry.progress import auto_progress
from minicontainer.registry.pull import pull

lesson_paths = Paths(scratch / "lib", scratch / "run")
result = pull(f"{registry.address}/busybox:latest", lesson_paths, progress=auto_progress())
print("fetched", len(result.fetched), "blobs; manifest", result.digest)
again = pull(f"{registry.address}/busybox:latest", lesson_paths)
print("second pull fetched", len(again.fetched), "blobs")
image = Store(lesson_paths).resolve(f"{registry.address}/busybox:latest")
print("layers match the registry's:", [layer.digest for layer in image.layers] ==
      [layer["digest"] for layer in manifest["layers"]])

# %% [markdown]
# And what is not there gives an error that says what to do:

# %%
print(mc("pull", "-q", f"{registry.address}/busybox:nope"))
print(mc("tags", f"{registry.address}/busybox"))

# %% [markdown]
# `minicontainer run` pulls an image it lacks when the name says which registry to use
# (`localhost:5000/app`, `ghcr.io/org/app`). It never reaches out to Docker Hub by itself, so the
# course works offline; when this machine is online, `minicontainer pull busybox` pulls the real
# multi-platform image from Docker Hub (anonymous token, index, platform, layers):

# %%
import socket


def online(host: str = "registry-1.docker.io") -> bool:
    try:
        socket.create_connection((host, 443), timeout=3).close()
        return True
    except OSError:
        return False


if online():
    hub = pull("busybox:latest", lesson_paths)
    print("pulled docker.io/library/busybox:latest for", hub.platform, "from an index:", hub.index_digest is not None)
else:
    print("offline: skipped the Docker Hub pull (everything above ran against the local registry)")

# %% [markdown]
# ## 9. Clean up
#
# Stop the registry and the token server, forget the lesson's login, remove the scratch directory.

# %%
import shutil

print(mc("logout", registry.address))
registry.stop()
tokens.close()
del os.environ["DOCKER_CONFIG"]
shutil.rmtree(scratch)
left = subprocess.run(["pgrep", "-f", str(scratch)], capture_output=True, text=True).stdout.strip()
print("registry processes left:", left or "none", " scratch removed:", not scratch.exists())

# %% [markdown]
# **What you built:** reference parsing, a verified streaming download, platform selection and
# the token request; the package's client puts them together with retries, resumable downloads,
# Basic and Bearer auth, and chunked and cross-repository uploads.
# Next, **07 · networking**: give containers a network of their own.
