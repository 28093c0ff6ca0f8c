"""`minicontainer-oci` driven as runc is driven: same bundles, same outputs, same state transitions
(lesson 10). runc (Debian's) runs beside it on the same bundle; every test cleans up what it made."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from minicontainer.privileges import is_root

from oci_helpers import Engine, edit_config, make_bundle, oci_binary, subreaper

pytestmark = pytest.mark.skipif(not is_root(), reason="OCI containers need root here")
RUNC = shutil.which("runc")


@pytest.fixture
def engines(tmp_path: Path, paths):
    """minicontainer-oci and runc, each with a --root of its own; both are reaped by us (a subreaper)."""
    subreaper(True)
    made = {"minicontainer": Engine(oci_binary(), tmp_path / "mc-root")}
    if RUNC:
        made["runc"] = Engine(RUNC, tmp_path / "runc-root")
    yield made
    for engine in made.values():
        listed = engine("list", "--quiet").stdout.split() if engine.root.exists() else []
        for cid in listed:
            engine("delete", "--force", cid)
        engine.reap()
    subreaper(False)


@pytest.fixture
def bundle(tmp_path: Path, busybox_rootfs: Path):
    def make(args: list[str], name: str = "bundle", **changes) -> Path:
        return make_bundle(tmp_path / name, busybox_rootfs, args, **changes)
    return make


def both(engines: dict) -> list[tuple[str, Engine]]:
    if "runc" not in engines:
        pytest.fail("runc is missing: scripts/host-deps.sh installs it (the reference these tests compare with)")
    return list(engines.items())


def test_run_gives_the_same_output_and_exit_status_as_runc(engines, bundle):
    b = bundle(["sh", "-c", "echo hello from $(hostname); id; grep Cap /proc/self/status; ls /dev; exit 3"])
    results = {name: e("run", "--bundle", str(b), "same-output") for name, e in both(engines)}
    mine, runc = results["minicontainer"], results["runc"]
    assert mine.returncode == runc.returncode == 3, (mine.stderr, runc.stderr)
    assert mine.stdout == runc.stdout
    assert "hello from minicontainer" in mine.stdout  # the hostname of `oci spec`'s config
    assert not (engines["minicontainer"].root / "containers" / "same-output").exists()  # run deletes it


def test_state_goes_created_running_stopped_as_runc(engines, bundle):
    b = bundle(["sleep", "30"])
    seen = {}
    for name, e in both(engines):
        statuses = []
        e("create", "--bundle", str(b), "life", check=True)
        created = e.state("life")
        statuses.append(created["status"])
        assert created["pid"] > 0 and Path(f"/proc/{created['pid']}").exists()
        e("start", "life", check=True)
        statuses.append(e.state("life")["status"])
        e("kill", "life", "KILL", check=True)
        deadline = time.monotonic() + 5
        while e.state("life")["status"] != "stopped" and time.monotonic() < deadline:
            e.reap()
            time.sleep(0.02)
        stopped = e.state("life")
        statuses.append(stopped["status"])
        assert stopped["pid"] == 0
        e("delete", "life", check=True)
        gone = e("state", "life")
        assert gone.returncode != 0
        seen[name] = statuses
        assert created["bundle"] == str(b) and created["id"] == "life"
    assert seen["minicontainer"] == seen["runc"] == ["created", "running", "stopped"]


def test_start_writes_nothing_before_start_and_the_output_after(engines, bundle, tmp_path):
    b = bundle(["sh", "-c", "echo the program ran > /tmp-out/ran"])
    out = tmp_path / "out"
    out.mkdir()
    edit_config(b, lambda c: c["mounts"].append({"destination": "/tmp-out", "type": "bind", "source": str(out),
                                                "options": ["rbind", "rw"]}))
    e = engines["minicontainer"]
    e("create", "--bundle", str(b), "waits", check=True)
    time.sleep(0.3)
    assert not (out / "ran").exists(), "the program ran before `start`"
    e("start", "waits", check=True)
    deadline = time.monotonic() + 5
    while not (out / "ran").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (out / "ran").read_text() == "the program ran\n"


def test_pid_file_names_the_containers_pid_1(engines, bundle, tmp_path):
    b = bundle(["sleep", "30"])
    e = engines["minicontainer"]
    e("create", "--bundle", str(b), "--pid-file", str(tmp_path / "pid"), "pidfile", check=True)
    pid = int((tmp_path / "pid").read_text())
    assert pid == e.state("pidfile")["pid"]
    e("start", "pidfile", check=True)
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] != b"sleep" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] == b"sleep"


def test_hooks_see_the_state_json_on_stdin(engines, bundle, tmp_path):
    b = bundle(["true"])
    log = tmp_path / "hooks"
    log.mkdir()
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\ncat > {log}/$1.json\n")
    hook.chmod(0o755)
    phases = ("createRuntime", "poststart", "poststop")
    edit_config(b, lambda c: c.update(hooks={p: [{"path": str(hook), "args": ["hook.sh", p]}] for p in phases}))
    e = engines["minicontainer"]
    e("create", "--bundle", str(b), "hooked", check=True)
    pid = e.state("hooked")["pid"]
    e("start", "hooked", check=True)
    e("delete", "--force", "hooked", check=True)
    states = {p: json.loads((log / f"{p}.json").read_text()) for p in phases}
    assert {s["id"] for s in states.values()} == {"hooked"}
    assert {s["bundle"] for s in states.values()} == {str(b)}
    assert states["createRuntime"]["status"] == "created" and states["createRuntime"]["pid"] == pid
    assert states["poststart"]["status"] == "running"
    assert states["poststop"]["status"] == "stopped"


def test_a_failing_or_hanging_hook_fails_create_and_leaves_nothing(engines, bundle, tmp_path):
    e = engines["minicontainer"]
    for name, hook in (("fails", {"path": "/bin/false"}), ("hangs", {"path": "/bin/sleep", "args": ["sleep", "60"],
                                                                      "timeout": 1})):
        b = bundle(["true"], name=name)
        edit_config(b, lambda c: c.update(hooks={"createRuntime": [hook]}))
        began = time.monotonic()
        result = e("create", "--bundle", str(b), name)
        assert result.returncode != 0
        assert "createRuntime hook" in result.stderr or "timeout" in result.stderr, result.stderr
        assert time.monotonic() - began < 20
        assert e("state", name).returncode != 0
        assert not list((e.root / "containers").iterdir())
        assert not any(Path("/sys/fs/cgroup").glob(f"*/minicontainer-oci/{name}"))


def test_console_socket_hands_over_a_working_terminal(engines, bundle, tmp_path):
    from minicontainer.oci.console import receive_fd
    b = bundle(["sh", "-c", "test -t 0 && echo on-a-tty; read line; echo got $line"])
    edit_config(b, lambda c: c["process"].update(terminal=True))
    path = str(tmp_path / "console.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    e = engines["minicontainer"]
    import subprocess
    create = subprocess.Popen([e.binary, "--root", str(e.root), "create", "--bundle", str(b), "--console-socket",
                               path, "tty"], stderr=subprocess.PIPE, text=True)
    master, name = receive_fd(listener)
    listener.close()
    assert create.wait(timeout=30) == 0, create.stderr.read()
    assert name == "/dev/ptmx"
    try:
        e("start", "tty", check=True)
        os.write(master, b"hello\n")
        seen = b""
        deadline = time.monotonic() + 10
        while b"got hello" not in seen and time.monotonic() < deadline:
            try:
                seen += os.read(master, 1024)
            except OSError:
                break
        assert b"on-a-tty" in seen and b"got hello" in seen, seen
    finally:
        os.close(master)


def test_kill_and_delete_leave_nothing_behind(engines, bundle):
    b = bundle(["sleep", "30"])
    e = engines["minicontainer"]
    e("create", "--bundle", str(b), "tidy", check=True)
    pid = e.state("tidy")["pid"]
    e("start", "tidy", check=True)
    groups = list(Path("/sys/fs/cgroup").glob("*/minicontainer-oci/tidy")) + \
        list(Path("/sys/fs/cgroup").glob("minicontainer-oci/tidy"))
    assert groups, "the container has no cgroup"
    e("kill", "tidy", "KILL", check=True)
    e("delete", "--force", "tidy", check=True)
    e.reap()
    assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] in ("Z", "X")
    assert not any(g.exists() for g in groups)
    assert not (e.root / "containers" / "tidy").exists()


def test_exec_runs_a_process_in_the_running_container(engines, bundle):
    b = bundle(["sleep", "30"])
    e = engines["minicontainer"]
    e("run", "--detach", "--bundle", str(b), "execd", check=True)
    e.state("execd")
    got = e("exec", "execd", "sh", "-c", "hostname; echo $$; exit 4")
    assert got.returncode == 4, got.stderr
    assert got.stdout.split() == ["minicontainer", str(got.stdout.split()[1])]
    assert int(got.stdout.split()[1]) > 1  # a new process of the container's PID namespace


def test_a_field_unknown_to_the_spec_is_ignored_with_a_warning_naming_it(engines, bundle):
    b = bundle(["true"])  # the spec: runtimes MUST ignore unknown properties (config.md, Extensibility)
    edit_config(b, lambda c: c.update(frobnicate=True))
    result = engines["minicontainer"]("run", "--bundle", str(b), "extensible")
    assert result.returncode == 0, result.stderr
    assert "frobnicate: not a field of the OCI runtime spec: ignored" in result.stderr


@pytest.mark.parametrize("edit, field", [
    (lambda c: c["linux"].update(intelRdt={"closID": "x"}), "linux.intelRdt"),
    (lambda c: c["linux"]["resources"].update(blockIO={"weight": 10}), "linux.resources.blockIO"),
    (lambda c: c["linux"]["namespaces"].insert(0, {"type": "time"}), "linux.namespaces[0].type"),
    (lambda c: c["linux"]["resources"].update(memory={"swappiness": 10}), "linux.resources.memory.swappiness"),
    (lambda c: c["process"].update(cwd=7), "process.cwd"),
    (lambda c: c["process"].update(cwd="relative"), "process.cwd"),
    (lambda c: c["process"].update(args=[]), "process.args"),
    (lambda c: c.update(ociVersion="2.0.0"), "ociVersion"),
])
def test_unsupported_or_invalid_fields_are_refused_by_name_and_leave_no_state(engines, bundle, edit, field):
    b = bundle(["true"])
    edit_config(b, edit)
    e = engines["minicontainer"]
    result = e("create", "--bundle", str(b), "refused")
    assert result.returncode == 1
    assert f"config.json: {field}:" in result.stderr, result.stderr
    assert e("state", "refused").returncode != 0
    assert not (e.root / "containers").exists() or not list((e.root / "containers").iterdir())


def test_bad_bundles_and_ids_are_clear_errors(engines, bundle, tmp_path):
    e = engines["minicontainer"]
    missing = e("create", "--bundle", str(tmp_path / "nowhere"), "x")
    assert missing.returncode == 1 and "bundle directory not found" in missing.stderr
    b = bundle(["true"])
    shutil.rmtree(b / "rootfs")
    no_root = e("create", "--bundle", str(b), "x")
    assert no_root.returncode == 1 and "root filesystem not found" in no_root.stderr
    good = bundle(["sleep", "30"], name="good")
    slash = e("create", "--bundle", str(good), "a/b")
    assert slash.returncode == 1 and "invalid container id" in slash.stderr
    e("create", "--bundle", str(good), "twice", check=True)
    e.state("twice")
    again = e("create", "--bundle", str(good), "twice")
    assert again.returncode == 1 and "container with id exists: twice" in again.stderr


def test_start_of_a_container_that_is_not_created_is_refused(engines, bundle):
    b = bundle(["sleep", "30"])
    e = engines["minicontainer"]
    e("create", "--bundle", str(b), "once", check=True)
    e.state("once")
    e("start", "once", check=True)
    again = e("start", "once")
    assert again.returncode == 1 and "running" in again.stderr
    e("kill", "once", "KILL", check=True)
    deadline = time.monotonic() + 5
    while e.state("once")["status"] != "stopped" and time.monotonic() < deadline:
        e.reap()
        time.sleep(0.02)
    stopped = e("start", "once")
    assert stopped.returncode == 1 and "stopped" in stopped.stderr
    unknown = e("start", "never-made")
    assert unknown.returncode == 1 and "does not exist" in unknown.stderr


def test_systemd_cgroup_is_refused_clearly(engines):
    result = engines["minicontainer"]("--systemd-cgroup", "list")
    assert result.returncode == 1 and "--systemd-cgroup is not supported" in result.stderr


def test_log_file_gets_errors_as_json(engines, tmp_path):
    log = tmp_path / "log.json"
    e = engines["minicontainer"]
    e("--log", str(log), "--log-format", "json", "start", "nothing-here")
    line = json.loads(log.read_text().splitlines()[-1])
    assert line["level"] == "error" and "nothing-here" in line["msg"]


def test_spec_writes_the_same_fields_as_runc_spec(tmp_path):
    import subprocess
    if not RUNC:
        pytest.fail("runc is missing: scripts/host-deps.sh installs it")
    for name, binary in (("mc", oci_binary()), ("runc", RUNC)):
        (tmp_path / name).mkdir()
        subprocess.run([binary, "spec", "--bundle", str(tmp_path / name)], check=True)
    mine = json.loads((tmp_path / "mc" / "config.json").read_text())
    theirs = json.loads((tmp_path / "runc" / "config.json").read_text())
    assert mine["mounts"] == theirs["mounts"]
    assert mine["linux"] == theirs["linux"]
    assert mine["process"] == theirs["process"]


def test_features_says_what_the_runtime_supports():
    import subprocess
    doc = json.loads(subprocess.run([oci_binary(), "features"], capture_output=True, text=True, check=True).stdout)
    assert doc["ociVersionMax"].startswith("1.")
    assert "createRuntime" in doc["hooks"] and "rbind" in doc["mountOptions"]
    assert doc["linux"]["cgroup"]["systemd"] is False
    assert "SCMP_ACT_ERRNO" in doc["linux"]["seccomp"]["actions"]


def test_a_config_without_process_creates_but_cannot_start(engines, bundle):
    b = bundle(["true"])  # the spec: `start` MUST generate an error if `process` was not set
    edit_config(b, lambda c: c.pop("process"))
    e = engines["minicontainer"]
    e("create", "--bundle", str(b), "empty", check=True)
    assert e.state("empty")["status"] == "created"
    refused = e("start", "empty")
    assert refused.returncode == 1 and "no process" in refused.stderr
    assert e.state("empty")["status"] == "stopped"
    e("delete", "empty", check=True)
