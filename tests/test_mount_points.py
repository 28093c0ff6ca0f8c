"""Mount points: made when an image or a --rootfs directory lacks them, in the container's own layer (lesson 09).

`FROM scratch` images (hello-world, an umoci-made image) have no /proc, /dev or /sys, and a `-v`
target may name a directory no image has. runc creates mount points; so does minicontainer, and it
creates them where only the container sees them: its overlay's upper directory. A shared image layer
or a --rootfs directory is never written to (the default busybox rootfs once got a /www that way).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from minicontainer import container
from minicontainer.image import prepare_default_image

LAUNCHER = str(Path(sys.executable).parent / "minicontainer")


def mc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([LAUNCHER, *args], capture_output=True, text=True, timeout=60)


def tree(root: Path) -> list[str]:
    """Every path under root (relative), to compare a directory before and after."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def bare(tmp_path) -> Path:
    """A root filesystem with one static binary and nothing else: no /proc, /dev, /sys, /etc, /tmp."""
    root = tmp_path / "bare"
    (root / "bin").mkdir(parents=True)
    shutil.copy2("/bin/busybox", root / "bin" / "busybox")
    return root


def test_a_from_scratch_image_with_one_static_binary_runs(paths, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    shutil.copy2("/bin/busybox", ctx / "busybox")
    (ctx / "Dockerfile").write_text('FROM scratch\nCOPY busybox /busybox\nENTRYPOINT ["/busybox"]\n')
    built = mc("build", "-t", "scratchy:1", str(ctx))
    assert built.returncode == 0, built.stderr
    from minicontainer.image.run import for_run
    layers = [Path(p) for p in for_run(paths, "scratchy:1", [], None).layers]
    before = [tree(layer) for layer in layers]
    assert before == [["busybox"]], "the image should hold one file"
    ran = mc("run", "--rm", "-v", f"{tmp_path}:/data", "--tmpfs", "/scratch", "scratchy:1", "sh", "-c",
             "cat /proc/1/comm; ls /dev/null /sys/kernel /data/ctx/busybox; cat /etc/hosts | head -1; mount | grep -c ' /scratch '")
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0] == "busybox" and "/dev/null" in lines[1:4] and "/data/ctx/busybox" in lines[1:4]
    assert lines[-2].startswith("127.0.0.1") and lines[-1] == "1"
    assert [tree(layer) for layer in layers] == before, "the image's layer must not change"


def test_a_rootfs_directory_without_mount_points_runs_and_stays_as_it_was(paths, bare):
    before = tree(bare)
    ran = mc("run", "--rm", "--rootfs", str(bare), "-v", "/tmp:/www", "--tmpfs", "/run/x", "/bin/busybox", "sh", "-c",
             "for p in /proc/1 /dev/zero /sys/class /www /run/x; do test -e $p && echo $p; done")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["/proc/1", "/dev/zero", "/sys/class", "/www", "/run/x"]
    assert tree(bare) == before, "a --rootfs directory is shared: the runtime must not make mount points in it"


def test_a_rootfs_directory_with_its_mount_points_is_used_as_it_is(paths, busybox_rootfs):
    """The overlay is only for what is missing: the course's busybox rootfs has them all."""
    cid = mc("run", "-d", "--rootfs", str(busybox_rootfs), "sleep", "30").stdout.strip()
    try:
        assert not container.find(paths, cid).spec.get("layers"), "no overlay needed here"
    finally:
        mc("rm", "-f", cid)


def test_a_volume_target_the_image_lacks_lands_in_the_containers_own_layer(paths, tmp_path):
    prepare_default_image(paths)
    from minicontainer.image.run import for_run
    layers = [Path(p) for p in for_run(paths, "busybox", [], None).layers]
    before = [tree(layer) for layer in layers]
    assert mc("run", "--name", "vol", "-v", f"{tmp_path}:/srv/new/www", "busybox", "ls", "-d", "/srv/new/www"
              ).stdout == "/srv/new/www\n"
    assert [tree(layer) for layer in layers] == before, "the image's layers must not change"
    upper = paths.containers_dir / container.find(paths, "vol").id / "upper"
    assert (upper / "srv" / "new" / "www").is_dir(), "the mount point belongs to the container's upper dir"
    mc("rm", "vol")


def test_a_mount_point_that_cannot_be_made_is_one_line_with_one_fix(paths, bare):
    (bare / "proc").write_text("a file where a directory must be\n")
    before = tree(bare)
    ran = mc("run", "--rm", "--rootfs", str(bare), "/bin/busybox", "true")
    assert ran.returncode == 125 and ran.stderr.count("\n") == 1, ran.stderr
    assert ran.stderr.count("Fix:") == 1, f"the fix must be printed once: {ran.stderr}"
    assert "mount(proc" in ran.stderr
    assert tree(bare) == before
    assert mc("ps", "-aq").stdout == ""
