"""Your runtime: the steps the runtime takes through the learner's code (every lesson).

Each exercise part is a *seam*: one function the runtime really calls at one step of a container's
life, with the same name and signature as the package's own version (the reference). The table
below says which part replaces which module attribute:

    minicontainer --yours run busybox sh     the runtime, with your functions where you wrote them
    minicontainer --yours=02 run busybox sh  lesson 02 is yours, every part of it, and so are the
                                             earlier lessons you started; the rest is the package's
    MC_IMPL=yours / yours:02 / solutions     the same from the environment (notebooks, tests, CI)

`--yours` takes the lessons you have started (at least one part written) from your files in
exercises/ (or the directory MC_EXERCISES names); a lesson you have not touched runs the package's
code, so the course works for a learner who skipped ahead. `--yours=NN` (a lesson's milestone) also
takes lesson NN whatever its state, and no lesson after it. A part still raising NotImplementedError
stops the command when the runtime reaches it, with one line (the part, what the step does,
`make check EX=N.M`). MC_IMPL=solutions does the same with solutions/ (instructors, CI). Without
either, the package runs its own code.

How: use() loads the learner's files and *replaces the module attributes* in SEAMS, in this process,
before the runtime starts; PID 1 is a fork of it (or of a fresh helper that calls use() itself,
spawn.main), so your code is loaded before pivot_root puts the host's files out of reach. The
runtime calls every seam as `module.name(...)`, never through a `from module import name` copy.
Each of your functions is wrapped: a stub, an exception or a value of the wrong type becomes one
ContainerError naming the part, your file and line; the runtime then cleans up as after any error.

Only the `--yours` path imports this module: the reference path stays as fast as before.
"""

from __future__ import annotations

import http.client as _http  # (6.3: a dropped connection is the transport's: passed on, for a retry)
import os
import sys

from .errors import ContainerError, UsageError
from .state import Container  # (9.1 returns the record)


class Seam:
    """One exercise part: your function `function` (default: `name`) replaces `module.name`."""

    def __init__(self, part: str, module: str, name: str, does: str, returns: type | tuple | None = None,
                 passes: tuple[type, ...] = (ContainerError,), function: str = "") -> None:
        self.part = part              # "2.3"
        self.module = module          # "process", relative to the package: minicontainer.process
        self.name = name              # the attribute the runtime calls
        self.does = does              # what the step does, for the messages
        self.returns = returns        # the type(s) the runtime needs back; None: not checked
        self.passes = passes          # exceptions that are part of the contract (bad input): passed on
        self.function = function or name  # its name in the learner's file

    @property
    def lesson(self) -> str:
        return self.part.split(".")[0].zfill(2)

    def __repr__(self) -> str:
        return f"Seam({self.part} minicontainer.{self.module}.{self.name})"


_NONE = type(None)

