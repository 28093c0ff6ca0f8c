"""The image lookup of `run busybox`: the cache (image/run.py) vs the full lookup through the store, A B A B.

Each side is a fresh `python -I -S` process (as the fast launcher runs `run`) that resolves the
default image and exits, so the figures include the imports, which are most of the difference:
  A  for_run() with a warm cache: reads index.json and cache/run.json (quickjson, config.py)
  B  the same answer computed by the store (image/run.py's cache miss, without writing the cache):
     store.py with json, pathlib, typing, reference.py and re, manifest and config parsed
Both run in a temporary lib dir holding the default image. Also printed: `python -I -S -c pass`,
the interpreter alone, to show what each side adds to it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pairs import alternate, command  # noqa: E402

from minicontainer.image import prepare_default_image  # noqa: E402
from minicontainer.paths import Paths, repo_root  # noqa: E402

CACHED = """
import sys; sys.path.insert(0, {root!r})
from minicontainer.paths import Paths
from minicontainer.image.run import for_run
assert for_run(Paths({lib!r}, {run!r}), "busybox", ["/bin/true"]).layers
"""

FULL = """
import sys; sys.path.insert(0, {root!r})
from minicontainer.paths import Paths
from minicontainer.image.run import _lookup_in_store
with open({lib!r} + "/images/index.json", "rb") as f:
    index = f.read().decode("latin-1")
assert _lookup_in_store(Paths({lib!r}, {run!r}), "busybox", index)["layers"]
"""


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="mc-bench-lookup-") as tmp:
        paths = Paths(f"{tmp}/lib", f"{tmp}/run")
        prepare_default_image(paths)
        fill = dict(root=str(repo_root()), lib=paths.lib_root, run=paths.run_root)
        python = [sys.executable, "-I", "-S", "-c"]
        subprocess.run(python + [CACHED.format(**fill)], check=True)  # fills the cache
        pair = alternate("cache hit", command(python + [CACHED.format(**fill)]),
                         "store lookup", command(python + [FULL.format(**fill)]), rounds=30, warmup=3)
        print(pair.report())
        bare = alternate("python -I -S -c pass", command(python + ["pass"]),
                         "cache hit", command(python + [CACHED.format(**fill)]), rounds=30, warmup=3)
        print(bare.report())


if __name__ == "__main__":
    main()
