#!/usr/bin/env bash
# The course's virtualenv: `make venv` (so `make lab` and `make test`) runs this when pyproject.toml or
# constraints.txt changed. Usage: scripts/venv.sh VENV PYTHON STAMP
#
# Python 3.10 or newer (Ubuntu 22.04's python3 is 3.10). The packages are pyproject.toml's, at the
# exact versions of constraints.txt (the lock: `make lock` rewrites it), so every machine gets the
# same set. A failed install keeps nothing: a virtualenv made by this run is removed again, so the
# next `make` starts clean instead of from a half-installed environment.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv}" python="${2:-python3}" stamp="${3:-}"

if ! command -v "$python" >/dev/null 2>&1; then
  echo "make: no $python on this machine. Fix: sh scripts/bootstrap.sh (installs make and Python 3.10+), then run make again." >&2
  exit 1
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "make: $python is Python $("$python" -c 'import platform; print(platform.python_version())'); the course needs 3.10 or newer (Debian 12, Ubuntu 22.04/24.04). Fix: make PYTHON=python3.11 (any python3.10+), or a newer distribution." >&2
  exit 1
fi
if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  bash scripts/host-deps.sh course   # python3-venv (Debian splits ensurepip out of python3)
fi

made=0
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
  made=1
fi
undo() {
  if [ $made = 1 ]; then rm -rf "$venv"; echo "make: removed the unfinished $venv" >&2; fi
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! "$venv/bin/python" -m pip install -q --upgrade pip >"$log" 2>&1 \
   || ! "$venv/bin/python" -m pip install -q -c constraints.txt -e '.[lab,test]' >>"$log" 2>&1; then
  reason=$(grep -m1 -E 'ERROR|Could not|Failed|No matching' "$log" | cut -c1-200 || true)
  # Offline? Ask the package index itself (pip's own messages differ from version to version).
  index=$("$python" -m pip config get global.index-url 2>/dev/null || true)
  unreachable=$("$python" - "${PIP_INDEX_URL:-${index:-https://pypi.org/simple/}}" <<'PY'
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1] + "pip/", timeout=15)
except Exception as exc:  # noqa: BLE001 - any failure to reach the index is the reason
    print(f"{sys.argv[1]}: {getattr(exc, 'reason', exc)}")
PY
)
  undo
  if [ -n "$unreachable" ]; then
    echo "make: cannot download the Python packages (offline? $unreachable). Fix: connect this machine to the network, then run the same make command again." >&2
  else
    cat "$log" >&2
    echo "make: pip could not install the course's Python packages: ${reason:-see above}. Fix that, then run the same make command again." >&2
  fi
  exit 1
fi
# `minicontainer run` starts fast through a small launcher (see minicontainer/launcher.py).
"$venv/bin/python" -m minicontainer.launcher "$venv/bin/minicontainer" >/dev/null
"$venv/bin/python" -m minicontainer.launcher "$venv/bin/minicontainer-oci" oci >/dev/null  # lesson 10: the runtime binary
rm -f "$venv"/.installed-*
[ -z "$stamp" ] || touch "$stamp"
