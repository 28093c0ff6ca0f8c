"""Timing two commands side by side, fairly: A B A B ..., medians and the ratio.

Every benchmark of the course compares minicontainer with the tool engineers already trust (runc,
skopeo, umoci) in the same run, alternating, so that a busy machine slows both alike.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass
class Pair:
    name_a: str
    name_b: str
    times_a: list[float]
    times_b: list[float]

    @property
    def median_a(self) -> float:
        return statistics.median(self.times_a)

    @property
    def median_b(self) -> float:
        return statistics.median(self.times_b)

    @property
    def ratio(self) -> float:
        return self.median_a / self.median_b

    def report(self, unit: str = "ms") -> str:
        scale = 1000.0 if unit == "ms" else 1.0
        return (f"{self.name_a}: median {self.median_a * scale:.1f} {unit}  |  "
                f"{self.name_b}: median {self.median_b * scale:.1f} {unit}  |  "
                f"ratio {self.ratio:.2f} (n={len(self.times_a)} each, alternating)")


def time_call(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def alternate(name_a: str, a: Callable[[], object], name_b: str, b: Callable[[], object],
              rounds: int = 20, warmup: int = 2,
              before: Callable[[], object] | None = None) -> Pair:
    """Run a and b alternately `rounds` times each (after `warmup` untimed rounds); `before` runs untimed."""
    for _ in range(warmup):
        a()
        b()
    ta, tb = [], []
    for _ in range(rounds):
        if before:
            before()
        ta.append(time_call(a))
        if before:
            before()
        tb.append(time_call(b))
    return Pair(name_a, name_b, ta, tb)


def command(argv: list[str], **kwargs) -> Callable[[], object]:
    """A callable that runs argv and fails loudly if it fails."""
    def run() -> None:
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
    return run


def spec_bundle(rootfs: Path, where: Path, binary: str = "runc", memory: int | None = None) -> Path:
    """A bundle made by `BINARY spec` (runc's, or our minicontainer-oci's) whose root is `rootfs`, read-only
    (as ours shares it), running /bin/true; `memory`: a memory limit in bytes."""
    where.mkdir(parents=True)
    subprocess.run([binary, "spec", "--bundle", str(where)], check=True)
    config = json.loads((where / "config.json").read_text())
    config["root"] = {"path": str(rootfs), "readonly": True}
    config["process"]["terminal"] = False
    config["process"]["args"] = ["/bin/true"]
    if memory is not None:
        config["linux"].setdefault("resources", {})["memory"] = {"limit": memory}
    (where / "config.json").write_text(json.dumps(config, indent=1))
    return where
