"""`build`: a Dockerfile subset, RUN in real containers, a layer cache that makes a rebuild instant."""

from __future__ import annotations

from pathlib import Path

import pytest

from minicontainer.errors import ContainerError
from minicontainer.image import Store, prepare_default_image
from minicontainer.image.build import build, parse_dockerfile

from test_image_run import mc

DOCKERFILE = """\
# comments and continuations are allowed
FROM busybox
ARG WHO=world
ENV GREETING="hello ${WHO}" \\
    MODE=test
WORKDIR /app
COPY hello.txt .
COPY data/ /srv/data/
RUN echo "built for $WHO" > /app/built && rm /etc/group
USER nobody
EXPOSE 8080 53/udp
LABEL org.example.course=minicontainer
ENTRYPOINT ["cat"]
CMD ["/app/hello.txt", "/app/built"]
"""


@pytest.fixture
def context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    (ctx / "data").mkdir(parents=True)
    (ctx / "hello.txt").write_text("hello file\n")
    (ctx / "data" / "a.txt").write_text("a\n")
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    return ctx


def _store(paths) -> Store:
    prepare_default_image(paths)
    return Store(paths)


def test_build_runs_steps_and_sets_the_config(paths, context):
    store = _store(paths)
    log: list[str] = []
    image = build(paths, context, tag="demo:1", log=log.append)
    assert image.reference == "localhost/demo:1"
    c = image.run_config
    assert c["Entrypoint"] == ["cat"] and c["Cmd"] == ["/app/hello.txt", "/app/built"]
    assert "GREETING=hello world" in c["Env"] and c["WorkingDir"] == "/app" and c["User"] == "nobody"
    assert c["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}}
    assert c["Labels"] == {"org.example.course": "minicontainer"}
    base = store.resolve("busybox")
    assert image.layers[0] == base.layers[0]
    assert mc("run", "demo:1").stdout == "hello file\nbuilt for world\n"
    out = mc("run", "--entrypoint", "sh", "demo:1", "-c", "cat /srv/data/a.txt; id -u; ls /etc/group 2>&1; true").stdout
    assert out.splitlines()[:2] == ["a", "65534"] and "No such file" in out
    assert not any(n.startswith("localhost/mc-build") for n in store.names()), "temporary build tags left"
    assert not list((paths.run_dir / "containers").glob("*/state.json"))[2:], "RUN containers left behind"


def test_unchanged_rebuild_uses_the_cache_and_gives_the_same_image(paths, context):
    _store(paths)
    first = build(paths, context, tag="demo:1", log=lambda line: None)
    log: list[str] = []
    again = build(paths, context, tag="demo:1", log=log.append)
    assert again.id == first.id
    assert sum("Using cache" in line for line in log) >= 9
    (context / "hello.txt").write_text("changed\n")
    log.clear()
    changed = build(paths, context, tag="demo:2", log=log.append)
    assert changed.id != first.id
    assert not any("Using cache (COPY at line 7)" in line for line in log)


def test_unsupported_instruction_names_file_and_line(paths, context):
    store = _store(paths)
    (context / "Dockerfile").write_text("FROM busybox\nRUN true\nHEALTHCHECK CMD true\n")
    before = store.names()
    with pytest.raises(ContainerError, match=r"HEALTHCHECK") as err:
        build(paths, context, tag="bad:1", log=lambda line: None)
    assert err.value.path.endswith("Dockerfile:3")
    assert store.names() == before


def test_failing_run_is_an_error_and_leaves_nothing(paths, context):
    store = _store(paths)
    (context / "Dockerfile").write_text("FROM busybox\nRUN exit 3\n")
    with pytest.raises(ContainerError, match="exit code 3") as err:
        build(paths, context, tag="bad:1", log=lambda line: None)
    assert err.value.path.endswith("Dockerfile:2")
    assert set(store.names()) == {"localhost/busybox:latest"}
    assert not list((paths.run_dir / "containers").glob("*"))


def test_copy_outside_the_context_is_refused(paths, context):
    _store(paths)
    (context / "Dockerfile").write_text("FROM busybox\nCOPY ../secret /x\n")
    (context.parent / "secret").write_text("s")
    with pytest.raises(ContainerError, match="outside the build context"):
        build(paths, context, tag="bad:1", log=lambda line: None)


def test_parser_joins_continuations_and_skips_comments():
    ins = parse_dockerfile("# c\nFROM x\nRUN a \\\n  && b\n")
    assert [(i.keyword, i.line) for i in ins] == [("FROM", 2), ("RUN", 3)]
    assert ins[1].args == "a && b"


def test_add_extracts_a_local_tar_safely(paths, context):
    import gzip
    import io

    from image_helpers import make_tar

    _store(paths)
    (context / "app.tar.gz").write_bytes(gzip.compress(make_tar([{"name": "app/run.sh", "data": b"echo app\n"}])))
    (context / "Dockerfile").write_text("FROM busybox\nADD app.tar.gz /opt/\nCMD [\"sh\", \"/opt/app/run.sh\"]\n")
    build(paths, context, tag="added:1", log=lambda line: None)
    assert mc("run", "--rm", "added:1").stdout == "app\n"
    (context / "evil.tar").write_bytes(make_tar([{"name": "../../escaped", "data": b"x"}]))
    (context / "Dockerfile").write_text("FROM busybox\nADD evil.tar /opt/\n")
    with pytest.raises(ContainerError, match="climbs out"):
        build(paths, context, tag="evil:1", log=lambda line: None)
    assert not (context.parent / "escaped").exists()
