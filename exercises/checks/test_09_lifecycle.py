"""Checks for lesson 09 (the container's life). Run them with `make check EX=09`, or `check("9.2")` in the notebook.

9.1 and 9.2 are plain functions of their arguments; 9.3 and 9.4 work in a temporary directory that
plays a container's root filesystem, with the symlinks images and containers can hold. The milestone
runs your runtime (`minicontainer --yours=09`): create and start, a restart policy, a named volume, cp.
"""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from minicontainer.errors import ContainerError
from minicontainer.state import CREATED, EXITED, RESTARTING, RUNNING, Container


def record(status: str) -> Container:
    return Container(id="c0ffee" * 10 + "c0ff", name="web", image="busybox", command=["true"], rootfs="/",
                     status=status)


# --- 9.1 transition ----------------------------------------------------------------------------

@pytest.mark.exercise("9.1")
def test_transition_follows_the_table_and_stamps_the_time(ex):
    c = record(CREATED)
    got = ex.transition(c, "start")
    assert got is c, "transition() changes the record it is given and returns it"
    assert c.status == RUNNING, f"created --start--> should give running, got {c.status!r}"
    assert c.started > 0 and c.finished == 0, "entering running stamps `started` (STAMPS), and only that"
    ex.transition(c, "restart")
    assert c.status == RESTARTING and c.finished >= c.started, "running --restart--> restarting stamps `finished`"
    ex.transition(c, "start")
    ex.transition(c, "exit")
    assert c.status == EXITED
    assert ex.transition(c, "start").status == RUNNING, "an exited container may start again (exited --start-->)"


@pytest.mark.exercise("9.1")
@pytest.mark.parametrize("status, event", [(RUNNING, "start"), (EXITED, "exit"), (CREATED, "restart")])
def test_transition_refuses_what_the_table_does_not_have(ex, status, event):
    c = record(status)
    with pytest.raises(ContainerError) as info:
        ex.transition(c, event)
    assert f"is {status}: it cannot {event}" in str(info.value), f"the message should say why: {info.value}"
    assert c.status == status and c.started == 0, "a refused transition must leave the record as it was"


# --- 9.2 should_restart --------------------------------------------------------------------------

@pytest.mark.exercise("9.2")
@pytest.mark.parametrize("policy, code, count, stopped, want", [
    ("no", 1, 0, False, False),
    ("always", 0, 0, False, True),
    ("always", 1, 7, False, True),
    ("always", 1, 0, True, False),
    ("unless-stopped", 0, 3, False, True),
    ("unless-stopped", 0, 3, True, False),
    ("on-failure", 0, 0, False, False),
    ("on-failure", 3, 100, False, True),
    ("on-failure:2", 3, 0, False, True),
    ("on-failure:2", 3, 1, False, True),
    ("on-failure:2", 3, 2, False, False),
    ("on-failure:2", 3, 0, True, False),
])
def test_should_restart_is_dockers_rule(ex, policy, code, count, stopped, want):
    got = ex.should_restart(policy, code, count, stopped)
    assert got is want, (f"should_restart({policy!r}, exit_code={code}, restart_count={count}, stopped={stopped}) "
                         f"returned {got!r}; Docker's answer is {want}")


# --- 9.3 mount_point -------------------------------------------------------------------------------

