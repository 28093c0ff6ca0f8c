"""What each start-up trick of `run` is worth, measured on `run` itself (CONTRIBUTING: start-up is a feature).

The modules on the path of `run` keep some of the standard library out (each says so where it does):
`_signal` instead of `signal` (its enum classes), str paths instead of `pathlib`, record.Record
instead of `dataclasses`, quickjson instead of `json`, state.remove_tree instead of `shutil.rmtree`,
namespaces.loopback_up's libc socket instead of `socket`, cgroups' hand-read units instead of `re`,
`TYPE_CHECKING = False` instead of `typing`, and image/run.py's cache with image/__init__.py's lazy names
instead of the image store (json, pathlib, re, dataclasses ...). A trick is worth keeping in a module a lesson builds
when it saves more than 2 ms of `run` (the rule of CONTRIBUTING.md); this measures it: the same
`minicontainer run --rm --read-only --rootfs DIR /bin/true` as it is and with the one module the
trick avoids imported first, A B A B (bench/pairs.py), and the difference of the medians: of the
wall-clock time, and of the CPU time (user + sys) the run used, which a busy machine changes less.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from pairs import alternate

ROOT = Path(__file__).resolve().parent.parent

# What the fast launcher (launcher.py) runs, with `{extra}` imported first.
LAUNCHER = """
import sys
sys.path.insert(0, {root!r})
{extra}
import gc, os
gc.disable()
from minicontainer.cli import main
code = main()
sys.stdout.flush()
os._exit(code)
"""

TRICKS = {  # the module a trick keeps out of `run` -> where the trick is
    "signal": "`import _signal as signal` (spawn, process, monitor, lifecycle, terminal, cgroups)",
    "pathlib": "str paths (paths, state, rootfs, unionfs, cgroups, image/run)",
    "dataclasses": "record.Record (state, container, cgroups, unionfs, mountinfo, image/run, image/config)",
    "json": "quickjson (state, spawn, image/run)",
    "shutil": "state.remove_tree (run --rm)",
    "socket": "namespaces.loopback_up on a libc socket",
    "re": "cgroups' hand-read units and cpu lists",
    "typing": "TYPE_CHECKING = False guards",
    "minicontainer.image.store": "image/__init__.py's lazy Store (PEP 562) and image/run.py's cache",
}


def main(rounds: int = 30) -> None:
    lib = Path(os.environ.get("MC_LIB_DIR", "/var/lib/minicontainer"))
    rootfs = lib / "rootfs" / "busybox"
    python = ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        python = Path(sys.executable)
    tmp = Path(tempfile.mkdtemp(prefix="mc-bench-tricks-"))
    env = dict(os.environ, MC_RUN_DIR=str(tmp / "run"))
    argv = ["run", "--rm", "--read-only", "--rootfs", str(rootfs), "/bin/true"]

    cpu: dict[str, list[float]] = {}

    def runner(extra: str):
        script = LAUNCHER.format(root=str(ROOT), extra=extra)

        def run() -> None:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([str(python), "-I", "-S", "-c", script, *argv], check=True, env=env)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.setdefault(extra, []).append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        return run

    try:
        plain = runner("")
        print(f"{'module':12} {'as is':>7} {'with it':>8} {'costs run':>10} {'CPU time':>9}   the trick that keeps it out")
        every = "import " + ", ".join(m for m in TRICKS if not m.startswith("minicontainer"))
        for module, where in [*TRICKS.items(), ("all of them", "every trick undone at once")]:
            extra = every if module == "all of them" else f"import {module}"
            cpu.clear()
            pair = alternate("as is", plain, module, runner(extra), rounds=rounds)
            delta = (pair.median_b - pair.median_a) * 1000
            cpu_delta = (statistics.median(cpu[extra]) - statistics.median(cpu[""])) * 1000
            print(f"{module.rpartition('.')[2]:12} {pair.median_a * 1000:7.1f}  {pair.median_b * 1000:7.1f}  "
                  f"{delta:+8.1f} ms {cpu_delta:+7.1f} ms   {where}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
