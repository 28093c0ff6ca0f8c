"""Shared set-up for the exercise checks: the `ex` and `yours` fixtures, the `exercise(part)` and
`milestone(what)` markers.

`ex` is the learner's exercise module for the lesson of the test file (test_01_chroot.py ->
exercises/01-chroot.py), or the same file from the directory MC_EXERCISES names
(`MC_EXERCISES=solutions` checks the instructors' solutions). `yours` runs the real command line
on the same files, `minicontainer --yours=NN ...`: the lesson's milestone is checked through it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _source_dir() -> Path:
    chosen = os.environ.get("MC_EXERCISES", "")
    if not chosen:
        return ROOT / "exercises"
    path = Path(chosen)
    return path if path.is_absolute() else ROOT / path


def load_exercise(lesson: str):
    """Import exercises/<lesson>.py (or the MC_EXERCISES copy) as a fresh module."""
    path = _source_dir() / f"{lesson}.py"
    name = f"exercise_{lesson.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def ex(request):
    """The exercise module of this test file's lesson."""
    number = Path(request.node.fspath).stem.split("_")[1]  # test_01_chroot -> 01
    lesson = Path(ROOT / "solutions").glob(f"{number}-*.py").__next__().stem  # 01-chroot
    return load_exercise(lesson)


def _run(argv: list[str], env: dict[str, str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """Run argv with its output in files, not pipes: a process the command leaves behind (the PID 1
    that `oci create` leaves waiting) keeps them open, and a pipe would never reach its end."""
    import tempfile
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        code = subprocess.run(argv, stdout=out, stderr=err, timeout=timeout, env=env, **kwargs).returncode
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(argv, code, out.read().decode(errors="replace"),
                                           err.read().decode(errors="replace"))


class Yours:
    """`minicontainer --yours=NN ARGS...` on the learner's files: the real CLI, as a black box
    (`minicontainer --yours=10 oci ...` too: runc's command line)."""

    def __init__(self, lesson: str) -> None:
        self.lesson = lesson

    def package(self, *args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
        """The same command on the package's own code, whatever its exit status: clean-up that must work
        even when your functions left a container half-way."""
        env = dict(os.environ)
        env.pop("MC_IMPL", None)
        env.update(kwargs.pop("env", {}))
        return _run([sys.executable, "-m", "minicontainer", *args], env, timeout, **kwargs)

    def __call__(self, *args: str, ok: bool | set[int] = True, why: str = "", timeout: float = 120,
                 **kwargs) -> subprocess.CompletedProcess:
        """Run the command. `ok`: the exit statuses that pass (True: 0; False: any); another fails the
        check with the command's own last line on stderr (and `why`, what the status should have meant)."""
        env = dict(os.environ, MC_EXERCISES=str(_source_dir()))
        env.pop("MC_IMPL", None)
        env.update(kwargs.pop("env", {}))
        argv = [sys.executable, "-m", "minicontainer", f"--yours={self.lesson}", *args]
        done = _run(argv, env, timeout, **kwargs)
        allowed = {0} if ok is True else set() if ok is False else set(ok)
        if allowed and done.returncode not in allowed:
            said = (done.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
            command = " ".join(args)
            command = command if len(command) < 50 else command[:47] + "..."
            pytest.fail(f"`minicontainer --yours={self.lesson} {command}` exited {done.returncode}"
                        f"{' (' + why + ')' if why else ''}: {said}", pytrace=False)
        return done


@pytest.fixture
def yours(request):
    """Run the real `minicontainer` with this lesson's (and the earlier lessons') functions: yours("run", ...)."""
    number = Path(request.node.fspath).stem.split("_")[1]
    return Yours(number)


def pytest_collection_modifyitems(items):
    """Record each check's part in the report and add a `part_1_2` marker to select it with -m."""
    for item in items:
        marker = item.get_closest_marker("exercise")
        if marker is None:
            if item.get_closest_marker("milestone") is not None:
                item.user_properties.append(("exercise", "milestone"))
            continue
        part = marker.args[0]
        item.user_properties.append(("exercise", part))
        item.add_marker(getattr(pytest.mark, f"part_{part.replace('.', '_')}"))


def pytest_configure(config):
    config.addinivalue_line("markers", "exercise(part): the exercise part this check belongs to")
    config.addinivalue_line("markers", "milestone(what): the lesson's milestone, your runtime end to end")
    for n in range(1, 100):
        for m in range(1, 20):
            config.addinivalue_line("markers", f"part_{n}_{m}: exercise {n}.{m}")


def _run_in_child(fn, *args):
    """Run fn(*args) in a forked child (chroot, unshare and pivot_root change the process that calls
    them: never the checker's own). Returns fn's result; re-raises the child's error as AssertionError."""
    import pickle
    import traceback

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_end)
        try:
            payload = ("ok", fn(*args))
        except BaseException as exc:  # report every failure, including NotImplementedError
            payload = ("error", f"{type(exc).__name__}: {exc}", traceback.format_exc(limit=3))
        with os.fdopen(write_end, "wb") as out:
            pickle.dump(payload, out)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as inp:
        data = inp.read()
    os.waitpid(pid, 0)
    if not data:
        raise AssertionError(f"{getattr(fn, '__name__', fn)} killed the child process before it could report")
    payload = pickle.loads(data)
    if payload[0] == "error":
        raise AssertionError(payload[1])
    return payload[1]


@pytest.fixture
def in_child():
    """`in_child(fn, *args)`: run fn in a forked child process and return its result."""
    return _run_in_child


@pytest.fixture
def fresh_rootfs(tmp_path):
    """A private copy of the busybox rootfs for checks that write into it."""
    from minicontainer.rootfs import build_busybox_rootfs

    return build_busybox_rootfs(tmp_path / "rootfs")
