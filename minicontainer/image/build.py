"""`build`: a Dockerfile, one instruction at a time, each step cached like Docker's (lesson 05).

Supported: FROM (one or more stages, `AS name`), RUN, COPY (also `--from=stage|index|image`,
`--chown`, `--chmod`), ADD (local files and tars), ENV, WORKDIR, USER, CMD, ENTRYPOINT, EXPOSE,
LABEL, ARG, VOLUME. Anything else is refused with the file and line (dockerfile.py reads the file).

Each instruction turns the current state (layers + config) into the next one:

  RUN      runs in a minicontainer container on top of the current layers; the container's
           upper directory becomes a new layer (the same as `commit`)
  COPY/ADD copy files from the build context (minus what .dockerignore excludes, see
           dockerignore.py) or from another stage into a fresh directory, which becomes a layer
  others   change only the config: ENV -> Env, EXPOSE -> ExposedPorts {"80/tcp": {}},
           VOLUME -> Volumes {"/data": {}}, USER -> User, ... (an "empty layer" history entry)

Every step appends a history entry written as BuildKit (Docker's builder) writes it
(`RUN /bin/sh -c ... # buildkit`, `COPY site/ /www/ # buildkit`, `EXPOSE [8080/tcp]`), which
`minicontainer history` shows beside each layer's size.

The cache: the key of a step is sha256(previous key + the instruction + what it depends on: the
contents of the files it copies, the build args in effect, the stage it copies from). The base is
keyed by its manifest digest. If a key was built before and its blobs are still in the store, the
step is not run again: an unchanged rebuild is instant and gives the same image ID, and changing
one copied file rebuilds from that COPY on.

Mistakes are found before anything runs where they can be: an unknown instruction, a stage that
does not exist or copies from itself in a circle, a base image not in the store, a COPY source
outside the context. Nothing half-built is tagged; the temporary tags and containers of RUN are
removed even when a step fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..atomic import write_atomic
from ..errors import ContainerError
from ..paths import Paths
from .config import shell_form
from .dockerfile import Instruction, Stage, check_cycles, error, link_stages, parse_dockerfile, split_stages, \
    stages_to_build
from .dockerignore import BuildContext, go_clean, go_match, has_wildcards
from .layer import write_layer
from .manifest import Descriptor
from .mutate import add_layer, base_state, empty_config, write_image
from .store import Image, Store

HISTORY_COMMENT = "buildkit.dockerfile.v0"   # what Docker's builder writes in each history entry


def _json_or_shell(args: str) -> list[str] | str:
    """The JSON (exec) form `["a", "b"]` as a list, anything else as the string it is."""
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
        raise error(file, line, f"{what}: {exc}", f"check the quotes in {what}") from None
    if words and "=" not in words[0]:
        if len(words) < 2:
            raise error(file, line, f"{what} needs KEY=VALUE", f"write {what} KEY=VALUE")
        return [(words[0], " ".join(words[1:]))]
    pairs = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise error(file, line, f"{what}: {word!r} is not KEY=VALUE", f"write {what} KEY=VALUE")
        pairs.append((key, value))
    return pairs


def cache_key(previous: str, keyword: str, instruction: str, extra: str) -> str:
    """The build cache's key for one step (lesson 11: 11.1): sha256, in hex, of the JSON list
    [previous, keyword, instruction, extra]. `previous` is the key of everything before the step
    (the base image: its manifest digest's hex), `instruction` the line as written, `extra` what
    the step depends on besides its text (a COPY: the hash of the files it copies). Any change in
    any of them (or before them) gives another key: the cache misses from that step on."""
    return hashlib.sha256(json.dumps([previous, keyword, instruction, extra]).encode()).hexdigest()


def go_quote_list(items: list[str]) -> str:
    """A list as Go's %q prints it: ["httpd" "-f"] (the form Docker's history uses for CMD)."""
    return "[" + " ".join(json.dumps(i, ensure_ascii=False) for i in items) + "]"


def parse_ports(text: str, file: Path, line: int) -> list[str]:
    """EXPOSE's words as "PORT/PROTO" keys: 80 -> 80/tcp, 53/udp, 8000-8002 -> three ports."""
    ports = []
    for word in text.split():
        spec = word.rsplit(":", 1)[-1]                    # BuildKit ignores an ip:hostport: prefix here
        number, _, proto = spec.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise error(file, line, f"invalid port {word!r}: invalid proto {proto!r}", "use tcp, udp or sctp")
        start, dash, end = number.partition("-")
        if not start.isdigit() or (dash and not end.isdigit()) or int(start) > 65535 or int(end or start) > 65535 \
                or int(end or start) < int(start):
            raise error(file, line, f"invalid port {word!r}", "write EXPOSE 80, 80/udp or 8000-8010")
        ports += [f"{p}/{proto}" for p in range(int(start), int(end or start) + 1)]
    return ports


