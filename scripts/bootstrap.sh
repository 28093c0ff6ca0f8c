#!/bin/sh
# The one command before `make`: on a minimal fresh VM (Debian 12, Ubuntu 22.04 or 24.04), install
# what `make` itself needs: make, Python 3.10+ with venv, git. As root, or as a user with sudo.
#
#     sh scripts/bootstrap.sh          then: sudo make lab   (or, as root: make lab)
#
# Everything else (the course's Debian packages, the virtualenv, the image) `make lab` installs.
set -eu

if [ "$(id -u)" = 0 ]; then
  as_root=""
elif command -v sudo >/dev/null 2>&1; then
  as_root="sudo"
else
  echo "bootstrap: this installs Debian packages and needs root: run it as root (su -c 'sh scripts/bootstrap.sh')" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "bootstrap: no apt-get: the course supports Debian 12 and Ubuntu 22.04/24.04" >&2
  exit 1
fi

need=""
command -v make >/dev/null 2>&1 || need="$need make"
command -v git >/dev/null 2>&1 || need="$need git"
command -v python3 >/dev/null 2>&1 || need="$need python3"
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need="$need python3-venv"
if [ -n "$need" ]; then
  echo "bootstrap: installing$need"
  if ! $as_root apt-get update -qq || ! $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need; then
    echo "bootstrap: could not install$need (offline? see apt-get's message above). Fix: connect this machine to the network, then run this again." >&2
    exit 1
  fi
fi
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "bootstrap: python3 is $(python3 -V 2>&1); the course needs 3.10 or newer (Debian 12, Ubuntu 22.04/24.04)" >&2
  exit 1
fi
echo "bootstrap: ready. Next: ${as_root:+sudo }make lab"
