#!/bin/bash
# Runs INSIDE the VM, as root, started at boot by mc-vm-job.service from the job disk (/dev/vdb, mounted
# on /mnt/mc-vm-job). It records what the learner's host looks like, syncs the project the host sent over
# /root/minicontainer (keeping the base's .venv), runs the tests (`make test`) or one command, writes
# everything to results/ on the job disk (the host reads it with debugfs) and powers off.
# Settings come from job.env, written by scripts/test-vm.sh: MODE (test|run), PREPARE, STAY,
# MC_TESTS and PYTEST_ADDOPTS (test), and cmd.sh holds the command (run).
set -u
J=/mnt/mc-vm-job
R=$J/results
P=/root/minicontainer
mkdir -p "$R"
. "$J/job.env"

# Everything printed from here on also goes to the third serial port: progress.log on the host.
stty -F /dev/ttyS2 raw 115200 2>/dev/null
exec > >(tee -a "$R/job.log" > /dev/ttyS2) 2>&1
echo "mc-vm: job $MODE started $(awk '{print $1}' /proc/uptime) s after boot"

# What a learner's VM looks like, before anything of the course runs.
facts() {
  echo "uptime_s: $(awk '{print $1}' /proc/uptime)"
  echo "uname: $(uname -a)"
  echo "cgroup_fs: $(stat -fc %T /sys/fs/cgroup)"
  echo "cgroup_controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null)"
  echo "self_cgroup: $(cat /proc/self/cgroup | tr '\n' ' ')"
  echo "run_mount: $(findmnt -no SOURCE,FSTYPE,OPTIONS /run)"
  echo "overlay_in_proc_filesystems: $(grep -qw overlay /proc/filesystems && echo yes || echo no)"
  echo "overlay_module: $(grep -q '^overlay ' /proc/modules && echo loaded || echo 'not loaded')"
  echo "docker_registry_enabled: $(systemctl is-enabled docker-registry 2>&1)"
  echo "docker_registry_active: $(systemctl is-active docker-registry 2>&1)"
  echo "listening_5000: $(ss -Hltn 'sport = :5000' | awk '{print $4}' | tr '\n' ' ')"
  echo "python: $(python3 --version 2>&1)"
  echo "cpus: $(nproc) mem_mb: $(free -m | awk '/^Mem:/ {print $2}')"
  echo "cmdline: $(cat /proc/cmdline)"
}
facts > "$R/facts-at-boot.txt"
cat "$R/facts-at-boot.txt"

# The project as the host sent it, over the clone the base was built with; .venv stays. As after a
# `git pull`, an unchanged pyproject.toml keeps its date: else make would reinstall the venv (no network here).
for f in pyproject.toml constraints.txt; do cp -p "$P/$f" "/tmp/mc-vm-base-$f" 2>/dev/null || true; done
find "$P" -mindepth 1 -maxdepth 1 ! -name .venv -exec rm -rf {} +
cp -a "$J/project/." "$P/"
for f in pyproject.toml constraints.txt; do
  if cmp -s "$P/$f" "/tmp/mc-vm-base-$f"; then
    touch -r "/tmp/mc-vm-base-$f" "$P/$f"
  else
    echo "mc-vm: $f differs from the base's: make will reinstall the venv, and the VM has no network"
  fi
done
cd "$P"
status=0
start=$SECONDS
if [ "$MODE" = run ]; then
  # What the learner would have done first (`make test`/`make lab` do it): packages, venv, default image.
  if [ "${PREPARE:-1}" = 1 ]; then
    make image > "$R/make-image.log" 2>&1 || echo "mc-vm: make image failed (results/make-image.log)"
  fi
  echo "mc-vm: running cmd.sh in $P"
  bash "$J/cmd.sh" > >(tee "$R/output.txt") 2>&1 || status=$?
  sleep 0.2  # let tee finish
else
  export MC_TESTS PYTEST_ADDOPTS="${PYTEST_ADDOPTS:-} --junitxml=$R/junit.xml"
  echo "mc-vm: make test  (MC_TESTS='${MC_TESTS:-}' PYTEST_ADDOPTS='$PYTEST_ADDOPTS')"
  make test 2>&1 | tee "$R/pytest.log"
  status=${PIPESTATUS[0]}
fi
echo "$status" > "$R/exit-code"
echo "$(( SECONDS - start ))" > "$R/seconds"
echo "mc-vm: job finished with status $status in $(( SECONDS - start )) s"

# After the course's set-up ran: is the distribution's registry still there?
facts > "$R/facts-after.txt"
uname -a > "$R/uname.txt"
dmesg > "$R/dmesg.txt" 2>&1
journalctl -b -p warning --no-pager > "$R/journal-warnings.txt" 2>&1
findmnt > "$R/findmnt-after.txt" 2>&1

sync
cd /
if [ "${STAY:-0}" = 1 ]; then
  echo "mc-vm: VM_STAY=1: staying up; use make vm-shell, then poweroff"
else
  umount "$J" 2>/dev/null
  systemctl poweroff --no-block
fi