def _env_dict(env: list[str] | None) -> dict[str, str]:
    return dict(item.partition("=")[::2] for item in env or [])


@dataclass
class State:
    """The image being built: layers, config, and the cache key of everything so far."""

    layers: list[Descriptor]
    config: dict
    key: str
    args: dict[str, str] = field(default_factory=dict)   # the ARGs this stage declared, with their values
    cmd_set_here: bool = False

    @property
    def run(self) -> dict:
        return self.config.setdefault("config", {})

    def copy(self) -> "State":
        return State(list(self.layers), json.loads(json.dumps(self.config)), self.key, dict(self.args),
                     self.cmd_set_here)


@dataclass(frozen=True)
class CopyItem:
    """One path COPY writes: where below the destination, what it is, and where its content is."""

    dest: str          # relative to the destination directory; "" is the destination itself
    kind: str          # "dir", "file" or "symlink"
    source: Path
    mode: int          # permission bits
    uid: int = 0
    gid: int = 0


class Builder:
    """Runs one Dockerfile against the store, with the layer cache under lib_dir/build-cache/."""

    def __init__(self, paths: Paths, context: Path, file: Path, build_args: dict[str, str],
                 use_cache: bool, log: Callable[[str], None], target: str | None = None) -> None:
        self.paths = paths
        self.store = Store(paths).ensure()
        self.context = context.resolve()
        self.file = file
        self.build_args = build_args
        self.use_cache = use_cache
        self.log = log
        self.target = target
        self.cache_dir = paths.lib_dir / "build-cache"
        self.ctx = BuildContext.for_dockerfile(self.context, file)
        self.stages: list[Stage] = []
        self.states: dict[int, State] = {}               # stage index -> its result, once built
        self.step_number, self.step_total = 0, 0
        self._consumed: set[str] = set()                 # the --build-arg names some ARG used

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
        key = cache_key(state.key, ins.keyword, ins.original, extra)
        cached = self._cache_get(key)
        if cached is not None:
            self.log(f" ---> Using cache ({ins.keyword} at line {ins.line})")
            return State(cached[0], cached[1], key, state.args, state.cmd_set_here or ins.keyword == "CMD")
        new = state.copy()
        new.key = key
        action(new)
        self._cache_put(key, new)
        return new

    def _announce(self, ins: Instruction) -> None:
        self.step_number += 1
        self.log(f"Step {self.step_number}/{self.step_total} : {ins.original}")

    # -- the whole build ------------------------------------------------------------------------
    def build(self, tag: str | None) -> Image:
        instructions = parse_dockerfile(self.file.read_text(), self.file)
        global_args, stages = split_stages(instructions, self.file)
        self.stages = stages
        link_stages(stages, self.file, self.log)
        check_cycles(stages, self.file)
        order = stages_to_build(stages, self.target, self.file)
        globals_ = self._global_args(global_args)
        self._preflight(stages, order, globals_)
        self.step_total = len(global_args) + sum(len(stages[i].instructions) for i in order)
        for ins in global_args:
            self._announce(ins)
        for index in order:
            self.states[index] = self._build_stage(stages[index], globals_)
        unused = sorted(set(self.build_args) - self._consumed)
        if unused:
            self.log(f"[Warning] One or more build-args {unused} were not consumed")
        final = self.states[order[-1]]                   # the target: every stage it needs comes before it
        return write_image(self.store, final.layers, final.config, tag)

    def _global_args(self, global_args: list[Instruction]) -> dict[str, str]:
        """The ARGs before the first FROM: usable in FROM lines, and by `ARG NAME` inside a stage."""
        values: dict[str, str] = {}
        for ins in global_args:
            name, eq, default = substitute(ins.args, values).partition("=")
            values[name] = self._arg_value(name, default if eq else None, {}) or ""
        return values

    def _arg_value(self, name: str, default: str | None, globals_: dict[str, str]) -> str | None:
        if name in self.build_args:
            self._consumed.add(name)
            return self.build_args[name]
        if default is not None:
            return default
        return globals_.get(name)

    def _preflight(self, stages: list[Stage], order: list[int], globals_: dict[str, str]) -> None:
        """Find what would fail before anything is built: missing base images, --from images,
        COPY sources outside the context or missing from it."""
        for index in order:
            stage = stages[index]
            if stage.base_stage is None:
                self._base_image(stage, globals_)
            for ins in stage.instructions:
                source = ins.flags.get("from")
                if source is not None and self._stage_index(source) is None:
                    self._image_for(source, ins)
                if ins.keyword in ("COPY", "ADD") and source is None and "$" not in ins.args:
                    sources, _ = self._split_copy(ins, ins.args)
                    self._context_items(sources, ins)

    def _stage_index(self, source: str) -> int | None:
        """The stage a --from value names (an index, or a name: the last stage with it), else None."""
        if source.isdigit():
            return int(source)
        named = [s.index for s in self.stages if s.name and s.name == source.lower()]
        return named[-1] if named else None

    def _base_image(self, stage: Stage, globals_: dict[str, str]) -> Image | None:
        ins = stage.instructions[0]
        name = substitute(stage.base, globals_)
        if not name:
            raise error(self.file, ins.line, f"base name ({stage.base}) should not be blank",
                        "give the ARG a value (--build-arg) or a default")
        if name == "scratch":
            return None
        try:
            return self.store.resolve(name)
        except ContainerError as exc:
            raise error(self.file, ins.line, f"FROM {name}: {exc.message}",
                        "pull, load or build the base image first") from None

    def _image_for(self, name: str, ins: Instruction) -> Image:
        """The image a COPY --from names when it names no stage."""
        try:
            return self.store.resolve(name)
        except ContainerError:
            raise error(self.file, ins.line, f"COPY --from={name}: no build stage and no image in the local store "
                        f"is called {name!r}", "name a stage (FROM ... AS NAME) or pull the image first") from None

    # -- one stage ------------------------------------------------------------------------------
    def _build_stage(self, stage: Stage, globals_: dict[str, str]) -> State:
        first = stage.instructions[0]
        self._announce(first)
        if stage.base_stage is not None:
            state = self.states[stage.base_stage].copy()
            state.args, state.cmd_set_here = {}, False
        else:
            base = self._base_image(stage, globals_)
            if base is None:
                state = State([], empty_config(), hashlib.sha256(b"scratch").hexdigest())
            else:
                layers, config = base_state(base)
                state = State(layers, config, base.manifest_digest.split(":")[1])
        for ins in stage.instructions[1:]:
            self._announce(ins)
            if ins.keyword == "ARG":
                state = self._arg(state, ins, globals_)
                continue
            scope = {**state.args, **_env_dict(state.run.get("Env"))}
            text = ins.args if ins.keyword in ("RUN", "CMD", "ENTRYPOINT") else substitute(ins.args, scope)
            state = self._instruction(state, ins, text)
        return state

    def _arg(self, state: State, ins: Instruction, globals_: dict[str, str]) -> State:
        name, eq, default = substitute(ins.args, {**state.args, **_env_dict(state.run.get("Env"))}).partition("=")
        value = self._arg_value(name, default if eq else None, globals_)
        args = {**state.args, name: value or ""}
        history = f"ARG {name}" + (f"={value}" if value is not None else "")

        def action(s: State) -> None:
            add_layer(s.layers, s.config, None, None, history, comment=HISTORY_COMMENT)
        new = self.step(state, ins, json.dumps(value), action)
        new.args = args
        return new

    def _instruction(self, state: State, ins: Instruction, text: str) -> State:
        kw = ins.keyword
        if kw == "RUN":
            argv = shell_form(_json_or_shell(ins.args))
            prefix = f"|{len(state.args)} " + " ".join(f"{k}={v}" for k, v in state.args.items()) + " " \
                if state.args else ""
            history = f"RUN {prefix}{' '.join(argv)} # buildkit"
            extra = json.dumps(sorted(state.args.items()))
            return self.step(state, ins, extra, lambda s: self._run(s, argv, ins, history))
        if kw in ("COPY", "ADD"):
            return self._copy(state, ins, text)
        change, history = self._config_change(state, ins, text)

        def meta(s: State) -> None:
            c = s.run
            if kw == "WORKDIR":                   # Docker creates the directory if it is missing
                c["WorkingDir"] = change
                if not self._is_dir_in_image(s, change):
                    self._add_dirs(s, change, history)
                    return
            else:
                change(c)
            add_layer(s.layers, s.config, None, None, history, comment=HISTORY_COMMENT)
        new = self.step(state, ins, "", meta)
        new.cmd_set_here = state.cmd_set_here or kw == "CMD"
        return new

    def _config_change(self, state: State, ins: Instruction, text: str):
        """(how the instruction changes the config, its history line) for the config-only instructions."""
        kw, file, line = ins.keyword, self.file, ins.line
        if kw == "ENV":
            pairs = _pairs(text, "ENV", file, line)

            def env(c: dict) -> None:
                values = _env_dict(c.get("Env"))
                values.update(pairs)
                c["Env"] = [f"{k}={v}" for k, v in values.items()]
            return env, "ENV " + " ".join(f"{k}={v}" for k, v in pairs)
        if kw == "WORKDIR":
            workdir = posixpath.normpath(posixpath.join(state.run.get("WorkingDir") or "/", text))
            return workdir, f"WORKDIR {workdir}"
        if kw == "USER":
            if not text:
                raise error(file, line, "USER needs a user", "write USER name[:group] or USER uid[:gid]")
            return (lambda c: c.__setitem__("User", text)), f"USER {text}"
        if kw in ("CMD", "ENTRYPOINT"):
            argv = shell_form(_json_or_shell(ins.args))

            def command(c: dict) -> None:
                if kw == "CMD":
                    c["Cmd"] = argv
                else:
                    c["Entrypoint"] = argv
                    if not state.cmd_set_here:
                        c["Cmd"] = None      # an inherited CMD is reset by ENTRYPOINT (Docker's rule)
            return command, f"{kw} {go_quote_list(argv)}"
        if kw == "EXPOSE":
            ports = parse_ports(text, file, line)
            return (lambda c: c.setdefault("ExposedPorts", {}).update({p: {} for p in ports})), \
                f"EXPOSE [{' '.join(ports)}]"
        if kw == "LABEL":
            pairs = _pairs(text, "LABEL", file, line)
            return (lambda c: c.setdefault("Labels", {}).update(dict(pairs))), \
                "LABEL " + " ".join(f"{k}={v}" for k, v in pairs)
        if kw == "VOLUME":
            value = _json_or_shell(text)
            volumes = value if isinstance(value, list) else value.split()
            if not volumes or any(not v.strip() for v in volumes):
                raise error(file, line, "VOLUME specified can not be an empty string", "write VOLUME /data")
            return (lambda c: c.setdefault("Volumes", {}).update({v: {} for v in volumes})), \
                f"VOLUME [{' '.join(volumes)}]"
        raise error(file, line, f"{kw} is not handled here")  # (parse_dockerfile refuses the rest)

    # -- RUN ------------------------------------------------------------------------------------
    def _run(self, state: State, argv: list[str], ins: Instruction, history: str) -> None:
        """RUN: a container on the current layers; its upper dir becomes the new layer."""
        from .. import container
        from ..state import find as find_container, remove as remove_container, state_dir

        tmp_tag = f"localhost/mc-build:{os.urandom(6).hex()}"
        write_image(self.store, state.layers, json.loads(json.dumps(state.config)), tmp_tag)
        env = [f"{k}={v}" for k, v in state.args.items()]
        spec = container.RunSpec(image=tmp_tag, command=argv[1:], entrypoint=argv[0],
                                 env=env, name=f"mc-build-{os.urandom(4).hex()}")
        paths = self.paths
        c = None
        sys.stdout.flush()          # our log lines first, then what the RUN command prints (same stdout)
        try:
            c = container.run(spec, paths)
            if c.exit_code != 0:
                raise error(self.file, ins.line, f"RUN returned exit code {c.exit_code}: {ins.args}",
                            "fix the command; the image was not changed")
            upper = Path(state_dir(paths, c.id), "upper")
            layer, diff_id = write_layer(self.store, upper, overlay=True)
            add_layer(state.layers, state.config, layer, diff_id, history, comment=HISTORY_COMMENT)
        finally:
            try:
                c = c or find_container(paths, spec.name)
                remove_container(paths, c)
            except ContainerError:
                pass
            self.store.untag(tmp_tag)

    # -- looking into the image so far ----------------------------------------------------------
    def _image_lstat(self, state: State, path: str) -> os.stat_result | None:
        """lstat of `path` as the image so far shows it (the topmost layer that has it decides)."""
        from ..unionmodel import is_whiteout
        from .unpack import ensure_layer

        rel = path.strip("/")
        if not rel:
            return None
        for layer, diff_id in reversed(list(zip(state.layers, state.config["rootfs"]["diff_ids"]))):
            try:
                st = os.lstat(ensure_layer(self.store, layer, diff_id) / rel)
            except (FileNotFoundError, NotADirectoryError):
                continue
            return None if is_whiteout(st) else st
        return None

    def _is_dir_in_image(self, state: State, path: str) -> bool:
        """Whether `path` is a directory in the image so far."""
        if not path.strip("/"):
            return True
        st = self._image_lstat(state, path)
        return st is not None and stat.S_ISDIR(st.st_mode)

    def _merged(self, state: State):
        """Every path of the image so far, with union rules applied (lesson 04's model)."""
        from ..unionmodel import merge
        from .unpack import ensure_layer

        return merge([ensure_layer(self.store, layer, diff_id)
                      for layer, diff_id in zip(state.layers, state.config["rootfs"]["diff_ids"])]).entries

    def _make_parents(self, state: State, staging: Path, target: str, owner: tuple[int, int] | None) -> None:
        """Create target's directory and its parents in the staging dir. Those the image already has
        keep their mode and owner (a COPY into /tmp must not make it 0755); new ones are 0755,
        owned by root or by --chown's user."""
        parts = [p for p in target.strip("/").split("/") if p]
        for i in range(1, len(parts) + 1):
            rel = "/".join(parts[:i])
            path = staging / rel
            path.mkdir(exist_ok=True)
            st = self._image_lstat(state, rel)
            if st is not None and stat.S_ISDIR(st.st_mode):
                os.chmod(path, stat.S_IMODE(st.st_mode))
                _chown(path, st.st_uid, st.st_gid)
            else:
                os.chmod(path, 0o755)
                _chown(path, *(owner or (0, 0)))

    def _add_dirs(self, state: State, path: str, created_by: str) -> None:
        """A layer holding just the directory `path` (WORKDIR of a missing directory)."""
        staging = Path(tempfile.mkdtemp(prefix="workdir-", dir=self.store.tmp))
        try:
            self._make_parents(state, staging, path, None)
            layer, diff_id = write_layer(self.store, staging)
            add_layer(state.layers, state.config, layer, diff_id, created_by, comment=HISTORY_COMMENT)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    # -- COPY and ADD ---------------------------------------------------------------------------
    def _split_copy(self, ins: Instruction, text: str) -> tuple[list[str], str]:
        value = _json_or_shell(text)
        words = value if isinstance(value, list) else text.split()
        if len(words) < 2:
            raise error(self.file, ins.line, f"{ins.keyword} needs a source and a destination",
                        f"write {ins.keyword} SRC... DEST")
        return words[:-1], words[-1]

    def _context_items(self, sources: list[str], ins: Instruction) -> list[list[CopyItem]]:
        """Each source's items from the build context, after .dockerignore."""
        out = []
        for src in sources:
            if "://" in src:
                raise error(self.file, ins.line, f"{ins.keyword} from a URL is not supported", "download it first")
            rel = go_clean(src.lstrip("/") or ".")
            if rel == ".." or rel.startswith("../"):
                raise error(self.file, ins.line, f"{src!r} is outside the build context {self.context}",
                            "copy only files under the build directory")
            if has_wildcards(rel):
                matches = self.ctx.glob(rel)
                if not matches:
                    raise error(self.file, ins.line, f"{src!r}: no files in the build context match",
                                "check the pattern, and that .dockerignore does not exclude the files")
                out += [self._entries_as_items(self.ctx.under(m.path), m.path) for m in matches]
                continue
            real = (self.context / rel).resolve()          # a symlink is followed, but never out of the context
            if real != self.context and self.context not in real.parents:
                raise error(self.file, ins.line, f"{src!r} is outside the build context {self.context}",
                            "copy only files under the build directory")
            rel = "." if real == self.context else str(real.relative_to(self.context))
            entries = self.ctx.under(rel)
            if not entries:
                excluded = os.path.lexists(real) and self.ctx.excluded(rel)
                raise error(self.file, ins.line, f"{src!r} " + (
                    f"is excluded by {self.ctx.ignore_file.name}" if excluded
                    else f"not found in the build context {self.context}"),
                    f"remove it from {self.ctx.ignore_file.name}" if excluded else "check the path")
            out.append(self._entries_as_items(entries, rel))
        return out

    @staticmethod
    def _entries_as_items(entries, top: str) -> list[CopyItem]:
        """Context entries below `top` as CopyItems relative to it (a file source: one item, dest "")."""
        items = []
        for e in entries:
            if top == ".":
                rel = e.path
            else:
                rel = "" if e.path == top else e.path[len(top) + 1:]
            kind = "dir" if stat.S_ISDIR(e.mode) else "symlink" if stat.S_ISLNK(e.mode) else "file"
            if kind == "symlink" and rel == "":                    # a top-level symlink: copy what it names
                kind = "file"
            items.append(CopyItem(rel, kind, e.source, stat.S_IMODE(e.mode)))
        return items

    def _stage_items(self, tree: dict, sources: list[str], ins: Instruction) -> list[list[CopyItem]]:
        """Each source's items from another stage's (or image's) merged tree."""
        out = []
        for src in sources:
            rel = go_clean("/" + src).strip("/")
            if has_wildcards(rel):
                tops = [p for p in tree if go_match(rel, p)]
            else:
                found = _resolve_in_tree(tree, rel)
                tops = [] if found is None else [found]
            if not tops:
                raise error(self.file, ins.line, f"{src!r} not found in --from={ins.flags['from']}",
                            "check the path in that stage (paths there start at its /)")
            for top in tops:
                if top == "":
                    chosen = list(tree.values())
                else:
                    chosen = [e for p, e in tree.items() if p == top or p.startswith(top + "/")]
                items = []
                for e in chosen:
                    if e.kind == "other":
                        continue                                     # device nodes are not copied
                    rel_item = "" if e.path == top else (e.path if top == "" else e.path[len(top) + 1:])
                    items.append(CopyItem(rel_item, e.kind, e.source, e.mode, e.uid, e.gid))
                out.append(items)
        return out

    def _copy(self, state: State, ins: Instruction, text: str) -> State:
        """COPY/ADD. The cache key is known before anything is read from another stage: its
        contents follow from that stage's key, so a cached COPY --from does not look into it."""
        sources, dest = self._split_copy(ins, text)
        source = ins.flags.get("from")
        chmod = ins.flags.get("chmod")
        if chmod is not None and not re.fullmatch(r"[0-7]{3,4}", chmod):
            raise error(self.file, ins.line, f"--chmod={chmod}: only octal modes are supported", "write --chmod=0644")
        if source is None:
            groups = self._context_items(sources, ins)
            self._check_destination(groups, dest, ins)
            h = hashlib.sha256()
            for items in groups:
                _hash_items(h, items)
            extra = h.hexdigest()
        else:
            from_state = self._from_state(source, ins)
            extra = from_state.key
        target = posixpath.normpath(posixpath.join(state.run.get("WorkingDir") or "/", dest))
        history = " ".join([ins.keyword, *(f"--{k}={ins.flags[k]}" for k in ("chown", "chmod") if k in ins.flags),
                            *sources, dest]) + " # buildkit"

        def action(s: State) -> None:
            nonlocal groups
            if source is not None:
                groups = self._stage_items(self._merged(from_state), sources, ins)
                self._check_destination(groups, dest, ins)
            owner = self._chown(s, ins.flags["chown"], ins) if ins.flags.get("chown") else None
            into_dir = dest.endswith(("/", "/.")) or dest == "." or len(groups) > 1 or \
                self._is_dir_in_image(s, target)
            staging = Path(tempfile.mkdtemp(prefix="copy-", dir=self.store.tmp))
            try:
                self._write_items(s, staging, target, groups, into_dir, ins, owner, chmod)
                layer, diff_id = write_layer(self.store, staging)
                add_layer(s.layers, s.config, layer, diff_id, history, comment=HISTORY_COMMENT)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return self.step(state, ins, extra, action)

    def _check_destination(self, groups: list[list[CopyItem]], dest: str, ins: Instruction) -> None:
        if len(groups) > 1 and not dest.endswith("/"):
            raise error(self.file, ins.line, f"When using {ins.keyword} with more than one source file, the "
                        "destination must be a directory and end with a /", f"write {dest}/")

    def _write_items(self, state: State, staging: Path, target: str, groups: list[list[CopyItem]],
                     into_dir: bool, ins: Instruction, owner: tuple[int, int] | None, chmod: str | None) -> None:
        """Lay the items out under staging/<target>, with modes and owners.

        A directory source copies its CONTENTS into the destination; a file source goes into it
        (destination a directory) or becomes it; ADD extracts a local tar at the destination."""
        singles = [len(items) == 1 and items[0].dest == "" and items[0].kind != "dir" for items in groups]
        dest_dir = target if into_dir or not all(singles) else posixpath.dirname(target)
        self._make_parents(state, staging, dest_dir, owner)
        root = staging / dest_dir.strip("/")
        dirs: list[tuple[Path, CopyItem]] = []
        for items, single in zip(groups, singles):
            if single and ins.keyword == "ADD" and _is_tar(items[0].source):
                from .unpack import unpack_blob

                out = staging / target.strip("/")
                out.mkdir(parents=True, exist_ok=True)
                unpack_blob(items[0].source, out, "apply")
                _chown_tree(out, owner)
                continue
            for item in sorted(items, key=lambda i: i.dest):
                if single:
                    out = root / (item.source.name if into_dir else posixpath.basename(target))
                else:
                    out = root / item.dest if item.dest else root
                if item.kind == "dir":
                    out.mkdir(parents=True, exist_ok=True)
                    if item.dest:
                        dirs.append((out, item))
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                if out.is_symlink() or out.exists():
                    out.unlink()                             # a later source wins
                if item.kind == "symlink":
                    os.symlink(os.readlink(item.source), out)
                else:
                    shutil.copy2(item.source, out)
                    os.chmod(out, int(chmod, 8) if chmod else item.mode)
                _chown(out, *(owner or (item.uid, item.gid)))
        for out, item in reversed(dirs):                     # last: writing children changes nothing then
            os.chmod(out, int(chmod, 8) if chmod else item.mode)
            _chown(out, *(owner or (item.uid, item.gid)))

    def _from_state(self, source: str, ins: Instruction) -> State:
        """The state COPY --from reads: a stage built before this one, or an image from the store."""
        index = self._stage_index(source)
        if index is not None:
            return self.states[index]          # built already: stages_to_build() put it first
        image = self._image_for(source, ins)
        layers, config = base_state(image)
        return State(layers, config, image.manifest_digest)

    def _chown(self, state: State, spec: str, ins: Instruction) -> tuple[int, int]:
        """--chown=user[:group] as (uid, gid); names are looked up in the image's /etc/passwd and
        /etc/group. Without a group, the gid is the uid (Docker's documented rule)."""
        from .config import resolve_user

        user, _, group = spec.partition(":")
        if user.isdigit() and (not group or group.isdigit()):
            return int(user), int(group or user)
        tree = self._merged(state)
        with tempfile.TemporaryDirectory(dir=self.store.tmp) as tmp:
            (Path(tmp) / "etc").mkdir()
            for name in ("passwd", "group"):
                entry = tree.get(f"etc/{name}")
                if entry is not None and entry.kind == "file":
                    shutil.copyfile(entry.source, Path(tmp) / "etc" / name)
            try:
                uid, gid = resolve_user(spec, Path(tmp))
            except ContainerError as exc:
                raise error(self.file, ins.line, f"--chown={spec}: {exc.message}", exc.fix) from None
        return uid, gid if group else uid


