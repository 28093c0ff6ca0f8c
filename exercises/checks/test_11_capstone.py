"""Checks for lesson 11 (the capstone). Run them with `make check EX=11`, or `check("11.2")` in the notebook.

11.1 to 11.3 are plain functions of their arguments (11.2 gets the patterns as the package compiles
them from a .dockerignore); 11.4 measures a directory the check makes, with a symlink, a hard link
and a whiteout in it. The milestone runs your runtime: it builds the capstone site
(examples/capstone) into a store of its own, runs it with a published port and fetches its page.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from minicontainer.errors import ContainerError
from minicontainer.image.dockerignore import PatternMatcher, read_patterns

ROOT = Path(__file__).resolve().parents[2]


# --- 11.1 cache_key ------------------------------------------------------------------------------

@pytest.mark.exercise("11.1")
def test_cache_key_is_the_sha256_of_the_four_values(ex):
    got = ex.cache_key("ab" * 32, "COPY", "COPY site/ ./", "f00d")
    want = hashlib.sha256(json.dumps(["ab" * 32, "COPY", "COPY site/ ./", "f00d"]).encode()).hexdigest()
    assert got == want, f"cache_key('abab...', 'COPY', 'COPY site/ ./', 'f00d') returned {got!r}; expected {want!r} " \
                        "(sha256 of the JSON list, in hex: the keys the build cache already holds)"


@pytest.mark.exercise("11.1")
def test_cache_key_changes_with_each_value(ex):
    base = ex.cache_key("p", "RUN", "RUN make", "")
    assert base == ex.cache_key("p", "RUN", "RUN make", ""), "the same step must give the same key twice"
    changed = {"the step before": ex.cache_key("q", "RUN", "RUN make", ""),
               "the instruction": ex.cache_key("p", "RUN", "RUN make all", ""),
               "the copied files": ex.cache_key("p", "RUN", "RUN make", "1")}
    same = [what for what, key in changed.items() if key == base]
    assert not same, f"changing {same} gave the same key: the cache would reuse a stale layer"
    assert ex.cache_key("a", "b", "c", "") != ex.cache_key("a", "", "bc", ""), \
        "the values are kept apart (a list, not glued strings): 'b'+'c' and ''+'bc' must not collide"


# --- 11.2 is_excluded ---------------------------------------------------------------------------

def _patterns(text: str):
    return PatternMatcher(read_patterns(text)).patterns


@pytest.mark.exercise("11.2")
def test_is_excluded_reads_the_capstones_dockerignore(ex):
    patterns = _patterns((ROOT / "examples" / "capstone" / ".dockerignore").read_text())
    cases = {"README.md": True, "drafts": True, "drafts/next-page.html": True, "site/index.html": False,
             "site/.index.html.swp": True, "Dockerfile": False, "site": False, ".": False}
    wrong = {path: ex.is_excluded(patterns, path) for path, want in cases.items()
             if ex.is_excluded(patterns, path) != want}
    assert not wrong, f"with the capstone's .dockerignore (*.md, drafts, **/*.swp), is_excluded gave {wrong}; " \
                      f"expected {({p: cases[p] for p in wrong})}"


@pytest.mark.exercise("11.2")
def test_is_excluded_lets_the_last_matching_pattern_decide(ex):
    patterns = _patterns("*.md\n!README.md\ndocs\n!docs/keep\nbuild/**\n")
    cases = {"notes.md": True, "README.md": False, "docs": True, "docs/a.txt": True, "docs/keep": False,
             "docs/keep/x": False, "build/out/bin": True, "src/notes.md": False}
    wrong = {path: ex.is_excluded(patterns, path) for path, want in cases.items()
             if ex.is_excluded(patterns, path) != want}
    assert not wrong, f"with '*.md', '!README.md', 'docs', '!docs/keep', 'build/**', is_excluded gave {wrong}; " \
                      f"expected {({p: cases[p] for p in wrong})} (the last pattern that matches the path or a " \
                      "parent directory decides; * never crosses a /)"


# --- 11.3 parse_ports ---------------------------------------------------------------------------

@pytest.mark.exercise("11.3")
def test_parse_ports_reads_ports_protocols_and_ranges(ex):
    cases = {"8080": ["8080/tcp"], "53/udp 80/TCP": ["53/udp", "80/tcp"],
             "8000-8002": ["8000/tcp", "8001/tcp", "8002/tcp"], "9/sctp": ["9/sctp"], "": []}
    for text, want in cases.items():
        got = ex.parse_ports(text, Path("Dockerfile"), 7)
        assert got == want, f"parse_ports({text!r}) returned {got!r}; expected {want!r}"


@pytest.mark.exercise("11.3")
@pytest.mark.parametrize("text", ["80/icmp", "http", "70000", "9-1", "80-", "-80"])
def test_parse_ports_refuses_what_is_no_port_naming_the_line(ex, text):
    try:
        got = ex.parse_ports(text, Path("Dockerfile"), 7)
    except ContainerError as exc:
        assert exc.path == "Dockerfile:7", f"the error should name the Dockerfile's line ('Dockerfile:7'): {exc.path!r}"
        return
    pytest.fail(f"parse_ports({text!r}) returned {got!r}; expected a ContainerError (use error(file, line, ...))")


# --- 11.4 files_size ----------------------------------------------------------------------------

@pytest.mark.exercise("11.4")
def test_files_size_counts_files_links_once_and_no_directories(ex, tmp_path):
    (tmp_path / "www" / "static").mkdir(parents=True)
    (tmp_path / "www" / "index.html").write_bytes(b"x" * 1000)
    (tmp_path / "www" / "static" / "site.css").write_bytes(b"y" * 300)
    os.link(tmp_path / "www" / "index.html", tmp_path / "www" / "hard.html")   # the same 1000 bytes
    os.symlink("index.html", tmp_path / "www" / "home.html")                    # its own size: 10
    os.symlink("static", tmp_path / "www" / "assets")                           # a link to a directory: 6
    os.mknod(tmp_path / "www" / ".wh-like", 0o600 | 0o020000, os.makedev(0, 0))  # a whiteout: 0
    got = ex.files_size(str(tmp_path))
    assert got == 1000 + 300 + 10 + 6, \
        f"files_size gave {got}; expected 1316: 1000 (index.html, and hard.html is the same file) + 300 " \
        "(site.css) + 10 and 6 (the symlinks' own sizes, not their targets'), directories not counted"
    assert ex.files_size(str(tmp_path / "www" / "static")) == 300


@pytest.mark.exercise("11.4")
def test_files_size_of_an_empty_layer_is_zero(ex, tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert ex.files_size(str(tmp_path)) == 0, "a layer with only directories adds 0 bytes"


# --- the milestone: your runtime -----------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.milestone("your runtime built the capstone site, ran it with a published port and it answered on 127.0.0.1")
def test_milestone_your_runtime_builds_and_serves_the_capstone(yours, tmp_path):
    tag = uuid.uuid4().hex[:6]
    env = {"MC_LIB_DIR": str(tmp_path / "lib"), "MC_RUN_DIR": str(tmp_path / "run"), "MC_BRIDGE": f"mcm{tag}"}
    context = tmp_path / "capstone"
    shutil.copytree(ROOT / "examples" / "capstone", context)
    (context / "site" / "static" / "site.css.swp").write_text("an editor's swap file\n")   # **/*.swp
    web, port = f"mc-m11-{tag}", _free_port()
    try:
        yours("prepare", env=env)
        yours("build", "-q", "-t", "capstone-site:1", str(context), env=env, timeout=300)
        history = yours("history", "--no-trunc", "capstone-site:1", env=env).stdout
        assert "EXPOSE [8080/tcp]" in history, f"`history` does not show the EXPOSE step as [8080/tcp]:\n{history}"
        sizes = [line.split()[-2] for line in history.splitlines() if "COPY /out/ ./" in line]
        assert sizes and sizes[0] not in ("0B", "0"), f"the COPY --from layer's size is missing or 0:\n{history}"
        again = yours("build", "-t", "capstone-site:1", str(context), env=env).stdout
        assert again.count("Using cache") >= 10, f"an unchanged rebuild should take every step from the cache:\n{again}"
        yours("run", "-d", "--name", web, "-p", f"127.0.0.1:{port}:8080", "-m", "64m", "--read-only",
              "--tmpfs", "/tmp", "capstone-site:1", env=env)
        body = ""
        for _ in range(100):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert "Built, shipped and run by minicontainer" in body and "Version 1.0" in body, \
            f"http://127.0.0.1:{port}/ answered {body[:200]!r}: expected the capstone's page"
        listed = yours("exec", web, "ls", "/www/static", env=env).stdout.split()
        assert listed == ["site.css"], \
            f"/www/static in the container holds {listed}: .dockerignore's **/*.swp should have kept site.css.swp out"
    finally:
        yours("rm", "-f", web, ok=False, env=env)
        yours("network", "rm", env["MC_BRIDGE"], ok=False, env=env)
