"""nbval's sanitizers (notebooks/sanitize.cfg) replace only what really varies between two runs of a
lesson: each one is used by the recorded lessons, and none hides what a learner should see stay the same
(addresses, versions, a container's own PIDs, ports the lesson chose)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from nbval.plugin import get_sanitize_patterns

ROOT = Path(__file__).resolve().parents[1]
CONFIG = (ROOT / "notebooks" / "sanitize.cfg").read_text()
NAMES = re.findall(r"^\[(.+)\]$", CONFIG, flags=re.M)
PATTERNS = get_sanitize_patterns(CONFIG)  # (regex, replacement), in order, read as nbval reads them
SKIPPED = {"image/png", "image/jpeg", "application/vnd.jupyter.widget-view+json"}  # nbval does not compare these


def sanitize(text: str) -> str:
    for regex, replace in PATTERNS:
        text = re.sub(regex, replace, text)
    return text


def recorded_outputs() -> list[str]:
    """Every compared output text of the lessons as git has them (the files nbval runs in make test)."""
    texts = []
    listed = subprocess.run(["git", "ls-files", "-s", "--", "notebooks/*.ipynb"], cwd=ROOT, capture_output=True, text=True)
    sources = []
    if listed.returncode == 0 and listed.stdout:
        for line in listed.stdout.splitlines():
            blob = line.split()[1]
            sources.append(subprocess.run(["git", "cat-file", "blob", blob], cwd=ROOT, capture_output=True,
                                          text=True, check=True).stdout)
    else:
        sources = [p.read_text() for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))]
    for source in sources:
        for cell in json.loads(source)["cells"]:
            for output in cell.get("outputs", []):
                if "text" in output:
                    texts.append("".join(output["text"]))
                for mime, value in output.get("data", {}).items():
                    if mime not in SKIPPED:
                        texts.append("".join(value) if isinstance(value, list) else str(value))
    return texts


def test_the_config_reads_as_nbval_reads_it():
    assert len(PATTERNS) == len(NAMES) > 0, "every [section] needs one `regex:` and one `replace:` line"


@pytest.mark.parametrize("index", range(len(NAMES)), ids=NAMES)
def test_each_sanitizer_matches_the_recorded_lessons(index: int):
    """Applied in order, as nbval does: a pattern that never matches hides nothing and can go."""
    texts = recorded_outputs()
    for regex, replace in PATTERNS[:index]:
        texts = [re.sub(regex, replace, t) for t in texts]
    regex = PATTERNS[index][0]
    assert any(re.search(regex, t) for t in texts), f"[{NAMES[index]}] matches no recorded output: remove it"


@pytest.mark.parametrize("text", [
    "eth0 10.250.0.2/24 via 10.250.0.1",           # the lesson's addresses
    "published 127.0.0.1:18081->80/tcp",            # a port the lesson chose
    "I am root on lesson02 as PID 1",               # a container's own PID
    "pyroute2 0.9.7, image layout 1.0.0",           # versions
    "memory limit 48.0MiB",                          # a limit the lesson set
    "busybox 1.36.1 (the default image)",
    "ld [4]  jeq #0xc000003e",                      # a seccomp filter's constants (lesson 08)
])
def test_sanitizers_leave_what_does_not_vary(text: str):
    assert sanitize(text) == text


@pytest.mark.parametrize("text,expected", [
    ("pid 23084 (the runtime, waiting)", "pid PID (the runtime, waiting)"),
    ("doctor: kernel Linux 6.1.0-28-amd64", "doctor: kernel Linux KERNEL"),
    ("registry on 127.0.0.1:41441", "registry on 127.0.0.1:PORT"),
    ("mnt:[4026532174]", "mnt:[INODE]"),
    ("1.1MiB / 64.0MiB", "SIZE / 64.0MiB"),
    ("/tmp/mc-lesson06-28695qpl/lib", "/tmp/mc-lesson06-TMP/lib"),
    ("/tmp/mc-lab-_q3gmx1p", "/tmp/mc-lab-TMP"),
])
def test_sanitizers_replace_what_varies(text: str, expected: str):
    assert sanitize(text) == expected
