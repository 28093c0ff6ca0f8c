# Shared by scripts/test-vm.sh and scripts/vm/*.sh: settings, messages, the host's tools and mirror.
# Sourced, not run. Everything the VM harness makes on the host is named "minicontainer" or "mc-vm".

MC_VM_CACHE=${MC_VM_CACHE:-/var/cache/minicontainer-vm}   # base images, kernels, per-run scratch
MC_VM_SUITE=${MC_VM_SUITE:-bookworm}                       # the learner's Debian release
MC_VM_MEM=${MC_VM_MEM:-6G}
MC_VM_SMP=${MC_VM_SMP:-2}
MC_VM_ROOT_SIZE=${MC_VM_ROOT_SIZE:-12G}                    # sparse: only what is written takes space

vm_say() { echo "test-vm: $*" >&2; }
vm_die() { echo "test-vm: $*" >&2; exit 2; }

# Refuse early, in one line, when a disk is too full for what comes next ($1: directory, $2: GiB needed).
vm_need_space() {
  local dir=$1 gib=$2 avail
  mkdir -p "$dir"
  avail=$(df -Pk "$dir" | awk 'NR==2 {print int($4 / 1048576)}')
  [ "$avail" -ge "$gib" ] || vm_die "only ${avail} GiB free under $dir, need ${gib} GiB: free some space or set MC_VM_CACHE to a larger disk"
}

# qemu, debootstrap and e2fsprogs (mkfs.ext4 -d, debugfs) come from Debian's archive; a caller that
# needs more names them as COMMAND:PACKAGE arguments (e.g. genisoimage:genisoimage).
vm_need_tools() {
  local missing=() pair
  command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
  command -v qemu-img >/dev/null || missing+=(qemu-utils)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v debugfs >/dev/null || missing+=(e2fsprogs)
  for pair in "$@"; do command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || vm_die "missing ${missing[*]}: install them with your package manager"
  [ "$(id -u)" = 0 ] || vm_die "missing ${missing[*]}: run as root (sudo make test-vm) or: sudo apt-get install ${missing[*]}"
  vm_say "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } \
    || vm_die "could not install ${missing[*]}: try: apt-get update && apt-get install ${missing[*]}"
}

# Another VM of this harness running (its qemu is named mc-vm-...)? With 2 cores, two emulated VMs
# would both crawl and time out: wait for it to end, up to $1 minutes (then give up with a reason).
vm_wait_for_other_vms() {
  local minutes=$1 deadline others said=0
  deadline=$(( SECONDS + minutes * 60 ))
  while others=$(pgrep -f '^qemu-system-x86_64 -name mc-vm-' | paste -sd' ') && [ -n "$others" ]; do
    [ $SECONDS -lt $deadline ] || vm_die "another VM still runs after $minutes min (qemu pid $others): try again later"
    [ $said = 1 ] || { vm_say "another VM runs (qemu pid $others): waiting for it to end (up to $minutes min)"; said=1; }
    sleep 30
  done
}

# KVM when it really works here, else TCG (nested KVM fails on these machines), probed once per host
# boot. $1: the run's scratch directory (for the probe's log), $2: the base directory (its kernel).
# Sets vm_accel (kvm or tcg) and vm_accel_args (qemu's options for it).
vm_choose_accel() {
  local run=$1 base=$2 probe
  local tcg=(-accel tcg,thread=multi -cpu max) kvm=(-enable-kvm -cpu host)
  vm_accel=${MC_VM_ACCEL:-}
  if [ -z "$vm_accel" ]; then
    probe="$MC_VM_CACHE/accel-$(cat /proc/sys/kernel/random/boot_id)"
    if [ -f "$probe" ]; then vm_accel=$(cat "$probe")
    else
      if vm_probe_kvm "$run/kvm-probe.log" "$base/vmlinuz" 2>/dev/null; then vm_accel=kvm; else vm_accel=tcg; fi
      rm -f "$MC_VM_CACHE"/accel-*; echo "$vm_accel" > "$probe"
    fi
  fi
  if [ "$vm_accel" = kvm ]; then vm_accel_args=("${kvm[@]}")
  else
    vm_accel_args=("${tcg[@]}")
    vm_say "KVM does not work here (nested virtualisation): emulating with TCG, about 8x slower than the host"
  fi
}

