#!/usr/bin/env bash
# Run the course on a learner's VM: Debian 12 (kernel 6.1, systemd as PID 1, cgroup v2 only, /run
# mounted noexec), emulated with qemu. This host is different (newer kernel, cgroup v1 hybrid), so
# bugs that only a learner would meet show up here. Not part of `make test`.
#
#   scripts/test-vm.sh test          `make test-vm`: the host-dependent tests + every notebook
#                                    (ALL=1: everything; TESTS='tests/test_x.py -k y': a subset)
#   scripts/test-vm.sh run 'CMD'     `make vm-run CMD=...`: one shell command in /root/minicontainer
#   scripts/test-vm.sh build         build (or find) the cached base image only
#   scripts/test-vm.sh shell         `make vm-shell`: a root shell on the running VM's second console
#
# How: a Debian root is debootstrapped once and cached as a raw ext4 disk with the course installed
# (scripts/vm/build-base.sh; MC_VM_CACHE, default /var/cache/minicontainer-vm). Each run boots it
# through a throw-away qcow2 overlay (the base stays pristine), with a second small disk carrying the
# current project and the job; a systemd unit in the guest runs scripts/vm/guest-job.sh from it, which
# writes the results back on that disk. The host reads them with debugfs (no mount) into vm-results/.
#
# Settings (environment): VM_DIRTY=1 also sends uncommitted changes; VM_TIMEOUT=minutes;
# VM_STAY=1 keeps the VM up after the job (for vm-shell; power it off from there);
# VM_KEEP=1 keeps the run's scratch directory; MC_VM_ACCEL=tcg|kvm skips the KVM probe;
# MC_VM_RESULTS=dir (default: vm-results/ in the checkout); MC_VM_MEM, MC_VM_SMP, MC_VM_SUITE, MC_VM_MIRROR;
# VM_QUEUE_MIN=minutes to wait while another VM of this harness runs (default 120).
# The whole script is one { ... } block: bash reads it all before running, so editing this file while
# a long run is going does not change what that run does.
{
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
. "$here/vm/lib.sh"

mode=${1:-test}
[ $# -gt 0 ] && shift
case "$mode" in
  shell) exec python3 "$here/vm/shell" "$@" ;;
  test|run|build) ;;
  *) vm_die "usage: $0 test|run CMD|build|shell" ;;
esac
[ "$(id -u)" = 0 ] || vm_die "this needs root (debootstrap, chroot, qemu): sudo make test-vm"
[ "$mode" != run ] || [ -n "${1:-}" ] || vm_die "vm-run: say what to run: make vm-run CMD='uname -r'"

vm_need_tools
mkdir -p "$MC_VM_CACHE/runs"
vm_need_space "$MC_VM_CACHE" 4

# --- The run's scratch directory; whatever happens, qemu is stopped and the scratch removed. -------------
vm_new_run "$mode" job/results

# --- The project as a learner would clone it (VM_DIRTY=1: plus the working tree's changes). ------------
vm_snapshot_project "$repo" "$run/job/project"

# --- The base image, built once per cache key (suite, pyproject.toml, host-deps.sh, the build scripts). --
key=$(vm_base_key "$run/job/project")
base="$MC_VM_CACHE/base-$MC_VM_SUITE-$key"
if [ ! -f "$base/root.img" ]; then
  vm_need_space "$MC_VM_CACHE" 12
  exec 9> "$MC_VM_CACHE/.build.lock"
  flock 9                                       # one build at a time; another run may have just made it
  [ -f "$base/root.img" ] || bash "$here/vm/build-base.sh" "$run/job/project" "$base"
  # Keep the two newest bases (switching branches back and forth stays cheap), drop older ones.
  ls -1dt "$MC_VM_CACHE"/base-*/ 2>/dev/null | grep -v '\.building/$' | tail -n +3 | xargs -r rm -rf
  exec 9>&-
fi
[ "$mode" = build ] && { vm_say "base image: $base/root.img ($(cat "$base/info" | tr '\n' ' '))"; exit 0; }

# --- The job: what the guest runs (guest-job.sh reads job.env and cmd.sh). ---------------------------------
cp "$here/vm/guest-job.sh" "$run/job/"
{
  echo "MODE=$mode"
  echo "STAY=${VM_STAY:-0}"
  echo "PREPARE=${VM_PREPARE:-1}"
} > "$run/job/job.env"
if [ "$mode" = run ]; then
  printf '%s\n' "$*" > "$run/job/cmd.sh"
  timeout_min=${VM_TIMEOUT:-30}
