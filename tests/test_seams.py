"""Your runtime (seams.py): every exercise part is a step the real runtime takes.

What this proves, on the real kernel through the real command line:
  - the registry is sound: each part names a function of the package, and the solution has the same
    parameters (the runtime calls it exactly as it calls its own);
  - every part is on the runtime's path: with the solutions where ONE part is a stub, a command that
    reaches that step stops with "needs exercise N.M" (and with all the solutions it succeeds);
  - a learner's file that is broken (syntax error, import error, an exception or a wrong type in a
    part) stops the command with one line naming the part, the file and the line, and leaves nothing;
  - `--yours` runs the lessons the learner has started, `--yours=NN` lesson NN as well, and the reference
    path never imports any of this.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from minicontainer import seams
from minicontainer.exercises import Lesson, lessons, make_stub
from minicontainer.image import prepare_default_image
from minicontainer.paths import Paths, repo_root

ROOT = repo_root()
PARTS = [s.part for s in seams.SEAMS]


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> dict[str, str]:
    """Private lib/run directories with the default image, as environment variables for the CLI."""
    top = tmp_path_factory.mktemp("seams")
    paths = Paths(top / "lib", top / "run")
    paths.lib_dir.mkdir()
    paths.run_dir.mkdir()
    prepare_default_image(paths)
    return {"MC_LIB_DIR": str(paths.lib_dir), "MC_RUN_DIR": str(paths.run_dir)}


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A registry with token authentication, the course's image pushed, and an index over it."""
    from minicontainer.image.digest import sha256_digest
    from minicontainer.image.mediatypes import OCI_INDEX
    from minicontainer.registry.auth import Authenticator, Credentials
    from minicontainer.registry.client import Manifest, RegistryClient
    from minicontainer.registry.platforms import host_platform
    from minicontainer.registry.push import push
    from minicontainer.registry.server import RegistryServer
    from minicontainer.registry.tokenserver import TokenServer
    from minicontainer.registry.transport import Transport

    top = tmp_path_factory.mktemp("registry")
    tokens = TokenServer(top / "tokens", users={"learner": "x"}).start()
    server = RegistryServer(top / "registry", auth=tokens.auth_config()).start()
    try:
        transport = Transport()
        client = RegistryClient(server.address, transport=transport,
                                auth=Authenticator(transport, credentials=lambda _r: Credentials("learner", "x")))
        paths = Paths(top / "lib", top / "run")
        prepare_default_image(paths)
        push("localhost/busybox:latest", f"{server.address}/p/busybox:1", paths, client=client)
        child = client.get_manifest("p/busybox", "1")
        entry = {"mediaType": child.media_type, "digest": child.digest, "size": len(child.data),
                 "platform": {"os": "linux", "architecture": host_platform().architecture}}
        data = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}).encode()
        client.put_manifest("p/busybox", "multi", Manifest(data, OCI_INDEX, sha256_digest(data)))
        yield server.address
    finally:
        server.stop()
        tokens.close()


