"""The package reads file by file: no import cycle, no private names across modules, small core modules.

A learner opens container.py, then the module of each step it calls (state, spawn, process, monitor).
That works only if the modules form a tree a reader can walk top-down: a cycle (a imports b imports
a, even lazily inside a function) means neither can be read first. The checks read the source with
`ast`, so imports inside functions count as much as those at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "minicontainer"
# The modules of a container's life (lesson 02 and the lifecycle): each is read in one sitting.
CORE = ["container", "state", "spawn", "process", "workload", "monitor", "lifecycle", "detach", "terminal", "proc",
        "rootfs", "devfs", "namespaces", "syscalls", "paths", "mountinfo", "atomic"]
MAX_CORE_LINES = 450


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_names(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import of the package in `path`, lazy ones too."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.split(".")[0] == "minicontainer"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "minicontainer":
                continue
            names = [a.name for a in node.names]
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in known]
            out += [(m, [], node.lineno) for m in submodules]
            out.append((target, [n for n in names if f"{target}.{n}" not in known], node.lineno))
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (importing a.b also runs package a's __init__)."""
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        for target, _, _ in imported_names(name, path, known):
            while target:
                if target in known and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
                target = target.rpartition(".")[0]
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_cycle():
    assert cycles(import_graph()) == []


def test_the_cycle_check_can_fail():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_a_lazy_import_inside_a_function_counts():
    graph = import_graph()
    assert "minicontainer.image.run" in graph["minicontainer.container"], \
        "container.validate() imports image.run inside the function: the graph must see it"


def test_no_module_takes_another_modules_private_names():
    known = modules()
    taken = [f"{module_name(path)}:{line} takes {n} from {target}"
             for name, path in known.items()
             for target, names, line in imported_names(name, path, known)
             for n in names if n.startswith("_") and not n.startswith("__")]
    assert taken == []


def test_no_module_of_the_package_has_a_module_getattr():
    """Every name a module offers is defined or imported where a reader can see it (no PEP 562 lookup),
    except where a measured start-up cost says otherwise (image/__init__.py explains its own)."""
    found = [module_name(p) for p in PACKAGE.rglob("*.py")
             if any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__"
                    for n in ast.parse(p.read_text()).body)]
    assert found == ["minicontainer.image"]


@pytest.mark.parametrize("name", CORE)
def test_each_core_module_is_read_in_one_sitting(name):
    lines = len((PACKAGE / f"{name}.py").read_text().splitlines())
    assert lines <= MAX_CORE_LINES, f"minicontainer/{name}.py has {lines} lines: split it by step"


LESSONS = sorted(p for folder in ("notebooks", "lessons") for p in (PACKAGE.parent / folder).glob("[0-9][0-9]-*.py"))


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_each_lesson_names_in_its_first_cell_the_module_it_builds(lesson):
    """A learner opens the lesson, then the module it builds: the first cell (the Chinese summary) and
    the title cell name it, and it is in the tree."""
    import re

    import jupytext

    cells = [c.source for c in jupytext.read(lesson).cells if c.cell_type == "markdown"]
    title = next(c for c in cells if re.match(r"# \d\d · ", c))
    for where, text in (("first cell", cells[0]), ("title cell", title)):
        named = re.findall(r"`(minicontainer/[\w/.]*)`", text)
        assert named, f"{lesson.name}: the {where} does not name the module (or package) the lesson builds"
        assert (PACKAGE.parent / named[0]).exists(), f"{lesson.name} names {named[0]}, which is not in the tree"
    assert "builds" in title


def test_the_layout_in_contributing_is_the_tree():
    """CONTRIBUTING.md's layout lists each module and package of minicontainer/, and nothing else."""
    import re

    layout = (PACKAGE.parent / "CONTRIBUTING.md").read_text().split("## Layout")[1].split("```")[1]
    entries = [line.split("  ")[1] for line in layout.splitlines() if line.startswith("  ") and line.strip()]
    listed = {name for entry in entries for name in re.findall(r"[\w.]+\.py|\w+/", entry)}
    tree = {p.name for p in PACKAGE.glob("*.py")} | {f"{p.parent.name}/" for p in PACKAGE.glob("*/__init__.py")}
    assert sorted(tree - listed) == [], "in the tree, missing from CONTRIBUTING.md's layout"
    assert sorted(listed - tree) == [], "in CONTRIBUTING.md's layout, not in the tree"
