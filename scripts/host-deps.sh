#!/usr/bin/env bash
# Install the Debian packages the course needs, only those that are missing (idempotent).
# Debian 12 and Ubuntu 22.04/24.04, as root. Called by `make deps` (and so by `make lab` / `make test`).
set -euo pipefail

PACKAGES=(
  busybox-static   # the default image's only binary (lesson 01)
  python3-venv     # the course's virtualenv
  util-linux       # unshare, nsenter, mount (lessons compare our code with them)
  iproute2         # ip (lesson 07)
  nftables         # NAT and published ports (lesson 07)
  iptables         # the NAT fallback where nft is missing, tested with iptables-nft (lesson 07)
  uidmap           # newuidmap/newgidmap (rootless mode, lesson 02)
  docker-registry  # the lab registry (lesson 06), run by the course on 127.0.0.1 only
  skopeo umoci     # interop checks for images and the registry (lessons 05-06)
  runc             # the reference runtime the benchmarks and the OCI tests compare with
  podman           # drives minicontainer-oci as an OCI runtime (tests of lesson 10)
  openssl          # TLS certificates for the registry tests
  wrk              # requests/s through a published port (bench)
)

if [ "$(id -u)" != 0 ]; then
  echo "host-deps: installing Debian packages needs root. Run: sudo make $*" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "host-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Keep package scripts from starting services (docker-registry would listen on :5000 on every interface).
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; made_policy=1
  fi
  trap '[ $made_policy = 1 ] && rm -f "$policy"' EXIT
  apt-get update -qq || apt-get update
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The distribution's registry service must not run: the course starts its own on 127.0.0.1.
# Disabled even without a running systemd (packages installed in a chroot or an image build): else
# the unit stays enabled and listens on *:5000 at the next boot.
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
exit 0
