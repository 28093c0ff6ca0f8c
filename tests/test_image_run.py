"""`run IMAGE` applies the image config as Docker does; `commit` turns a container's changes into a layer."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from image_helpers import default_store, variant
from minicontainer.image import Store, prepare_default_image
from minicontainer.image.config import command_line


def mc(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minicontainer", *args], capture_output=True, text=True,
                          check=check, timeout=60)


@pytest.fixture
def store(paths) -> Store:
    return default_store(paths)



@pytest.mark.parametrize("entrypoint,cmd,args,override,want", [
    (None, ["sh"], [], None, ["sh"]),
    (["echo", "ep"], ["default"], [], None, ["echo", "ep", "default"]),
    (["echo", "ep"], ["default"], ["x"], None, ["echo", "ep", "x"]),
    (["echo", "ep"], ["default"], ["x"], "printf", ["printf", "x"]),
    (["echo", "ep"], ["default"], [], "printf", ["printf"]),
    (None, ["ls"], ["pwd"], None, ["pwd"]),
])
def test_entrypoint_cmd_rules_match_docker(entrypoint, cmd, args, override, want):
    assert command_line(entrypoint, cmd, args, override) == want


def test_no_command_is_a_clear_error():
    with pytest.raises(Exception, match="no command specified"):
        command_line(None, None, [])


def test_run_default_image_by_name_uses_its_cmd_and_env(store):
    out = mc("run", "busybox", "sh", "-c", 'echo "$PATH"; cat /etc/os-release 2>/dev/null; pwd').stdout
    assert out.splitlines()[0].endswith("/bin") and out.splitlines()[-1] == "/"
    assert mc("run", "localhost/busybox:latest").returncode == 0      # Cmd ["sh"], stdin empty


def test_run_applies_entrypoint_cmd_env_workdir(store):
    variant(store, "ep:1", Entrypoint=["echo", "ep"], Cmd=["default"], Env=["PATH=/bin", "GREETING=hi"],
             WorkingDir="/etc")
    assert mc("run", "ep:1").stdout == "ep default\n"
    assert mc("run", "ep:1", "x", "y").stdout == "ep x y\n"
    assert mc("run", "--entrypoint", "sh", "ep:1", "-c", 'echo "$GREETING $(pwd)"').stdout == "hi /etc\n"
    assert mc("run", "-e", "GREETING=bye", "--entrypoint", "sh", "ep:1", "-c", 'echo $GREETING').stdout == "bye\n"


def test_commit_makes_a_layer_on_top_of_the_shared_base(store, paths):
    mc("run", "--name", "changer", "busybox", "sh", "-c", "echo new > /hello; rm /etc/group; mkdir -p /srv/x")
    assert mc("commit", "changer", "changed:1").returncode == 0
    base = store.resolve("localhost/busybox:latest")
    image = store.resolve("changed:1")
    assert image.layers[:1] == base.layers, "the base layer must be shared, not copied"
    assert len(image.layers) == 2
    out = mc("run", "changed:1", "sh", "-c", "cat /hello; ls /etc/group 2>&1; ls -d /srv/x").stdout
    assert out.splitlines()[0] == "new" and "No such file" in out and "/srv/x" in out
    mc("rm", "changer")


def test_unknown_image_is_a_clear_error(store):
    res = mc("run", "nosuch:1", "true", check=False)
    assert res.returncode == 125 and "nosuch:1" in res.stderr


def test_cli_images_save_load_inspect_rmi_prune(store, tmp_path):
    import json

    listing = mc("images").stdout.splitlines()
    assert listing[0].split()[:2] == ["REPOSITORY", "TAG"] and listing[1].split()[:2] == ["localhost/busybox", "latest"]
    archive = tmp_path / "busybox.tar"
    mc("save", "-o", str(archive), "busybox")
    assert mc("rmi", "busybox").stdout.strip() == "Untagged: localhost/busybox:latest"
    assert mc("images", "-q").stdout == ""
    assert mc("load", "-i", str(archive)).stdout.strip() == "Loaded image: localhost/busybox:latest"
    info = json.loads(mc("image", "inspect", "busybox").stdout)[0]
    assert info["Config"]["config"]["Cmd"] == ["sh"] and len(info["Layers"]) == 1
    assert "Total reclaimed" in mc("image", "prune").stdout
    res = mc("image", "inspect", "nosuch", check=False)
    assert res.returncode == 1 and "not in the local store" in res.stderr  # Docker's status


def test_rmi_refuses_the_last_name_of_an_image_a_container_uses(store):
    variant(store, "used:1", Cmd=["true"])
    store.tag("localhost/used:2", store.resolve("used:1").manifest_digest)
    assert mc("run", "--name", "user", "used:1").returncode == 0  # stopped, not removed
    assert mc("rmi", "used:2").stdout.strip() == "Untagged: localhost/used:2"  # another name is left
    refused = mc("rmi", "used:1", check=False)
    assert refused.returncode == 1 and "conflict: unable to remove repository reference" in refused.stderr
    assert "localhost/used" in mc("images").stdout
    assert mc("rmi", "-f", "used:1").stdout.strip() == "Untagged: localhost/used:1"
    assert mc("rm", "user").returncode == 0


def test_default_image_follows_changes_of_the_rootfs(store, paths):
    before = store.resolve("busybox")
    assert "present" in prepare_default_image(paths)
    (paths.default_rootfs / "etc" / "course-note").write_text("added later\n")
    assert "built" in prepare_default_image(paths)
    after = store.resolve("busybox")
    assert after.id != before.id
    assert mc("run", "--rm", "busybox", "cat", "/etc/course-note").stdout == "added later\n"


def test_image_in_a_user_namespace_is_refused_rather_than_written_into(store):
    res = mc("run", "--userns", "private", "busybox", "touch", "/x", check=False)
    assert res.returncode == 125 and "user namespace" in res.stderr
    layer = store.layer_dirs(store.resolve("busybox"))[0]
    assert not (layer / "x").exists()


def test_save_to_stdout_and_load_from_stdin(store, paths):
    save = subprocess.run([sys.executable, "-m", "minicontainer", "save", "busybox"], capture_output=True, check=True)
    assert len(save.stdout) > 100_000
    mc("rmi", "busybox")
    loaded = subprocess.run([sys.executable, "-m", "minicontainer", "load"], input=save.stdout, capture_output=True,
                            check=True)
    assert loaded.stdout.decode().strip() == "Loaded image: localhost/busybox:latest"
    assert list((paths.lib_dir / "tmp").iterdir()) == []


def test_rmi_keeps_the_layers_of_an_existing_container(store):
    variant(store, "inuse:1", Cmd=["true"])
    mc("run", "--name", "user-of-inuse", "inuse:1")
    image = store.resolve("inuse:1")
    mc("rmi", "-f", "inuse:1")  # (without -f: refused, see above)
    store.gc(grace_seconds=0)
    assert store.has_blob(image.manifest_digest) and all(store.has_blob(layer.digest) for layer in image.layers)
    assert mc("commit", "user-of-inuse", "saved:1").returncode == 0      # commit still finds its base
    mc("rm", "user-of-inuse")
