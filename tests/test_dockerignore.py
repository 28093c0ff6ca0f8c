""".dockerignore rules, table-driven: cases from moby/patternmatcher's tests (the matcher Docker's
builder uses), from Go's filepath.Match tests it carries, and from the examples in Docker's
documentation of .dockerignore. A case here failing means a .dockerignore would leave out (or let
in) a different file than Docker does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from minicontainer.errors import ContainerError
from minicontainer.image.dockerignore import BadPattern, BuildContext, PatternMatcher, go_match, read_patterns

# (pattern, path, excluded?) -- patternmatcher_test.go, TestMatches
SINGLE = [
    ("**", "file", True), ("**", "file/", True), ("**/", "file", True), ("**/", "file/", True),
    ("**", "/", True), ("**/", "/", True), ("**", "dir/file", True), ("**/", "dir/file", True),
    ("**", "dir/file/", True), ("**/", "dir/file/", True), ("**/**", "dir/file", True),
    ("**/**", "dir/file/", True), ("dir/**", "dir/file", True), ("dir/**", "dir/file/", True),
    ("dir/**", "dir/dir2/file", True), ("dir/**", "dir/dir2/file/", True), ("**/dir", "dir", True),
    ("**/dir", "dir/file", True), ("**/dir2/*", "dir/dir2/file", True), ("**/dir2/*", "dir/dir2/file/", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True), ("**/dir2/**", "dir/dir2/dir3/file/", True),
    ("**file", "file", True), ("**file", "dir/file", True), ("**/file", "dir/file", True),
    ("**file", "dir/dir/file", True), ("**/file", "dir/dir/file", True), ("**/file*", "dir/dir/file", True),
    ("**/file*", "dir/dir/file.txt", True), ("**/file*txt", "dir/dir/file.txt", True),
    ("**/file*.txt", "dir/dir/file.txt", True), ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True), ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True), ("**/**/*.txt", "file.txt", True), ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/file.txt", True), ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False), ("a/*.txt", "a/file.txt", True), ("a/*.txt**", "a/file.txt", True),
    ("a[b-d]e", "ae", False), ("a[b-d]e", "ace", True), ("a[b-d]e", "aae", False), ("a[^b-d]e", "aze", True),
    (".*", ".foo", True), (".*", "foo", False), ("abc.def", "abcdef", False), ("abc.def", "abc.def", True),
    ("abc.def", "abcZdef", False), ("abc?def", "abcZdef", True), ("abc?def", "abcdef", False),
    ("a\\\\", "a\\", True), ("**/foo/bar", "foo/bar", True), ("**/foo/bar", "dir/foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True), ("abc/**", "abc", False), ("abc/**", "abc/def", True),
    ("abc/**", "abc/def/ghi", True), ("**/.foo", ".foo", True), ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True), ("a(b)c/def", "a(b)c/xyz", False), ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a\\*b", "a*b", True),
]

# (patterns, path, excluded?) -- patternmatcher_test.go and the single-purpose tests beside it
MULTI = [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (["*"], "fileutils.go", True),
    (["*.go"], "fileutils.go", True),
    (["!fileutils.go", "*.go"], "fileutils.go", True),          # an exception before the rule: the rule wins
    (["docs", "!docs/README.md"], "docs/README.md", False),     # a folder, then an exception in it
    (["docs/", "!docs/README.md"], "docs/README.md", False),
    (["docs/*", "!docs/README.md"], "docs/README.md", False),
    (["*.go", "!fileutils.go"], "fileutils.go", False),
    (["*.go"], ".", False),                                     # the context itself is never excluded
    ([], "/any/path/there", False),
    (["docs", "  !docs/README.md"], "docs/README.md", False),   # spaces around a pattern are trimmed
    (["docs", "!docs/README.md  "], "docs/README.md", False),
    # Docker's documentation of .dockerignore
    (["*/temp*"], "somedir/temporary.txt", True),
    (["*/temp*"], "somedir/temp", True),
    (["*/temp*"], "temporary.txt", False),
    (["*/*/temp*"], "somedir/subdir/temporary.txt", True),
    (["temp?"], "tempa", True),
    (["temp?"], "tempab", False),
    (["*.md", "!README.md"], "README.md", False),
    (["*.md", "!README.md"], "CHANGES.md", True),
    (["*.md", "!README.md"], "docs/guide.md", False),           # `*` stays in the root directory
    (["**/*.go"], "a/b/c/main.go", True),
    (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "README-public.md", False),
    (["*.md", "README-secret.md", "!README*.md"], "README-secret.md", False),   # the last line wins
]

# (pattern, name, excluded?, bad pattern?) -- Go's filepath.Match tests, as patternmatcher_test.go runs them
# through its matcher (so "a*" excludes "ab/c": the parent directory "ab" matches)
GO_MATCH = [
    ("abc", "abc", True, False), ("*", "abc", True, False), ("*c", "abc", True, False), ("a*", "a", True, False),
    ("a*", "abc", True, False), ("a*", "ab/c", True, False), ("a*/b", "abc/b", True, False),
    ("a*/b", "a/c/b", False, False), ("a*b*c*d*e*/f", "axbxcxdxe/f", True, False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True, False), ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False, False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False, False), ("a*b?c*x", "abxbbxdbxebxczzx", True, False),
    ("a*b?c*x", "abxbbxdbxebxczzy", False, False), ("ab[c]", "abc", True, False), ("ab[b-d]", "abc", True, False),
    ("ab[e-g]", "abc", False, False), ("ab[^c]", "abc", False, False), ("ab[^b-d]", "abc", False, False),
    ("ab[^e-g]", "abc", True, False), ("a\\*b", "a*b", True, False), ("a\\*b", "ab", False, False),
    ("a?b", "a☺b", True, False), ("a[^a]b", "a☺b", True, False), ("[a-ζ]*", "α", True, False),
    ("*[a-ζ]", "A", False, False), ("a?b", "a/b", False, False), ("a*b", "a/b", False, False),
    ("[\\]a]", "]", True, False), ("[\\-]", "-", True, False), ("[x\\-]", "x", True, False),
    ("[x\\-]", "-", True, False), ("[x\\-]", "z", False, False), ("[\\-x]", "x", True, False),
    ("[\\-x]", "-", True, False), ("[\\-x]", "a", False, False),
    ("[]a]", "]", False, True), ("[-]", "-", False, True), ("[x-]", "x", False, True), ("[x-]", "-", False, True),
    ("[x-]", "z", False, True), ("[-x]", "x", False, True), ("[-x]", "-", False, True), ("[-x]", "a", False, True),
    ("\\", "a", False, True), ("[a-b-c]", "a", False, True), ("[", "a", False, True), ("[^", "a", False, True),
    ("[^bc", "a", False, True), ("a[", "a", False, True), ("a[", "ab", False, True), ("*x", "xxx", True, False),
]


@pytest.mark.parametrize("pattern,path,excluded", SINGLE)
def test_one_pattern_matches_as_docker(pattern, path, excluded):
    assert PatternMatcher([pattern]).matches(path) is excluded, f"{pattern!r} vs {path!r}"


@pytest.mark.parametrize("patterns,path,excluded", MULTI)
def test_patterns_in_order_the_last_match_wins(patterns, path, excluded):
    assert PatternMatcher(patterns).matches(path) is excluded, f"{patterns!r} vs {path!r}"


@pytest.mark.parametrize("pattern,name,matches,bad", GO_MATCH)
def test_go_filepath_match_cases(pattern, name, matches, bad):
    if bad:
        with pytest.raises(BadPattern):
            go_match(pattern, name)
        with pytest.raises(BadPattern):       # Docker refuses the .dockerignore line too
            PatternMatcher([pattern])
    else:
        assert PatternMatcher([pattern]).matches(name) is matches, f"{pattern!r} vs {name!r}"


@pytest.mark.parametrize("pattern,name,matches", [
    ("a*", "ab/c", False), ("a*/b", "abc/b", True), ("a*", "a", True), ("*", "x/y", False), ("a?b", "a/b", False),
    ("[a-c]x", "bx", True), ("a\\*", "ab", False),
])
def test_go_filepath_match_alone_never_crosses_a_slash(pattern, name, matches):
    assert go_match(pattern, name) is matches, f"filepath.Match({pattern!r}, {name!r})"


def test_a_lone_exclamation_mark_is_an_error():
    with pytest.raises(BadPattern):
        PatternMatcher(["!"])


def test_a_pattern_go_accepts_but_cannot_compile_is_refused():
    # "[Local-Only]" passes filepath.Match's check, but its regexp has the range l-O: Docker fails the
    # first match with ErrBadPattern (moby/moby#52203); here the matcher refuses it at once.
    with pytest.raises(BadPattern):
        PatternMatcher(["[Local-Only]/"])


@pytest.mark.parametrize("text,patterns", [
    ("# comment\n\n*.md\n!README.md\n", ["*.md", "!README.md"]),
    ("\ufeff/secret\n", ["secret"]),                           # a byte order mark, a leading /
    ("./a//b/\n", ["a/b"]),                                   # cleaned like filepath.Clean
    ("  spaced  \n", ["spaced"]),
    ("! /inverted/../x \n", ["!x"]),
    ("line\r\nother\r\n", ["line", "other"]),
    ("  # not a comment once trimmed\n", ["# not a comment once trimmed"]),
    ("/\n", ["/"]),
])
def test_ignore_file_lines_are_read_as_docker_reads_them(text, patterns):
    assert read_patterns(text) == patterns


def _tree(root: Path, files: list[str]) -> None:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)


def test_build_context_lists_what_copy_may_use(tmp_path):
    _tree(tmp_path, ["Dockerfile", "README.md", "CHANGES.md", "src/main.go", "src/main_test.go",
                     "docs/guide.md", "docs/keep/this.txt", "docs/drop.txt", ".git/HEAD", "secret.key"])
    (tmp_path / ".dockerignore").write_text(".git\n*.md\n!README.md\n**/*_test.go\ndocs\n!docs/keep\n/secret.key\n")
    ctx = BuildContext(tmp_path)
    paths = [e.path for e in ctx.entries()]
    assert paths == [".dockerignore", "Dockerfile", "README.md", "docs", "docs/keep", "docs/keep/this.txt",
                     "src", "src/main.go"]
    assert [e.path for e in ctx.under("docs")] == ["docs", "docs/keep", "docs/keep/this.txt"]
    assert [e.path for e in ctx.glob("src/*.go")] == ["src/main.go"]


def test_dockerfile_specific_ignore_file_wins(tmp_path):
    _tree(tmp_path, ["a.txt", "b.txt", "build/app.Dockerfile"])
    (tmp_path / ".dockerignore").write_text("a.txt\n")
    (tmp_path / "build" / "app.Dockerfile.dockerignore").write_text("b.txt\n")
    ctx = BuildContext.for_dockerfile(tmp_path, tmp_path / "build" / "app.Dockerfile")
    assert [e.path for e in ctx.entries() if e.path.endswith(".txt")] == ["a.txt"]


def test_a_bad_pattern_is_a_clear_error(tmp_path):
    (tmp_path / ".dockerignore").write_text("ok\n[unclosed\n")
    with pytest.raises(ContainerError, match="syntax error in pattern") as err:
        BuildContext(tmp_path)
    assert err.value.path.endswith(".dockerignore")


def test_symlinks_are_listed_not_followed(tmp_path):
    _tree(tmp_path, ["real/file"])
    os.symlink("real", tmp_path / "link")
    (tmp_path / ".dockerignore").write_text("real\n")
    paths = [e.path for e in BuildContext(tmp_path).entries()]
    assert paths == [".dockerignore", "link"]
