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
# **中文摘要 · 第 00 课：欢迎**
#
# 这门课用 Python 在真实的 Linux 内核上，一课一课地写出一个容器运行时 **minicontainer**。本课还不写代码：
# 先让 doctor 检查这台机器支持什么（命名空间、overlayfs、cgroup……），缺什么就说明怎么修；再看练习怎么做、
# 怎么用 `check("1.1")` 检查；最后学会用 `minicontainer reset` 把机器恢复原样。
# 对应中文 Docker 教程的“简介”和“安装 Docker”。中文说明、术语表和命令对照表见 `docs/zh/`。
#
# 本课还不构建模块；用到的是 `minicontainer/doctor.py`（检查这台主机支持什么）。

# %% [markdown]
# # 00 · Welcome: how this course works
#
# **This lesson builds no module yet.** It uses `minicontainer/doctor.py`, which tells what this host supports.
#
# In this course you build a real container runtime, **minicontainer**, one lesson at a time:
# a root filesystem and `chroot` (01), namespaces (02), cgroups (03), union filesystems (04),
# OCI images (05), a registry client (06) and networking (07). Every lesson ends with the runtime
# able to do one more real thing, on the real Linux kernel of this machine.
#
# Three things live side by side:
#
# | where | what |
# |---|---|
# | `notebooks/` | the lessons (you are reading one): run them top to bottom, `00` to `07` |
# | `exercises/` | **your** files: small functions you write, one file per lesson (open them from the file browser on the left) |
# | `minicontainer/` | the package: the finished runtime, a reference you can read module by module |
#
# The lab has terminals too (File → New → Terminal): `minicontainer run -it busybox sh` runs an
# interactive container there, and `make check EX=01` checks a lesson's exercises.
#
# A container runtime talks to the kernel directly, so most lessons need **root** on a Linux
# machine (the course VM started with `sudo make lab`). Before each lesson we ask the *doctor*
# whether this host has what the lesson needs.

# %% [markdown]
# ## 1. Ask the doctor
#
# The doctor does not just read files: it *tries* each feature in a throw-away child process
# (unsharing each namespace type, mounting an overlay) and reports what worked. Each line that says
# `NO` comes with a one-line fix.

# %%
from minicontainer.doctor import diagnose, render

report = diagnose()
print(render(report))

# %% [markdown]
# The same table is one command away in a terminal: `minicontainer doctor` (its exit status says
# whether the course can run). Lessons start with `require(...)`, which stops with an explanation
# (not a traceback) when something is missing — for example on Binder, where containers cannot be
# created because the notebook server has no `CAP_SYS_ADMIN`.

# %%
from minicontainer.doctor import require

require("root", "mount-ns", "pid-ns")

# %% [markdown]
# ## 2. How an exercise works
#
# Each lesson has exercises: functions in `exercises/NN-topic.py` whose bodies are missing. A
# missing body raises `NotImplementedError` with a hint, for example in `exercises/01-chroot.py`:
#
# ```python
# def enter_chroot(rootfs):
#     """Exercise 1.3: make `rootfs` this process's root directory ..."""
#     raise NotImplementedError('Exercise 1.3: os.chroot(rootfs), then os.chdir("/")')
# ```
#
# You replace the `raise` with your code, then run the check for that part. Checks run in a
# separate process (so a chroot in your code never traps this notebook) and print one line per
# part: `OK`, or `FAIL` with what was expected and the hint.

# %%
from minicontainer.exercises import check, find_lesson

lesson = find_lesson("01")
print("your file:       ", lesson.stub.relative_to(lesson.root))
print("its checks:      ", lesson.checks.relative_to(lesson.root))
print("exercise parts:  ", ", ".join(lesson.parts()))

# %% [markdown]
# Check one part with `check("1.3")`, or a whole lesson with `check("01")`. In a terminal:
# `make check EX=01` (or `EX=1.3`). The output below was recorded with the instructors'
# solutions, so it shows what success looks like; yours says `FAIL` until you write the code.

# %%
check("1.1")

# %% [markdown]
# ## 3. Your progress
#
# `show_progress()` runs every lesson's checks on your files and shows which parts are done (in a
# terminal: `minicontainer progress`, or `make progress`). Recorded here with the solutions: all
# green. Run it again whenever you like.

# %%
from minicontainer.progress import show_progress

show_progress()

# %% [markdown]
# ## 4. Starting over
#
# Containers leave things on the machine while they run: mounts, cgroups, network devices. Every
# lesson removes what it made in its last cells, and the runtime cleans up after crashed runs. To
# put a lab machine back as it was (an instructor between two classes), run in a terminal:
#
# ```sh
# sudo make clean          # = minicontainer reset: containers, mounts, cgroups, devices, images
# ```
#
# and `make lab` again to start fresh. Your exercise files are not touched by a reset; to throw away
# your answers and get the original stubs back, `git checkout exercises/`.
#
# Next: **01 · chroot**, where you build the root filesystem every later lesson runs in.