# Boot the kernel alone for a few seconds: a working KVM prints "Linux version" at once.
# $1: a log file, $2: the kernel.
vm_probe_kvm() {
  [ -w /dev/kvm ] || return 1
  local log=$1 kernel=$2 p i
  qemu-system-x86_64 -name mc-vm-kvm-probe -enable-kvm -cpu host -m 256 -nodefaults -display none -no-reboot \
    -kernel "$kernel" -append "console=ttyS0 panic=-1" -serial "file:$log" >/dev/null 2>&1 &
  p=$!
  for i in $(seq 20); do
    grep -q "Linux version" "$log" 2>/dev/null && { kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; return 0; }
    kill -0 "$p" 2>/dev/null || break
    sleep 0.5
  done
  kill "$p" 2>/dev/null; wait "$p" 2>/dev/null
  return 1
}

# The host's own apt sources, as "URI SUITE COMPONENTS" lines (one-line .list and deb822 .sources formats).
vm_host_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    # deb [options] URI SUITE COMPONENT...
    sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && NF >= 4 { c = $4; for (i = 5; i <= NF; i++) c = c " " $i; print $2, $3, c }'
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # Stanzas separated by blank lines; one line per (URI, suite) of each "Types: deb" stanza.
    awk 'function flush() { if (types ~ /(^| )deb( |$)/ && enabled != "no") {
                              n = split(uris, u, " "); m = split(suites, s, " ");
                              for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) print u[i], s[j], comps }
                            types = uris = suites = comps = ""; enabled = "" }
         /^[ \t]*#/ { next }
         /^[ \t]*$/ { flush(); next }
         { key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "");
           if (key == "types") types = $0; else if (key == "uris") uris = $0;
           else if (key == "suites") suites = $0; else if (key == "components") comps = $0;
           else if (key == "enabled") enabled = tolower($0) }
         END { flush() }' "$f"
  done
}

# The mirror for debootstrap: MC_VM_MIRROR, else the host's source that serves $MC_VM_SUITE itself.
vm_mirror() {
  if [ -n "${MC_VM_MIRROR:-}" ]; then echo "$MC_VM_MIRROR"; return; fi
  local m
  m=$(vm_host_sources | awk -v s="$MC_VM_SUITE" '$2 == s { print $1; exit }')
  [ -n "$m" ] || vm_die "no Debian $MC_VM_SUITE mirror in /etc/apt/sources.list{,.d}: set MC_VM_MIRROR=http://your-debian-mirror/debian"
  echo "$m"
}

# A clean copy of the project to put in the VM ($1: repo, $2: destination): a git clone of HEAD as a
# learner would have it; with VM_DIRTY=1 also the uncommitted changes and untracked (not ignored) files.
vm_snapshot_project() {
  local repo=$1 dest=$2 head
  head=$(git -C "$repo" rev-parse HEAD)
  rm -rf "$dest"
  git clone -q --no-checkout "$repo" "$dest"
  git -C "$dest" checkout -q --detach "$head"
  if [ "${VM_DIRTY:-0}" = 1 ]; then
    git -C "$repo" diff --binary HEAD | git -C "$dest" apply --allow-empty --whitespace=nowarn
    (cd "$repo" && git ls-files -z --others --exclude-standard | tar -c --null -T - -f -) | tar -x -C "$dest" -f -
  fi
}

# The cache key of the base image: the suite, the build recipe and what decides what gets installed.
vm_base_key() {
  local project=$1 here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  { echo "$MC_VM_SUITE"
    cat "$project/pyproject.toml" "$project/constraints.txt" "$project/scripts/host-deps.sh" "$project/scripts/venv.sh" \
        "$here/build-base.sh" "$here/chroot-install.sh"
  } | sha256sum | cut -c1-12
}

