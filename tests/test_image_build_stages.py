"""`build` beyond one stage: multi-stage builds, .dockerignore, the config Docker records, `history`,
the cache at work, and mistakes refused with the Dockerfile line before anything is built."""

from __future__ import annotations

from pathlib import Path

import pytest

from minicontainer.errors import ContainerError
from minicontainer.image import Store, prepare_default_image
from minicontainer.image.build import build
from minicontainer.image.dockerfile import check_cycles, link_stages, parse_dockerfile, split_stages, stages_to_build
from minicontainer.image.history import human_duration, human_size, image_history

from test_image_run import mc

QUIET = {"log": lambda line: None}


@pytest.fixture
def store(paths) -> Store:
    prepare_default_image(paths)
    return Store(paths)


def write(ctx: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = ctx / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return ctx


def snapshot(store: Store, paths) -> dict:
    """What a failed build must not change: names, blobs, temporary files, containers."""
    return {"names": store.names(), "blobs": sorted(p.name for p in store.blobs.iterdir()),
            "tmp": sorted(p.name for p in store.tmp.iterdir() if not p.name.endswith(".lock")),
            "containers": sorted(p.name for p in (paths.run_dir / "containers").glob("*"))}


# --- multi-stage --------------------------------------------------------------------------------

MULTI = """\
FROM busybox AS build
WORKDIR /src
COPY site/ ./
RUN mkdir /out && for f in *.html; do cp $f /out/$f; done && echo compiled > /out/VERSION

FROM busybox AS unused
RUN exit 7

FROM busybox
COPY --from=build /out/ /www/
COPY --from=0 /src/index.html /www/copied-by-index.html
COPY --from=localhost/busybox:latest /etc/passwd /etc/passwd.orig
CMD ["cat", "/www/VERSION"]
"""


def test_multi_stage_keeps_only_what_the_last_stage_copies(paths, store, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": MULTI, "site/index.html": "<h1>hi</h1>\n", "site/a.html": "a\n"})
    log: list[str] = []
    image = build(paths, ctx, tag="multi:1", log=log.append)
    assert not any("exit 7" in line for line in log), "a stage the target does not need was built"
    base = store.resolve("busybox")
    assert image.layers[:-3] == base.layers and len(image.layers) == len(base.layers) + 3, \
        "busybox + three COPYs: the build stage's layers must not be in the image"
    assert mc("run", "--rm", "multi:1").stdout == "compiled\n"
    out = mc("run", "--rm", "multi:1", "sh", "-c", "ls /www /etc/passwd.orig; ls /src 2>&1; true").stdout
    assert "a.html" in out and "copied-by-index.html" in out and "/etc/passwd.orig" in out
    assert "No such file" in out, "the build stage's /src leaked into the final image"


def test_target_builds_one_stage_and_what_it_needs(paths, store, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": MULTI, "site/index.html": "x\n"})
    image = build(paths, ctx, tag="multi:build", target="build", **QUIET)
    assert image.run_config["WorkingDir"] == "/src"
    with pytest.raises(ContainerError, match="exit code 7"):
        build(paths, ctx, tag="multi:unused", target="unused", **QUIET)
    with pytest.raises(ContainerError, match="target stage 'nope' could not be found"):
        build(paths, ctx, tag="multi:x", target="nope", **QUIET)


def test_from_an_earlier_stage_continues_it(paths, store, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox AS base\nENV A=1\nRUN echo base > /base\n"
                                                 "FROM base AS child\nRUN cat /base > /child\n"})
    image = build(paths, ctx, tag="child:1", **QUIET)
    assert "A=1" in image.run_config["Env"]
    assert mc("run", "--rm", "child:1", "cat", "/child").stdout == "base\n"


# --- mistakes: a clear error with the line, nothing left -----------------------------------------

@pytest.mark.parametrize("dockerfile,line,message", [
    ("FROM busybox\nRUN true\nRUNN echo typo\n", 3, r"unknown instruction: RUNN \(did you mean RUN\?\)"),
    ("FROM busybox\nHEALTHCHECK CMD true\n", 2, "HEALTHCHECK is a Dockerfile instruction"),
    ("FROM busybox\nCOPY ../secret /x\n", 2, "outside the build context"),
    ("FROM busybox\nCOPY missing.txt /x\n", 2, "not found in the build context"),
    ("FROM busybox\nRUN true\nCOPY --from=nowhere /x /y\n", 3, "no build stage and no image in the local store"),
    ("FROM busybox AS a\nCOPY --from=9 /x /y\n", 2, "invalid stage index 9"),
    ("FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /x /x\n", 2,
     "circular dependency detected on stage: a"),
    ("FROM busybox AS self\nCOPY --from=self /x /x\n", 2, "circular dependency detected on stage: self"),
    ("FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nRUN true\nFROM a\n", 2,
     "cannot copy from stage 'b', it needs to be defined before current stage 'a'"),
    ("FROM busybox AS 1st\n", 1, "invalid name for build stage"),
    ("FROM busybox\nCOPY --frm=a /x /y\n", 2, "unknown flag --frm for COPY"),
    ("FROM no-such-image:9\n", 1, "FROM no-such-image:9"),
    ("FROM busybox\nEXPOSE 80/icmp\n", 2, "invalid proto"),
    ("FROM busybox\nCOPY a.txt b.txt /dest\n", 2, "the destination must be a directory and end with a /"),
])
def test_mistakes_name_the_line_and_build_nothing(paths, store, tmp_path, dockerfile, line, message):
    ctx = write(tmp_path / "ctx", {"Dockerfile": dockerfile, "a.txt": "a", "b.txt": "b"})
    (tmp_path / "secret").write_text("s")
    before = snapshot(store, paths)
    with pytest.raises(ContainerError, match=message) as err:
        build(paths, ctx, tag="bad:1", **QUIET)
    assert err.value.path.endswith(f"Dockerfile:{line}"), f"error names {err.value.path}, expected line {line}"
    assert snapshot(store, paths) == before, "a refused build left something in the store"


def test_a_path_missing_in_the_source_stage_names_the_line(paths, store, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox AS build\nRUN mkdir /out\n"
                                                 "FROM busybox\nCOPY --from=build /out/missing /x\n"})
    names = store.names()
    with pytest.raises(ContainerError, match="'/out/missing' not found in --from=build") as err:
        build(paths, ctx, tag="bad:1", **QUIET)
    assert err.value.path.endswith("Dockerfile:4")
    after = snapshot(store, paths)
    assert after["names"] == names and after["tmp"] == [] and after["containers"] == []


def test_cli_prints_one_line_with_file_and_line(paths, store, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\n\nCOPY --from=ghost /a /b\n"})
    res = mc("build", "-t", "bad:1", str(ctx), check=False)
    assert res.returncode == 1  # Docker's status for a failed build
    assert res.stderr.count("\n") == 1 and "Dockerfile:3" in res.stderr and "ghost" in res.stderr


def test_stage_graph_without_a_store():
    ins = parse_dockerfile("ARG V=1\nFROM busybox AS a\nFROM a AS b\nCOPY --from=a /x /x\nFROM busybox\n"
                           "COPY --from=b /y /y\n")
    global_args, stages = split_stages(ins, Path("Dockerfile"))
    link_stages(stages, Path("Dockerfile"))
    check_cycles(stages, Path("Dockerfile"))
    assert [a.args for a in global_args] == ["V=1"]
    assert [(s.name, s.base_stage, sorted(s.copies_from)) for s in stages] == [("a", None, []), ("b", 0, [0]),
                                                                               ("", None, [1])]
    assert stages_to_build(stages, None, Path("Dockerfile")) == [0, 1, 2]
    assert stages_to_build(stages, "A", Path("Dockerfile")) == [0]      # stage names are not case-sensitive


# --- .dockerignore -------------------------------------------------------------------------------

def test_dockerignore_keeps_files_out_of_the_image_and_the_cache_key(paths, store, tmp_path):
    ctx = write(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nCOPY . /app/\n", "index.html": "hi\n", "notes.md": "draft\n",
        "README.md": "readme\n", ".git/HEAD": "ref\n", "secrets/key": "k\n", "logs/today.log": "x\n",
        ".dockerignore": ".git\n*.md\n!README.md\nsecrets\n**/*.log\n"})
    image = build(paths, ctx, tag="ign:1", **QUIET)
    listing = mc("run", "--rm", "ign:1", "find", "/app").stdout.split()
    assert sorted(listing) == ["/app", "/app/.dockerignore", "/app/Dockerfile", "/app/README.md",
                               "/app/index.html", "/app/logs"]
    (ctx / "notes.md").write_text("changed, but ignored\n")
    (ctx / "secrets" / "key").write_text("rotated\n")
    log: list[str] = []
    again = build(paths, ctx, tag="ign:1", log=log.append)
    assert again.id == image.id and sum("Using cache" in line for line in log) == 1
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY secrets/key /key\n")
    with pytest.raises(ContainerError, match=r"'secrets/key' is excluded by \.dockerignore"):
        build(paths, ctx, tag="ign:2", **QUIET)


def test_copy_wildcards_chown_and_chmod(paths, store, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nCOPY --chown=nobody --chmod=0640 *.html /www/\n"
                                                 "COPY conf/ /etc/app/\n",
                                   "a.html": "a", "b.html": "b", "c.txt": "c", "conf/app.conf": "x=1\n"})
    build(paths, ctx, tag="wild:1", **QUIET)
    out = mc("run", "--rm", "wild:1", "sh", "-c", "stat -c '%n %a %u:%g' /www/* /etc/app/app.conf; ls /www").stdout
    assert "/www/a.html 640 65534:65534" in out and "/www/b.html 640 65534:65534" in out
    assert "/etc/app/app.conf 644 0:0" in out and "c.txt" not in out


