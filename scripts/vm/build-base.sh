#!/usr/bin/env bash
# Build the cached base disk of the learner's VM, once per cache key (see vm_base_key in lib.sh):
#   debootstrap a Debian root, make it bootable as the VM (systemd, serial consoles, the job unit),
#   install the course in it the way a learner does (`make venv deps` in /root/minicontainer, through a
#   chroot: the guest needs no network), then pack it into a raw ext4 image with mkfs.ext4 -d.
# Usage: build-base.sh PROJECT_SNAPSHOT OUTDIR      (OUTDIR gets root.img, vmlinuz, initrd.img, info)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

project=$1 out=$2
work="$out.building"           # renamed to $out only when complete, so a half-built base is never used
root="$work/root"
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT     # the chroot's mounts live in a private mount namespace: nothing to unmount

mirror=$(vm_mirror)
start=$SECONDS
vm_say "building the base VM ($MC_VM_SUITE from $mirror) in $work: a few minutes, once"

# --- 1. A minimal Debian with a kernel, systemd and what `make` and the course need to start. -------------
include=linux-image-amd64,initramfs-tools,systemd-sysv,udev,dbus,make,git,ca-certificates,iproute2,procps,kmod,python3,e2fsprogs,util-linux,less
debootstrap --variant=minbase --include="$include" "$MC_VM_SUITE" "$root" "$mirror" > "$work/debootstrap.log" 2>&1 \
  || { tail -n 20 "$work/debootstrap.log" >&2; vm_die "debootstrap failed (log above)"; }

# --- 2. Make it a VM: apt sources, disk, console logins, no first-boot surprises, the job unit. ----------
# The host's sources for this suite and its -updates/-security, so apt inside works like the host's.
vm_host_sources | awk -v s="$MC_VM_SUITE" '$2 == s || index($2, s "-") == 1 { print "deb", $0 }' > "$root/etc/apt/sources.list"
echo "mc-vm" > "$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 mc-vm\n::1 localhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"
echo "/dev/vda / ext4 rw,errors=remount-ro 0 1" > "$root/etc/fstab"
echo "nameserver 10.0.2.3" > "$root/etc/resolv.conf"      # qemu user-mode network (restricted: no way out)
# A fixed machine-id: every boot starts from this pristine base, and an empty one would mean a
# "first boot" (systemctl preset-all) each time.
chroot "$root" systemd-machine-id-setup >/dev/null

# ttyS0 is the boot console (logged to a file on the host); ttyS1 is a unix socket on the host with an
# automatic root login (only there: root has no password anywhere else) for `make vm-shell`.
mkdir -p "$root/etc/systemd/system/serial-getty@ttyS1.service.d"
cat > "$root/etc/systemd/system/serial-getty@ttyS1.service.d/mc-vm-autologin.conf" <<'UNIT'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %I $TERM
UNIT
mkdir -p "$root/etc/systemd/system/getty.target.wants"
ln -sf /lib/systemd/system/serial-getty@.service "$root/etc/systemd/system/getty.target.wants/serial-getty@ttyS1.service"

# The NIC gets an address by DHCP, as on a learner's VM (a default route exists); qemu's side is restricted.
mkdir -p "$root/etc/systemd/network"
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n' > "$root/etc/systemd/network/50-mc-vm.network"
chroot "$root" systemctl enable -q systemd-networkd.service 2>/dev/null || true
# Timers that would run apt or scrub disks in the middle of a test run, slowly under emulation.
for t in apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer fstrim.timer systemd-networkd-wait-online.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$t"
done

# The job: when the kernel command line says mc_vm_job, mount the job disk (/dev/vdb, made per run by
# scripts/test-vm.sh) and run its guest-job.sh, which syncs the project, runs the tests or a command,
# writes the results on that disk and powers off. The logic lives on the job disk, not in this base.
cat > "$root/usr/local/sbin/mc-vm-job" <<'JOB'
#!/bin/sh
mkdir -p /mnt/mc-vm-job
mount /dev/vdb /mnt/mc-vm-job || { echo "mc-vm-job: no job disk on /dev/vdb"; exit 1; }
exec /bin/bash /mnt/mc-vm-job/guest-job.sh
JOB
chmod 755 "$root/usr/local/sbin/mc-vm-job"
cat > "$root/etc/systemd/system/mc-vm-job.service" <<'UNIT'
[Unit]
Description=minicontainer VM job (make test-vm / make vm-run)
ConditionKernelCommandLine=mc_vm_job
After=multi-user.target dev-vdb.device
Wants=dev-vdb.device

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/mc-vm-job
TimeoutStartSec=infinity
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
UNIT
chroot "$root" systemctl enable -q mc-vm-job.service

# --- 3. The course, installed as a learner does: clone, then what `make test` installs first. -------------
cp -a "$project" "$root/root/minicontainer"
unshare --mount --pid --fork --propagation private bash "$here/chroot-install.sh" "$root" > "$work/install.log" 2>&1 \
  || { tail -n 30 "$work/install.log" >&2; vm_die "installing the course in the chroot failed (log: above)"; }

# What the base was built from, for the record (the guest checks pyproject.toml against it).
{ echo "suite=$MC_VM_SUITE mirror=$mirror built=$(date -u +%FT%TZ)"
  echo "project=$(git -C "$project" rev-parse HEAD)"
  echo "kernel=$(basename "$root"/boot/vmlinuz-*)"
} > "$work/info"

# --- 4. The disk image and the kernel to boot it with. ------------------------------------------------------
cp "$root"/boot/vmlinuz-* "$work/vmlinuz"
cp "$root"/boot/initrd.img-* "$work/initrd.img"
truncate -s "$MC_VM_ROOT_SIZE" "$work/root.img"
mkfs.ext4 -q -F -L mc-vm-root -d "$root" "$work/root.img"
rm -rf "$root" "$out"
mv "$work" "$out"
vm_say "base VM built in $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s: $out"
