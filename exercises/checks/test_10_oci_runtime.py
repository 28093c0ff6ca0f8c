"""Checks for lesson 10 (the OCI runtime). Run them with `make check EX=10`, or `check("10.2")` in the notebook.

Each part is compared with what the runtime needs from it: the mounts of runc's own default config.json,
the namespaces of a bundle, the state runc prints, a hook that reads its stdin."""

from __future__ import annotations

import json
import time

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
    runc_default = default_config()["linux"]["namespaces"]
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
