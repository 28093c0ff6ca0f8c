"""The primers' other commands, as Docker's (lesson 09): tag -> push -> rmi -> pull, cp, top, logs, volumes,
version, info. Each test drives the real CLI on the real kernel in its own MC_LIB_DIR/MC_RUN_DIR; the
registry is Debian's docker-registry on 127.0.0.1 (registry_helpers.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minicontainer import container
from minicontainer.image import prepare_default_image
from registry_helpers import plain_registry  # noqa: F401

LAUNCHER = str(Path(sys.executable).parent / "minicontainer")


def mc(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([LAUNCHER, *args], capture_output=True, text=True, timeout=120, input=stdin)


@pytest.fixture
def image(paths) -> str:
    prepare_default_image(paths)
    return "busybox"


def tree(root: Path) -> dict[str, str]:
    """Every path under root with what it is (and a file's text, a link's target)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = ("link " + os.readlink(p) if p.is_symlink() else "dir" if p.is_dir() else p.read_text())
    return out


# --- tag, push, rmi, pull ------------------------------------------------------------------------

def test_tag_push_rmi_pull_round_trips_through_a_registry(image, plain_registry):  # noqa: F811
    target = f"{plain_registry.address}/primer/busybox:1"
    assert mc("tag", "busybox", target).returncode == 0
    images = mc("images").stdout
    assert f"{plain_registry.address}/primer/busybox" in images
    ids = {line.split()[2] for line in images.splitlines()[1:]}
    assert len(ids) == 1, "a tag is a second name for the same image"
    pushed = mc("push", "-q", target)
    assert pushed.returncode == 0, pushed.stderr
    assert mc("rmi", target).returncode == 0
    assert target.split("/", 1)[1] not in mc("images").stdout
    pulled = mc("pull", "-q", target)
    assert pulled.returncode == 0, pulled.stderr
    assert mc("run", "--rm", "--network", "none", target, "echo", "pulled back").stdout == "pulled back\n"


@pytest.mark.parametrize("name, words", [
    ("Bad:Name", 'Error parsing reference: "Bad:Name" is not a valid repository/tag: invalid reference format'),
    ("a b", 'Error parsing reference: "a b" is not a valid repository/tag: invalid reference format'),
    ("x@sha256:" + "0" * 64, "refusing to create a tag with a digest reference"),
])
def test_tag_refuses_a_name_that_is_not_a_reference(image, name, words):
    before = mc("images").stdout
    out = mc("tag", "busybox", name)
    assert out.returncode == 1 and words in out.stderr and out.stderr.count("\n") == 1, out.stderr
    assert mc("images").stdout == before


def test_tag_of_a_missing_image_is_dockers_error(image):
    out = mc("tag", "no-such:1", "other:1")
    assert out.returncode == 1 and "No such image: no-such:1" in out.stderr


# --- cp --------------------------------------------------------------------------------------------

@pytest.fixture
def web(image):
    """A running container with files, a symlink inside it, and two that point out of it."""
    script = ("mkdir -p /data/sub; echo inside > /data/sub/f; ln -s /data/sub /data/abs; "
              "ln -s ../../../../../etc /data/esc; echo ready; exec sleep 60")
    cid = mc("run", "-d", "--name", "web", "--network", "none", image, "sh", "-c", script).stdout.strip()
    deadline = time.monotonic() + 20
    while "ready" not in mc("logs", "web").stdout and time.monotonic() < deadline:
        time.sleep(0.05)
    yield cid
    mc("rm", "-f", "web")


