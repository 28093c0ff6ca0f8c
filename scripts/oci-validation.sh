#!/usr/bin/env bash
# `make oci-validation`: the OCI runtime-tools validation suite against minicontainer-oci (lesson 10), and
# against runc with RUNTIME=runc. Not part of `make test`: the suite's Go sources are not on PyPI or in
# Debian, so they come from a checkout of github.com/opencontainers/runtime-tools that you give:
#
#   git clone https://github.com/opencontainers/runtime-tools /somewhere/runtime-tools
#   sudo make oci-validation RUNTIME_TOOLS=/somewhere/runtime-tools [RUNTIME=runc] [TESTS='hooks state']
#
# Debian 12's Go is 1.19: runtime-tools after 260e151 (2025-03) needs Go 1.21, so this builds the tree as it
# was at that commit when the checkout has it (git worktree in a temporary directory), else the tree as given.
# runtimetest (what runs inside the container) is built static: the suite's rootfs has no libc.
# Each test runs under scripts/subreaper.py (a subreaper, as conmon is): the PID 1s `create` leaves are reaped.
# A test counts as passed when it exits 0 and prints no "not ok" line. Results: $OUT/summary.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
src=${RUNTIME_TOOLS:?give RUNTIME_TOOLS=/path/to/a/runtime-tools checkout (see the comment at the top of this script)}
runtime=${RUNTIME:-$top/.venv/bin/minicontainer-oci}
out=${OUT:-$top/.artefacts/oci-validation/$(basename "$runtime")}
command -v go >/dev/null || { echo "oci-validation: Go is needed to build the suite: apt-get install golang-go" >&2; exit 1; }
build=$(mktemp -d /tmp/mc-runtime-tools.XXXXXX)
trap 'rm -rf "$build"' EXIT
if git -C "$src" cat-file -e 260e151^{commit} 2>/dev/null; then
  git -C "$src" archive 260e151 | tar -x -C "$build"
else
  cp -a "$src"/. "$build"
fi
cd "$build"
export GOFLAGS=-mod=vendor GOCACHE=${GOCACHE:-/tmp/mc-runtime-tools-gocache}
echo "oci-validation: building the suite in $build"
CGO_ENABLED=0 go build -tags "netgo osusergo" -o runtimetest ./cmd/runtimetest
tests=${TESTS:-$(cd validation && ls -d */ | tr -d / | grep -v '^util$')}
for t in $tests; do go build -o "validation/$t/$t.t" "./validation/$t"; done
rm -rf "$out" && mkdir -p "$out"
passed=0; total=0
for t in $tests; do
  total=$((total + 1))
  set +e
  RUNTIME=$runtime timeout 180 python3 "$top/scripts/subreaper.py" "validation/$t/$t.t" > "$out/$t.tap" 2>&1
  code=$?
  set -e
  if [ $code = 0 ] && ! grep -q '^not ok' "$out/$t.tap"; then result=PASS; passed=$((passed + 1)); else result=FAIL; fi
  printf '%s %s (%s ok, %s not ok, exit %s)\n' "$result" "$t" "$(grep -c '^ok' "$out/$t.tap" || true)" \
    "$(grep -c '^not ok' "$out/$t.tap" || true)" "$code" | tee -a "$out/summary"
done
echo "oci-validation: $passed of $total tests passed with $runtime (details in $out)" | tee -a "$out/summary"