# Boot a VM in the background: the kernel, initrd and root.img of $1 (an image directory; / is a
# throw-away overlay of root.img), the run's job disk $2/job.img (the guest reports on it) and its logs in
# $2 too (console.log, progress.log, qemu.log; ttyS1.sock for `make vm-shell`, which finds it by $MC_VM_CACHE/current). $3: the run's id (the qemu process is named
# mc-vm-ID: vm_wait_for_other_vms finds it). More qemu options follow (another disk; a -nic of their own
# replaces the default, a user network with no way out). Sets qpid and boot_start.
vm_boot() {
  local image=$1 run=$2 id=$3 arg
  shift 3
  local nic=(-nic user,model=virtio-net-pci,restrict=on)
  for arg in "$@"; do [ "$arg" = -nic ] && nic=(); done
  qemu-img create -q -f qcow2 -F raw -b "$image/root.img" "$run/overlay.qcow2"
  ln -sfn "$run" "$MC_VM_CACHE/current"
  boot_start=$SECONDS
  qemu-system-x86_64 -name "mc-vm-$id" -machine q35 "${vm_accel_args[@]}" -smp "$MC_VM_SMP" -m "$MC_VM_MEM" \
    -nodefaults -display none -no-reboot \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 panic=-1 mc_vm_job=1" \
    -drive "file=$run/overlay.qcow2,if=virtio,format=qcow2,cache=unsafe,discard=unmap" \
    -drive "file=$run/job.img,if=virtio,format=raw" \
    "${nic[@]}" "$@" \
    -serial "file:$run/console.log" \
    -serial "unix:$run/ttyS1.sock,server=on,wait=off" \
    -serial "file:$run/progress.log" \
    > "$run/qemu.log" 2>&1 &
  qpid=$!
}

# Wait for the VM (qpid) to power off, or stop it after $1 minutes. Sets vm_seconds; clears qpid.
vm_wait_for_power_off() {
  local minutes=$1 deadline
  deadline=$(( SECONDS + minutes * 60 ))
  while kill -0 "$qpid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      vm_say "timeout after $minutes min: stopping the VM"
      kill "$qpid"; break
    fi
    sleep 2
  done
  wait "$qpid" 2>/dev/null || true
  qpid=""
  vm_seconds=$(( SECONDS - boot_start ))
}

# The results: the job disk's /results read without mounting it (debugfs), into $3/$4 with the logs of
# run $1 and any more files named after it; $3/latest points at them. $2 is the run's id.
vm_collect_results() {
  local run=$1 id=$2 root=$3 out
  shift 3
  out="$root/$id"
  mkdir -p "$out"
  debugfs -R "rdump /results $out" "$run/job.img" >/dev/null 2>&1 || true
  if [ -d "$out/results" ]; then mv "$out/results"/* "$out/" 2>/dev/null; rmdir "$out/results"; fi
  cp "$run/console.log" "$run/progress.log" "$run/qemu.log" "$@" "$out/" 2>/dev/null || true
  ln -sfn "$id" "$root/latest"
}

# The run's scratch directory, $MC_VM_CACHE/runs/ID (ID: $1-DATE-PID), with the subdirectories $2...;
# whatever happens, qemu is stopped and the scratch removed at exit (VM_KEEP=1 keeps it). Sets id, run, qpid.
vm_new_run() {
  local prefix=$1 dir
  shift
  id="$prefix-$(date +%Y%m%d-%H%M%S)-$$"
  run="$MC_VM_CACHE/runs/$id"
  for dir in "$@"; do mkdir -p "$run/$dir"; done
  qpid=""
  trap vm_cleanup EXIT
  trap 'exit 130' INT TERM
}

vm_cleanup() {
  if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then kill "$qpid" 2>/dev/null; sleep 1; kill -9 "$qpid" 2>/dev/null || true; fi
  [ "$(readlink "$MC_VM_CACHE/current" 2>/dev/null)" = "$run" ] && rm -f "$MC_VM_CACHE/current"
  [ "${VM_KEEP:-0}" = 1 ] || rm -rf "$run"
}