# --- the registry: every part the runtime calls, in lesson order -----------------------------------
SEAMS = [
    # lesson 01: a root filesystem, and a process inside it (rootfs.py)
    Seam("1.1", "rootfs", "make_applet_links", "one symlink per busybox applet in a new root filesystem",
         returns=int),
    Seam("1.2", "rootfs", "write_users", "the users and groups of a new root filesystem (/etc/passwd, /etc/group)"),
    Seam("1.3", "rootfs", "chroot_into", "enter the root without pivot_root (run --no-pivot)"),
    Seam("1.4", "rootfs", "pivot_without_old_dir", "make the container's root the root of its mount namespace "
         "and detach the host's"),
    # lesson 02: namespaces, PID 1, exec (namespaces.py, process.py)
    Seam("2.1", "namespaces", "clone_flags", "the flags for the namespaces a container gets", returns=int,
         passes=(ContainerError, ValueError)),
    Seam("2.2", "process", "init_loop", "PID 1's loop: pass signals on to the workload, reap every child, "
         "return the workload's status", returns=int),
    Seam("2.3", "process", "set_up", "PID 1's set-up: private mounts, the root, /proc, /dev, the rest, "
         "into the root, the hostname"),
    Seam("2.4", "namespaces", "write_id_maps", "the uid/gid map lines of a new user namespace"),
    Seam("2.5", "namespaces", "join", "join a running container's namespaces, for exec", returns=list),
    # lesson 03: cgroups (cgroups/__init__.py, v1.py, v2.py)
    Seam("3.1", "cgroups", "parse_bytes", "Docker's memory sizes (512m, 1g) in bytes", returns=int),
    Seam("3.2", "cgroups.v1", "limit_files", "the files a container's limits become on cgroup v1", returns=list,
         function="v1_limit_files"),
    Seam("3.3", "cgroups.v2", "limit_files", "the files a container's limits become on cgroup v2", returns=list,
         function="v2_limit_files"),
    Seam("3.4", "cgroups", "read_usage", "what a group uses (memory, CPU, tasks, OOM kills), for stats and "
         "the OOM note", returns=dict),
    # lesson 04: a copy-on-write root (unionfs.py, unionmodel.py)
    Seam("4.1", "unionfs", "overlay_options", "the overlay's mount options for a stack of layers", returns=str),
    Seam("4.2", "unionfs", "copy_up", "copy one entry of a layer up into the container's tree, keeping what it is"),
    Seam("4.3", "unionmodel", "lookup", "which layer shows a path in the union (None: none does)",
         returns=(int, _NONE)),
    Seam("4.4", "unionmodel", "diff", "what a container changed (added, changed, deleted), from its upper dir"),
    # lesson 05: images (image/digest.py, image/unpack.py, image/config.py)
    Seam("5.1", "image.digest", "write_verified", "store a blob while checking that it is the one asked for",
         returns=tuple),
    Seam("5.2", "image.unpack", "clean", "where a tar entry lands inside the layer's root (never above it)",
         returns=list),
    Seam("5.3", "image.unpack", "apply_whiteout", "turn an OCI whiteout entry into overlayfs' marks", returns=bool),
    Seam("5.4", "image.config", "process_from_config", "an image's config and run's arguments become the "
         "process: argv, env, cwd, user"),
    # lesson 06: a registry client (registry/auth.py, registry/client.py, reference.py, registry/platforms.py)
    Seam("6.1", "registry.auth", "parse_challenge", "the scheme and parameters of a registry's "
         "WWW-Authenticate challenge", returns=tuple),
    Seam("6.2", "registry.auth", "token_url", "the token server's URL for the scopes a request needs", returns=str),
    Seam("6.3", "registry.client", "receive_blob", "a blob download, hashed and counted as it streams to disk",
         returns=int, passes=(ContainerError, ConnectionError, TimeoutError, _http.HTTPException)),
    Seam("6.4", "reference", "split_reference", "an image name split into registry, repository, tag and digest",
         returns=tuple),
    Seam("6.5", "registry.platforms", "select_manifest", "the manifest of an image index for this machine's "
         "platform", returns=dict),
    # lesson 07: a container on the network (network/ipam.py, ports.py, veth.py)
    Seam("7.1", "network.ipam", "free_address", "the lowest free address of the bridge's subnet for a new container",
         returns=str),
    Seam("7.2", "network.ports", "parse_publish", "a -p value read into host IP, host port, container port "
         "and protocol"),
    Seam("7.3", "network.ports", "dnat_rules", "the DNAT rules that send a published host port to the container",
         returns=list),
    Seam("7.4", "network.veth", "create_pair", "a veth pair with one end in the container's network namespace, "
         "the other on the bridge", returns=int),
    Seam("7.5", "network.veth", "configure_inside", "the container's side of the cable: lo up, its address, "
         "eth0 up, the default route"),
    # lesson 08: what keeps a container's root from taking the host (security/)
    Seam("8.1", "security.capabilities", "resolve", "the capabilities a container keeps, by Docker's rules",
         returns=list),
    Seam("8.2", "security.capabilities", "apply", "reduce the process to those capabilities before execve"),
    Seam("8.3", "security.seccomp", "arch_check", "the first instructions of every seccomp filter",
         returns=list),
    Seam("8.4", "security.seccomp", "install", "hand the seccomp filter to the kernel"),
    Seam("8.5", "security.devices", "program", "the cgroup v2 device program (eBPF) for the allow list",
         returns=list),
    # lesson 09: the container's life (state.py, restart.py, rootfs.py, cp.py)
    Seam("9.1", "state", "transition", "move a container's record along the table of states (create, start, "
         "restart, exit)", returns=Container),
    Seam("9.2", "restart", "should_restart", "the restart policy's answer when a workload ends: start it again?",
         returns=bool),
    Seam("9.3", "rootfs", "mount_point", "the host path of a mount's target in the container, made if the image "
         "lacks it", returns=str),
    Seam("9.4", "cp", "resolve_in_container", "where a `cp` path is under the container's root, its symlinks "
         "followed as the container sees them", returns=str),
    # lesson 10: an OCI runtime (oci/config.py, oci/state.py, oci/hooks.py)
    Seam("10.1", "oci.config", "mount_flags", "a bundle mount's option words as mount flags, propagation and "
         "data", returns=tuple),
    Seam("10.2", "oci.config", "namespace_plan", "the namespaces a bundle's config.json creates and those it "
         "joins", returns=tuple),
    Seam("10.3", "oci.state", "state_document", "the OCI state of a container, for `state` and for hooks",
         returns=dict),
    Seam("10.4", "oci.hooks", "run_hook", "run one hook with the state JSON on its stdin, within its timeout",
         returns=int),
    # lesson 11: the capstone's build and history (image/build.py, image/dockerignore.py, image/history.py)
    Seam("11.1", "image.build", "cache_key", "the key of one build step in the layer cache", returns=str),
    Seam("11.2", "image.dockerignore", "is_excluded", "whether .dockerignore leaves a path of the build context out",
         returns=bool),
    Seam("11.3", "image.build", "parse_ports", "the ports an EXPOSE instruction names", returns=list),
    Seam("11.4", "image.history", "files_size", "the bytes a layer's files take (history's SIZE)", returns=int),
]


