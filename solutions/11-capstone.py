"""Lesson 11: the capstone. Build, ship and run a small web site, with four steps of `build` and
`history` that are yours.

Each function below is one step the runtime takes, with the same name and signature as the
package's own: image.build.cache_key (the key of every build step in the layer cache),
image.dockerignore.is_excluded (which files of the build context .dockerignore leaves out),
image.build.parse_ports (EXPOSE) and image.history.files_size (the SIZE column of `history`).
`minicontainer --yours=11 build -t site:1 examples/capstone` builds the capstone with yours.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

from minicontainer.image.dockerfile import error
from minicontainer.image.dockerignore import Pattern, go_dir


def cache_key(previous: str, keyword: str, instruction: str, extra: str) -> str:
    """Exercise 11.1: the build cache's key for one step. `previous` is the key of everything
    before this step (for the first step: the base image's manifest digest, in hex), `keyword` the
    instruction ("COPY"), `instruction` the whole line as written ("COPY site/ ./"), `extra` what
    the step depends on besides its text (for a COPY: a hash of the files it copies; else "").
    Return the sha256, in hex, of the JSON text of the list [previous, keyword, instruction, extra]
    (json.dumps with its default separators): the same text as the package's, so that the steps
    already in your store's cache keep their keys."""
    ### BEGIN SOLUTION 11.1: the key of one build step in the layer cache, from the step before it
    ### HINT: A key must change when anything it depends on changes: put the four values in one list, turn it into text the same way every time, and hash that text.
    ### HINT: json.dumps(list) gives the text (keep its default separators); hashlib.sha256(text.encode()).hexdigest() the hash in hex.
    ### HINT: return hashlib.sha256(json.dumps([previous, keyword, instruction, extra]).encode()).hexdigest()
    return hashlib.sha256(json.dumps([previous, keyword, instruction, extra]).encode()).hexdigest()
    ### END SOLUTION


def is_excluded(patterns: list[Pattern], path: str) -> bool:
    """Exercise 11.2: whether .dockerignore's `patterns` (in the file's order) leave `path` out of
    the build context. `path` is relative to the context, cleaned, '/'-separated ("site/a.md").
    Each pattern has .exclusion (True for a `!` line, which puts back what earlier lines left out)
    and .match(p) (True when the pattern matches p exactly: a pattern "drafts" matches "drafts",
    not "drafts/x"). A pattern that matches the path, or one of its parent directories ("site",
    then "site/sub" for "site/sub/a.md"), decides for it; the LAST pattern that does wins. "." (the
    whole context) is never excluded. go_dir("a/b/c") gives "a/b" (and "." for "c")."""
    ### BEGIN SOLUTION 11.2: whether the .dockerignore patterns leave a path of the build context out
    ### HINT: Walk the patterns in order, keeping one boolean (excluded so far). A pattern counts if it matches the path itself or any of its parent directories; a `!` pattern sets the boolean back to False.
    ### HINT: The parents of "a/b/c" are "a" and "a/b": parts = go_dir(path).split("/"), then "/".join(parts[:i + 1]) for each i (none when go_dir(path) == "."). Start with excluded = False; return False at once for ".".
    ### HINT: for p in patterns: if p.match(path) or any(p.match(d) for d in parents): excluded = not p.exclusion — after the loop: return excluded
    if path == ".":
        return False
    parent = go_dir(path)
    parts = parent.split("/")
    parents = [] if parent == "." else ["/".join(parts[:i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        if pattern.match(path) or any(pattern.match(d) for d in parents):
            excluded = not pattern.exclusion
    return excluded
    ### END SOLUTION


def parse_ports(text: str, file: Path, line: int) -> list[str]:
    """Exercise 11.3: EXPOSE's arguments as the keys of the config's ExposedPorts, in order:
      "8080"          -> ["8080/tcp"]                 (tcp unless it says otherwise)
      "53/udp 80/TCP" -> ["53/udp", "80/tcp"]         (the protocol in lower case: tcp, udp or sctp)
      "8000-8002"     -> ["8000/tcp", "8001/tcp", "8002/tcp"]   (a range, both ends included)
    A port is 0..65535; a range's end is not below its start. Anything else (a protocol "icmp", a
    word "http", "70000", "9-1") is an error: raise error(file, line, message, fix), the
    ContainerError that names the Dockerfile's line."""
    ### BEGIN SOLUTION 11.3: the ports an EXPOSE instruction names, as the config's keys
    ### HINT: Take the words one by one: split off the protocol after '/', then the range's two ends on '-'; check each piece before making the keys.
    ### HINT: number, _, proto = word.partition("/"); proto = (proto or "tcp").lower(); start, dash, end = number.partition("-"); str.isdigit() checks a number; raise error(file, line, f"invalid port {word!r}", "write EXPOSE 80, 80/udp or 8000-8010").
    ### HINT: after the checks: ports += [f"{p}/{proto}" for p in range(int(start), int(end or start) + 1)] — and return ports after the loop
    ports = []
    for word in text.split():
        number, _, proto = word.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise error(file, line, f"invalid port {word!r}: invalid proto {proto!r}", "use tcp, udp or sctp")
        start, dash, end = number.partition("-")
        last = end if dash else start
        if not start.isdigit() or not last.isdigit() or int(start) > 65535 or int(last) > 65535 \
                or int(last) < int(start):
            raise error(file, line, f"invalid port {word!r}", "write EXPOSE 80, 80/udp or 8000-8010")
        ports += [f"{p}/{proto}" for p in range(int(start), int(last) + 1)]
    return ports
    ### END SOLUTION


def files_size(root: str) -> int:
    """Exercise 11.4: what a layer's files take (the SIZE column of `history`): the sum of st_size
    of everything under the directory `root` except directories: regular files, symlinks (their
    own size: lstat, never the file they point at) and whiteouts. A file with several hard links
    (st_nlink > 1) is counted once: remember its inode. `root` itself is not counted."""
    ### BEGIN SOLUTION 11.4: the bytes a layer's files take, each file once
    ### HINT: Walk the whole tree, look at each entry without following symlinks, skip directories, and keep a set of the inodes of hard-linked files already counted.
    ### HINT: os.walk(root) lists each directory's subdirectories and files (a symlink to a directory is among the subdirectories: check os.path.islink); os.lstat gives st_mode, st_size, st_ino and st_nlink; stat.S_ISDIR tells a directory.
    ### HINT: for each name: st = os.lstat(path); skip if stat.S_ISDIR(st.st_mode) or st.st_ino in seen; if st.st_nlink > 1: seen.add(st.st_ino); total += st.st_size
    total, seen = 0, set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            st = os.lstat(os.path.join(dirpath, name))
            if stat.S_ISDIR(st.st_mode) or st.st_ino in seen:
                continue
            if st.st_nlink > 1:
                seen.add(st.st_ino)
            total += st.st_size
    return total
    ### END SOLUTION
