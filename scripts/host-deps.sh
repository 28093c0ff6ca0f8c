#!/usr/bin/env bash
# Install the Debian packages the course needs, only those that are missing (idempotent).
# Debian 12 and Ubuntu 22.04/24.04, as root.
#
#   scripts/host-deps.sh course   what the lessons need (`make deps`, so `make lab`): all or nothing
#   scripts/host-deps.sh test     what the tests and benchmarks add (`make test-deps`, so `make test`):
#                                 a package this system's repositories lack is only a warning
#
# apt-get installs a list as a whole: one unknown name fails them all. So the optional packages are
# first filtered by `apt-cache policy` (a package with no installation candidate is skipped with a
# warning), and the course's own packages are checked the same way before anything is installed.
set -euo pipefail

group="${1:-course}"

COURSE=(
  busybox-static   # the default image's only binary (lesson 01)
  python3-venv     # the course's virtualenv
  util-linux       # unshare, nsenter, mount (lessons compare our code with them)
  iproute2         # ip (lesson 07)
  nftables         # NAT and published ports (lesson 07)
  iptables         # the NAT fallback where nft is missing, tested with iptables-nft (lesson 07)
  uidmap           # newuidmap/newgidmap (rootless mode, lesson 02)
  docker-registry  # the lab registry (lesson 06), run by the course on 127.0.0.1 only
  openssl          # the token server's signing key (lesson 06)
)
TEST=(
  skopeo umoci     # interop checks for images and the registry (tests of lessons 05-06)
  runc             # the reference runtime the interop tests, the OCI tests and benchmarks compare with
  podman           # drives minicontainer-oci as an OCI runtime (tests of lesson 10)
  wrk              # requests/s through a published port (bench)
  chromium         # the browser tests open the lessons in JupyterLab (Debian's build; Ubuntu has only a snap)
  git              # nbval validates the lessons as committed (git's copy, not a learner's saved file)
)

case "$group" in
  course) wanted=("${COURSE[@]}"); required=1 ;;
  test) wanted=("${TEST[@]}"); required=0 ;;
  *) echo "host-deps: unknown group '$group' (course or test)" >&2; exit 2 ;;
esac

if [ "$(id -u)" != 0 ]; then
  echo "host-deps: installing Debian packages needs root. Run it as root, or with sudo" >&2
  exit 1
fi

# (No `cmd | grep -q` here: under pipefail, grep -q stops reading at its match and the writer's SIGPIPE
# fails the pipeline, at random, when the output is long. Seen with apt-cache policy in a fresh chroot.)
installed() { [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == *"install ok installed"* ]]; }
# A package the enabled repositories can install (after apt-get update): it has a candidate version.
available() { [[ "$(apt-cache policy "$1" 2>/dev/null)" =~ Candidate:\ [^\(] ]]; }

missing=()
for p in "${wanted[@]}"; do
  installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  log=$(mktemp)
  offline=""   # why the archive could not be read, if it could not (apt-get update may still exit 0)
  if ! timeout 300 apt-get update -qq >"$log" 2>&1 || grep -q -E '^(W: Failed to fetch|E: )' "$log"; then
    offline=$(grep -m1 -E '^(W: Failed to fetch|E: )' "$log" | cut -c1-160 || true)
    offline=${offline:-$(tail -n1 "$log" | cut -c1-160)}
  fi
  rm -f "$log"
  fail() {  # a required package cannot be had: one line with the reason and the fix, nothing installed
    if [ -n "$offline" ]; then
      echo "host-deps: cannot reach the package archive to install $1 (offline? $offline). Fix: connect this machine to the network (or a mirror), then run the same make command again; nothing was installed." >&2
    else
      echo "host-deps: $2" >&2
    fi
    exit 1
  }
  can=() cannot=()
  for p in "${missing[@]}"; do
    if available "$p"; then can+=("$p"); else cannot+=("$p"); fi
  done
  if [ ${#cannot[@]} -gt 0 ]; then
    [ $required = 1 ] && fail "${cannot[*]}" "this system's repositories have no ${cannot[*]} (Debian 12 and Ubuntu 22.04/24.04 do; on Ubuntu enable 'universe': add-apt-repository universe). Nothing was installed."
    echo "host-deps: warning: cannot install ${cannot[*]}${offline:+ (offline? $offline)}: skipped; the tests that use them will fail" >&2
  fi
  if [ ${#can[@]} -gt 0 ]; then
    echo "host-deps: installing ${can[*]}"
    # Keep package scripts from starting services (docker-registry would listen on :5000 on every interface).
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; made_policy=1
    fi
    trap '[ $made_policy = 1 ] && rm -f "$policy"' EXIT
    if ! apt-get install -y -qq --no-install-recommends "${can[@]}"; then
      [ $required = 1 ] && fail "${can[*]}" "apt-get could not install ${can[*]} (see above). Fix the cause (disk space, a held package), then run the same make command again."
      echo "host-deps: warning: apt-get could not install ${can[*]} (see above); the tests that use them will fail" >&2
    fi
  fi
fi

# The distribution's registry service must not run: the course starts its own on 127.0.0.1.
# Disabled even without a running systemd (packages installed in a chroot or an image build): else
# the unit stays enabled and listens on *:5000 at the next boot.
if [ "$group" = course ]; then
  if command -v systemctl >/dev/null 2>&1 && [ -e /lib/systemd/system/docker-registry.service ]; then
    if systemctl is-enabled --quiet docker-registry 2>/dev/null; then
      echo "host-deps: disabling the system docker-registry service (it listens on all interfaces)"
      systemctl disable docker-registry >/dev/null 2>&1 || true
    fi
    if [ -d /run/systemd/system ] && systemctl is-active --quiet docker-registry 2>/dev/null; then
      systemctl stop docker-registry >/dev/null 2>&1 || true
    fi
  fi
  if pgrep -f '^/usr/bin/docker-registry serve /etc/docker/registry/config.yml' >/dev/null 2>&1; then
    pkill -f '^/usr/bin/docker-registry serve /etc/docker/registry/config.yml' || true
  fi
fi
exit 0
