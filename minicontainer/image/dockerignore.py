"""`.dockerignore`: which files of the build context `COPY` may see, by Docker's rules (lesson 05).

`docker build DIR` sends DIR (the *build context*) to the builder; `.dockerignore` in DIR leaves
files out, so that secrets, `.git` and build outputs never reach an image (or bust its cache).
Docker reads the file with moby/patternmatcher's `ignorefile.ReadAll` and matches with its
`PatternMatcher`; this module is a line-by-line port of both, so a `.dockerignore` means the
same thing here as in Docker:

  * one pattern per line; a line starting with `#` is a comment; blank lines are skipped;
  * each pattern is cleaned like Go's `filepath.Clean` (`./a//b/` -> `a/b`), and a leading `/`
    is dropped: patterns are relative to the context's root;
  * `*` matches any run of characters except `/`, `?` one character except `/`, `[a-z]` and
    `[^a-z]` a class, `\\` escapes (Go's `filepath.Match`);
  * `**` matches any number of directories, including none (`**/*.go`, `docs/**`);
  * a pattern that matches a directory excludes everything under it;
  * `!pattern` is an exception: it puts back what an earlier line excluded; the LAST line that
    matches a path decides (`*.md` then `!README.md` keeps README.md).

`BuildContext` applies the rules to a directory: what `COPY` copies and what its cache key hashes.
(`go_match` is also what `COPY` uses for wildcards in its sources, as Docker does.)
"""

from __future__ import annotations

import os
import re
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..errors import ContainerError

IGNORE_FILE = ".dockerignore"


class BadPattern(ValueError):
    """Go's filepath.ErrBadPattern: the pattern is malformed (an unclosed `[`, a trailing `\\`)."""

    def __init__(self, pattern: str) -> None:
        super().__init__(f"syntax error in pattern {pattern!r}")
        self.pattern = pattern


# --- Go's path.Clean and path.Dir ---------------------------------------------------------------

def go_clean(path: str) -> str:
    """Go's path.Clean: the shortest equivalent path ('' -> '.', './a//b/' -> 'a/b', '//a' -> '/a')."""
    cleaned = os.path.normpath(path) if path else "."
    if cleaned.startswith("//"):          # POSIX lets normpath keep a leading '//'; Go does not
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def go_dir(path: str) -> str:
    """Go's path.Dir: everything before the last '/', cleaned ('a/b' -> 'a', 'a' -> '.')."""
    return go_clean(path[:path.rfind("/") + 1])


# --- Go's filepath.Match ---------------------------------------------------------------------------

def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    """Split off leading stars and the chunk up to the next star outside a [class]."""
    star = False
    while pattern.startswith("*"):
        pattern = pattern[1:]
        star = True
    in_range = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 < len(pattern):
                i += 1
        elif c == "[":
            in_range = True
        elif c == "]":
            in_range = False
        elif c == "*" and not in_range:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _get_esc(chunk: str, pattern: str) -> tuple[str, str]:
    """One (possibly escaped) character of a [class]; a bad pattern if none is there."""
    if not chunk or chunk[0] in "-]":
        raise BadPattern(pattern)
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise BadPattern(pattern)
    char, rest = chunk[0], chunk[1:]
    if not rest:
        raise BadPattern(pattern)
    return char, rest


def _match_chunk(chunk: str, s: str, pattern: str) -> tuple[str, bool]:
    """Match `chunk` (no stars) at the start of s: (rest of s, matched). After a mismatch, keep
    reading the chunk only to report a malformed pattern, as Go does."""
    failed = False
    while chunk:
        if not failed and not s:
            failed = True
        c = chunk[0]
        if c == "[":
            r = ""
            if not failed:
                r, s = s[0], s[1:]
            chunk = chunk[1:]
            negated = chunk.startswith("^")
            if negated:
                chunk = chunk[1:]
            matched, ranges = False, 0
            while True:
                if chunk.startswith("]") and ranges > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _get_esc(chunk, pattern)
                hi = lo
                if chunk[0] == "-":
                    hi, chunk = _get_esc(chunk[1:], pattern)
                if not failed and lo <= r <= hi:
                    matched = True
                ranges += 1
            if matched == negated:
                failed = True
        elif c == "?":
            if not failed:
                if s[0] == "/":
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
        else:
            if c == "\\":
                chunk = chunk[1:]
                if not chunk:
                    raise BadPattern(pattern)
            if not failed:
                if chunk[0] != s[0]:
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
    return ("", False) if failed else (s, True)