def test_cp_out_follows_dockers_rules(web, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    assert mc("cp", "web:/data/sub/f", str(out)).returncode == 0          # into a directory: its name
    assert mc("cp", "web:/data/sub/f", str(out / "g")).returncode == 0    # a new name
    assert mc("cp", "web:/data/sub", str(out / "copy")).returncode == 0   # a directory to a new name
    assert mc("cp", "web:/data/sub/.", str(out)).returncode == 0          # only its content
    assert mc("cp", "web:/data/abs", str(out)).returncode == 0            # a symlink is copied as a link
    assert tree(out) == {"f": "inside\n", "g": "inside\n", "copy": "dir", "copy/f": "inside\n",
                         "abs": "link /data/sub"}


def test_cp_in_to_a_running_and_to_a_stopped_container(web, tmp_path, paths):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("hello\n")
    assert mc("cp", str(tmp_path / "site"), "web:/data/").returncode == 0
    assert mc("exec", "web", "cat", "/data/site/index.html").stdout == "hello\n"
    assert mc("exec", "web", "stat", "-c", "%u", "/data/site/index.html").stdout == "0\n", "owned by root (no -a)"
    assert mc("cp", str(tmp_path / "site" / "index.html"), "web:/data/abs/").returncode == 0  # a link inside: followed
    assert mc("exec", "web", "cat", "/data/sub/index.html").stdout == "hello\n"
    mc("stop", "-t", "1", "web")
    assert mc("cp", str(tmp_path / "site" / "index.html"), "web:/stopped.html").returncode == 0
    assert mc("cp", "web:/data/sub/f", str(tmp_path / "from-stopped")).returncode == 0
    assert (tmp_path / "from-stopped").read_text() == "inside\n"
    mounts = Path("/proc/self/mountinfo").read_text()
    assert container.find(paths, "web").id not in mounts, "the stopped container's root stayed mounted"
    assert mc("start", "web").returncode == 0
    assert mc("exec", "web", "cat", "/stopped.html").stdout == "hello\n", "copied into the container's own layer"


@pytest.mark.parametrize("src, dest", [
    ("web:/../../../etc/passwd", "OUT"),        # .. above the root
    ("web:/data/esc/passwd", "OUT"),            # through a symlink that climbs out
    ("web:/data/esc", "OUT/esc-target"),        # not refused: the link itself is copied, not followed
    ("HOST", "web:/data/esc/"),                 # into a symlink that climbs out
    ("HOST", "web:/../../tmp/"),                # .. above the root
])
def test_cp_refuses_paths_that_escape_and_changes_nothing(web, tmp_path, src, dest):
    (tmp_path / "out").mkdir()
    (tmp_path / "host.txt").write_text("from the host\n")
    src = src.replace("HOST", str(tmp_path / "host.txt"))
    dest = dest.replace("OUT", str(tmp_path / "out"))
    before_etc, before_out = tree(Path("/etc")) if False else None, tree(tmp_path / "out")
    result = mc("cp", src, dest)
    if src == "web:/data/esc":
        assert result.returncode == 0 and tree(tmp_path / "out") == {"esc-target": "link ../../../../../etc"}
        return
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "points out of the container" in result.stderr
    assert tree(tmp_path / "out") == before_out and before_etc is None
    assert not Path("/etc/host.txt").exists() and not Path("/tmp/host.txt").exists()


def test_cp_errors_use_dockers_words(web, tmp_path):
    missing = mc("cp", "web:/no/such", str(tmp_path))
    assert missing.returncode == 1 and "Could not find the file /no/such in container web" in missing.stderr
    local = mc("cp", str(tmp_path / "nope"), "web:/data/")
    assert local.returncode == 1 and f"lstat {tmp_path / 'nope'}: no such file or directory" in local.stderr
    both = mc("cp", "web:/data", "web:/tmp")
    assert both.returncode == 1 and "copying between containers is not supported" in both.stderr
    none = mc("cp", str(tmp_path), str(tmp_path / "x"))
    assert none.returncode == 1 and "must specify at least one container source" in none.stderr
    (tmp_path / "d").mkdir()
    onto_file = mc("cp", str(tmp_path / "d"), "web:/data/sub/f")
    assert onto_file.returncode == 1 and "cannot copy directory" in onto_file.stderr


# --- top, logs ---------------------------------------------------------------------------------------

def test_top_lists_the_containers_processes_with_host_pids(image, paths):
    cid = mc("run", "-d", "--network", "none", image, "sh", "-c", "sleep 61 & exec sleep 62").stdout.strip()
    try:
        c = container.find(paths, cid)
        deadline = time.monotonic() + 20
        while "sleep 61" not in mc("top", cid).stdout and time.monotonic() < deadline:
            time.sleep(0.05)
        rows = mc("top", cid).stdout.splitlines()
        assert rows[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
        pids = {int(r.split()[1]) for r in rows[1:]}
        assert c.pid in pids and len(rows) == 3 and any(r.endswith("sleep 61") for r in rows)
        assert os.getpid() not in pids
        assert mc("top", cid, "-o", "pid,comm").stdout.split()[:2] == ["PID", "COMMAND"]
    finally:
        mc("rm", "-f", cid)
    assert mc("top", cid).returncode == 1


def test_logs_tail_timestamps_since_and_streams(image):
    cid = mc("run", "-d", "--network", "none", image, "sh", "-c",
             "echo one; echo oops >&2; sleep 1.5; echo two; echo three").stdout.strip()
    c = container.wait_exited(container.default_paths(), container.find(container.default_paths(), cid), 30)
    assert c.exit_code == 0
    everything = mc("logs", cid)
    assert everything.stdout == "one\ntwo\nthree\n" and everything.stderr == "oops\n"
    assert mc("logs", "--tail", "2", cid).stdout == "two\nthree\n"
    assert mc("logs", "-n", "0", cid).stdout == ""
    stamped = mc("logs", "-t", cid).stdout.splitlines()
    times = [line.split()[0] for line in stamped]
    assert all(t.endswith("Z") and "T" in t for t in times) and [line.split()[1] for line in stamped] == ["one", "two", "three"]
    assert mc("logs", "--since", times[1], cid).stdout == "two\nthree\n"
    assert mc("logs", "--until", times[0], cid).stdout == "one\n"
    assert mc("logs", "--since", "1h", cid).stdout == "one\ntwo\nthree\n"
    bad = mc("logs", "--since", "yesterday", cid)
    assert bad.returncode == 1 and 'failed to parse value as time or duration: "yesterday"' in bad.stderr
    mc("rm", cid)


# --- volumes -------------------------------------------------------------------------------------------

def test_a_file_survives_rm_only_in_a_volume(image, paths):
    assert mc("volume", "create", "data").stdout == "data\n"
    assert mc("run", "--name", "first", "--network", "none", "-v", "data:/data", image, "sh", "-c",
              "echo kept > /data/f; echo lost > /f").returncode == 0
    assert mc("volume", "rm", "data").returncode == 1, "a volume a container uses is not removed"
    assert mc("rm", "first").returncode == 0
    second = mc("run", "--rm", "--network", "none", "-v", "data:/data", image, "sh", "-c",
                "cat /data/f; cat /f 2>&1 || true")
    assert second.stdout.splitlines()[0] == "kept" and "No such file" in second.stdout
    assert mc("volume", "ls").stdout.split() == ["DRIVER", "VOLUME", "NAME", "local", "data"]
    info = json.loads(mc("volume", "inspect", "data").stdout)[0]
    assert info["Name"] == "data" and info["Driver"] == "local" and Path(info["Mountpoint"], "f").read_text() == "kept\n"
    assert mc("volume", "rm", "data").stdout == "data\n"
    assert mc("volume", "ls", "-q").stdout == ""


def test_a_new_volume_gets_what_the_image_has_there_and_anonymous_ones_go_with_rm(image, paths):
    out = mc("run", "--name", "anon", "--network", "none", "-v", "/etc", image, "ls", "/etc")
    assert "passwd" in out.stdout.split(), "a new volume is filled from the image (Docker's rule)"
    [name] = mc("volume", "ls", "-q").stdout.split()
    assert len(name) == 64
    assert json.loads(mc("inspect", "anon").stdout)[0]["Mounts"][0]["Type"] == "volume"
    assert mc("rm", "-v", "anon").returncode == 0
    assert mc("volume", "ls", "-q").stdout == "", "rm -v removes the container's anonymous volumes"
    bad = mc("run", "--rm", "--network", "none", "-v", "no/good:/x", image, "true")
    assert bad.returncode == 125 and "includes invalid characters for a local volume name" in bad.stderr


def test_a_new_volume_gets_the_owner_and_mode_of_the_images_mount_point(image, paths, tmp_path):
    """VOLUME /data after `chown www /data`, then USER www: www can write its volume (Docker's rule)."""
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN mkdir /data && chown 1000:1000 /data && chmod 750 /data\n"
                                         "VOLUME /data\nUSER 1000\n")
    assert mc("build", "-q", "-t", "owned:1", str(tmp_path)).returncode == 0
    done = mc("run", "--rm", "--network", "none", "-v", "owned:/data", "owned:1", "sh", "-c",
              "echo mine > /data/f && stat -c '%u %g %a' /data")
    assert done.returncode == 0 and done.stdout == "1000 1000 750\n", done.stdout + done.stderr
    assert mc("volume", "rm", "owned").returncode == 0


# --- version, info ---------------------------------------------------------------------------------

def test_version_and_info_answer_like_dockers(image, paths):
    from minicontainer import __version__
    assert mc("version", "-f", "{{.Client.Version}}").stdout == f"{__version__}\n"
    assert mc("version", "-f", "{{.Server.KernelVersion}}").stdout == f"{os.uname().release}\n"
    assert "Client: minicontainer" in mc("version").stdout
    cid = mc("run", "-d", "--network", "none", image, "sleep", "30").stdout.strip()
    try:
        info = mc("info").stdout
        assert "Containers: 1\n Running: 1" in info and "Images: 1" in info
        assert mc("info", "-f", "{{.ContainersRunning}} {{.KernelVersion}}").stdout == f"1 {os.uname().release}\n"
    finally:
        mc("rm", "-f", cid)
    bad = mc("info", "-f", "{{.NoSuchField}}")
    assert bad.returncode == 1 and 'map has no entry for key "NoSuchField"' in bad.stderr


def test_info_shows_the_registry_settings_of_daemon_json(paths, tmp_path, monkeypatch):
    """The primers check that a mirror took effect with `docker info`; insecure registries show there too."""
    daemon = Path(os.environ["MC_DAEMON_JSON"])
    assert "Insecure Registries:\n 127.0.0.0/8\n" in mc("info").stdout, "loopback is always insecure"
    daemon.write_text(json.dumps({"bridge": "none", "registry-mirrors": ["https://mirror.example.com"],
                                  "insecure-registries": ["10.203.0.1:5000", "10.0.0.0/8"]}))
    shown = mc("info").stdout
    assert "Insecure Registries:\n 10.203.0.1:5000\n 10.0.0.0/8\n 127.0.0.0/8\n" in shown, shown
    assert "Registry Mirrors:\n https://mirror.example.com/\n" in shown, shown
    assert mc("info", "-f", "{{json .RegistryConfig.Mirrors}}").stdout == '["https://mirror.example.com/"]\n'
    daemon.write_text("{not json")
    broken = mc("info")
    assert broken.returncode == 0 and "WARNING: " in broken.stdout and "is not valid JSON" in broken.stdout
