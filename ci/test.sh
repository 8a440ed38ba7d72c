#!/usr/bin/env bash
# The project's test command (`npm test`): every suite, then one closing line
# `N passed, N failed` counted over all of them. Exit non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p reports
passed=0 failed=0 status=0

# count_tap FILE: adds a TAP log's pass/fail counts to the totals.
count_tap() {
  local p f
  p=$(awk '/^# pass /{print $3}' "$1" | tail -n1)
  f=$(awk '/^# fail /{print $3}' "$1" | tail -n1)
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
}

echo "== unit and integration tests (ava)"
npx ava --tap "$@" 2>&1 | tee reports/unit.tap
rc=${PIPESTATUS[0]}
count_tap reports/unit.tap
if [ "$rc" -ne 0 ]; then
  status=1
  # A crash before any test ran still has to count as a failure.
  [ "$(awk '/^# fail /{print $3}' reports/unit.tap | tail -n1)" = "" ] && failed=$((failed + 1))
fi

echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ] && [ "$status" -eq 0 ]