def go_match(pattern: str, name: str) -> bool:
    """Go's filepath.Match(pattern, name) on '/'-separated paths; raises BadPattern when malformed."""
    full = pattern
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            return "/" not in name                # a trailing * matches the rest, unless it has a /
        rest, ok = _match_chunk(chunk, name, full)
        if ok and (not rest or pattern):
            name = rest
            continue
        if star:
            found = False
            i = 0
            while i < len(name) and name[i] != "/":     # let the star eat i+1 characters (never a /)
                rest, ok = _match_chunk(chunk, name[i + 1:], full)
                if ok and not (not pattern and rest):
                    name, found = rest, True
                    break
                i += 1
            if found:
                continue
        while pattern:                            # no match: still report a malformed remainder
            _, chunk, pattern = _scan_chunk(pattern)
            _match_chunk(chunk, "", full)
        return False
    return not name


# --- moby/patternmatcher -------------------------------------------------------------------------

EXACT, PREFIX, SUFFIX, REGEXP = "exact", "prefix", "suffix", "regexp"
_REGEX_SPECIAL = set(".+()|{}$")   # special in a regexp, plain in a glob


@dataclass
class Pattern:
    """One cleaned pattern, compiled the way patternmatcher compiles it."""

    text: str                 # cleaned, without the leading '!'
    exclusion: bool           # a `!` line: puts back what earlier lines excluded
    kind: str = EXACT         # exact | prefix (`dir/**`) | suffix (`**/name`) | regexp
    regex: re.Pattern | None = None

    def compile(self) -> None:
        """Turn the glob into one of four matchers (patternmatcher's Pattern.compile)."""
        reg, kind, p, pos, first = "^", EXACT, self.text, 0, True
        while pos < len(p):
            ch = p[pos]
            pos += 1
            if ch == "*":
                if pos < len(p) and p[pos] == "*":            # some kind of **
                    pos += 1
                    if pos < len(p) and p[pos] == "/":        # **/ is the same as **
                        pos += 1
                    if pos == len(p):                         # ** at the end: everything below
                        if kind == EXACT:
                            kind = PREFIX
                        else:
                            reg += ".*"
                            kind = REGEXP
                    else:                                     # any number of directories, even none
                        reg += "(.*/)?"
                        kind = REGEXP
                    if first:
                        kind = SUFFIX
                else:
                    reg += "[^/]*"                            # * never crosses a /
                    kind = REGEXP
            elif ch == "?":
                reg += "[^/]"
                kind = REGEXP
            elif ch in _REGEX_SPECIAL:
                reg += "\\" + ch
            elif ch == "\\":
                if pos < len(p):
                    reg += "\\" + p[pos]
                    pos += 1
                    kind = REGEXP
                else:
                    reg += "\\\\"
            elif ch in "[]":
                reg += ch
                kind = REGEXP
            else:
                reg += ch
            first = False
        if kind == REGEXP:
            try:
                with warnings.catch_warnings():               # "[[]" is fine in Go's RE2: no nested-set warning
                    warnings.simplefilter("ignore", FutureWarning)
                    self.regex = re.compile(reg)
            except re.error:
                raise BadPattern(self.text) from None
        self.kind = kind

    def match(self, path: str) -> bool:
        if self.kind == EXACT:
            return path == self.text
        if self.kind == PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind == SUFFIX:
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix[:1] == "/" and path == suffix[1:])
        return self.regex is not None and self.regex.fullmatch(path) is not None


