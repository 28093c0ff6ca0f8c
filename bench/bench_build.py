"""`minicontainer build` of the capstone image (examples/capstone): cold, with a warm cache, and after one file changed.

Three builds of the same two-stage Dockerfile, each as the `minicontainer` command, alternating:

  cold    --no-cache: every RUN runs in a container, every COPY writes a layer (the base image is
          already unpacked, as on a machine that built once before)
  warm    the cache has every step: nothing runs, the same image ID comes back
  edit    one page of the site changed: the steps before its COPY come from the cache, the rest runs

The figures say what the layer cache is worth (cold / warm) and what a one-file edit costs.
There is no reference tool to pair with here (no Docker or BuildKit offline), so the pairs are
minicontainer against itself, A B A B, medians.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pairs import alternate, command

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "examples" / "capstone"
ROUNDS = 5


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="mc-bench-build-"))
    try:
        context = work / "capstone"
        shutil.copytree(APP, context)
        env = dict(os.environ, MC_LIB_DIR=str(work / "lib"), MC_RUN_DIR=str(work / "run"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "minicontainer")], check=True)
        launcher = Path(sys.executable).parent / "minicontainer"   # the command as `make venv` installs it
        subprocess.run([str(launcher), "prepare"], env=env, check=True, stdout=subprocess.DEVNULL)
        build = [str(launcher), "build", "-q", "-t", "capstone:bench", str(context)]
        cold = command(build[:2] + ["--no-cache"] + build[2:], env=env)
        warm = command(build, env=env)
        warm()                                                     # fill the cache once

        pair = alternate("cold (--no-cache)", cold, "warm cache", warm, rounds=ROUNDS, warmup=1)
        print(f"build of the capstone image: {pair.report('ms')}")
        print(f"  the cache makes an unchanged rebuild {pair.ratio:.1f}x faster")

        page = context / "site" / "index.html"
        original = page.read_text()
        edits = iter(range(1_000_000))

        def edit() -> None:
            page.write_text(original.replace("Visits", f"Visits (edit {next(edits)})"))
            warm()

        pair = alternate("one page changed", edit, "warm cache", warm, rounds=ROUNDS, warmup=1)
        print(f"rebuild after editing site/index.html: {pair.report('ms')}")
    finally:
        shutil.rmtree(work, ignore_errors=True)   # build removes its RUN containers itself: only files are left


if __name__ == "__main__":
    main()
