"""Checks for lesson 10 (the OCI runtime). Run them with `make check EX=10`, or `check("10.2")` in the notebook.

Each part is compared with what the runtime needs from it: the mounts of runc's own default config.json,
the namespaces of a bundle, the state runc prints, a hook that reads its stdin. The milestone runs a
bundle with your runtime (`minicontainer --yours=10 oci ...`) and with runc, on the same bundle."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

from minicontainer.errors import ContainerError
from minicontainer.oci import config
from minicontainer.oci.spec import default_config
from minicontainer.state import Container
from minicontainer.syscalls import MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_STRICTATIME


@pytest.mark.exercise("10.1")
def test_mount_flags_reads_the_option_words(ex):
    got = ex.mount_flags(["nosuid", "strictatime", "mode=755", "size=65536k"])
    expected = (MS_NOSUID | MS_STRICTATIME, 0, "mode=755,size=65536k")
    assert got == expected, f"mount_flags(['nosuid', 'strictatime', 'mode=755', 'size=65536k']) returned {got!r}; expected {expected!r}"
    got = ex.mount_flags(["rbind", "rprivate", "ro"])
    assert got == (MS_BIND | MS_REC | MS_RDONLY, MS_PRIVATE | MS_REC, ""), \
        f"mount_flags(['rbind', 'rprivate', 'ro']) returned {got!r}: rbind is MS_BIND|MS_REC, rprivate goes to the propagation flags"


@pytest.mark.exercise("10.1")
def test_mount_flags_clears_what_a_later_word_undoes(ex):
    got = ex.mount_flags(["ro", "noexec", "rw", "exec", "nodev"])
    assert got == (MS_NODEV, 0, ""), f"mount_flags(['ro', 'noexec', 'rw', 'exec', 'nodev']) returned {got!r}; 'rw' clears MS_RDONLY, 'exec' clears MS_NOEXEC"
    for m in default_config()["mounts"]:
        options = m.get("options", [])
        assert ex.mount_flags(options) == config.mount_flags(options), f"mount_flags({options!r}) differs from the runtime's"
    assert MS_NOEXEC  # (imported for the message above)


@pytest.mark.exercise("10.2")
def test_namespace_plan_creates_and_joins(ex):
    runc_default = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]  # (a v2 host adds cgroup)
    got = ex.namespace_plan(runc_default)
    assert got == (["pid", "net", "ipc", "uts", "mnt"], []), f"namespace_plan(runc's default) returned {got!r}"
    got = ex.namespace_plan([{"type": "mount"}, {"type": "network", "path": "/run/netns/web"}, {"type": "user"}])
    assert got == (["mnt", "user"], [("net", "/run/netns/web")]), f"an entry with a path is joined; got {got!r}"


@pytest.mark.exercise("10.2")
def test_namespace_plan_refuses_unknown_and_repeated_types(ex):
    with pytest.raises(config.ConfigError, match=r"linux\.namespaces\[1\]"):
        ex.namespace_plan([{"type": "pid"}, {"type": "time"}])
    with pytest.raises(config.ConfigError, match=r"linux\.namespaces\[1\]"):
        ex.namespace_plan([{"type": "pid"}, {"type": "pid"}])


def record(pid: int = 4242) -> Container:
    return Container(id="web", name="web", image="/srv/web", command=["httpd"], rootfs="/srv/web/rootfs", pid=pid,
                     spec={"bundle": "/srv/web", "annotations": {"org.example/owner": "course"}})


@pytest.mark.exercise("10.3")
def test_state_document_has_the_specs_fields(ex):
    got = ex.state_document(record(), "running")
    expected = {"ociVersion": "1.0.2", "id": "web", "status": "running", "pid": 4242, "bundle": "/srv/web",
                "annotations": {"org.example/owner": "course"}}
    assert got == expected, f"state_document(<web, pid 4242>, 'running') returned {got!r}; expected {expected!r}"
    assert json.loads(json.dumps(got)) == got, "the state must be plain JSON"


@pytest.mark.exercise("10.3")
def test_state_document_of_a_stopped_container_has_no_pid(ex):
    got = ex.state_document(record(), "stopped")
    assert got["pid"] == 0 and got["status"] == "stopped", f"a stopped container's pid is 0 (as runc prints it); got {got!r}"
    bare = Container(id="x", name="x", image="", command=[], rootfs="", spec={"bundle": "/b"})
    assert ex.state_document(bare, "creating")["annotations"] == {}, "no annotations -> {}"


@pytest.mark.exercise("10.4")
def test_run_hook_gives_the_state_on_stdin_and_returns_the_status(ex, tmp_path):
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\ncat > {tmp_path}/stdin.json\necho \"$1 $GREETING\" > {tmp_path}/args\nexit 3\n")
    hook.chmod(0o755)
    state = {"ociVersion": "1.0.2", "id": "web", "status": "created", "pid": 1, "bundle": "/srv/web"}
    code = ex.run_hook({"path": str(hook), "args": ["hook.sh", "first"], "env": ["GREETING=hello"]}, state)
    assert code == 3, f"the hook exits 3; run_hook returned {code!r}"
    seen = json.loads((tmp_path / "stdin.json").read_text())
    assert seen == state, f"the hook read {seen!r} on its stdin; expected the state {state!r}"
    assert (tmp_path / "args").read_text() == "first hello\n", "args is the hook's whole argv; env its environment"


@pytest.mark.exercise("10.4")
def test_run_hook_kills_a_hook_past_its_timeout(ex):
    began = time.monotonic()
    with pytest.raises(ContainerError):
        ex.run_hook({"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}, {"id": "x"})
    assert time.monotonic() - began < 10, "a hook past its timeout is killed at once"


# --- the milestone: your runtime, driven as runc is driven -------------------------------------------

PR_SET_CHILD_SUBREAPER = 36
PHASES = ("createRuntime", "poststart", "poststop")


def _subreaper(on: bool) -> None:
    """Adopt (or stop adopting) the orphans below us. `oci create` leaves the container's PID 1 to its
    caller, as runc does (podman's conmon reaps it): a PID 1 nobody reaps stays a zombie, never stopped."""
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0)


