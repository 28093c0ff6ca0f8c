"""One list of Python dependencies (pyproject.toml), one lock (constraints.txt) used by make, conda and
Binder, every imported package declared, and code that runs on Python 3.10 (Ubuntu 22.04)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

try:
    import tomllib  # novermin (3.11+; the fallback below reads the file on 3.10)
except ImportError:  # Python 3.10
    tomllib = None

ROOT = Path(__file__).resolve().parents[1]


def declared() -> list[Requirement]:
    """pyproject.toml's dependencies and every extra's."""
    text = (ROOT / "pyproject.toml").read_text()
    if tomllib is not None:
        project = tomllib.loads(text)["project"]
        lists = [project["dependencies"], *project["optional-dependencies"].values()]
        return [Requirement(r) for group in lists for r in group]
    # 3.10 has no tomllib: the quoted requirement strings of the [project] tables
    body = text.split("[project.scripts]")[0]
    return [Requirement(r) for r in re.findall(r'^\s*"([A-Za-z][^"]*)",', body, re.M)]


def pins() -> dict[str, list[tuple[str, Marker | None]]]:
    """constraints.txt: name -> [(version, marker)]."""
    out: dict[str, list[tuple[str, Marker | None]]] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        spec, _, marker = line.partition(";")
        name, _, version = spec.strip().partition("==")
        assert version, f"constraints.txt: {line!r} is not an exact pin"
        out.setdefault(canonicalize_name(name), []).append((version, Marker(marker) if marker.strip() else None))
    return out


def pinned_here(name: str) -> str | None:
    """The version constraints.txt gives `name` on this Python."""
    for version, marker in pins().get(canonicalize_name(name), []):
        if marker is None or marker.evaluate():
            return version
    return None


@pytest.mark.parametrize("req", declared(), ids=str)
def test_every_declared_package_is_pinned_within_its_floor(req: Requirement):
    versions = pins().get(canonicalize_name(req.name))
    assert versions, f"{req.name} is in pyproject.toml but not in constraints.txt: run `make lock`"
    for version, _ in versions:
        assert req.specifier.contains(version, prereleases=True), \
            f"constraints.txt pins {req.name}=={version}, outside pyproject.toml's {req}: run `make lock`"


def test_the_venv_has_the_locked_versions():
    wrong = []
    for name in pins():
        want = pinned_here(name)
        if want is None:
            continue
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # another platform's or Python's package (pins carry markers)
        if canonicalize_name(have) != canonicalize_name(want) and have != want:
            wrong.append(f"{name} {have} (lock: {want})")
    assert not wrong, f"the venv differs from constraints.txt: {wrong}; run `make venv`"


def test_conda_and_binder_install_the_same_list():
    env = (ROOT / "environment.yml").read_text()
    pip_lines = [line.strip()[2:] for line in env.split("- pip:")[1].splitlines() if line.strip().startswith("- ")]
    assert pip_lines == ["--constraint constraints.txt", "--editable .[lab,test]"], \
        f"environment.yml must install the package itself (conda runs pip in its directory: '.' is the repository): {pip_lines}"
    binder = (ROOT / "binder/environment.yml").read_text()
    assert "pip:" not in binder, "binder/environment.yml lists no package: binder/postBuild installs with the lock"
    assert "-c constraints.txt -e '.[lab]'" in (ROOT / "binder/postBuild").read_text()
    assert "-c constraints.txt" in (ROOT / "scripts/venv.sh").read_text()


STDLIB = set(sys.stdlib_module_names) | {"tomllib"}  # 3.10's list lacks 3.11's tomllib (imported with a fallback)
# this repository's own modules: the package, and the helpers tests and benchmarks import from beside them
LOCAL = {"minicontainer"} | {p.stem for d in ("tests", "bench", "exercises/checks") for p in (ROOT / d).glob("*.py")}


def third_party_imports(paths: list[Path]) -> dict[str, set[str]]:
    """module name -> the files that import it, for imports of modules outside the stdlib and this repo."""
    found: dict[str, set[str]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in STDLIB and top not in LOCAL and not top.startswith("exercise_"):
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_imported_package_is_declared():
    files = [*ROOT.glob("minicontainer/**/*.py"), *ROOT.glob("tests/*.py"), *ROOT.glob("exercises/checks/*.py"),
             *ROOT.glob("lessons/*.py"), *ROOT.glob("bench/*.py")]
    names = {canonicalize_name(r.name) for r in declared()}
    # modules whose package comes with a declared one, by design (not imported by our code on its own)
    provided = {"IPython": "ipykernel", "jupyter_core": "jupyterlab", "_pytest": "pytest"}
    distributions = metadata.packages_distributions()
    undeclared = []
    for module, users in sorted(third_party_imports(files).items()):
        if module in provided:
            assert canonicalize_name(provided[module]) in names
            continue
        dists = {canonicalize_name(d) for d in distributions.get(module, [module])}
        if not dists & names:
            undeclared.append(f"{module} (imported by {', '.join(sorted(users)[:3])})")
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def test_the_code_needs_no_python_newer_than_3_10():
    """vermin reads every module and names the first Python version each feature needs."""
    done = subprocess.run([str(Path(sys.executable).parent / "vermin"), "-t=3.10-", "--no-tips", "--violations",
                           "--exclude-regex", r"\.venv", "minicontainer", "tests", "exercises", "solutions",
                           "lessons", "bench"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]