class PatternMatcher:
    """A list of patterns; `matches(path)` says whether the path is excluded (patternmatcher.New)."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns: list[Pattern] = []
        for text in patterns:
            text = text.strip()
            if not text:
                continue
            text = go_clean(text)
            exclusion = text.startswith("!")
            if exclusion:
                if len(text) == 1:
                    raise BadPattern("!")
                text = text[1:]
            go_match(text, ".")                  # Docker's syntax check: raises BadPattern
            pattern = Pattern(text, exclusion)
            pattern.compile()
            self.patterns.append(pattern)

    @property
    def exclusions(self) -> bool:
        """Whether any `!` exception exists (else an excluded directory can be skipped whole)."""
        return any(p.exclusion for p in self.patterns)

    def matches(self, path: str) -> bool:
        """True when `path` (relative, '/'-separated) is excluded (see is_excluded)."""
        return is_excluded(self.patterns, go_clean(path))


def is_excluded(patterns: list[Pattern], path: str) -> bool:
    """Whether .dockerignore's `patterns` exclude `path` (cleaned, relative, '/'-separated): moby's
    MatchesOrParentMatches (lesson 11: 11.2). The patterns are read in order; one that matches the
    path, or one of its parent directories, excludes it (a `!` pattern puts it back): the last
    pattern that matches decides. "." (the whole context) is never excluded."""
    if path == ".":
        return False                             # "don't let them exclude everything"
    parent = go_dir(path)
    parents = parent.split("/")
    matched = False
    for pattern in patterns:
        if pattern.exclusion != matched:         # only an exception can undo a match, and vice versa
            continue
        hit = pattern.match(path)
        if not hit and parent != ".":
            hit = any(pattern.match("/".join(parents[:i + 1])) for i in range(len(parents)))
        if hit:
            matched = not pattern.exclusion
    return matched


def read_patterns(text: str) -> list[str]:
    """The patterns of a .dockerignore file (moby/patternmatcher/ignorefile.ReadAll)."""
    out = []
    for number, line in enumerate(text.split("\n")):
        line = line.removesuffix("\r")
        if number == 0:
            line = line.removeprefix("\ufeff")     # a UTF-8 byte order mark
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        invert = line.startswith("!")
        if invert:
            line = line[1:].strip()
        if line:
            line = go_clean(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        out.append("!" + line if invert else line)
    return out


# --- the build context ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ContextEntry:
    """A path of the build context that .dockerignore lets through."""

    path: str          # relative to the context's root, '/'-separated
    source: Path       # the file on the host
    mode: int          # st_mode (type and permission bits)


class BuildContext:
    """The build directory as `COPY` sees it: the files .dockerignore does not exclude.

    `ignore_file`: the .dockerignore to use. Docker (BuildKit) first looks for
    `<Dockerfile>.dockerignore` beside the Dockerfile, then for `.dockerignore` in the context."""

    def __init__(self, root: Path, ignore_file: Path | None = None) -> None:
        self.root = Path(root).resolve()
        self.ignore_file = ignore_file if ignore_file is not None else self.root / IGNORE_FILE
        self.patterns: list[str] = []
        if self.ignore_file.is_file():
            self.patterns = read_patterns(self.ignore_file.read_text(encoding="utf-8", errors="replace"))
        try:
            self.matcher = PatternMatcher(self.patterns)
        except BadPattern as exc:
            raise ContainerError(f"{self.ignore_file.name}: {exc}", step="build", path=str(self.ignore_file),
                                 fix="fix the pattern (an unclosed '[' or a trailing '\\')") from None
        self._entries: list[ContextEntry] | None = None

    @classmethod
    def for_dockerfile(cls, root: Path, dockerfile: Path) -> "BuildContext":
        """The context with the ignore file Docker would pick for this Dockerfile."""
        beside = dockerfile.with_name(dockerfile.name + IGNORE_FILE)
        return cls(root, beside if beside.is_file() else None)

    def excluded(self, rel: str) -> bool:
        return self.matcher.matches(rel)

    def entries(self) -> list[ContextEntry]:
        """Every path COPY may use, sorted. An excluded directory that holds an exception is
        kept (without its other contents), as Docker keeps the parents of what it sends."""
        if self._entries is None:
            found: dict[str, ContextEntry] = {}
            self._walk(self.root, "", found)
            self._entries = [found[k] for k in sorted(found)]
        return self._entries

    def _walk(self, directory: Path, rel: str, found: dict[str, ContextEntry]) -> None:
        with os.scandir(directory) as it:
            items = sorted(it, key=lambda d: d.name)
        for item in items:
            path = rel + item.name
            st = item.stat(follow_symlinks=False)
            if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                continue                                   # sockets, fifos, devices: not sent
            excluded = self.excluded(path)
            if stat.S_ISDIR(st.st_mode):
                if excluded and not self.matcher.exclusions:
                    continue                               # nothing below can come back: skip it whole
                before = len(found)
                if not excluded:
                    found[path] = ContextEntry(path, Path(item.path), st.st_mode)
                self._walk(Path(item.path), path + "/", found)
                if excluded and len(found) > before:       # an exception inside: keep the directory
                    found[path] = ContextEntry(path, Path(item.path), st.st_mode)
            elif not excluded:
                found[path] = ContextEntry(path, Path(item.path), st.st_mode)

    def under(self, rel: str) -> list[ContextEntry]:
        """The entries at `rel` and below it ('.' or '' for the whole context)."""
        rel = go_clean(rel)
        if rel == ".":
            return list(self.entries())
        return [e for e in self.entries() if e.path == rel or e.path.startswith(rel + "/")]

    def glob(self, pattern: str) -> list[ContextEntry]:
        """Entries whose path matches a COPY source with wildcards (Go's filepath.Match)."""
        pattern = go_clean(pattern)
        try:
            return [e for e in self.entries() if go_match(pattern, e.path)]
        except BadPattern as exc:
            raise ContainerError(str(exc), step="build", fix="fix the wildcard in the COPY source") from None


def has_wildcards(path: str) -> bool:
    """Whether a COPY source is a pattern (`*`, `?`, `[`) rather than a plain path."""
    return any(c in path for c in "*?[")
