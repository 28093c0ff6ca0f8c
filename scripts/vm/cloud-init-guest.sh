#!/bin/bash
# Runs INSIDE the VM of `make test-vm-cloud-init` (scripts/vm/cloud-init-check.sh), as root, started at
# boot by the base's mc-vm-job unit from the job disk (/dev/vdb, mounted on /mnt/mc-vm-job). cloud-init
# runs the classroom recipe (docs/classroom-cloud-init.yaml, from the NoCloud seed) on its own; this
# waits for it to finish, checks what an instructor checks (docs/classroom.md), writes one PASS or FAIL
# line per check to results/checks.txt on the job disk (the host reads it with debugfs) with the logs,
# and powers off. Settings from job.env: EXPECT_HEAD, REPOSITORY, WAIT_MIN, STAY.
set -u
J=/mnt/mc-vm-job
R=$J/results
mkdir -p "$R"
. "$J/job.env"

# Everything printed from here on also goes to the third serial port: progress.log on the host.
stty -F /dev/ttyS2 raw 115200 2>/dev/null
exec > >(tee -a "$R/job.log" > /dev/ttyS2) 2>&1
echo "mc-vm: cloud-init check started $(awk '{print $1}' /proc/uptime) s after boot"

failed=0
pass() { echo "PASS: $*" >> "$R/checks.txt"; echo "mc-vm: PASS: $*"; }
fail() { echo "FAIL: $*" >> "$R/checks.txt"; echo "mc-vm: FAIL: $*"; failed=1; }
lab=/opt/minicontainer

# --- 1. Wait for cloud-init to finish all its stages (the recipe's runcmd: clone, make image, service). --
# Finished means result.json written (at the end of the final stage): `cloud-init status` (22.4) already
# says "error" while later stages still run, as soon as one module failed. Every 15 s, the newest line of
# the recipe's output, so the host's progress.log shows where it is.
start=$SECONDS
deadline=$(( SECONDS + WAIT_MIN * 60 ))
last=""
while :; do
  state=$(cloud-init status 2>/dev/null | awk '/^status:/ {print $2}')
  if [ -f /run/cloud-init/result.json ] || [ "$state" = disabled ]; then break; fi
  if [ $SECONDS -ge $deadline ]; then state="still ${state:-not started} after $WAIT_MIN min"; break; fi
  line=$(tail -n 1 /var/log/cloud-init-output.log 2>/dev/null | tr -d '\r' | cut -c1-160)
  if [ "$line" != "$last" ]; then echo "mc-vm: cloud-init ${state:-starting} ($(( SECONDS - start )) s): $line"; last=$line; fi
  sleep 15
done
echo "mc-vm: cloud-init: $state after $(awk '{print int($1)}' /proc/uptime) s of uptime"
cloud-init status --long > "$R/cloud-init-status.txt" 2>&1
cp /run/cloud-init/result.json /run/cloud-init/status.json "$R/" 2>/dev/null
cp /var/log/cloud-init.log /var/log/cloud-init-output.log "$R/" 2>/dev/null

# What cloud-init reports: its datasource and its errors. Without network, package_update's
# `apt-get update` may fail (the packages it lists are installed already); any other error is a failure.
report=$(python3 - <<'PY'
import json
try:
    v1 = json.load(open("/run/cloud-init/result.json"))["v1"]
except (OSError, ValueError, KeyError) as exc:
    print(f"datasource=none\nerrors=no result.json ({exc})")
    raise SystemExit
offline = [e for e in v1.get("errors", []) if "package-update-upgrade-install" in e or "package_update" in e]
other = [e for e in v1.get("errors", []) if e not in offline]
print("datasource=" + str(v1.get("datasource")))
print("offline=" + str(len(offline)))
print("errors=" + (" | ".join(other).replace("\n", " ") if other else "none"))
PY
)
datasource=$(sed -n 's/^datasource=//p' <<< "$report")
offline=$(sed -n 's/^offline=//p' <<< "$report")
errors=$(sed -n 's/^errors=//p' <<< "$report")
case "$datasource" in
  *NoCloud*) pass "cloud-init read the NoCloud seed ($datasource)" ;;
  *) fail "cloud-init did not use the NoCloud seed (datasource: ${datasource:-none}; status: $state)" ;;
esac
case "$state" in
  done|error)
    finished="cloud-init finished at $(awk '{print int($1)}' /proc/uptime) s of uptime (status: $state"
    if [ "$errors" = none ] && [ "${offline:-0}" = 0 ]; then
      pass "$finished)"
    elif [ "$errors" = none ]; then
      pass "$finished: only package_update failed, as without network; every other module ran)"
    else
      fail "cloud-init finished with errors: $errors"
    fi ;;
  *) fail "cloud-init did not finish: $state" ;;
esac

# --- 2. The recipe's steps: the clone, `make image`, the service. ---------------------------------------
have=$(git -C "$lab" rev-parse HEAD 2>/dev/null)
if [ "$have" = "$EXPECT_HEAD" ]; then
  pass "the course was cloned from $REPOSITORY into $lab at $(cut -c1-12 <<< "$have")"
else
  fail "$lab is not a clone of $REPOSITORY at $EXPECT_HEAD (HEAD: ${have:-none})"
fi
if [ -x "$lab/.venv/bin/python" ] && [ -n "$(ls "$lab"/.venv/.installed-* 2>/dev/null)" ]; then
  pass "make image built the virtualenv in $lab/.venv"
else
  fail "make image did not build $lab/.venv (see cloud-init-output.log)"
fi
if systemctl is-active --quiet minicontainer-lab.service; then
  pass "the service minicontainer-lab is active"
else
  fail "the service minicontainer-lab is $(systemctl is-active minicontainer-lab.service 2>&1)"
fi

# --- 3. The lab answers: docs/classroom.md's check for a VM, run from the clone as an instructor does. --
if [ -f "$lab/scripts/classroom-check.sh" ]; then
  bash "$lab/scripts/classroom-check.sh" > "$R/classroom-check.txt" 2>&1
  status=$?
  while IFS= read -r line; do
    case "$line" in
      "classroom-check: ok: "*) line=${line#classroom-check: ok: }; pass "classroom-check: ${line/token=*/token=...}" ;;
      "classroom-check: FAIL: "*) fail "classroom-check: ${line#classroom-check: FAIL: }" ;;
    esac
  done < "$R/classroom-check.txt"
  [ $status = 0 ] || grep -q '^classroom-check: FAIL' "$R/classroom-check.txt" \
    || fail "classroom-check.sh exited $status (results/classroom-check.txt)"
else
  fail "no $lab/scripts/classroom-check.sh to run"
fi

# --- 4. Logs for the host, then power off. ---------------------------------------------------------------
journalctl -b -u minicontainer-lab.service --no-pager > "$R/minicontainer-lab.journal.txt" 2>&1
journalctl -b -p warning --no-pager > "$R/journal-warnings.txt" 2>&1
systemd-analyze blame --no-pager 2>/dev/null | head -n 20 > "$R/systemd-blame.txt"
echo "uptime_s: $(awk '{print $1}' /proc/uptime)" > "$R/facts.txt"
echo "$failed" > "$R/exit-code"
echo "mc-vm: cloud-init check finished: $([ $failed = 0 ] && echo PASSED || echo FAILED)"
sync
cd /
if [ "${STAY:-0}" = 1 ]; then
  echo "mc-vm: VM_STAY=1: staying up; use make vm-shell, then poweroff"
else
  umount "$J" 2>/dev/null
  systemctl poweroff --no-block
fi