def _reap() -> None:
    """Reap every child of ours that has ended (the container's PID 1, once killed)."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


@pytest.mark.milestone("your runtime ran a bundle as runc does: its output, its states, hooks that read them")
def test_milestone_your_runtime_is_an_oci_runtime(yours, fresh_rootfs, tmp_path):
    bundle, tag = fresh_rootfs.parent, uuid.uuid4().hex[:8]
    run_dir = {"MC_RUN_DIR": str(tmp_path / "run")}  # a --root of this check's: MC_RUN_DIR/oci
    mine, theirs, life = f"mc-m10-{tag}", f"mc-m10-runc-{tag}", f"mc-m10-life-{tag}"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\ncat > {tmp_path}/$1.json\n")  # the state on its stdin, kept per phase
    hook.chmod(0o755)

    def write_config(args: list[str], hooks: bool = False) -> None:
        config = default_config()
        config["process"].update(terminal=False, args=args)
        if hooks:
            config["hooks"] = {phase: [{"path": str(hook), "args": ["hook.sh", phase]}] for phase in PHASES}
        (bundle / "config.json").write_text(json.dumps(config))

    def oci(*args: str, **kwargs) -> subprocess.CompletedProcess:
        return yours("oci", *args, env=run_dir, **kwargs)

    def state(cid: str) -> dict:
        return json.loads(oci("state", cid).stdout)

    _subreaper(True)
    try:
        write_config(["sh", "-c", "echo hello from $(hostname); id; grep Cap /proc/self/status; ls /dev; exit 3"])
        out = oci("run", "--bundle", str(bundle), mine, ok={3},
                    why="3 expected: the program's exit status").stdout
        assert out.startswith("hello from minicontainer\nuid=0(root)"), \
            f"your runtime's container printed {out!r}; expected the hostname of config.json and root (10.1, 10.2)"
        runc = shutil.which("runc")
        if runc:  # (scripts/host-deps.sh installs it; without it the lines above are the check)
            ran = subprocess.run([runc, "--root", str(tmp_path / "runc-root"), "run", "--bundle", str(bundle), theirs],
                                 capture_output=True, text=True, timeout=60)
            assert out == ran.stdout, f"on the same bundle runc printed {ran.stdout!r} and your runtime {out!r}: " \
                                      "see what differs (10.1: the mounts and their flags, 10.2: the namespaces)"

        write_config(["sleep", "30"], hooks=True)
        oci("create", "--bundle", str(bundle), life)
        created = state(life)
        oci("start", life)
        running = state(life)
        oci("kill", life, "KILL")
        stopped, deadline = state(life), time.monotonic() + 10
        while stopped["status"] != "stopped" and time.monotonic() < deadline:
            _reap()
            time.sleep(0.02)
            stopped = state(life)
        oci("delete", life)
        seen = [created["status"], running["status"], stopped["status"]]
        assert seen == ["created", "running", "stopped"], \
            f"`oci state` said {seen} across create, start and kill; runc says created, running, stopped (10.3)"
        assert created["pid"] > 0 and created["pid"] == running["pid"] and stopped["pid"] == 0, \
            f"the pids in `state`: {created['pid']}, {running['pid']}, {stopped['pid']}; expected PID 1's, the same, " \
            "then 0 once stopped (10.3)"
        assert created["id"] == life and created["bundle"] == str(bundle), f"`state` of {life}: {created} (10.3)"

        ran = sorted(phase for phase in PHASES if (tmp_path / f"{phase}.json").exists())
        assert ran == sorted(PHASES), f"the hooks that ran: {ran}; expected {sorted(PHASES)} (10.4)"
        read = {phase: json.loads((tmp_path / f"{phase}.json").read_text()) for phase in PHASES}
        got = {phase: (s.get("id"), s.get("status"), s.get("pid")) for phase, s in read.items()}
        want = {"createRuntime": (life, "created", created["pid"]), "poststart": (life, "running", created["pid"]),
                "poststop": (life, "stopped", 0)}
        assert got == want, f"the hooks read (id, status, pid) {got} on their stdin; expected {want} (10.4, 10.3)"
    finally:
        yours.package("oci", "delete", "--force", mine, env=run_dir)
        yours.package("oci", "delete", "--force", life, env=run_dir)
        if shutil.which("runc"):
            subprocess.run(["runc", "--root", str(tmp_path / "runc-root"), "delete", "--force", theirs],
                           capture_output=True, timeout=60)
        _reap()
        _subreaper(False)
