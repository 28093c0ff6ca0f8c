#!/usr/bin/env bash
# Build the cloud-init variant of the learner's VM (for scripts/vm/cloud-init-check.sh), once per base:
# a copy of the base's disk (the base itself stays as it is) with
#   - Debian's cloud-init package: what a cloud image has and the test-vm base has not;
#   - a wheelhouse of the course's Python packages, exactly the versions of the base's virtualenv, and an
#     /etc/pip.conf that makes pip use only it. The VM has no network, and the recipe's fresh clone in
#     /opt/minicontainer builds its own virtualenv (`make image`), which on a cloud VM pip downloads.
# Everything is installed from the host (a chroot into the loop-mounted copy, apt with the host's network;
# the wheels downloaded by the host's pip for the guest's Python), never inside the VM.
# Usage: build-cloud-init.sh BASEDIR OUTDIR     (OUTDIR gets root.img, vmlinuz, initrd.img, info)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

# Everything below runs in a private mount namespace (and PID namespace, so that nothing a package
# script starts in the chroot can outlive it): its mounts disappear with it, whatever happens.
if [ "${1:-}" != --inside ]; then
  exec unshare --mount --pid --fork --propagation private bash "$0" --inside "$@"
fi
shift
base=$1 out=$2
work="$out.building"           # renamed to $out only when complete, so a half-built variant is never used
root="$work/root"
wheels=/var/cache/minicontainer-wheels   # the wheelhouse, inside the guest
rm -rf "$work"
mkdir -p "$root"
cleanup() {
  # Never remove through a mount (the chroot's /dev is the host's): unmount first, and stay on this
  # file system; if something is still mounted, leave the directory for a human.
  umount -R "$root" 2>/dev/null || true
  if mountpoint -q "$root" 2>/dev/null; then vm_say "could not unmount $root: left $work"; return; fi
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
start=$SECONDS
vm_say "building the cloud-init variant of $(basename "$base") in $work: a minute or two, once"

# --- 1. A copy of the base's disk (sparse: about the size of what is written), mounted. ------------------
cp --sparse=always "$base/root.img" "$work/root.img"
mount -o loop "$work/root.img" "$root"

# --- 2. cloud-init from Debian's archive, through a chroot with the host's DNS and apt proxy settings. ----
# And the locale en_US.UTF-8, generated as in Debian's cloud images: cloud-init's locale module sets it
# (Debian's locale-gen ignores the name cloud-init gives it), and fails where it is missing.
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"; chmod 755 "$root/usr/sbin/policy-rc.d"  # no service starts
cp "$root/etc/resolv.conf" "$work/resolv.conf.guest"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
apt-config dump | grep -E '^Acquire::(Check-Valid-Until|Check-Date|https?::Proxy|ftp::Proxy) ' \
  > "$root/etc/apt/apt.conf.d/99mc-vm-host" || true
env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
  DEBIAN_FRONTEND=noninteractive \
  chroot "$root" /bin/sh -ec 'apt-get update -qq; apt-get install -y -qq --no-install-recommends cloud-init; apt-get clean
                              sed -i "s/^# *\(en_US.UTF-8 UTF-8\)/\1/" /etc/locale.gen; locale-gen' \
  > "$work/apt.log" 2>&1 || { tail -n 20 "$work/apt.log" >&2; vm_die "installing cloud-init in the chroot failed (log above)"; }
# Give back the guest's own settings.
rm -f "$root/usr/sbin/policy-rc.d" "$root/etc/apt/apt.conf.d/99mc-vm-host"
cp "$work/resolv.conf.guest" "$root/etc/resolv.conf"

# --- 3. The wheelhouse: every package of the base's virtualenv (pip and setuptools included), plus what
# pyproject.toml's [build-system] requires (the editable install builds the project in isolation).
# Downloaded by the host's pip (its indexes and local wheel directories) as wheels for the guest's Python
# and glibc: nothing is built, and the host's own Python version does not matter.
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin PIP_DISABLE_PIP_VERSION_CHECK=1 \
  chroot "$root" /root/minicontainer/.venv/bin/python -m pip list --format=freeze --exclude-editable \
  > "$work/requirements.txt"
read -r pyver glibc < <(chroot "$root" /usr/bin/python3 -c \
  'import platform, sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}", platform.libc_ver()[1])')
build_requires=$(chroot "$root" /usr/bin/python3 -c \
  'import tomllib; print(" ".join(tomllib.load(open("/root/minicontainer/pyproject.toml", "rb"))["build-system"]["requires"]))')
abi=cp${pyver/./}
platforms=()
for minor in $(seq "${glibc#2.}" -1 17); do platforms+=(--platform "manylinux_2_${minor}_x86_64"); done
platforms+=(--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64 --platform linux_x86_64)
download() {  # pip download's output, without the host's warnings about its unused local indexes
  local status=0
  python3 -m pip download -q --disable-pip-version-check --only-binary=:all: --implementation cp \
    --python-version "$pyver" --abi "$abi" "${platforms[@]}" -d "$root$wheels" "$@" > "$work/pip.out" 2>&1 || status=$?
  grep -v 'is ignored' "$work/pip.out" || true
  return $status
}
mkdir -p "$root$wheels"
download --no-deps -r "$work/requirements.txt" > "$work/pip.log" \
  || { tail -n 20 "$work/pip.log" >&2; vm_die "downloading the course's wheels failed (log above)"; }
# shellcheck disable=SC2086  # a list of requirement specifiers
download $build_requires >> "$work/pip.log" \
  || { tail -n 20 "$work/pip.log" >&2; vm_die "downloading the build requirements ($build_requires) failed"; }
cat > "$root/etc/pip.conf" <<CONF
# minicontainer's VM check (scripts/vm/build-cloud-init.sh): this VM has no network, so pip installs
# only from the wheelhouse below (the versions of the base's virtualenv), as a cloud VM would from PyPI.
[global]
no-index = true
find-links = $wheels
CONF

# --- 4. What it was built from; the kernel to boot it with; unmount, then the variant is ready. ---------
{ sed 's/^/base: /' "$base/info"
  echo "cloud-init=$(chroot "$root" dpkg-query -W -f='${Version}' cloud-init) wheels=$(ls "$root$wheels" | wc -l) python=$pyver glibc=$glibc built=$(date -u +%FT%TZ)"
} > "$work/info"
cp "$root"/boot/vmlinuz-* "$work/vmlinuz"
cp "$root"/boot/initrd.img-* "$work/initrd.img"
umount -R "$root"
rmdir "$root"
rm -f "$work/pip.out" "$work/resolv.conf.guest"
rm -rf "$out"
mv "$work" "$out"
vm_say "cloud-init variant built in $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s: $out"
