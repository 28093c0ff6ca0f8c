#!/usr/bin/env bash
# Print the path of a Python of the version asked (e.g. 3.10), or fail: the distribution's
# (Ubuntu 22.04: /usr/bin/python3.10), or one that pyenv built (CI's machine image has pyenv's 3.10).
set -u
want="${1:?usage: find-python.sh 3.10}"
candidates=("python$want" "/usr/bin/python$want" "/usr/local/bin/python$want")
root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
for p in "$root"/versions/"$want".*/bin/python"$want"; do candidates+=("$p"); done
for p in "${candidates[@]}"; do
  path=$(command -v "$p" 2>/dev/null) || continue
  # a pyenv shim exists for every version pyenv knows, but fails when that version is not active
  if "$path" -c "import sys, venv, ensurepip; sys.exit(sys.version_info[:2] != tuple(map(int, '$want'.split('.'))))" 2>/dev/null; then
    echo "$path"
    exit 0
  fi
done
exit 1