# --- which implementation --------------------------------------------------------------------------

ENV = "MC_IMPL"
_reference: dict[tuple[str, str], object] = {}   # (module, name) -> the package's own function
_active = ""                                      # the MC_IMPL value in force in this process


def parse_choice(choice: str) -> tuple[str, str]:
    """"yours:02" -> ("yours", "02"); "solutions" -> ("solutions", ""); "" -> ("", "")."""
    kind, _, upto = choice.partition(":")
    if kind not in ("", "reference", "yours", "solutions") or (upto and not upto.isdigit()):
        raise UsageError(f"{ENV}={choice!r}: use yours, yours:NN (lesson NN, and the earlier ones you started), "
                         "solutions or solutions:NN",
                         step="choose the implementation", fix=f"unset {ENV} to run the package's own code")
    return ("" if kind == "reference" else kind), upto.zfill(2) if upto else ""


def source_dir(kind: str) -> str:
    """Where the learner's files are: exercises/ (or MC_EXERCISES), or solutions/."""
    from .paths import repo_root
    root = str(repo_root())
    if kind == "solutions":
        return os.path.join(root, "solutions")
    chosen = os.environ.get("MC_EXERCISES", "")
    if not chosen:
        return os.path.join(root, "exercises")
    return chosen if os.path.isabs(chosen) else os.path.join(root, chosen)


def lesson_file(directory: str, lesson: str) -> str:
    """<directory>/<lesson>-*.py, e.g. exercises/02-namespaces.py."""
    try:
        names = sorted(n for n in os.listdir(directory) if n.startswith(lesson + "-") and n.endswith(".py"))
    except OSError:
        names = []
    if not names:
        raise ContainerError(f"no file for lesson {lesson} in {directory}", step=f"load lesson {lesson}",
                             fix="run `make exercises` to create the exercise files (it overwrites them), "
                                 "or point MC_EXERCISES at your directory")
    return os.path.join(directory, names[0])


def short(path: str) -> str:
    """A path as the learner knows it: relative to the project when it is inside."""
    from .paths import repo_root
    root = str(repo_root()) + os.sep
    return path[len(root):] if path.startswith(root) else path


# --- loading the learner's file --------------------------------------------------------------------