@pytest.mark.exercise("9.3")
def test_mount_point_makes_what_is_missing_and_returns_it(ex, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    got = ex.mount_point(str(root), "/proc")
    assert got == str(root / "proc") and (root / "proc").is_dir(), f"mount_point(root, '/proc') returned {got!r}"
    got = ex.mount_point(str(root), "/etc/hosts", is_dir=False)
    assert got == str(root / "etc" / "hosts") and (root / "etc" / "hosts").is_file(), \
        "is_dir=False makes an empty file to mount a file on (and its parent directories)"
    (root / "data").mkdir()
    (root / "data" / "keep").write_text("mine\n")
    assert ex.mount_point(str(root), "/data/") == str(root / "data")
    assert (root / "data" / "keep").read_text() == "mine\n", "what is there must be left as it is"


@pytest.mark.exercise("9.3")
def test_mount_point_follows_the_images_symlinks_inside_it(ex, tmp_path):
    root, host = tmp_path / "root", tmp_path / "host"
    root.mkdir()
    host.mkdir()
    os.symlink(str(host), root / "evil")            # an absolute link: /evil is the container's <host path>
    os.symlink("../../../..", root / "up")          # a relative one that climbs: stops at the root
    got = ex.mount_point(str(root), "/evil/sub")
    assert not (host / "sub").exists(), "a mount point was made on the host through the image's symlink"
    assert got == str(root / str(host).lstrip("/") / "sub") and os.path.isdir(got)
    assert ex.mount_point(str(root), "/up/www") == str(root / "www"), "`..` stops at the container's root"


# --- 9.4 resolve_in_container ----------------------------------------------------------------------

@pytest.fixture
def croot(tmp_path):
    """A container's root with links inside it, and links that point out."""
    root = tmp_path / "root"
    (root / "data" / "sub").mkdir(parents=True)
    os.symlink("/data/sub", root / "data" / "abs")
    os.symlink("sub", root / "data" / "rel")
    os.symlink("../../../../etc", root / "data" / "esc")
    os.symlink("loop", root / "loop")
    return root


@pytest.mark.exercise("9.4")
@pytest.mark.parametrize("path, want", [
    ("/data/sub/f", "data/sub/f"),
    ("data/./sub/", "data/sub"),
    ("/data/abs/f", "data/sub/f"),
    ("/data/rel/f", "data/sub/f"),
    ("/data/sub/../rel/x", "data/sub/x"),
    ("/", ""),
])
def test_resolve_in_container_follows_links_the_containers_way(ex, croot, path, want):
    got = ex.resolve_in_container(str(croot), path)
    expected = os.path.join(str(croot), *[p for p in want.split("/") if p])
    assert got == expected, f"resolve_in_container(root, {path!r}) returned {got!r}; expected {expected!r}"


@pytest.mark.exercise("9.4")
@pytest.mark.parametrize("path", ["/../etc/passwd", "/data/../../etc", "/data/esc/passwd", "/data/esc"])
def test_resolve_in_container_refuses_what_points_out(ex, croot, path):
    with pytest.raises(ContainerError) as info:
        ex.resolve_in_container(str(croot), path)
    assert "points out of the container" in str(info.value), f"for {path!r}: {info.value}"


@pytest.mark.exercise("9.4")
def test_resolve_in_container_stops_a_symlink_loop(ex, croot):
    with pytest.raises(ContainerError, match="too many levels of symbolic links"):
        ex.resolve_in_container(str(croot), "/loop/x")


# --- the milestone: your runtime takes containers through their life -----------------------------

@pytest.mark.milestone("your runtime took containers through their life: create, start, restarts, a volume, cp")
def test_milestone_your_runtime_runs_a_containers_life(yours, tmp_path):
    tag = uuid.uuid4().hex[:8]
    box, flaky, keeper, volume = (f"mc-m09-{what}-{tag}" for what in ("box", "flaky", "keeper", "vol"))
    here = {"MC_RUN_DIR": str(tmp_path / "run")}  # this check's containers apart (images and volumes: the usual)

    def mc(*args: str, **kwargs) -> subprocess.CompletedProcess:
        """`minicontainer --yours=09 ARGS` with this check's containers."""
        return yours(*args, env=here, **kwargs)

    try:
        mc("create", "--name", box, "--network", "none", "busybox", "sh", "-c",
           "echo inside > /note; ln -s ../../../../etc /esc; echo started")
        status = mc("inspect", "-f", "{{.State.Status}}", box).stdout.strip()
        assert status == "created", f"after `create` your runtime says the container is {status!r}; expected created (9.1)"
        out = mc("start", "-a", box).stdout
        assert out == "started\n", f"`start -a` printed {out!r}; expected the workload's 'started' (9.1, 9.3)"
        status = mc("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", box).stdout.strip()
        assert status == "exited 0", f"after its workload ended the container is {status!r}; expected 'exited 0' (9.1)"

        out = mc("run", "--name", flaky, "--network", "none", "--restart", "on-failure:2", "busybox", "sh", "-c",
                 "echo run; exit 3", ok={3}, why="3 expected: the workload's last exit status").stdout
        count = mc("inspect", "-f", "{{.RestartCount}}", flaky).stdout.strip()
        assert out == "run\n" * 3 and count == "2", \
            f"--restart on-failure:2 ran the workload {out.count('run')} times (RestartCount {count}); expected " \
            "3 runs: the first and exactly two restarts (9.2, and 9.1 for the restarting state)"

        mc("run", "--name", keeper, "--network", "none", "-v", f"{volume}:/data", "busybox", "sh", "-c",
           "echo kept > /data/file; echo lost > /file")
        mc("rm", keeper)
        out = mc("run", "--rm", "--network", "none", "-v", f"{volume}:/data", "busybox", "sh", "-c",
                 "cat /data/file; cat /file 2>/dev/null || echo no /file").stdout
        assert out == "kept\nno /file\n", \
            f"after `rm`, a new container with the volume printed {out!r}; expected the volume's file only " \
            "(9.3: /data, which busybox lacks, is made in the container's own layer)"

        out_dir = tmp_path / "out"
        out_dir.mkdir()
        mc("cp", f"{box}:/note", str(out_dir))
        copied = (out_dir / "note").read_text() if (out_dir / "note").exists() else None
        assert copied == "inside\n", f"`cp {box}:/note` gave {copied!r}; expected the container's file (9.4)"
        for escaping in ("/../../../../etc/passwd", "/esc/passwd"):
            refused = mc("cp", f"{box}:{escaping}", str(out_dir), ok=False)
            assert refused.returncode == 1 and "points out of the container" in refused.stderr, \
                f"`cp {box}:{escaping}` exited {refused.returncode} ({refused.stderr.strip()!r}); it must be " \
                "refused: the path leaves the container (9.4)"
        assert sorted(os.listdir(out_dir)) == ["note"], f"a refused cp left {sorted(os.listdir(out_dir))} (9.4)"
    finally:
        yours.package("rm", "-f", box, flaky, keeper, env=here)
        yours.package("volume", "rm", volume)
