"""Checks for lesson 05 (images). Run them with `make check EX=05`, or `check("5.2")` in the notebook.

The checks compare your answers with real data: tar files with the tricks of real CVEs, the kernel's
overlayfs (whiteouts are mounted for real), and Docker's documented rules. The milestone loads an
image archive with your runtime, runs it, and offers it evil layers and a tampered blob.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from minicontainer.errors import ContainerError
from minicontainer.image.config import DEFAULT_PATH
from minicontainer.image.unpack import LayerError


@pytest.mark.exercise("5.1")
def test_write_verified_names_and_stores_the_bytes(ex):
    data = bytes(range(256)) * 4000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    out = io.BytesIO()
    chunks = [data[i:i + 65536] for i in range(0, len(data), 65536)]
    got = ex.write_verified(iter(chunks), out, digest, len(data))
    assert tuple(got) == (digest, len(data)), f"write_verified returned {got!r}; expected ({digest!r}, {len(data)})"
    assert out.getvalue() == data, "write_verified did not write the chunks to `out`, in order"
    assert tuple(ex.write_verified(iter([b"abc"]), io.BytesIO(), None, None))[1] == 3, "with nothing expected it must still count"


@pytest.mark.exercise("5.1")
def test_write_verified_refuses_a_wrong_blob(ex):
    data = b"layer data" * 1000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    tampered = data[:-1] + b"X"
    for chunks, size, why in [([tampered], len(data), "a changed byte"), ([data, b"more"], len(data), "extra bytes"),
                              ([data[:-5]], len(data), "missing bytes")]:
        with pytest.raises(ContainerError, match="."):
            ex.write_verified(iter(chunks), io.BytesIO(), digest, size)
            pytest.fail(f"write_verified accepted {why}; it must raise ContainerError (step 'verify blob')")

    def endless():
        while True:
            yield b"x" * 65536

    with pytest.raises(ContainerError):
        ex.write_verified(endless(), io.BytesIO(), digest, len(data))  # must stop, not read forever


@pytest.mark.exercise("5.2")
def test_clean_confines_names_to_the_root(ex):
    cases = {"etc/passwd": ["etc", "passwd"], "/etc/passwd": ["etc", "passwd"], "./bin/./sh": ["bin", "sh"],
             "a//b/": ["a", "b"], ".": [], "/": []}
    for name, want in cases.items():
        got = ex.clean(name, "entry")
        assert list(got) == want, f"clean({name!r}, 'entry') returned {got!r}, expected {want!r}"


@pytest.mark.exercise("5.2")
def test_clean_refuses_names_that_climb(ex):
    for evil in ("../etc/passwd", "a/../../x", "/..", "a/..", "usr/lib/../../../host"):
        with pytest.raises(LayerError, match="hard link target"):
            ex.clean(evil, "hard link target")
            pytest.fail(f"clean({evil!r}, ...) did not raise LayerError")


def _with_dir(path: Path):
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY)


@pytest.mark.exercise("5.3")
def test_apply_whiteout_hides_files_in_a_real_overlay(ex, tmp_path):
    lower, layer, mnt = tmp_path / "lower", tmp_path / "layer", tmp_path / "mnt"
    for path in ("etc/motd", "etc/hosts", "cache/a", "cache/b"):
        (lower / path).parent.mkdir(parents=True, exist_ok=True)
        (lower / path).write_text("x")
    for d in ("etc", "cache"):
        (layer / d).mkdir(parents=True)
    (layer / "etc/motd").mkdir()           # this layer's own motd (a directory): the whiteout replaces it
    (layer / "etc/motd/inside").write_text("y")
    mnt.mkdir()
    etc, cache = _with_dir(layer / "etc"), _with_dir(layer / "cache")
    try:
        assert ex.apply_whiteout(etc, ".wh.motd") is True
        assert ex.apply_whiteout(cache, ".wh..wh..opq") is True
        assert ex.apply_whiteout(etc, "hosts") is False, "a normal entry is not a whiteout"
        assert ex.apply_whiteout(etc, ".wh..wh.plnk") is True and not os.path.lexists(layer / "etc/.wh.plnk"), \
            "aufs metadata (.wh..wh.XXX) is a whiteout entry with nothing to do"
    finally:
        os.close(etc)
        os.close(cache)
    st = os.lstat(layer / "etc/motd")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0, "etc/motd must be a 0/0 character device (it replaced a directory)"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={layer}:{lower}", str(mnt)], check=True)
    try:
        seen = sorted(str(p.relative_to(mnt)) for p in mnt.rglob("*"))
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    assert seen == ["cache", "etc", "etc/hosts"], \
        f"the overlay shows {seen}, expected ['cache', 'etc', 'etc/hosts'] (motd deleted, cache emptied)"


@pytest.mark.exercise("5.3")
def test_apply_whiteout_never_follows_a_symlink(ex, tmp_path):
    outside, layer = tmp_path / "outside", tmp_path / "layer"
    outside.mkdir()
    (outside / "precious").write_text("keep")
    layer.mkdir()
    os.symlink(outside, layer / "link")
    fd = _with_dir(layer)
    try:
        ex.apply_whiteout(fd, ".wh.link")
    finally:
        os.close(fd)
    assert (outside / "precious").read_text() == "keep", "removing 'link' deleted what it points to: unlink the link itself"
    assert stat.S_ISCHR(os.lstat(layer / "link").st_mode), "the whiteout replaced the symlink with a 0/0 device"


@pytest.mark.exercise("5.4")
def test_process_from_config_follows_dockers_rules(ex):
    image = {"Entrypoint": ["echo", "ep"], "Cmd": ["default"], "Env": ["PATH=/opt/bin", "A=1"], "WorkingDir": "/app",
             "User": "web"}
    cases = [
        (({}, []), {}, ["sh"], None),
        ((image, []), {}, ["echo", "ep", "default"], None),
        ((image, ["x"]), {}, ["echo", "ep", "x"], None),
        ((image, ["x"]), {"entrypoint": "printf"}, ["printf", "x"], None),
        ((image, []), {"entrypoint": ["", "printf"]}, ["printf"], None),
        (({"Cmd": ["ls"]}, ["pwd"]), {}, ["pwd"], None),
    ]
    for (config, args), kwargs, want, _ in cases:
        config = config or {"Cmd": ["sh"]}
        got = ex.process_from_config(config, args, **kwargs)
        assert list(got.argv) == want, f"process_from_config({config}, {args}, {kwargs}).argv = {got.argv}; expected {want}"
    got = ex.process_from_config(image, [], env=["A=2", "B=3"])
    assert list(got.env) == ["PATH=/opt/bin", "A=2", "B=3"], f"Env with -e A=2 -e B=3 gave {got.env}"
    assert (got.cwd, got.user) == ("/app", "web"), f"cwd, user = {got.cwd!r}, {got.user!r}; expected the image's"
    got = ex.process_from_config({"config": {"Cmd": ["sh"], "Env": ["A=1"]}, "rootfs": {}}, [], workdir="/tmp", user="0")
    assert list(got.env) == ["A=1", f"PATH={DEFAULT_PATH}"] and (got.cwd, got.user) == ("/tmp", "0"), \
        f"a whole config JSON with workdir/user given: {got}"
    assert ex.process_from_config({"Cmd": ["sh"]}, []).cwd == "/", "no WorkingDir anywhere: cwd '/'"


@pytest.mark.exercise("5.4")
def test_process_from_config_needs_a_command(ex):
    with pytest.raises(ContainerError, match="no command"):
        ex.process_from_config({"Env": ["A=1"]}, [])


# --- the milestone: your runtime -----------------------------------------------------------------

def _tar(entries: list[tuple[str, str, bytes | str]]) -> bytes:
    """A tar from (name, kind, data or link target) triples; kinds: file, dir, symlink."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        for name, kind, value in entries:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                t.addfile(info)
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, str(value)
                t.addfile(info)
            else:
                data = value if isinstance(value, bytes) else value.encode()
                info.size, info.mode = len(data), 0o644
                t.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _rootfs_tar() -> bytes:
    root = Path(os.environ.get("MC_LIB_DIR", "/var/lib/minicontainer")) / "rootfs" / "busybox"
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        t.add(root, arcname=".")
    return out.getvalue()


