# Your exercises for lesson 11-capstone. Replace each `raise NotImplementedError(...)` with your code.
# Check your work with `make check EX=11` (or the check cells in notebooks/11-capstone.ipynb).
# This file was generated from the instructors' solutions by `make exercises`.

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
    raise NotImplementedError('Exercise 11.1: the key of one build step in the layer cache, from the step before it')


def is_excluded(patterns: list[Pattern], path: str) -> bool:
    """Exercise 11.2: whether .dockerignore's `patterns` (in the file's order) leave `path` out of
    the build context. `path` is relative to the context, cleaned, '/'-separated ("site/a.md").
    Each pattern has .exclusion (True for a `!` line, which puts back what earlier lines left out)
    and .match(p) (True when the pattern matches p exactly: a pattern "drafts" matches "drafts",
    not "drafts/x"). A pattern that matches the path, or one of its parent directories ("site",
    then "site/sub" for "site/sub/a.md"), decides for it; the LAST pattern that does wins. "." (the
    whole context) is never excluded. go_dir("a/b/c") gives "a/b" (and "." for "c")."""
    raise NotImplementedError('Exercise 11.2: whether the .dockerignore patterns leave a path of the build context out')


def parse_ports(text: str, file: Path, line: int) -> list[str]:
    """Exercise 11.3: EXPOSE's arguments as the keys of the config's ExposedPorts, in order:
      "8080"          -> ["8080/tcp"]                 (tcp unless it says otherwise)
      "53/udp 80/TCP" -> ["53/udp", "80/tcp"]         (the protocol in lower case: tcp, udp or sctp)
      "8000-8002"     -> ["8000/tcp", "8001/tcp", "8002/tcp"]   (a range, both ends included)
    A port is 0..65535; a range's end is not below its start. Anything else (a protocol "icmp", a
    word "http", "70000", "9-1") is an error: raise error(file, line, message, fix), the
    ContainerError that names the Dockerfile's line."""
    raise NotImplementedError("Exercise 11.3: the ports an EXPOSE instruction names, as the config's keys")


def files_size(root: str) -> int:
    """Exercise 11.4: what a layer's files take (the SIZE column of `history`): the sum of st_size
    of everything under the directory `root` except directories: regular files, symlinks (their
    own size: lstat, never the file they point at) and whiteouts. A file with several hard links
    (st_nlink > 1) is counted once: remember its inode. `root` itself is not counted."""
    raise NotImplementedError("Exercise 11.4: the bytes a layer's files take, each file once")