def cli(*args: str, env: dict[str, str], impl: str, exercises: str | Path = "", timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m minicontainer ARGS` with MC_IMPL=impl (and MC_EXERCISES), output captured."""
    full = dict(os.environ, **env, MC_IMPL=impl)
    full.pop("MC_EXERCISES", None)
    if exercises:
        full["MC_EXERCISES"] = str(exercises)
    return subprocess.run([sys.executable, "-m", "minicontainer", *args], capture_output=True, text=True,
                          timeout=timeout, env=full)


def solutions_with(tmp: Path, stubbed: set[str] = frozenset()) -> Path:
    """A directory with every lesson's solution file, the parts in `stubbed` made stubs again."""
    tmp.mkdir(exist_ok=True)
    for lesson in lessons():
        text = lesson.solution.read_text()
        (tmp / f"{lesson.name}.py").write_text(make_stub(text, lesson.name, only=set(stubbed)) if stubbed else text)
    return tmp


def containers_left(env: dict[str, str]) -> list[str]:
    d = Path(env["MC_RUN_DIR"]) / "containers"
    return sorted(os.listdir(d)) if d.is_dir() else []


# --- the registry ---------------------------------------------------------------------------------

def test_each_part_is_registered_once_and_belongs_to_its_lesson():
    assert len(PARTS) == len(set(PARTS)), f"a part is registered twice: {PARTS}"
    defined = {part for lesson in lessons() for part in lesson.parts()}
    for seam in seams.SEAMS:
        assert seam.part in defined, f"{seam}: no solution block defines part {seam.part}"


@pytest.mark.parametrize("seam", seams.SEAMS, ids=PARTS)
def test_the_solution_takes_the_same_arguments_as_the_package(seam):
    reference = seams.reference(seam)
    lesson = next(lesson for lesson in lessons() if lesson.number == seam.lesson)
    module = seams.load(str(lesson.solution), seam.lesson)
    solution = getattr(module, seam.function)
    ours, theirs = inspect.signature(reference).parameters, inspect.signature(solution).parameters
    assert list(ours) == list(theirs), \
        f"{seam}: the package's {seam.name}{inspect.signature(reference)} and the solution's {seam.function}{inspect.signature(solution)}"


def test_stubs_are_recognised_and_solutions_are_not(tmp_path):
    for lesson in lessons():
        stub = seams.load(str(_write(tmp_path / f"{lesson.name}.py", lesson.generated_stub())), lesson.number)
        solution = seams.load(str(lesson.solution), lesson.number)
        for seam in [s for s in seams.SEAMS if s.lesson == lesson.number]:
            assert seams.is_stub(getattr(stub, seam.function), seam.part), f"{seam}: the generated stub is not seen as one"
            assert not seams.is_stub(getattr(solution, seam.function), seam.part), f"{seam}: the solution is seen as a stub"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_hints_come_in_steps_and_the_stub_does_not_give_the_answer():
    for lesson in lessons():
        hints = lesson.hints()
        for part in lesson.parts():
            if not any(s.part == part for s in seams.SEAMS):
                continue  # (a lesson not converted yet)
            assert len(hints.get(part, [])) >= 2, f"{part}: give at least two hints (a direction, then the call to use)"
            stub_line = next(line for line in lesson.generated_stub().splitlines()
                             if "raise NotImplementedError(" in line and f"Exercise {part}:" in line)
            assert hints[part][-1] not in stub_line, f"{part}: the stub's message holds the last hint (the answer)"
            message = stub_line.split("Exercise", 1)[1][:-2]
            assert not re.search(r"[A-Za-z_]\w*\((?!\d\))|=", message), \
                f"{part}: the stub's message should say what the step does, not which calls to write: {stub_line.strip()}"


# --- every part is on the runtime's path --------------------------------------------------------------

RUN = ("run", "--rm", "busybox", "true")
V2_DEVICES = """
import os
from minicontainer import seams, cgroups
from minicontainer.security import devices
seams.use()
root = "/sys/fs/cgroup/unified" if os.path.ismount("/sys/fs/cgroup/unified") else "/sys/fs/cgroup"
setup = cgroups.Setup("v2", root, {})
group = cgroups.group("seam-probe-%d" % os.getpid(), setup=setup)
os.makedirs(group.main_dir)
try:
    print(devices.apply(group, devices.default_rules()))
finally:
    os.rmdir(group.main_dir)
"""

FAKE_CGROUPS = """
import os, tempfile
from minicontainer import seams, cgroups
seams.use()
root = tempfile.mkdtemp(prefix="mc-probe-cgroups-")  # a FAKE tree: this host has one cgroup version only
if "VERSION" == "v1":
    dirs = {c: os.path.join(root, c) for c in ("memory", "cpu", "pids")}
    for d in dirs.values():
        os.makedirs(d)
    setup = cgroups.Setup("v1", root, dirs)
else:
    setup = cgroups.Setup("v2", root, {c: root for c in ("memory", "cpu", "pids")})
    open(os.path.join(root, "cgroup.subtree_control"), "w").close()
group = cgroups.create("probe", cgroups.Limits.parse(memory="64m", cpus="0.5", pids_limit=10), setup=setup)
print(sorted(os.listdir(group.main_dir)))
"""

UNPACK = """
import io, os, tarfile, tempfile
from minicontainer import seams
from minicontainer.image.unpack import open_layer, unpack_tar
seams.use()
out = io.BytesIO()
with tarfile.open(fileobj=out, mode="w") as t:
    for name in ("etc/motd", "etc/.wh.hosts"):
        t.addfile(tarfile.TarInfo(name), io.BytesIO(b""))
unpack_tar(open_layer(io.BytesIO(out.getvalue())), tempfile.mkdtemp(prefix="mc-probe-unpack-"))
"""

OCI_BUNDLE = """
import json, os, shutil, subprocess, sys
bundle = "{tmp}/bundle"
os.makedirs(bundle)
shutil.copytree("{lib}/rootfs/busybox", bundle + "/rootfs", symlinks=True)
oci = [sys.executable, "-m", "minicontainer", "oci"]
subprocess.run(oci + ["spec", "--bundle", bundle], check=True)
with open(bundle + "/config.json") as f:
    config = json.load(f)
config["process"].update(terminal=False, args=["echo", "hello"])
config["hooks"] = {"createRuntime": [{"path": "/bin/true"}]}
with open(bundle + "/config.json", "w") as f:
    json.dump(config, f)
done = subprocess.run(oci + ["run", "--bundle", bundle, "p10-%d" % os.getpid()], capture_output=True, text=True)
sys.stderr.write(done.stderr)
sys.exit(done.returncode or (done.stdout != "hello\\n"))
"""

# How to reach each part: a command line, or Python for a step that this host's commands do not take
# (the v2 device program on a v1 host).
ROOTFS = ("rootfs", "{tmp}/rootfs")
PROBES: dict[str, tuple] = {
    "1.1": ROOTFS, "1.2": ROOTFS, "1.3": ("run", "--rm", "--no-pivot", "busybox", "true"), "1.4": RUN,
    "3.1": ("run", "--rm", "-m", "64m", "busybox", "true"),
    "3.2": ("python", FAKE_CGROUPS.replace("VERSION", "v1")), "3.3": ("python", FAKE_CGROUPS.replace("VERSION", "v2")),
    "3.4": ("run", "--rm", "-m", "64m", "busybox", "true"),
    "4.1": RUN,
    "4.2": ("sh", "MC_UNIONFS_DRIVER=copy MC run --rm busybox true"),
    "4.3": ("sh", "MC_UNIONFS_DRIVER=copy MC run --rm busybox true"),
    "4.4": ("sh", "MC run --name p44 busybox true && MC diff p44; rc=$?; MC rm -f p44 >/dev/null; exit $rc"),
    "5.1": ("sh", "MC run --name p51 busybox sh -c 'echo x > /f' && MC commit p51 localhost/p51:1; rc=$?; "
                  "MC rm p51 >/dev/null; MC rmi localhost/p51:1 >/dev/null 2>&1; exit $rc"),
    "5.2": ("python", UNPACK), "5.3": ("python", UNPACK), "5.4": RUN,
    **{part: ("sh", "MC_LIB_DIR={tmp}/lib DOCKER_CONFIG={tmp}/docker MC pull -q {registry}/p/busybox:multi")
       for part in ("6.1", "6.2", "6.3", "6.4", "6.5")},
    **{part: ("sh", "MC_BRIDGE=mcprobe7 MC_SUBNET=10.199.77.0/24 MC run --rm --network bridge -p 127.0.0.1::80 "
                    "busybox true; rc=$?; MC network rm mcprobe7 >/dev/null 2>&1; exit $rc")
       for part in ("7.1", "7.2", "7.3", "7.4", "7.5")},
    "2.1": RUN, "2.2": ("run", "--rm", "--init", "busybox", "true"), "2.3": RUN,
    "2.4": ("run", "--rm", "--userns", "private", "--rootfs", "{lib}/rootfs/busybox", "true"),
    "2.5": ("sh", "MC run -d --name p25 busybox sleep 30 && MC exec p25 true; rc=$?; MC rm -f p25 >/dev/null; exit $rc"),
    "8.1": RUN, "8.2": RUN, "8.3": RUN, "8.4": RUN,
    "8.5": ("python", V2_DEVICES),
    "9.1": ("sh", "MC create --name p91 busybox true && MC start -a p91; rc=$?; MC_IMPL= MC rm -f p91 >/dev/null; exit $rc"),
    "9.2": ("sh", "MC run --name p92 --restart on-failure:1 busybox false; n=$(MC_IMPL= MC inspect -f '{{.RestartCount}}' p92); "
                  "MC_IMPL= MC rm -f p92 >/dev/null; test \"$n\" = 1"),
    "9.3": ("run", "--rm", "-v", "/no/such/dir", "--tmpfs", "/nor/this", "busybox", "true"),
    "9.4": ("sh", "mkdir -p {tmp} && MC run --name p94 busybox sh -c 'echo hi > /f' && MC cp p94:/f {tmp}/f && "
                  "grep -q hi {tmp}/f; rc=$?; MC_IMPL= MC rm -f -v p94 >/dev/null; exit $rc"),
    **{part: ("python", OCI_BUNDLE) for part in ("10.1", "10.2", "10.3", "10.4")},
    # lesson 11: a build with a .dockerignore and EXPOSE (11.1-11.3), then its history (11.4)
    **{part: ("sh", "mkdir -p {tmp}/ctx && printf 'FROM busybox\\nCOPY . /x/\\nEXPOSE 8080\\n' > {tmp}/ctx/Dockerfile "
                    "&& echo '*.md' > {tmp}/ctx/.dockerignore && echo x > {tmp}/ctx/notes.md && "
                    "MC build -q -t localhost/p11:1 {tmp}/ctx && MC history localhost/p11:1; rc=$?; "
                    "MC rmi localhost/p11:1 >/dev/null 2>&1; exit $rc")
       for part in ("11.1", "11.2", "11.3", "11.4")},
}


def probe(part: str, env: dict[str, str], impl: str, exercises: str | Path = "", tmp: Path = Path("/tmp"),
          registry: str = "") -> subprocess.CompletedProcess:
    mc = f"{sys.executable} -m minicontainer"
    args = tuple(a.replace("{tmp}", str(tmp)).replace("{lib}", env["MC_LIB_DIR"]).replace("{registry}", registry)
                 .replace("MC ", mc + " ") for a in PROBES[part])
    if args[0] in ("python", "sh"):
        full = dict(os.environ, **env, MC_IMPL=impl, MC_EXERCISES=str(exercises))
        argv = [sys.executable, "-c", args[1]] if args[0] == "python" else ["sh", "-c", args[1]]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=full)
    return cli(*args, env=env, impl=impl, exercises=exercises)


def test_every_part_has_a_probe():
    assert sorted(PROBES) == sorted(PARTS)


@pytest.mark.parametrize("part", PARTS)
def test_the_runtime_reaches_the_part(part, lab, tmp_path, request):
    """The solutions with this one part a stub: the probe stops at it; with every solution it works."""
    lesson = seams.SEAMS[PARTS.index(part)].lesson
    where = request.getfixturevalue("registry") if "{registry}" in " ".join(PROBES[part]) else ""
    done = probe(part, lab, f"yours:{lesson}", solutions_with(tmp_path / "stubbed", {part}), tmp_path / "a", where)
    assert done.returncode != 0 and f"needs exercise {part}" in done.stderr, \
        f"with {part} a stub, {PROBES[part][:6]} did not stop at it (exit {done.returncode}): the runtime " \
        f"does not call minicontainer.{seams.SEAMS[PARTS.index(part)].module}.{seams.SEAMS[PARTS.index(part)].name}" \
        f"\n{done.stderr[-600:]}"
    done = probe(part, lab, "solutions", tmp=tmp_path / "b", registry=where)
    assert done.returncode == 0, f"with the solutions {PROBES[part][:6]} failed: {done.stderr[-600:]}"
    assert containers_left(lab) == []


# --- a broken file: one line, nothing left ---------------------------------------------------------------

def _edit(directory: Path, lesson: str, old: str, new: str) -> str:
    path = next(directory.glob(f"{lesson}-*.py"))
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path.name} any more: update this test"
    path.write_text(text.replace(old, new, 1))
    return path.name


def _line_of(directory: Path, name: str, needle: str) -> int:
    return next(n for n, line in enumerate((directory / name).read_text().splitlines(), 1) if needle in line)


def _host_state(env: dict[str, str]) -> list[str]:
    """The host's mounts under this test's directories (other suites may mount elsewhere meanwhile)."""
    mine = (env["MC_LIB_DIR"], env["MC_RUN_DIR"])
    return [line for line in open("/proc/self/mountinfo") if any(d in line for d in mine)]


BROKEN = {
    "a syntax error": ("    if privileged:\n", "    if privileged:;\n", "if privileged:;", "exercise 8.1: syntax error"),
    "an import error": ("import ctypes\n", "import ctypes\nimport no_such_module_anywhere\n", "no_such_module_anywhere",
                        "lesson 08: your file failed to load: ModuleNotFoundError"),
    "an exception in PID 1": ("    capset(keep, keep, 0)\n", "    capset(keep, keep, 0)\n    {}['oops']\n", "['oops']",
                              "exercise 8.2 (reduce the process to those capabilities before execve): your apply() raised KeyError"),
    "the wrong type": ("    return list(dict.fromkeys(caps))\n", "    return ','.join(caps)\n", "def resolve(",
                       "exercise 8.1 (the capabilities a container keeps, by Docker's rules): your resolve() returned str"),
}


@pytest.mark.parametrize("what", list(BROKEN))
def test_a_broken_file_stops_the_command_with_one_line(what, lab, tmp_path):
    old, new, needle, expected = BROKEN[what]
    mine = solutions_with(tmp_path / "mine")
    name = _edit(mine, "08", old, new)
    before = _host_state(lab)
    done = cli("run", "--rm", "busybox", "true", env=lab, impl="yours", exercises=mine)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 125 and len(lines) == 1, f"expected one line and exit 125, got {done.returncode}: {done.stderr}"
    assert expected in lines[0], lines[0]
    assert f"{mine / name}:{_line_of(mine, name, needle)}" in lines[0], f"the line must name the file and line: {lines[0]}"
    assert "make check EX=8." in lines[0] or "make check EX=08" in lines[0], lines[0]
    assert containers_left(lab) == [] and _host_state(lab) == before, "a failed part left something behind"


def test_an_error_at_teardown_still_removes_the_group(lab, tmp_path):
    """Your read_usage (3.4) runs when the runtime removes a container's group: if it raises, the group
    goes all the same, and the error is the one line."""
    from minicontainer import cgroups
    mine = solutions_with(tmp_path / "mine")
    name = _edit(mine, "03", "    if version == \"v2\":\n", "    {}['oops']\n    if version == \"v2\":\n")
    done = cli("run", "--name", "p34", "-m", "64m", "busybox", "true", env=lab, impl="yours", exercises=mine)
    try:
        assert done.returncode == 125 and "exercise 3.4" in done.stderr and "KeyError" in done.stderr, done.stderr
        assert f"{mine / name}:" in done.stderr, done.stderr
        cid = cli("inspect", "-f", "{{.Id}}", "p34", env=lab, impl="").stdout.strip()
        assert cid not in cgroups.names(), "the container's cgroup is left after its read_usage failed"
    finally:
        cli("rm", "-f", "p34", env=lab, impl="")
    assert containers_left(lab) == []


def test_a_stub_names_the_part_the_step_and_the_check(lab, tmp_path):
    done = cli("run", "--rm", "busybox", "true", env=lab, impl="yours:08",
               exercises=solutions_with(tmp_path / "stubs", {"8.1", "8.2", "8.3", "8.4", "8.5"}))
    assert done.returncode == 125
    assert done.stderr.strip() == done.stderr.strip().splitlines()[0]
    line = done.stderr.strip()
    assert "needs exercise 8.1" in line and "the capabilities a container keeps" in line and "make check EX=8.1" in line, line


# --- which lessons are yours ---------------------------------------------------------------------------

def test_yours_takes_only_the_lessons_you_started(lab, tmp_path):
    untouched = solutions_with(tmp_path / "untouched", {"8.1", "8.2", "8.3", "8.4", "8.5"})
    done = cli("run", "--rm", "busybox", "true", env=lab, impl="yours", exercises=untouched)
    assert done.returncode == 0, f"a lesson not started must run the package's code: {done.stderr}"
    started = solutions_with(tmp_path / "started", {"8.2"})
    done = cli("run", "--rm", "busybox", "true", env=lab, impl="yours", exercises=started)
    assert "needs exercise 8.2" in done.stderr, "a lesson you started is yours: its stubs stop the command"


def test_the_seams_command_says_what_runs(lab, tmp_path):
    mine = solutions_with(tmp_path / "mine", {"8.3"})
    done = cli("--yours=08", "seams", env=lab, impl="", exercises=mine)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split()[1] for line in done.stdout.splitlines() if line[:1].isdigit()}
    assert rows["8.3"] == "stub" and rows["8.1"] == "yours", done.stdout


def test_use_puts_the_reference_back(tmp_path, monkeypatch):
    from minicontainer.security import capabilities
    original = capabilities.resolve
    monkeypatch.setenv("MC_EXERCISES", str(solutions_with(tmp_path / "mine")))
    try:
        assert "8.1" in seams.use("yours:08")
        assert capabilities.resolve is not original and capabilities.resolve.__wrapped__.__module__ == "mc_yours_08"
    finally:
        seams.use("")
    assert capabilities.resolve is original


def test_the_reference_path_does_not_import_seams():
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from minicontainer.cli import main; "
            "main(['ps']); print('minicontainer.seams' in sys.modules)")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60,
                         env={k: v for k, v in os.environ.items() if k != "MC_IMPL"})
    assert out.stdout.strip().splitlines()[-1] == "False", out.stdout + out.stderr


# --- the package's own tests, on the solutions ---------------------------------------------------------

# The runtime's tests that go through the seams of each lesson (~3 min on 2 cores): rootfs and
# namespaces (01-02), cgroups (03), the union root (04), images (05), the registry (06), the network (07),
# security (08), the container's life (09: create/start/restart, mount points, cp) and the OCI runtime
# (10: the tests of its seams only: same output as runc, state, hooks, refused fields).
SECOND_PASS = ["tests/test_chroot.py", "tests/test_namespaces.py", "tests/test_container_run.py",
               "tests/test_cgroups_run.py", "tests/test_unionfs_run.py", "tests/test_image_unpack.py",
               "tests/test_image_run.py", "tests/test_registry.py", "tests/test_network_run.py",
               "tests/test_security_run.py", "tests/test_container_life.py", "tests/test_mount_points.py",
               *(f"tests/test_primer_commands.py::test_cp_{name}" for name in (
                   "out_follows_dockers_rules", "in_to_a_running_and_to_a_stopped_container",
                   "refuses_paths_that_escape_and_changes_nothing", "errors_use_dockers_words")),
               *(f"tests/test_oci.py::test_{name}" for name in (
                   "run_gives_the_same_output_and_exit_status_as_runc", "state_goes_created_running_stopped_as_runc",
                   "hooks_see_the_state_json_on_stdin", "a_failing_or_hanging_hook_fails_create_and_leaves_nothing",
                   "unsupported_or_invalid_fields_are_refused_by_name_and_leave_no_state"))]
SECOND_PASS += ["tests/test_dockerignore.py", "tests/test_image_build_stages.py"]   # lesson 11: build, .dockerignore, history


def test_the_package_tests_of_the_seams_pass_on_the_solutions():
    """The runtime's tests that cover a seam pass with MC_IMPL=solutions: each seam behaves as the reference."""
    env = dict(os.environ, MC_IMPL="solutions", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *SECOND_PASS],
                          cwd=ROOT, capture_output=True, text=True, timeout=1200, env=env)
    summary = done.stdout.strip().splitlines()[-1]
    # (its own leak check may see another suite's containers on a shared machine: this suite's final
    # leak check covers what these tests leave; here every test must pass)
    assert re.fullmatch(r"=* ?\d+ passed[\w ,.():]*=*", summary) and "failed" not in summary and "error" not in summary, \
        done.stdout[-3000:]
