"""`build`: a Dockerfile, one instruction at a time, each step cached like Docker's (lesson 05).

Supported: FROM (one stage), RUN, COPY, ADD (local files and tars), ENV, WORKDIR, USER, CMD,
ENTRYPOINT, EXPOSE, LABEL, ARG, VOLUME. Anything else is refused with the file and line.

Each instruction turns the current state (layers + config) into the next one:

  RUN      runs in a minicontainer container on top of the current layers; the container's
           upper directory becomes a new layer (the same as `commit`)
  COPY/ADD copy files from the build context into a fresh directory, which becomes a layer
  others   change only the config (an "empty layer" history entry)

The cache: the key of a step is sha256(previous key + the instruction + what it depends on: the
contents of copied files, the build args in effect). The base is keyed by its manifest digest.
If a key was built before and its blobs are still in the store, the step is not run again:
an unchanged rebuild is instant and gives the same image ID.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..atomic import write_atomic
from ..errors import ContainerError
from ..paths import Paths
from .config import shell_form
from .layer import write_layer
from .manifest import Descriptor
from .mutate import add_layer, base_state, empty_config, write_image
from .store import Image, Store

SUPPORTED = {"FROM", "RUN", "COPY", "ADD", "ENV", "WORKDIR", "USER", "CMD", "ENTRYPOINT", "EXPOSE", "LABEL",
             "ARG", "VOLUME"}


@dataclass
class Instruction:
    line: int
    keyword: str
    args: str
    original: str


def _error(file: Path, line: int, message: str, fix: str = "") -> ContainerError:
    return ContainerError(message, step="build", path=f"{file}:{line}",
                          fix=fix or "supported: " + ", ".join(sorted(SUPPORTED)))


def parse_dockerfile(text: str, file: Path = Path("Dockerfile")) -> list[Instruction]:
    """Split a Dockerfile into instructions (comments dropped, `\\` continuations joined)."""
    out: list[Instruction] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        keyword = keyword.upper()
        if keyword not in SUPPORTED:
            raise _error(file, start, f"unsupported Dockerfile instruction {keyword!r}")
        out.append(Instruction(start, keyword, args.strip(), full))
    if pending:
        raise _error(file, start, "the last line ends with a continuation '\\'", "remove the trailing backslash")
    if not out or out[0].keyword not in ("FROM", "ARG"):
        raise _error(file, out[0].line if out else 1, "a Dockerfile must start with FROM", "add FROM IMAGE first")
    return out


def _json_or_shell(args: str) -> list[str] | str:
    if args.startswith("["):
        try:
            value = json.loads(args)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return value
        except ValueError:
            pass
    return args


def substitute(text: str, env: dict[str, str]) -> str:
    """$VAR, ${VAR}, ${VAR:-default} as Dockerfiles expand them."""
    def repl(m: re.Match) -> str:
        name = m.group(1) or m.group(2)
        default = m.group(4)
        value = env.get(name)
        if m.group(3) == ":-" and not value:
            return default or ""
        return value or ""
    return re.sub(r"\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-)([^}]*))?\})", repl, text)


def _pairs(args: str, what: str, file: Path, line: int) -> list[tuple[str, str]]:
    """KEY=VALUE pairs (quotes allowed), or the old `KEY VALUE` form."""
    import shlex

    try:
        words = shlex.split(args)
    except ValueError as exc:
        raise _error(file, line, f"{what}: {exc}", f"check the quotes in {what}") from None
    if words and "=" not in words[0]:
        if len(words) < 2:
            raise _error(file, line, f"{what} needs KEY=VALUE", f"write {what} KEY=VALUE")
        return [(words[0], " ".join(words[1:]))]
    pairs = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise _error(file, line, f"{what}: {word!r} is not KEY=VALUE", f"write {what} KEY=VALUE")
        pairs.append((key, value))
    return pairs


@dataclass
class State:
    """The image being built: layers, config, and the cache key of everything so far."""

    layers: list[Descriptor]
    config: dict
    key: str
    args: dict[str, str] = field(default_factory=dict)
    cmd_set_here: bool = False

    @property
    def run(self) -> dict:
        return self.config.setdefault("config", {})


class Builder:
    """Runs one Dockerfile against the store, with the layer cache under lib_dir/build-cache/."""

    def __init__(self, paths: Paths, context: Path, file: Path, build_args: dict[str, str],
                 use_cache: bool, log: Callable[[str], None]) -> None:
        self.paths = paths
        self.store = Store(paths).ensure()
        self.context = context.resolve()
        self.file = file
        self.build_args = build_args
        self.use_cache = use_cache
        self.log = log
        self.cache_dir = paths.lib_dir / "build-cache"

    # -- the cache ------------------------------------------------------------------------------
    def _cache_get(self, key: str) -> tuple[list[Descriptor], dict] | None:
        path = self.cache_dir / f"{key}.json"
        if not self.use_cache or not path.exists():
            return None
        try:
            entry = json.loads(path.read_text())
        except ValueError:
            return None
        layers = [Descriptor.from_json(d, "build cache") for d in entry["layers"]]
        if not all(self.store.has_blob(d.digest) for d in layers):
            return None
        return layers, entry["config"]

    def _cache_put(self, key: str, state: State) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        entry = {"layers": [d.to_json() for d in state.layers], "config": state.config,
                 "blobs": [d.digest for d in state.layers],
                 "diff_ids": list(state.config.get("rootfs", {}).get("diff_ids", []))}
        write_atomic(self.cache_dir / f"{key}.json", json.dumps(entry))

    def step(self, state: State, ins: Instruction, extra: str, action: Callable[[State], None]) -> State:
        """Apply one instruction, or take its result from the cache."""
        key = hashlib.sha256(json.dumps([state.key, ins.keyword, ins.args, extra]).encode()).hexdigest()
        cached = self._cache_get(key)
        if cached is not None:
            self.log(f" ---> Using cache ({ins.keyword} at line {ins.line})")
            return State(cached[0], cached[1], key, state.args, state.cmd_set_here or ins.keyword == "CMD")
        new = State(list(state.layers), json.loads(json.dumps(state.config)), key, state.args, state.cmd_set_here)
        action(new)
        self._cache_put(key, new)
        return new

    # -- instructions ---------------------------------------------------------------------------
    def build(self, tag: str | None) -> Image:
        instructions = parse_dockerfile(self.file.read_text(), self.file)
        if sum(1 for i in instructions if i.keyword == "FROM") > 1:
            line = [i for i in instructions if i.keyword == "FROM"][1].line
            raise _error(self.file, line, "multi-stage builds (a second FROM) are not supported",
                         "use one FROM per Dockerfile")
        args: dict[str, str] = {}
        state: State | None = None
        for n, ins in enumerate(instructions, 1):
            self.log(f"Step {n}/{len(instructions)} : {ins.original}")
            scope = dict(args)
            if state is not None:
                scope.update(_env_dict(state.run.get("Env")))
            text = substitute(ins.args, scope) if ins.keyword not in ("RUN", "CMD", "ENTRYPOINT") else ins.args
            if ins.keyword == "ARG":
                name, eq, default = text.partition("=")
                args[name] = self.build_args.get(name, default if eq else "")
                if state is not None:
                    state.args = dict(args)
                continue
            if ins.keyword == "FROM":
                state = self._from(text.split()[0] if text else "", ins)
                state.args = dict(args)
                continue
            assert state is not None
            state = self._instruction(state, ins, text)
        if state is None:
            raise _error(self.file, 1, "no FROM instruction", "add FROM IMAGE")
        image = write_image(self.store, state.layers, state.config, tag)
        return image

    def _from(self, name: str, ins: Instruction) -> State:
        if not name:
            raise _error(self.file, ins.line, "FROM needs an image", "write FROM IMAGE[:TAG] or FROM scratch")
        if name == "scratch":
            config = empty_config()
            return State([], config, hashlib.sha256(b"scratch").hexdigest())
        try:
            base = self.store.resolve(name)
        except ContainerError as exc:
            raise _error(self.file, ins.line, exc.message, "pull, load or build the base image first") from None
        layers, config = base_state(base)
        return State(layers, config, base.manifest_digest.split(":")[1])

    def _instruction(self, state: State, ins: Instruction, text: str) -> State:
        kw = ins.keyword
        created_by = f"/bin/sh -c #(nop) {ins.original}"
        if kw == "RUN":
            argv = shell_form(_json_or_shell(ins.args))
            extra = json.dumps(sorted(state.args.items()))
            return self.step(state, ins, extra, lambda s: self._run(s, argv, ins))
        if kw in ("COPY", "ADD"):
            return self._copy(state, ins, text)

        def meta(s: State) -> None:
            c = s.run
            if kw == "ENV":
                env = _env_dict(c.get("Env"))
                for key, value in _pairs(text, "ENV", self.file, ins.line):
                    env[key] = value
                c["Env"] = [f"{k}={v}" for k, v in env.items()]
            elif kw == "WORKDIR":                    # Docker creates the directory if it is missing
                c["WorkingDir"] = os.path.normpath(os.path.join(c.get("WorkingDir") or "/", text))
                if not self._is_dir_in_image(s, c["WorkingDir"]):
                    self._add_dirs(s, c["WorkingDir"], created_by)
                    return
            elif kw == "USER":
                c["User"] = text
            elif kw == "CMD":
                c["Cmd"] = shell_form(_json_or_shell(ins.args))
            elif kw == "ENTRYPOINT":
                c["Entrypoint"] = shell_form(_json_or_shell(ins.args))
                if not s.cmd_set_here:
                    c["Cmd"] = None          # an inherited CMD is reset by ENTRYPOINT (Docker's rule)
            elif kw == "EXPOSE":
                ports = c.setdefault("ExposedPorts", {})
                for port in text.split():
                    ports[port if "/" in port else f"{port}/tcp"] = {}
            elif kw == "LABEL":
                c.setdefault("Labels", {}).update(dict(_pairs(text, "LABEL", self.file, ins.line)))
            elif kw == "VOLUME":
                vols = _json_or_shell(text)
                for v in vols if isinstance(vols, list) else vols.split():
                    c.setdefault("Volumes", {})[v] = {}
            add_layer(s.layers, s.config, None, None, created_by)
        new = self.step(state, ins, "", meta)
        new.cmd_set_here = state.cmd_set_here or kw == "CMD"
        return new

    def _run(self, state: State, argv: list[str], ins: Instruction) -> None:
        """RUN: a container on the current layers; its upper dir becomes the new layer."""
        from .. import container
        from .commit import commit_dir

        tmp_tag = f"localhost/mc-build:{os.urandom(6).hex()}"
        image = write_image(self.store, state.layers, json.loads(json.dumps(state.config)), tmp_tag)
        env = [f"{k}={v}" for k, v in state.args.items()]
        spec = container.RunSpec(image=tmp_tag, command=argv, entrypoint=argv[0],
                                 env=env, name=f"mc-build-{os.urandom(4).hex()}")
        spec.command = argv[1:]
        paths = self.paths
        c = None
        try:
            c = container.run(spec, paths)
            if c.exit_code != 0:
                raise _error(self.file, ins.line, f"RUN returned exit code {c.exit_code}: {ins.args}",
                             "fix the command; the image was not changed")
            upper = Path(container.state_dir(paths, c.id), "upper")
            layer_image = commit_dir(self.store, image, upper, None, f"/bin/sh -c {ins.args}")
            state.layers = list(layer_image.layers)
            state.config = json.loads(json.dumps(layer_image.config))
            state.config["config"] = json.loads(json.dumps(image.config.get("config") or {}))
        finally:
            try:
                c = c or container.find(paths, spec.name)
                container.remove_state(paths, c)
            except ContainerError:
                pass
            self.store.untag(tmp_tag)

    def _is_dir_in_image(self, state: State, path: str) -> bool:
        """Whether `path` is a directory in the image so far (the topmost layer that has it decides)."""
        from .unpack import ensure_layer

        rel = path.strip("/")
        if not rel:
            return True
        for layer, diff_id in reversed(list(zip(state.layers, state.config["rootfs"]["diff_ids"]))):
            entry = ensure_layer(self.store, layer, diff_id) / rel
            if entry.is_symlink() or entry.exists():
                return entry.is_dir() and not entry.is_symlink()
        return False

    def _add_dirs(self, state: State, path: str, created_by: str) -> None:
        """A layer holding just the directory `path` (mode 0755, root-owned)."""
        staging = Path(tempfile.mkdtemp(prefix="workdir-", dir=self.store.tmp))
        try:
            (staging / path.strip("/")).mkdir(parents=True, mode=0o755)
            for p in [staging / path.strip("/"), *(staging / path.strip("/")).parents]:
                if p == staging:
                    break
                os.chmod(p, 0o755)
            layer, diff_id = write_layer(self.store, staging)
            add_layer(state.layers, state.config, layer, diff_id, created_by)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _copy(self, state: State, ins: Instruction, text: str) -> State:
        words = text.split()
        words = [w for w in words if not w.startswith("--")]
        if len(words) < 2:
            raise _error(self.file, ins.line, f"{ins.keyword} needs a source and a destination",
                         f"write {ins.keyword} SRC... DEST")
        sources, dest = words[:-1], words[-1]
        paths = []
        for src in sources:
            if "://" in src:
                raise _error(self.file, ins.line, f"{ins.keyword} from a URL is not supported", "download it first")
            path = (self.context / src).resolve()
            if path != self.context and self.context not in path.parents:
                raise _error(self.file, ins.line, f"{src!r} is outside the build context {self.context}",
                             "copy only files under the build directory")
            if not path.exists():
                raise _error(self.file, ins.line, f"{src!r} not found in the build context {self.context}")
            paths.append(path)
        h = hashlib.sha256()
        for path in paths:
            _hash_tree(h, path, self.context)
        workdir = state.run.get("WorkingDir") or "/"
        target = os.path.normpath(os.path.join(workdir, dest))
        as_dir = dest.endswith(("/", "/.")) or dest == "." or len(paths) > 1 or paths[0].is_dir() or \
            self._is_dir_in_image(state, target)

        def action(s: State) -> None:
            staging = Path(tempfile.mkdtemp(prefix="copy-", dir=self.store.tmp))
            try:
                root = staging / target.lstrip("/")
                for path in paths:
                    if path.is_dir():
                        shutil.copytree(path, root, symlinks=True, dirs_exist_ok=True)
                    elif ins.keyword == "ADD" and _is_tar(path):
                        from .unpack import unpack_blob
                        root.mkdir(parents=True, exist_ok=True)
                        unpack_blob(path, root, "apply")
                    else:
                        out = root / path.name if as_dir else root
                        out.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(path, out, follow_symlinks=False)
                _own_by_root(staging)
                layer, diff_id = write_layer(self.store, staging)
                add_layer(s.layers, s.config, layer, diff_id, f"/bin/sh -c #(nop) {ins.original}")
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return self.step(state, ins, h.hexdigest(), action)


def _env_dict(env: list[str] | None) -> dict[str, str]:
    return dict(item.partition("=")[::2] for item in env or [])


def _is_tar(path: Path) -> bool:
    import tarfile

    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _own_by_root(root: Path) -> None:
    """Copied files belong to root:root in the image (Docker's default for COPY)."""
    if os.geteuid() != 0:
        return
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), 0, 0, follow_symlinks=False)


def _hash_tree(h, path: Path, context: Path) -> None:
    """Add names, modes and contents under path to h: what makes a COPY's cache key."""
    items = [path] if not path.is_dir() else [path, *sorted(path.rglob("*"))]
    for item in items:
        st = item.lstat()
        h.update(f"{item.relative_to(context)}\0{st.st_mode:o}\0".encode())
        if item.is_symlink():
            h.update(os.readlink(item).encode())
        elif item.is_file():
            with open(item, "rb") as f:
                while block := f.read(1 << 20):
                    h.update(block)


def build(paths: Paths, context: Path, dockerfile: Path | None = None, tag: str | None = None,
          build_args: dict[str, str] | None = None, use_cache: bool = True,
          log: Callable[[str], None] = print) -> Image:
    """`minicontainer build -t TAG -f FILE DIR`."""
    if not context.is_dir():
        raise ContainerError("the build context is not a directory", step="build", path=str(context),
                             fix="give the directory holding the files to COPY")
    file = dockerfile or context / "Dockerfile"
    if not file.is_file():
        raise ContainerError("Dockerfile not found", step="build", path=str(file), fix="use -f FILE")
    return Builder(paths, context, file, build_args or {}, use_cache, log).build(tag)
