#!/usr/bin/env bash
# Authors: turn each notebooks/NN-topic.py (jupytext percent format, the reviewed source) into
# notebooks/NN-topic.ipynb and execute it, storing the outputs that nbval then compares.
# `make notebooks` does all; `make notebooks NB=01` one lesson.
set -euo pipefail
cd "$(dirname "$0")/.."
export MC_EXERCISES=solutions
pattern="${1:-}"
for src in notebooks/[0-9][0-9]-*.py; do
  case "$(basename "$src")" in "$pattern"*) ;; *) continue ;; esac
  nb="${src%.py}.ipynb"
  echo "building $nb"
  .venv/bin/jupytext --to ipynb --output "$nb" "$src" >/dev/null
  .venv/bin/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=300 "$nb"
done
