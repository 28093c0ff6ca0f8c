"""Reading a Dockerfile: instructions, flags, stages and how stages depend on each other (lesson 05).

A Dockerfile is a list of instructions, one per line (a trailing `\\` continues a line, `#` starts
a comment). Each `FROM` starts a *stage*; a multi-stage Dockerfile builds in one stage and copies
only the results into the next, so the compilers stay out of the final image:

    FROM busybox AS build            # stage 0, named "build"
    RUN mkdir /out && echo hi > /out/index.html
    FROM busybox                     # stage 1: the image `build` produces (the last stage)
    COPY --from=build /out/ /www/    # a stage by name (or by index: --from=0, or an image name)

The rules this module checks, as Docker's builder (BuildKit) does:
  * an instruction Docker does not know is an error naming its line (`RUNN` -> "did you mean RUN?");
  * a stage name is lower case, starts with a letter (`AS Build` is `build`);
  * `FROM name` uses an EARLIER stage called `name`; otherwise `name` is an image;
  * `COPY --from=X`: a stage name (any stage), a stage index, else an image name;
  * stages that copy from each other in a circle are an error ("circular dependency detected");
  * copying from a stage defined later is an error;
  * only the target stage (the last, or `--target`) and what it needs are built.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ContainerError

# Every instruction Docker knows, and the ones minicontainer's builder runs.
KNOWN = {"ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL", "MAINTAINER",
         "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}
SUPPORTED = {"FROM", "RUN", "COPY", "ADD", "ENV", "WORKDIR", "USER", "CMD", "ENTRYPOINT", "EXPOSE", "LABEL",
             "ARG", "VOLUME"}
# The --flags each instruction accepts here (Docker has a few more: RUN --mount, --network, ...).
FLAGS = {"FROM": {"platform"}, "COPY": {"from", "chown", "chmod", "link"}, "ADD": {"chown", "chmod", "link"}}
STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*$")


@dataclass
class Instruction:
    """One instruction: its line number, keyword, --flags and the rest of the line."""

    line: int
    keyword: str
    args: str
    original: str
    flags: dict[str, str] = field(default_factory=dict)


@dataclass
class Stage:
    """The instructions from one FROM to the next."""

    index: int
    name: str                      # the `AS` name, lower case; "" when unnamed
    base: str                      # what FROM names (global ARGs not yet substituted)
    line: int
    instructions: list[Instruction]
    base_stage: int | None = None  # the earlier stage FROM names, if it names one
    copies_from: dict[int, Instruction] = field(default_factory=dict)   # stage index -> the COPY that needs it

    @property
    def label(self) -> str:
        """How errors name it: its name, or `stage-N` as BuildKit says."""
        return self.name or f"stage-{self.index}"


def error(file: Path, line: int, message: str, fix: str = "") -> ContainerError:
    """A build error that names the Dockerfile and the line."""
    return ContainerError(message, step="build", path=f"{file}:{line}", fix=fix)


def _split_flags(keyword: str, args: str, file: Path, line: int) -> tuple[dict[str, str], str]:
    """Take the leading --name=value words off an instruction's arguments."""
    flags: dict[str, str] = {}
    allowed = FLAGS.get(keyword, set())
    while args.startswith("--"):
        word, _, args = args.partition(" ")
        args = args.lstrip()
        name, eq, value = word[2:].partition("=")
        if name not in allowed:
            raise error(file, line, f"unknown flag --{name} for {keyword}",
                        f"{keyword} accepts: " + (", ".join(f"--{f}" for f in sorted(allowed)) or "no flags here"))
        flags[name] = value if eq else "true"
    return flags, args


def parse_dockerfile(text: str, file: Path = Path("Dockerfile")) -> list[Instruction]:
    """Split a Dockerfile into instructions (comments dropped, `\\` continuations joined)."""
    out: list[Instruction] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and (not stripped or stripped.startswith("#")):
            continue                                  # blank and comment lines inside a continuation
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        word, _, args = full.partition(" ")
        keyword = word.upper()
        if keyword not in KNOWN:
            guess = difflib.get_close_matches(keyword, sorted(KNOWN), n=1)
            raise error(file, start, f"unknown instruction: {word}" + (f" (did you mean {guess[0]}?)" if guess else ""),
                        "Dockerfile instructions: " + ", ".join(sorted(KNOWN)))
        if keyword not in SUPPORTED:
            raise error(file, start, f"{keyword} is a Dockerfile instruction minicontainer's build does not support",
                        "supported: " + ", ".join(sorted(SUPPORTED)))
        flags, args = _split_flags(keyword, args.strip(), file, start)
        out.append(Instruction(start, keyword, args.strip(), full, flags))
    if pending:
        raise error(file, start, "the last line ends with a continuation '\\'", "remove the trailing backslash")
    if not out or out[0].keyword not in ("FROM", "ARG"):
        raise error(file, out[0].line if out else 1, "a Dockerfile must start with FROM (or ARG, then FROM)",
                    "add FROM IMAGE first")
    return out


