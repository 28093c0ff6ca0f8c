#!/usr/bin/env bash
# Install the course in the base VM's root through a chroot, as a learner would on the VM itself:
#   cd /root/minicontainer && make venv deps test-deps   (the Makefile stays the single source of truth)
# Run by build-base.sh inside `unshare --mount --pid --fork`: every mount made here lives in a private
# mount namespace and disappears with it, and the chroot's processes (pgrep/pkill in host-deps.sh) see
# only themselves, never the host's. The guest itself needs no network: the host's network is used here.
# Usage: chroot-install.sh ROOT
set -euo pipefail
root=$1
made=()        # files and directories this script adds to ROOT, removed at the end
mounts=()      # extra mounts in ROOT, unmounted before those are removed
# The topmost directory `mkdir -p "$1"` would create (what to remove afterwards).
first_missing() { local p=$1 top=""; while [ ! -e "$p" ]; do top=$p; p=$(dirname "$p"); done; echo "$top"; }

mount --make-rprivate /
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"

# No service may start inside the chroot (docker-registry's postinst would start it on the host!).
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"; chmod 755 "$root/usr/sbin/policy-rc.d"
made+=("$root/usr/sbin/policy-rc.d")

# The host's way out: DNS, CA bundle (it may hold a proxy's CA), apt's Acquire settings, pip's config.
cp "$root/etc/resolv.conf" "$root/etc/resolv.conf.mc-vm"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
ca=${SSL_CERT_FILE:-${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}}
cp -L "$ca" "$root/tmp/mc-vm-host-ca.crt"; made+=("$root/tmp/mc-vm-host-ca.crt")
apt-config dump | grep -E '^Acquire::(Check-Valid-Until|Check-Date|https?::Proxy|ftp::Proxy) ' \
  > "$root/etc/apt/apt.conf.d/99mc-vm-host" || true
made+=("$root/etc/apt/apt.conf.d/99mc-vm-host")
for conf in /etc/pip.conf /etc/xdg/pip "$HOME/.config/pip"; do
  [ -e "$conf" ] || continue
  target="$root/root${conf#"$HOME"}"; [ "${conf#"$HOME"}" = "$conf" ] && target="$root$conf"
  [ -e "$target" ] && continue
  made+=("$(first_missing "$target")"); mkdir -p "$(dirname "$target")"; cp -a "$conf" "$target"
done
# Local wheel directories and file:// indexes the pip configuration names: the same paths, read-only
# (for an index .../simple, its parent: such indexes link to ../../files/).
for p in $( (cat /etc/pip.conf /etc/xdg/pip/pip.conf "$HOME/.config/pip/pip.conf" 2>/dev/null; env | grep '^PIP_') \
            | grep -oE '(file://)?/[^ ,;"]+' | sed -e 's|^file://||' -e 's|/simple/*$||' | sort -u); do
  [ -d "$p" ] && [ ! -e "$root$p" ] || continue
  made+=("$(first_missing "$root$p")"); mkdir -p "$root$p"
  mount --bind -o ro "$p" "$root$p"; mounts+=("$root$p")
done

# The learner's commands, with a clean environment plus the host's pip settings and CA bundle.
mapfile -t pipenv < <(env | grep '^PIP_' | grep -v '^PIP_CERT=' || true)
status=0
env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
  DEBIAN_FRONTEND=noninteractive "${pipenv[@]}" \
  PIP_CERT=/tmp/mc-vm-host-ca.crt SSL_CERT_FILE=/tmp/mc-vm-host-ca.crt REQUESTS_CA_BUNDLE=/tmp/mc-vm-host-ca.crt \
  GIT_SSL_CAINFO=/tmp/mc-vm-host-ca.crt \
  chroot "$root" /bin/bash -c 'cd /root/minicontainer && make venv deps test-deps && apt-get clean' || status=$?

# Restore: the VM must not keep the host's DNS, CA, proxy or pip settings, nor the policy-rc.d.
for m in "${mounts[@]}"; do umount "$m" || exit 1; done
for m in "${made[@]}"; do rm -rf "$m"; done
mv "$root/etc/resolv.conf.mc-vm" "$root/etc/resolv.conf"
rm -rf "$root/root/.cache/pip"
exit $status
