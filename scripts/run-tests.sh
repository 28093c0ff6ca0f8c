#!/usr/bin/env bash
# `make test`: the package tests, every exercise check (fails on the stub, passes on the solution)
# and every lesson notebook under nbval, in one pytest run so there is one summary line; then
# a representative part of the package tests again on Python 3.10 (Ubuntu 22.04's python3) when this machine has one.
#
# nbval runs the lessons as git has them (the index: what is committed, or staged by `make notebooks`),
# copied to .artefacts/lessons/: a learner who ran and saved a lesson in the lab changed notebooks/,
# and their outputs must not fail the course's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "make test: the tests create namespaces, cgroups and mounts and need root. Run: sudo make test" >&2
  exit 1
fi
export MC_EXERCISES=solutions   # notebooks show the solutions' check results; tests/test_exercises.py checks stubs too
export PYTHONDONTWRITEBYTECODE=1

lessons=notebooks
if command -v git >/dev/null 2>&1 && git rev-parse --git-dir >/dev/null 2>&1; then
  rm -rf .artefacts/lessons && mkdir -p .artefacts/lessons
  git checkout-index --prefix=.artefacts/lessons/ -- notebooks/*.ipynb
  lessons=.artefacts/lessons/notebooks
  changed=$(git diff --name-only -- 'notebooks/*.ipynb' | tr '\n' ' ')
  [ -z "$changed" ] || echo "run-tests: nbval checks the lessons as git has them, not your saved ${changed}"
fi

# What to run: everything, unless MC_TESTS names some test files, node ids or notebooks (make test-vm uses it).
read -r -a selection <<< "${MC_TESTS:-tests $lessons}"
status=0
.venv/bin/python -m pytest "${selection[@]}" \
  --nbval --nbval-current-env --nbval-cell-timeout=300 \
  --nbval-sanitize-with notebooks/sanitize.cfg \
  -p no:cacheprovider "$@" || status=$?

# Python 3.10: only for a whole run (`make test`, no arguments) and where a 3.10 is installed.
if [ $# -eq 0 ] && [ -z "${MC_TESTS:-}" ] && [ "${MC_SKIP_PY310:-}" != 1 ]; then
  py310=$(bash scripts/find-python.sh 3.10 || true)
  if [ -z "$py310" ]; then
    echo "run-tests: warning: no Python 3.10 here (Ubuntu 22.04: apt-get install python3.10-venv), so the package" \
         "tests ran on $(.venv/bin/python -V) only; tests/test_dependencies.py checked 3.10 compatibility with vermin" >&2
  else
    echo "run-tests: the package tests on $("$py310" -V) ($py310)"
    stamp=.venv-py310/.installed-$(cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
    [ -e "$stamp" ] || bash scripts/venv.sh .venv-py310 "$py310" "$stamp"
    # A representative part, not all of it again (the budget is 20 min on 2 cores): every layer of the
    # runtime (flags, state, spawn, run, cgroups, unionfs, security, images, build, registry, network)
    # runs its own code on 3.10; the rest differs from these only in what the kernel does.
    py310_tests=(quickjson reference flags cgroups state spawn container_run image_unpack image_store image_build
                 image_run registry dockerignore security syscalls unionfs cli doctor network)
    .venv-py310/bin/python -m pytest $(printf "tests/test_%s.py " "${py310_tests[@]}") -p no:cacheprovider -q || status=$?
  fi
fi
exit $status