def load(path: str, lesson: str):
    """Execute a lesson file as a fresh module; a syntax or import error becomes one clear line."""
    name = f"mc_yours_{lesson}"
    module = type(sys)(name)  # a new module object (types.ModuleType without importing `types`)
    module.__file__ = path
    try:
        with open(path) as f:
            source = f.read()
        code = compile(source, path, "exec")
    except SyntaxError as exc:
        part = part_at(source, exc.lineno or 0, lesson)
        raise ContainerError(f"{exc.msg}", step=f"{'exercise ' + part if part else 'lesson ' + lesson}: "
                             f"syntax error", path=f"{short(path)}:{exc.lineno}",
                             fix=f"correct line {exc.lineno}, then `make check EX={part or lesson}`") from None
    except OSError as exc:
        raise ContainerError(f"cannot read it: {exc.strerror}", step=f"load lesson {lesson}", path=path,
                             fix="run `make exercises` to create it") from None
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except BaseException as exc:  # noqa: BLE001 - an import error, or anything the file runs at the top
        del sys.modules[name]
        line = line_in(exc, path)
        part = part_at(source, line, lesson)
        raise ContainerError(f"{type(exc).__name__}: {exc}", step=f"{'exercise ' + part if part else 'lesson ' + lesson}:"
                             " your file failed to load", path=f"{short(path)}:{line}",
                             fix=f"correct line {line}, then `make check EX={part or lesson}`") from None
    return module


def part_at(source: str, line: int, lesson: str) -> str:
    """The part whose function holds `line` of a lesson file ('' if none): the last `def` above it."""
    names = {s.function: s.part for s in SEAMS if s.lesson == lesson}
    found = ""
    for number, text in enumerate(source.splitlines()[:max(line, 0)], start=1):
        if text.startswith("def "):
            found = names.get(text[4:].split("(")[0].strip(), "")
    return found


def line_in(exc: BaseException, path: str) -> int:
    """The last line of `path` in the exception's traceback (or of a SyntaxError), 0 if none."""
    if isinstance(exc, SyntaxError) and exc.filename == path:
        return exc.lineno or 0
    line, tb = 0, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def is_stub(function: object, part: str) -> bool:
    """Is this still the generated stub: a function that raises NotImplementedError("Exercise N.M: ...")?"""
    code = getattr(function, "__code__", None)
    return code is not None and "NotImplementedError" in code.co_names and any(
        isinstance(c, str) and c.startswith(f"Exercise {part}") for c in code.co_consts)


# --- the wrapper: what your function did, in one line ------------------------------------------------

def needs(seam: Seam, path: str, function: object) -> ContainerError:
    """The one line a stub gives: which part, what the step does, what to run."""
    line = getattr(getattr(function, "__code__", None), "co_firstlineno", 0)
    return ContainerError(f"{seam.does}; your {seam.function}() still raises NotImplementedError",
                          step=f"needs exercise {seam.part}", path=f"{short(path)}:{line}",
                          fix=f"write it, then `make check EX={seam.part}`")


def failed(seam: Seam, path: str, exc: BaseException) -> ContainerError:
    """Your function raised: the exception, where in your file, and the check to run."""
    line = line_in(exc, path)
    where = f"{short(path)}:{line}" if line else short(path)
    after_pivot = " (after pivot_root the host's files are out of reach: import what you need at the top " \
                  "of your file)" if isinstance(exc, ImportError) else ""
    check = f"`make check EX={seam.part}` shows what is expected"
    own_fix = getattr(exc, "fix", "")  # a SyscallError names the call and its fix: one line, one Fix
    text = exc.message if own_fix and hasattr(exc, "message") else str(exc)
    return ContainerError(f"your {seam.function}() raised {type(exc).__name__}: {text}{after_pivot}",
                          step=f"exercise {seam.part} ({seam.does})", path=where,
                          fix=f"{own_fix}; {check}" if own_fix else check)


def wrong_type(seam: Seam, path: str, function: object, result: object) -> ContainerError:
    """Your function returned something the runtime cannot use."""
    line = getattr(getattr(function, "__code__", None), "co_firstlineno", 0)
    wanted = seam.returns if isinstance(seam.returns, tuple) else (seam.returns,)
    names = " or ".join("None" if t is _NONE else t.__name__ for t in wanted)
    text = repr(result)
    return ContainerError(f"your {seam.function}() returned {type(result).__name__} "
                          f"{text[:60] + '...' if len(text) > 60 else text}; the runtime needs {names}",
                          step=f"exercise {seam.part} ({seam.does})", path=f"{short(path)}:{line}",
                          fix=f"`make check EX={seam.part}` shows what is expected")


