#!/usr/bin/env python3
"""Summarise a test-vm run from its results directory (junit.xml, pytest.log, facts-*.txt).

Writes failures.txt (each failing test with its traceback) and prints the failing tests, one line
each with the first line of why, then pytest's own summary line. Usage: summarize.py RESULTS_DIR
"""
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


ANSI = re.compile(r"(\x1b|#x1B)\[[0-9;]*m")


def why(message: str, text: str) -> str:
    """One line saying why a test failed; for a notebook cell, the first differing output line."""
    message, text = ANSI.sub("", message).strip(), ANSI.sub("", text)
    if message.startswith("Notebook cell execution failed"):
        got = next((l.strip()[2:] for l in text.splitlines() if l.lstrip().startswith("- ")), None)
        stored = next((l.strip()[2:] for l in text.splitlines() if l.lstrip().startswith("+ ")), None)
        if got is not None or stored is not None:  # nbval: "+" the stored output, "-" this run's
            return f"output differs: VM {got!r}, stored {stored!r}"
        errors = [l.strip() for l in text.splitlines() if re.match(r"\s*\w+(Error|Exception)\b", l)]
        return errors[-1] if errors else message
    return message.splitlines()[0] if message else ""


def main(results: Path) -> int:
    junit = results / "junit.xml"
    if not junit.exists():
        print("no junit.xml: pytest did not finish (see pytest.log / job.log)")
        return 1
    root = ET.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    time = sum(float(s.get("time", 0)) for s in suites)
    lines, details = [], []
    for case in root.iter("testcase"):
        for kind in ("failure", "error"):
            bad = case.find(kind)
            if bad is None:
                continue
            module = case.get("classname", "")
            module = module.replace(".", "/") + ".py" if module.startswith("tests.") else module.replace(".", "/", 1)
            name = f"{module}::{case.get('name', '')}"
            lines.append(f"  {kind.upper():7} {name}: {why(bad.get('message', ''), bad.text or '')[:220]}")
            details.append(f"==== {kind.upper()} {name}\n{bad.text or bad.get('message', '')}\n")
    (results / "failures.txt").write_text("\n".join(details) or "no failures\n")
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    print("\n".join(lines))
    print(f"{passed} passed, {counts['failures']} failed, {counts['errors']} errors, "
          f"{counts['skipped']} skipped in {time / 60:.1f} min (pytest)")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