else
  # Which tests: TESTS='paths/node ids and pytest options'; ALL=1 everything; by default the part of the
  # suite that depends on the host (kernel, cgroups, mounts, namespaces, network) and every notebook.
  python3 - "$run/job/project" "${MC_VM_TESTS:-${TESTS:-}}" "${ALL:-0}" >> "$run/job/job.env" <<'PY'
import glob, os, shlex, sys
project, tests, everything = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
default = ["test_cgroups*", "test_container*", "test_namespaces*", "test_unionfs*", "test_chroot*",
           "test_syscalls*", "test_run_dir_flags*", "test_network*", "test_image_run*", "test_doctor*", "test_cli*",
           "test_security*", "test_spawn*", "test_oci*", "test_lifecycle*", "test_lab*", "test_default_network*",
           "test_primer*", "test_monitor*", "test_mount_points*", "test_exercises*"]
paths, options = [], []
if tests:
    for word in shlex.split(tests):
        (paths if os.path.exists(os.path.join(project, word.split("::")[0])) else options).append(word)
elif not everything:
    for pattern in default:
        paths += sorted(os.path.relpath(p, project) for p in glob.glob(os.path.join(project, "tests", pattern + ".py")))
    paths.append("notebooks")
print("MC_TESTS=" + shlex.quote(" ".join(paths)))          # empty: scripts/run-tests.sh runs everything
print("PYTEST_ADDOPTS=" + shlex.quote(" ".join(shlex.quote(o) for o in options)))
PY
  timeout_min=${VM_TIMEOUT:-$([ "${ALL:-0}" = 1 ] && echo 180 || echo 75)}
fi
# The job disk: ext4 with the project, the job and room for the results (sparse).
size_mb=$(( $(du -sm "$run/job" | cut -f1) + 1024 ))
truncate -s "${size_mb}M" "$run/job.img"
mkfs.ext4 -q -F -L mc-vm-job -d "$run/job" "$run/job.img"

# --- One emulated VM at a time (another would make both crawl); then KVM or TCG (lib.sh). ----------------
vm_wait_for_other_vms "${VM_QUEUE_MIN:-120}"
vm_choose_accel "$run" "$base"

# --- Boot: the base behind a throw-away overlay, the job disk, three serial ports. ------------------------
results_root=${MC_VM_RESULTS:-$repo/vm-results}
out="$results_root/$id"
vm_boot "$base" "$run" "$id"
vm_say "VM booting ($vm_accel, timeout ${timeout_min} min). Watch: tail -f $run/progress.log  (boot: console.log)  shell: make vm-shell"

# --- Wait for the guest to power off, or give up at the timeout. ------------------------------------------
vm_wait_for_power_off "$timeout_min"

# --- Results: read the job disk without mounting it. -------------------------------------------------------
vm_collect_results "$run" "$id" "$results_root"
boot_s=$(awk -F': ' '/^uptime_s/ {print int($2); exit}' "$out/facts-at-boot.txt" 2>/dev/null || true)
timing="VM up $((vm_seconds / 60)) min $((vm_seconds % 60)) s, boot ${boot_s:-?} s ($vm_accel)"

if [ ! -f "$out/exit-code" ]; then
  grep -v '^$' "$run/qemu.log" | tail -n 5 >&2 || true
  echo "test-vm: FAILED: the VM never reported ($timing); console log: $out/console.log"
  exit 3
fi
status=$(cat "$out/exit-code")
if [ "$mode" = run ]; then
  echo "---- output of the command in the VM ($out/output.txt):"
  cat "$out/output.txt"
  echo "---- vm-run: exit status $status; $timing; results in $out"
  exit "$status"
fi
python3 "$here/vm/summarize.py" "$out" | tee "$out/summary.txt"
line=$(grep -E '^=+ .*(passed|failed|error).* in ' "$out/pytest.log" | tail -n 1 | tr -d '=' | sed 's/^ *//;s/ *$//')
echo "test-vm: $([ "$status" = 0 ] && echo PASSED || echo FAILED): ${line:-make test exited $status}; $timing; results in $out"
exit $([ "$status" = 0 ] && echo 0 || echo 1)
}
