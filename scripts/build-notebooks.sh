#!/usr/bin/env bash
# Authors: turn each lessons/NN-topic.py (jupytext percent format, the reviewed source) into
# notebooks/NN-topic.ipynb and execute it, storing the outputs that nbval then compares.
# The sources live apart from the notebooks so that a learner's file browser shows each lesson once.
# `make notebooks` does all; `make notebooks NB=01` one lesson.
set -euo pipefail
cd "$(dirname "$0")/.."
export MC_EXERCISES=solutions
pattern="${1:-}"
for src in lessons/[0-9][0-9]-*.py; do
  case "$(basename "$src")" in "$pattern"*) ;; *) continue ;; esac
  name=$(basename "$src" .py)
  nb="notebooks/$name.ipynb"
  echo "building $nb"
  .venv/bin/jupytext --to ipynb --output "$nb" "$src" >/dev/null
  .venv/bin/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=300 "$nb"
  # `make test` validates the lessons as git has them (so a learner's saved outputs never fail it):
  # stage what was just built, so that it is this notebook that the tests check.
  if git rev-parse --git-dir >/dev/null 2>&1; then git add "$nb"; fi
done
