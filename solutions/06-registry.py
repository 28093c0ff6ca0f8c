"""Lesson 06: registries. Answer the auth challenge, verify a download, read a reference, pick a platform.

Each function below is a step the runtime takes, with the same name and arguments as the package's
own: parse_challenge and token_url in minicontainer/registry/auth.py, receive_blob in
minicontainer/registry/client.py, split_reference in minicontainer/reference.py, select_manifest in
minicontainer/registry/platforms.py. `minicontainer --yours pull NAME` runs yours.
"""

from __future__ import annotations

import re
from typing import BinaryIO, Callable, Iterable
from urllib.parse import urlencode, urlsplit

from minicontainer.errors import ContainerError
from minicontainer.registry.platforms import Platform, is_attestation, normalize

DEFAULT_REGISTRY = "docker.io"


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Exercise 6.1: read a registry's WWW-Authenticate header:
    'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'
    -> ("bearer", {"realm": "https://auth.example/token", "service": "registry.example",
                   "scope": "repository:a/b:pull,push"}).
    The scheme in lower case, then key=value pairs separated by commas (and spaces), keys in lower
    case. A value is "quoted" (it may contain commas, and \\" for a quote) or a bare token
    (up to the next comma or space). 'Basic realm="x"' -> ("basic", {"realm": "x"})."""
    ### BEGIN SOLUTION 6.1: the scheme and parameters of a registry's WWW-Authenticate challenge
    ### HINT: The scheme is the first word; the rest is key=value pairs. Splitting on ',' breaks a scope like "repository:a:pull,push": read the pairs one character at a time, or with a regular expression that knows quotes.
    ### HINT: re.finditer(r'([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))', rest) finds each pair: group 2 is a quoted value (unescape \"), group 3 a bare one.
    ### HINT: scheme, _, rest = header.strip().partition(" "); params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)).replace('\\"', '"') for m in PAIR.finditer(rest)}; return scheme.lower(), params
    scheme, _, rest = header.strip().partition(" ")
    pair = re.compile(r'([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)).replace('\\"', '"')
              for m in pair.finditer(rest)}
    return scheme.lower(), params
    ### END SOLUTION


def token_url(realm: str, params: dict[str, str], scopes: tuple[str, ...]) -> str:
    """Exercise 6.2: where to ask for a token, from the challenge's parameters (6.1):
    realm?service=SERVICE&scope=SCOPE1&scope=SCOPE2..., URL-encoded (urllib.parse.urlencode of a list
    of pairs). No `scopes`: the challenge's own "scope", if it has one. No "service": no service=.
    If the realm has a query already, add to it with '&'. Nothing to add: the realm as it is."""
    ### BEGIN SOLUTION 6.2: the token server's URL for the scopes a request needs, from a challenge
    ### HINT: Build the query as a list of (key, value) pairs (a scope key may repeat), encode it once, and join it to the realm with the right separator.
    ### HINT: urlencode([("service", s), ("scope", a), ("scope", b)]) encodes ':' and ',' too; urlsplit(realm).query is "" when the realm has no query.
    ### HINT: query = [("service", params["service"])] if params.get("service") else []; wanted = list(scopes) or ([params["scope"]] if params.get("scope") else []); query += [("scope", s) for s in wanted]; return realm + ("&" if urlsplit(realm).query else "?") + urlencode(query) if query else realm
    query = [("service", params["service"])] if params.get("service") else []
    wanted = list(scopes)
    if not wanted and params.get("scope"):
        wanted.append(params["scope"])
    query += [("scope", s) for s in wanted]
    if not query:
        return realm
    return realm + ("&" if urlsplit(realm).query else "?") + urlencode(query)
    ### END SOLUTION


def receive_blob(chunks: Iterable[bytes], out: BinaryIO, hasher, have: int, size: int,
                 progress: Callable[[int], None]) -> int:
    """Exercise 6.3: the body of a blob download. Write each chunk to `out` and feed it to `hasher`
    (a hashlib object that already holds the `have` bytes of a resumed download), call
    progress(len(chunk)) for each, and stop reading as soon as more than `size` bytes are there
    (size 0: unknown). Return the number of bytes there are now. (The runtime then compares that
    with the manifest's size and hasher's digest with the blob's name: a wrong blob never enters
    the store. Never hold the blob in memory: a layer can be gigabytes.)"""
    ### BEGIN SOLUTION 6.3: a blob download, hashed and counted as it streams to disk
    ### HINT: One loop over the chunks doing four things to each, and one test that stops a server that sends more than it announced (it could fill the disk).
    ### HINT: hasher.update(chunk); out.write(chunk); have += len(chunk); progress(len(chunk)); if size and have > size: break.
    ### HINT: for chunk in chunks: hasher.update(chunk); out.write(chunk); have += len(chunk); progress(len(chunk)); if size and have > size: break — then return have
    for chunk in chunks:
        hasher.update(chunk)
        out.write(chunk)
        have += len(chunk)
        progress(len(chunk))
        if size and have > size:
            break
    return have
    ### END SOLUTION


def split_reference(text: str) -> tuple[str, str, str | None, str | None]:
    """Exercise 6.4: split an image reference into (registry, repository, tag, digest) as Docker does.

      busybox                       -> ("docker.io", "library/busybox", "latest", None)
      myuser/app:1                  -> ("docker.io", "myuser/app", "1", None)
      localhost:5000/app            -> ("localhost:5000", "app", "latest", None)
      index.docker.io/alpine        -> ("docker.io", "library/alpine", "latest", None)
      app:1@sha256:<hex>            -> ("docker.io", "library/app", "1", "sha256:<hex>")
      app@sha256:<hex>              -> ("docker.io", "library/app", None, "sha256:<hex>")

    Rules: the digest follows '@'. A tag is what follows the last ':' if no '/' comes after it
    (a ':' before a '/' is a port). The first component is a registry only if it contains '.' or
    ':' or is 'localhost'; otherwise the registry is docker.io. index.docker.io means docker.io.
    On docker.io a one-component name gets 'library/'. No tag and no digest means tag 'latest'.
    (The runtime checks the characters afterwards: parse_reference.)"""
    ### BEGIN SOLUTION 6.4: an image name split into registry, repository, tag and digest, as Docker reads it
    ### HINT: Peel it from the right: the digest after '@', then a tag after the last ':' (only if no '/' follows it: 'host:5000/app' has a port, not a tag), then the registry if the first component looks like a host.
    ### HINT: text.partition("@"); name.rfind(":") > name.rfind("/") tells a tag; first, _, rest = name.partition("/"); "." in first or ":" in first or first == "localhost"; "library/" + repository on docker.io when "/" not in it.
    ### HINT: name, at, digest = text.partition("@"); tag from the last ':' if after the last '/'; registry/repository from the first component; index.docker.io -> docker.io; library/; tag = "latest" if neither; return registry, repository, tag, digest if at else None
    name, at, digest = text.partition("@")
    tag = None
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1:]
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = DEFAULT_REGISTRY, name
    if registry == "index.docker.io":
        registry = DEFAULT_REGISTRY
    if registry == DEFAULT_REGISTRY and "/" not in repository:
        repository = "library/" + repository
    if tag is None and not at:
        tag = "latest"
    return registry, repository, tag, digest if at else None
    ### END SOLUTION


def select_manifest(index: dict, wanted: Platform) -> dict:
    """Exercise 6.5: the entry of an image index (a parsed OCI index / Docker manifest list:
    {"manifests": [{"digest", "platform": {"os", "architecture", "variant"?}}, ...]}) for the
    platform `wanted` (a Platform, already normalized). Skip attestations (is_attestation) and
    entries without os or architecture; compare normalize(os, architecture, variant) of each entry
    with `wanted` (arm64 means arm64/v8, arm means arm/v7). Return the first matching entry (the
    dict); none: raise ContainerError naming `wanted` and the platforms the index has, step="choose platform"."""
    ### BEGIN SOLUTION 6.5: the manifest of an image index for this machine's platform
    ### HINT: One pass over the entries: skip what cannot run (attestations, no platform), normalize what can, and remember what you saw for the error message.
    ### HINT: entry.get("platform") or {}; normalize(p["os"], p["architecture"], p.get("variant", "")) == wanted; str(platform) is "linux/arm64/v8"; raise ContainerError(f"no image for platform {wanted} ... (it has: ...)", step="choose platform").
    ### HINT: available = []; for entry in index.get("manifests") or []: if is_attestation(entry): continue; p = ...; if not p.get("os") or not p.get("architecture"): continue; have = normalize(...); available.append(str(have)); if have == wanted: return entry — then raise
    available = []
    for entry in index.get("manifests") or []:
        if is_attestation(entry):
            continue
        p = entry.get("platform") or {}
        if not p.get("os") or not p.get("architecture"):
            continue
        have = normalize(p["os"], p["architecture"], p.get("variant", ""))
        available.append(str(have))
        if have == wanted:
            return entry
    raise ContainerError(f"no image for platform {wanted} in this index (it has: {', '.join(available) or 'nothing'})",
                         step="choose platform", fix="choose one of the listed platforms with --platform")
    ### END SOLUTION