def wrap(seam: Seam, function, path: str):
    """Your function as the runtime calls it: the same arguments and result, errors in one line."""
    def seam_call(*args, **kwargs):
        try:
            result = function(*args, **kwargs)
        except seam.passes:
            raise  # e.g. a UsageError for a bad flag: what the reference raises too
        except NotImplementedError as exc:
            if str(exc).startswith(f"Exercise {seam.part}"):
                raise needs(seam, path, function) from None
            raise failed(seam, path, exc) from None
        except BaseException as exc:  # noqa: BLE001 - any error of the learner's code, in one line
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise failed(seam, path, exc) from None
        if seam.returns is not None and not isinstance(result, seam.returns):
            raise wrong_type(seam, path, function, result)
        return result

    seam_call.__name__ = seam.name
    seam_call.__qualname__ = f"yours.{seam.function}"
    seam_call.__doc__ = function.__doc__
    seam_call.__wrapped__ = function
    seam_call.seam = seam
    return seam_call


# --- installing -------------------------------------------------------------------------------------

def target_module(seam: Seam):
    """The package module a seam lives in (imported now, before any fork)."""
    name = f"minicontainer.{seam.module}"
    if name not in sys.modules:
        __import__(name)
    return sys.modules[name]


def implementations(choice: str) -> dict[str, tuple[object, str]]:
    """{part: (function, file)} for the parts `choice` takes from a lesson file (the others: the package)."""
    kind, upto = parse_choice(choice)
    if not kind:
        return {}
    directory = source_dir(kind)
    by_lesson: dict[str, list[Seam]] = {}
    for seam in SEAMS:
        by_lesson.setdefault(seam.lesson, []).append(seam)
    chosen: dict[str, tuple[object, str]] = {}
    for lesson, seams in sorted(by_lesson.items()):
        if upto and lesson > upto:
            continue
        path = lesson_file(directory, lesson)
        module = load(path, lesson)
        functions = {}
        for seam in seams:
            function = getattr(module, seam.function, None)
            if not callable(function):
                raise ContainerError(f"it has no function {seam.function}() ({seam.does})",
                                     step=f"exercise {seam.part}", path=short(path),
                                     fix="run `make exercises` on a copy to see the function to write")
            functions[seam.part] = function
        if lesson != upto and all(is_stub(f, part) for part, f in functions.items()):
            continue  # a lesson you have not started yet: the package's code runs it
        chosen.update({part: (f, path) for part, f in functions.items()})
    return chosen


def use(choice: str | None = None) -> dict[str, str]:
    """Make the runtime call `choice`'s functions (default: $MC_IMPL); returns {part: file} now in use.

    Idempotent; `use("")` puts the package's own functions back."""
    global _active
    choice = os.environ.get(ENV, "") if choice is None else choice
    if choice == _active:
        return in_use()
    if choice:
        from .launcher import ensure_site_packages
        ensure_site_packages()  # the learner's file may import any installed package
    chosen = implementations(choice)
    for seam in SEAMS:
        module = target_module(seam)
        key = (seam.module, seam.name)
        if key not in _reference:  # the first time: what the package put there (only use() wraps)
            _reference[key] = getattr(module, seam.name)
        if seam.part in chosen:
            function, path = chosen[seam.part]
            setattr(module, seam.name, wrap(seam, function, path))
        else:
            setattr(module, seam.name, _reference[key])
    _active = choice
    return in_use()


def in_use() -> dict[str, str]:
    """{part: the file whose function the runtime calls} for every seam not running the reference."""
    out = {}
    for seam in SEAMS:
        module = sys.modules.get(f"minicontainer.{seam.module}")
        current = getattr(module, seam.name, None) if module else None
        if getattr(current, "seam", None) is seam:
            out[seam.part] = current.__wrapped__.__code__.co_filename
    return out


def reference(seam: Seam):
    """The package's own function for a seam (whatever is installed now)."""
    module = target_module(seam)
    return _reference.get((seam.module, seam.name), getattr(module, seam.name))


def status(choice: str = "yours") -> list[tuple[Seam, str]]:
    """(seam, "yours" | "stub" | "reference") for `minicontainer seams`: what --yours would run."""
    chosen = implementations(choice)
    out = []
    for seam in SEAMS:
        if seam.part in chosen:
            out.append((seam, "stub" if is_stub(chosen[seam.part][0], seam.part) else "yours"))
        else:
            out.append((seam, "reference"))
    return out
