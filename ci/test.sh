#!/usr/bin/env bash
# The project's test command (`npm test`): sets the machine up, then runs every suite and ends
# with one line `N passed, N failed` counted over all of them. Exits non-zero on any failure.
# FLIPSIDE_QEMU_TESTS=1 adds the tests that build device images and boot them under QEMU.
set -uo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
mkdir -p reports
passed=0 failed=0

# count_tap FILE RC: adds a TAP log's counts; a runner that crashed before counting is a failure.
count_tap() {
  local p f
  p=$(awk '/^# pass /{print $3}' "$1" | tail -n1)
  f=$(awk '/^# fail /{print $3}' "$1" | tail -n1)
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
  if [ "$2" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then failed=$((failed + 1)); fi
}

echo "== typecheck (tsc --noEmit, strict)"
if npx tsc -p tsconfig.json --noEmit; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

echo "== unit and integration tests (ava)"
npx ava --tap "$@" 2>&1 | tee reports/unit.tap
count_tap reports/unit.tap "${PIPESTATUS[0]}"

echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