def split_stages(instructions: list[Instruction], file: Path) -> tuple[list[Instruction], list[Stage]]:
    """(the global ARGs before the first FROM, the stages)."""
    global_args: list[Instruction] = []
    stages: list[Stage] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            words = ins.args.split()
            if len(words) not in (1, 3) or (len(words) == 3 and words[1].upper() != "AS"):
                raise error(file, ins.line, "FROM requires either one or three arguments",
                            "write FROM IMAGE or FROM IMAGE AS NAME")
            name = words[2].lower() if len(words) == 3 else ""
            if name and not STAGE_NAME.match(name):
                raise error(file, ins.line, f"invalid name for build stage: {words[2]!r}, name can't start with a "
                            "number or contain symbols", "use lower-case letters, digits, '-', '_' and '.'")
            stages.append(Stage(len(stages), name, words[0], ins.line, [ins]))
        elif not stages:
            if ins.keyword != "ARG":
                raise error(file, ins.line, f"{ins.keyword} before the first FROM", "only ARG may come before FROM")
            global_args.append(ins)
        else:
            stages[-1].instructions.append(ins)
    if not stages:
        raise error(file, 1, "no FROM instruction", "add FROM IMAGE")
    return global_args, stages


def link_stages(stages: list[Stage], file: Path, log=lambda line: None) -> None:
    """Fill in each stage's base_stage and copies_from (stage names and indexes, as BuildKit resolves
    them); a COPY --from that names no stage is left for the builder to find as an image."""
    by_name: dict[str, int] = {}
    for stage in stages:                       # FROM sees only the stages defined before it
        if stage.base.lower() in by_name:
            stage.base_stage = by_name[stage.base.lower()]
        if stage.name:
            if stage.name in by_name:
                log(f"WARNING: duplicate stage name {stage.name!r} (line {stage.line}), stage names should be unique")
            by_name[stage.name] = stage.index
    for stage in stages:                       # COPY --from sees every stage
        for ins in stage.instructions:
            source = ins.flags.get("from")
            if source is None:
                continue
            if not source or "$" in source:
                raise error(file, ins.line, f"--from={source!r}: variable expansion is not supported for --from",
                            "define a stage with FROM using a global ARG, and copy from that stage")
            if source.isdigit():
                index = int(source)
                if index >= len(stages):
                    raise error(file, ins.line, f"invalid stage index {index}",
                                f"this Dockerfile has stages 0 to {len(stages) - 1}")
                stage.copies_from.setdefault(index, ins)
            elif source.lower() in by_name:
                stage.copies_from.setdefault(by_name[source.lower()], ins)


def check_cycles(stages: list[Stage], file: Path) -> None:
    """Refuse stages that copy from each other in a circle (BuildKit's validateCircularDependency)."""
    visited: set[int] = set()

    def visit(index: int, path: list[int], via: list[Instruction]) -> list[Instruction] | None:
        if index in visited:
            return None
        visited.add(index)
        for dep, ins in stages[index].copies_from.items():
            if dep in path or dep == index:
                return via + [ins]
            found = visit(dep, path + [dep], via + [ins])
            if found:
                return found
        return None

    for stage in stages:
        cycle = visit(stage.index, [stage.index], [])
        if cycle:
            where = ", ".join(f"line {ins.line}" for ins in cycle)
            raise error(file, cycle[0].line, f"circular dependency detected on stage: {stage.label} ({where})",
                        "a stage cannot copy from itself or from a stage that copies from it")


def stages_to_build(stages: list[Stage], target: str | None, file: Path) -> list[int]:
    """The indexes of the target stage and of every stage it needs, in Dockerfile order."""
    if target:
        named = [s.index for s in stages if s.name == target.lower()]
        if not named:
            names = ", ".join(s.name for s in stages if s.name) or "none"
            raise ContainerError(f"target stage {target!r} could not be found", step="build", path=str(file),
                                 fix=f"stage names: {names}")
        goal = named[-1]
    else:
        goal = len(stages) - 1
    needed: set[int] = set()
    todo = [goal]
    while todo:
        index = todo.pop()
        if index in needed:
            continue
        needed.add(index)
        stage = stages[index]
        for dep, ins in stage.copies_from.items():
            if dep > index:
                raise error(file, ins.line, f"cannot copy from stage {stages[dep].label!r}, it needs to be defined "
                            f"before current stage {stage.label!r}", "move that stage above this one")
            todo.append(dep)
        if stage.base_stage is not None:
            todo.append(stage.base_stage)
    return sorted(needed)
