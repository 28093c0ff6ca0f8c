#!/usr/bin/env bash
# `make test-vm-cloud-init`: the classroom recipe (docs/classroom-cloud-init.yaml) on the learner's VM of
# `make test-vm`, booted as a cloud VM. Not part of `make test`; root; about 13 min under TCG.
#
# How: the VM is the test-vm base (Debian 12) plus Debian's cloud-init and a local wheelhouse for pip
# (scripts/vm/build-cloud-init.sh, built once per base, cached beside it; the base is not modified),
# booted through a throw-away qcow2 overlay with
#   - a NoCloud seed: an ISO labelled cidata whose user-data is the recipe exactly as instructors get it,
#     but for its REPOSITORY line, which points at git://10.0.2.100/minicontainer.git;
#   - that repository: the project's HEAD (VM_DIRTY=1: plus uncommitted changes, as one more commit) in a
#     bare repository on the host, served by `git daemon --inetd` through qemu's guestfwd: the only
#     address the VM can reach (restrict=on: no other network, so the recipe's package_update fails);
#   - the job disk of test-vm (/dev/vdb) carrying scripts/vm/cloud-init-guest.sh, which the base's
#     mc-vm-job unit runs at boot: it waits for cloud-init, checks the clone, the service and the lab
#     (scripts/classroom-check.sh), and writes PASS/FAIL lines back on that disk.
# The host reads the results with debugfs, adds its own check (the console's "minicontainer: lab ready:"
# line), prints a summary, and exits 0 (all passed), 1 (a check failed) or 3 (the VM never reported).
#
# Settings (environment): VM_TIMEOUT=minutes (default 50); VM_DIRTY=1; VM_KEEP=1 (keep the scratch
# directory); VM_STAY=1 (keep the VM up after the checks, for `make vm-shell`); MC_VM_RESULTS=dir
# (default: vm-results/ in the checkout); VM_QUEUE_MIN, MC_VM_CACHE, MC_VM_MEM, MC_VM_SMP, MC_VM_ACCEL as
# for test-vm.
# One { ... } block: bash reads it all before running, so editing the file during a run changes nothing.
{
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$here/lib.sh"

[ "$(id -u)" = 0 ] || vm_die "this needs root (loop mounts, chroot, qemu): sudo make test-vm-cloud-init"
vm_need_tools genisoimage:genisoimage
mkdir -p "$MC_VM_CACHE/runs"
vm_need_space "$MC_VM_CACHE" 4
timeout_min=${VM_TIMEOUT:-50}
git_addr=10.0.2.100                             # where the VM finds the repository (qemu's guestfwd)
url="git://$git_addr/minicontainer.git"

# --- The run's scratch directory; whatever happens, qemu is stopped and the scratch removed. -------------
vm_new_run cloud-init job/results seed git

# --- 1. The repository the recipe clones: an instructor's fork, here the project's HEAD as branch main. ---
vm_snapshot_project "$repo" "$run/project"
if [ "${VM_DIRTY:-0}" = 1 ] && [ -n "$(git -C "$run/project" status --porcelain)" ]; then
  git -C "$run/project" add -A
  git -C "$run/project" -c user.name=test-vm -c user.email=test-vm@localhost commit -q -m "VM_DIRTY: uncommitted changes"
fi
head=$(git -C "$run/project" rev-parse HEAD)
git init -q --bare "$run/git/minicontainer.git"
git -C "$run/project" push -q "$run/git/minicontainer.git" HEAD:refs/heads/main
git -C "$run/git/minicontainer.git" symbolic-ref HEAD refs/heads/main

# --- 2. The test-vm base (built by test-vm.sh if missing) and its cloud-init variant (built once). -------
key=$(vm_base_key "$run/project")
base="$MC_VM_CACHE/base-$MC_VM_SUITE-$key"
[ -f "$base/root.img" ] || bash "$repo/scripts/test-vm.sh" build
[ -f "$base/root.img" ] || vm_die "no base image $base after building it"
variant="$MC_VM_CACHE/cloud-init-$key-$(sha256sum "$here/build-cloud-init.sh" | cut -c1-8)"
if [ ! -f "$variant/root.img" ]; then
  vm_need_space "$MC_VM_CACHE" 6
  python3 -m pip --version >/dev/null 2>&1 \
    || vm_die "building the cloud-init variant needs pip on this host (it downloads the course's wheels for the VM): apt-get install python3-pip"
  exec 9> "$MC_VM_CACHE/.build.lock"
  flock 9                                       # one build at a time (test-vm.sh's lock)
  [ -f "$variant/root.img" ] || bash "$here/build-cloud-init.sh" "$base" "$variant"
  # Keep the two newest variants (like test-vm's bases); never touch the bases themselves.
  ls -1dt "$MC_VM_CACHE"/cloud-init-*/ 2>/dev/null | grep -v '\.building/$' | tail -n +3 | xargs -r rm -rf
  exec 9>&-
fi

# --- 3. The NoCloud seed: the recipe itself, with only its REPOSITORY line pointing at $url. -------------
recipe="$run/project/docs/classroom-cloud-init.yaml"
sed -E "/git clone/ s|\"[^\"]*\"[]]\$|\"$url\"]|" "$recipe" > "$run/seed/user-data"
changed=$(diff "$recipe" "$run/seed/user-data" | grep -c '^>' || true)
[ "$changed" = 1 ] && grep -qF "\"$url\"]" "$run/seed/user-data" \
  || vm_die "cannot find the recipe's REPOSITORY line (a runcmd with git clone ... \"URL\"]) in docs/classroom-cloud-init.yaml"
printf 'instance-id: mc-vm-%s\nlocal-hostname: mc-classroom\n' "$id" > "$run/seed/meta-data"
genisoimage -quiet -output "$run/seed.iso" -volid cidata -joliet -rock "$run/seed/user-data" "$run/seed/meta-data"

# --- 4. The job disk: the guest's part (run at boot by the base's mc-vm-job unit) and room for results. --
cp "$here/cloud-init-guest.sh" "$run/job/guest-job.sh"
{
  echo "EXPECT_HEAD=$head"
  echo "REPOSITORY=$url"
  echo "WAIT_MIN=$(( timeout_min > 15 ? timeout_min - 8 : timeout_min / 2 ))"   # time left for the checks
  echo "STAY=${VM_STAY:-0}"
} > "$run/job/job.env"
truncate -s 256M "$run/job.img"
mkfs.ext4 -q -F -L mc-vm-job -d "$run/job" "$run/job.img"

# --- 5. One emulated VM at a time (2 cores); then KVM or TCG. ---------------------------------------------
vm_wait_for_other_vms "${VM_QUEUE_MIN:-120}"
vm_choose_accel "$run" "$variant"

# --- 6. Boot: the variant behind a throw-away overlay, the job disk (vdb), the seed (vdc), the repository
# at $git_addr:9418 (a git daemon per connection, through qemu's user network; nothing else reachable). --
results_root=${MC_VM_RESULTS:-$repo/vm-results}
out="$results_root/$id"
vm_boot "$variant" "$run" "$id" \
  -drive "file=$run/seed.iso,if=virtio,format=raw,readonly=on" \
  -nic "user,model=virtio-net-pci,restrict=on,guestfwd=tcp:$git_addr:9418-cmd:git daemon --inetd --export-all --informative-errors --log-destination=stderr --base-path=$run/git"
vm_say "cloud VM booting ($vm_accel, timeout $timeout_min min). Watch: tail -f $run/progress.log  (boot and cloud-init: console.log)  shell: make vm-shell"

# --- 7. Wait for the guest to power off, or give up at the timeout. ---------------------------------------
vm_wait_for_power_off "$timeout_min"

# --- 8. Results: the job disk read without mounting it, plus the console's "lab ready" line. --------------
vm_collect_results "$run" "$id" "$results_root" "$run/seed/user-data"
timing="VM up $((vm_seconds / 60)) min $((vm_seconds % 60)) s ($vm_accel)"
if [ ! -f "$out/exit-code" ]; then
  grep -v '^$' "$run/qemu.log" | tail -n 5 >&2 || true
  tail -n 5 "$run/progress.log" >&2 || true
  echo "test-vm-cloud-init: FAILED: the VM never reported ($timing); console log: $out/console.log"
  exit 3
fi
ready=$(tr -d '\r' < "$out/console.log" | grep -a -o 'minicontainer: lab ready: .*' | tail -n 1 || true)
if [[ "$ready" == *"http://127.0.0.1:8888/lab"*"token="* ]]; then
  echo "PASS: the console says: ${ready%%token=*}token=..." >> "$out/checks.txt"
else
  echo "FAIL: no 'minicontainer: lab ready: http://127.0.0.1:8888/lab...?token=...' line on the console (${ready:-none})" >> "$out/checks.txt"
fi
echo "---- test-vm-cloud-init: docs/classroom-cloud-init.yaml on the learner's VM (REPOSITORY=$url)"
cat "$out/checks.txt"
passed=$(grep -c '^PASS' "$out/checks.txt" || true)
failed=$(grep -c '^FAIL' "$out/checks.txt" || true)
if [ "$failed" = 0 ] && [ "$(cat "$out/exit-code")" = 0 ]; then
  echo "test-vm-cloud-init: PASSED: $passed checks; $timing; results in $out"
  exit 0
fi
echo "test-vm-cloud-init: FAILED: $failed of $((passed + failed)) checks; $timing; results in $out (cloud-init-output.log, console.log)"
exit 1
}