def _resolve_in_tree(tree: dict, path: str, hops: int = 0) -> str | None:
    """The path a name refers to in a merged tree, following symlinks (never out of its root)."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = "/".join(resolved + [part])
        entry = tree.get(candidate)
        if entry is None:
            return None
        if entry.kind == "symlink":
            hops += 1
            if hops > 40:
                return None
            target = os.readlink(entry.source)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return "/".join(resolved)


def _is_tar(path: Path) -> bool:
    import tarfile

    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _chown(path: Path, uid: int, gid: int) -> None:
    """Set an owner in the layer (as root; a rootless build keeps the files its user owns)."""
    if os.geteuid() == 0:
        os.chown(path, uid, gid, follow_symlinks=False)


def _chown_tree(root: Path, owner: tuple[int, int] | None) -> None:
    if owner is None:
        return
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            _chown(Path(dirpath, name), *owner)


def _hash_items(h, items: list[CopyItem]) -> None:
    """Add names, kinds, modes and contents to h: what makes a COPY's cache key."""
    for item in sorted(items, key=lambda i: i.dest):
        h.update(f"{item.dest}\0{item.kind}\0{item.mode:o}\0".encode())
        if item.kind == "symlink":
            h.update(os.readlink(item.source).encode())
        elif item.kind == "file":
            with open(item.source, "rb") as f:
                while block := f.read(1 << 20):
                    h.update(block)
    h.update(b"\1")


def build(paths: Paths, context: Path, dockerfile: Path | None = None, tag: str | None = None,
          build_args: dict[str, str] | None = None, use_cache: bool = True,
          log: Callable[[str], None] = print, target: str | None = None) -> Image:
    """`minicontainer build -t TAG -f FILE [--target STAGE] DIR`."""
    if not context.is_dir():
        raise ContainerError("the build context is not a directory", step="build", path=str(context),
                             fix="give the directory holding the files to COPY")
    file = dockerfile or context / "Dockerfile"
    if not file.is_file():
        raise ContainerError("Dockerfile not found", step="build", path=str(file), fix="use -f FILE")
    return Builder(paths, context, file, build_args or {}, use_cache, log, target).build(tag)