def _docker_archive(path: Path, tag: str, layers: list[bytes], config: dict) -> Path:
    """A `docker save` archive: manifest.json, the config, one tar per layer."""
    config = dict(config, architecture="amd64", os="linux",
                  rootfs={"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(t).hexdigest() for t in layers]})
    config_bytes = json.dumps(config).encode()
    with tarfile.open(path, "w") as t:
        files = {f"{hashlib.sha256(config_bytes).hexdigest()}.json": config_bytes}
        names = []
        for i, layer in enumerate(layers):
            names.append(f"layer{i}/layer.tar")
            files[names[-1]] = layer
        files["manifest.json"] = json.dumps([{"Config": next(iter(files)), "RepoTags": [tag], "Layers": names}]).encode()
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.milestone("your runtime loaded and ran an image, refused evil layers and a tampered blob")
def test_milestone_your_runtime_loads_and_runs_images(yours, tmp_path):
    """In a store of its own (MC_LIB_DIR): every blob is stored and every layer unpacked by your code."""
    tag = f"localhost/mc-m05-{os.getpid()}:1"
    base = _rootfs_tar()
    lib = {"MC_LIB_DIR": str(tmp_path / "lib")}
    top = _tar([("etc/motd", "file", "made by the top layer\n"), ("bin/.wh.vi", "file", b""), ("srv", "dir", b"")])
    config = {"config": {"Entrypoint": ["sh", "-c"], "Env": ["GREETING=hello"], "WorkingDir": "/srv", "User": "nobody",
                         "Cmd": ['echo "$GREETING from $(pwd) as $(id -un)"; ls /bin/vi 2>&1; cat /etc/motd']}}
    evil_tags = [f"localhost/mc-m05-evil{i}-{os.getpid()}:1" for i in range(2)]
    escaped = tmp_path / "escaped"
    evil_layers = [_tar([("../../../../../../../../../.." + str(escaped), "file", "pwned")]),
                   _tar([("lib", "symlink", str(tmp_path)), ("lib/escaped", "file", "pwned")])]
    try:
        yours("load", "-i", str(_docker_archive(tmp_path / "m05.tar", tag, [base, top], config)), env=lib)
        out = yours("run", "--rm", tag, env=lib).stdout.splitlines()
        assert out[:1] == ["hello from /srv as nobody"], \
            f"your container of the image printed {out[:1]}; expected the image's Env, WorkingDir and User at work (5.4)"
        assert "No such file" in out[1], f"/bin/vi is still in the image ({out[1]!r}): the top layer's whiteout (5.3)"
        assert out[2:] == ["made by the top layer"], f"/etc/motd reads {out[2:]}"
        for evil_tag, layer in zip(evil_tags, evil_layers):
            yours("load", "-i", str(_docker_archive(tmp_path / "evil.tar", evil_tag, [base, layer], config)), env=lib)
            run = yours("run", "--rm", evil_tag, ok=False, env=lib)
            assert not escaped.exists(), f"an evil layer of {evil_tag} wrote {escaped} on the host!"
            refused = run.returncode == 125 and ("unpack" in run.stderr.lower() or "layer" in run.stderr.lower())
            assert refused, \
                f"the evil layer was not refused with a clear error: {run.stderr.strip()[-200:]}"
        yours("save", "-o", str(tmp_path / "oci.tar"), tag, env=lib)
        _tamper_config(tmp_path / "oci.tar", tmp_path / "tampered.tar")
        load = yours("load", "-i", str(tmp_path / "tampered.tar"), ok=False, env={"MC_LIB_DIR": str(tmp_path / "fresh")})
        assert load.returncode != 0 and "digest" in load.stderr, \
            f"loading an archive whose config blob was changed gave {load.returncode}: {load.stderr.strip()[-200:]} (5.1)"
    finally:
        yours("rmi", tag, *evil_tags, ok=False, env=lib)


def _tamper_config(source: Path, dest: Path) -> None:
    """Copy an OCI archive, changing one byte of the image's config blob (its name stays: the digest lies)."""
    with tarfile.open(source) as src, tarfile.open(dest, "w") as out:
        members = {m.name: src.extractfile(m).read() if m.isreg() else None for m in src.getmembers()}
        index = json.loads(members["index.json"])
        manifest = json.loads(members["blobs/sha256/" + index["manifests"][0]["digest"][7:]])
        config_name = "blobs/sha256/" + manifest["config"]["digest"][7:]
        members[config_name] = members[config_name].replace(b"hello", b"HELLO")
        for m in src.getmembers():
            data = members[m.name]
            if data is not None:
                m.size = len(data)
            out.addfile(m, io.BytesIO(data) if data is not None else None)