def test_copy_into_an_existing_directory_keeps_its_mode(paths, store, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN mkdir -m 1777 /shared\nCOPY a.txt /shared/\n",
                                   "a.txt": "a"})
    build(paths, ctx, tag="keep:1", **QUIET)
    assert mc("run", "--rm", "keep:1", "stat", "-c", "%a", "/shared").stdout == "1777\n"


# --- what Docker records in the config, and history ------------------------------------------------

CAPSTONE_LIKE = """\
FROM busybox
ARG SITE=demo
ENV SITE_NAME=$SITE PORT=8080
RUN echo "www:x:1000:1000::/www:/bin/false" >> /etc/passwd && mkdir -p /data && chown 1000 /data
WORKDIR /www
COPY site/ ./
RUN dd if=/dev/zero of=/www/big bs=1024 count=512 2>/dev/null
RUN rm /www/big
EXPOSE 8080 8443/tcp 53/udp
VOLUME ["/data", "/logs"]
USER www
ENTRYPOINT ["httpd", "-f"]
CMD ["-p", "8080"]
"""


def test_config_records_volumes_ports_user_and_buildkit_history(paths, store, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": CAPSTONE_LIKE, "site/index.html": "hello\n"})
    image = build(paths, ctx, tag="site:1", build_args={"SITE": "course"}, **QUIET)
    c = image.run_config
    assert c["Volumes"] == {"/data": {}, "/logs": {}}
    assert c["ExposedPorts"] == {"8080/tcp": {}, "8443/tcp": {}, "53/udp": {}}
    assert c["User"] == "www" and c["WorkingDir"] == "/www" and "SITE_NAME=course" in c["Env"]
    created_by = [h["created_by"] for h in image.config["history"][1:]]
    assert created_by == [
        "ARG SITE=course", "ENV SITE_NAME=course PORT=8080",
        'RUN |1 SITE=course /bin/sh -c echo "www:x:1000:1000::/www:/bin/false" >> /etc/passwd && mkdir -p /data '
        "&& chown 1000 /data # buildkit",
        "WORKDIR /www", "COPY site/ ./ # buildkit",
        "RUN |1 SITE=course /bin/sh -c dd if=/dev/zero of=/www/big bs=1024 count=512 2>/dev/null # buildkit",
        "RUN |1 SITE=course /bin/sh -c rm /www/big # buildkit",
        "EXPOSE [8080/tcp 8443/tcp 53/udp]", "VOLUME [/data /logs]", "USER www",
        'ENTRYPOINT ["httpd" "-f"]', 'CMD ["-p" "8080"]']
    assert all(h.get("comment") == "buildkit.dockerfile.v0" for h in image.config["history"][1:])


def test_history_shows_each_layer_and_a_delete_does_not_shrink(paths, store, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": CAPSTONE_LIKE, "site/index.html": "hello\n"})
    image = build(paths, ctx, tag="site:1", **QUIET)
    rows = image_history(store, image)
    assert rows[0].id == image.id and all(r.id == "<missing>" for r in rows[1:])
    by_step = {r.created_by.split(" /bin/sh -c ")[-1]: r for r in rows}
    big = by_step["dd if=/dev/zero of=/www/big bs=1024 count=512 2>/dev/null # buildkit"]
    rm = by_step["rm /www/big # buildkit"]
    assert big.size == 512 * 1024 and not big.empty_layer
    assert rm.size == 0 and not rm.empty_layer, "the rm layer holds only a whiteout"
    assert by_step["COPY site/ ./ # buildkit"].size == len("hello\n")
    assert all(r.size == 0 for r in rows if r.empty_layer)
    out = mc("history", "site:1").stdout.splitlines()
    assert out[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    assert out[1].startswith(image.short_id) and "524kB" in "\n".join(out)
    assert mc("history", "-q", "site:1").stdout.splitlines()[0] == image.short_id
    human = mc("history", "-H", "site:1").stdout.splitlines()
    assert [line[:15] for line in human] == [line[:15] for line in out] and "524kB" in "\n".join(human), \
        "-H alone is the default (human sizes)"
    raw = mc("history", "-H=false", "--no-trunc", "site:1").stdout.splitlines()
    assert raw[0].split()[:3] == ["IMAGE", "CREATED", "AT"] and raw[1].startswith(image.id)
    assert any(line.split()[-2:] == ["524288", "buildkit.dockerfile.v0"] for line in raw)


@pytest.mark.parametrize("size,text", [(0, "0B"), (15, "15B"), (999, "999B"), (4096, "4.1kB"), (524288, "524kB"),
                                       (1985581, "1.99MB"), (1_000_000_000, "1GB")])
def test_sizes_print_as_docker_prints_them(size, text):
    assert human_size(size) == text


@pytest.mark.parametrize("seconds,text", [(0.5, "Less than a second"), (1, "1 second"), (59, "59 seconds"),
                                          (60, "About a minute"), (150, "2 minutes"), (3600, "About an hour"),
                                          (7200, "2 hours"), (3 * 86400, "3 days"), (20 * 86400, "2 weeks")])
def test_durations_print_as_docker_prints_them(seconds, text):
    assert human_duration(seconds) == text


# --- the cache -----------------------------------------------------------------------------------

def test_changing_one_file_rebuilds_from_its_copy_on(paths, store, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo one > /one\nCOPY a.txt /a.txt\n"
                                                 "RUN cat /a.txt > /copy\nCOPY b.txt /b.txt\n",
                                   "a.txt": "a1\n", "b.txt": "b\n"})
    first = build(paths, ctx, tag="c:1", **QUIET)
    log: list[str] = []
    assert build(paths, ctx, tag="c:1", log=log.append).id == first.id
    assert sum("Using cache" in line for line in log) == 4
    (ctx / "a.txt").write_text("a2\n")
    log.clear()
    changed = build(paths, ctx, tag="c:2", log=log.append)
    cached = [line for line in log if "Using cache" in line]
    assert cached == [" ---> Using cache (RUN at line 2)"], f"only the step before the change is cached: {cached}"
    assert changed.layers[:2] == first.layers[:2] and changed.layers[2] != first.layers[2]
    assert changed.layers[4] == first.layers[4], "COPY b.txt made the same layer again (same content)"
    assert mc("run", "--rm", "c:2", "cat", "/copy").stdout == "a2\n"


def test_build_args_change_the_cache_key(paths, store, tmp_path):
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nARG V=1\nRUN echo $V > /v\n"})
    one = build(paths, ctx, tag="v:1", **QUIET)
    two = build(paths, ctx, tag="v:2", build_args={"V": "2"}, **QUIET)
    assert one.id != two.id
    assert mc("run", "--rm", "v:2", "cat", "/v").stdout == "2\n"
    log: list[str] = []
    build(paths, ctx, tag="v:3", build_args={"NOPE": "x"}, log=log.append)
    assert any("were not consumed" in line and "NOPE" in line for line in log)
