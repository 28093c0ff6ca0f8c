"""The README's table of the primers' Docker commands names only minicontainer commands (and flags) that exist."""

from __future__ import annotations

import re
from pathlib import Path

from test_docs_zh import _commands, _known

ROOT = Path(__file__).resolve().parents[1]


def test_every_minicontainer_command_of_the_readme_table_exists():
    text = (ROOT / "README.md").read_text().split("## The primers' Docker commands")[1].split("\n## ")[0]
    rows = [line for line in text.splitlines() if line.startswith("| `docker")]
    assert len(rows) >= 18, "the table of the primers' commands is missing rows"
    commands = _commands()
    for row in rows:
        ours = row.strip("|").split("|")[1]
        spans = [span.split()[1:] for span in re.findall(r"`(minicontainer [^`]*)`", ours)]
        assert spans, f"README row {row!r}: no minicontainer command"
        for words in spans:
            words = [w for w in words if w not in ("...", "IMAGE") and not w.startswith(("[", "'"))]
            assert _known(words, commands), f"README: `minicontainer {' '.join(words)}` does not exist"
