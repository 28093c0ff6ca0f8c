#!/usr/bin/env bash
# `make test`: the package tests, every exercise check (fails on the stub, passes on the solution)
# and every lesson notebook under nbval, in one pytest run so there is one summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "make test: the tests create namespaces, cgroups and mounts and need root. Run: sudo make test" >&2
  exit 1
fi
export MC_EXERCISES=solutions   # notebooks show the solutions' check results; tests/test_exercises.py checks stubs too
export PYTHONDONTWRITEBYTECODE=1
# What to run: everything, unless MC_TESTS names some test files, node ids or notebooks (make test-vm uses it).
read -r -a selection <<< "${MC_TESTS:-tests notebooks}"
exec .venv/bin/python -m pytest "${selection[@]}" \
  --nbval --nbval-current-env --nbval-cell-timeout=300 \
  --nbval-sanitize-with notebooks/sanitize.cfg \
  -p no:cacheprovider "$@"
