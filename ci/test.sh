#!/usr/bin/env bash
# The project's test command (`npm test`): sets the machine up, then runs every suite and ends
# with one line `N passed, N failed` counted over all of them. Exits non-zero on any failure.
# FLIPSIDE_QEMU_TESTS=1 adds the tests that build device images and boot them under QEMU.
# FLIPSIDE_LAB_BOARDS="host-sim qemu-aarch64 raspberrypi3-qemu:happy-path" then runs the scenario
# suite (or the named subset) on each board (`flipside-lab run`), each scenario run counted;
# FLIPSIDE_LAB_SEED fixes the seed. FLIPSIDE_CAMPAIGN_CUTS sizes the host-sim power-cut campaign (0: skip),
# FLIPSIDE_CAMPAIGN_MANAGED_CUTS its managed slice (0: skip), FLIPSIDE_CAMPAIGN_CRASH_IMAGES the QEMU
# crash images booted beside the qemu-aarch64 suite (0: skip).
set -uo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
mkdir -p reports
passed=0 failed=0

# count_tap FILE RC: adds a TAP log's counts. ava reports a failed hook as a `not ok` line that its
# `# fail` count leaves out, so the `not ok` lines count when they are more; a runner that exited
# non-zero with nothing counted as failed is one failure more.
failures=()
count_tap() {
  local p f n
  p=$(awk '/^# pass /{print $3}' "$1" | tail -n1)
  f=$(awk '/^# fail /{print $3}' "$1" | tail -n1)
  n=$(grep -c '^not ok' "$1")
  [ "$n" -gt "${f:-0}" ] && f=$n
  while IFS= read -r line; do failures+=("${line}"); done < <(grep '^not ok' "$1")
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
  if [ "$2" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
    failed=$((failed + 1))
    failures+=("$3 exited with $2 and reported no failing test (see its output above)")
    # What test-support/worker-exit.ts and ava-main-watch.mjs said about it, if anything.
    while IFS= read -r line; do failures+=("  ${line}"); done < <(grep -o 'FLIPSIDE-TEST-WORKER.*' "$1")
  fi
}

echo "== typecheck (tsc --noEmit, strict) at $(date -u +%T)"
if npx tsc -p tsconfig.json --noEmit; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("tsc --noEmit"); fi

echo "== unit and integration tests (ava) at $(date -u +%T)"
# ava straight from node_modules (no npm in between to change its exit code), with a watcher that
# says why ava's main process ended non-zero when its TAP output does not.
node --import ./test-support/ava-main-watch.mjs node_modules/ava/entrypoints/cli.mjs --tap "$@" 2>&1 | tee reports/unit.tap
rc=${PIPESTATUS[0]}
echo "ava: exit ${rc} at $(date -u +%T)"
count_tap reports/unit.tap "$rc" ava

run_board() { # <entry>: board, or board:scenario,scenario for a subset (a slow board)
  local entry="$1" board rc p f
  board="${entry%%:*}"
  scenarios=()
  [ "$entry" != "$board" ] && IFS=, read -r -a scenarios <<< "${entry#*:}"
  echo "== scenario suite on ${board} (flipside-lab run ${scenarios[*]:-all}) at $(date -u +%T)"
  seed_args=()
  [ -n "${FLIPSIDE_LAB_SEED:-}" ] && seed_args=(--seed "$FLIPSIDE_LAB_SEED")
  node bin/flipside-lab.js run "${scenarios[@]}" --board "$board" "${seed_args[@]}" --json > "reports/lab-${board}.json"
  rc=$?
  read -r p f < <(node -e 'try { const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").pop()); console.log(r.passed, r.failed); } catch { console.log(0, 0); }' "reports/lab-${board}.json")
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$f" -gt 0 ]; then failures+=("flipside-lab run on ${board}: ${f} scenario run(s) failed"); fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    failed=$((failed + 1))
    failures+=("flipside-lab run on ${board} exited with ${rc} and reported no failing scenario")
  fi
  echo "${board}: ${p} passed, ${f} failed, exit ${rc} (report: $(node -e 'try { console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").pop()).html) } catch { console.log("none") }' "reports/lab-${board}.json"))"
}

# The bounded power-cut campaign on host-sim: FLIPSIDE_CAMPAIGN_CUTS crash states of the clean client
# (a seeded sample over every cut point; 0 skips it) and every mutant of the catalogue, each crash
# state and each caught mutant one count. The full campaign runs nightly (ci/templates).
# FLIPSIDE_CAMPAIGN_MIXES seeded crash states per cut point beyond the named ones (default 50, so the
# sample is drawn from ~3000 states rather than the ~1800 that 4 give).
# Cost (measured 2026-12-04 10:22 UTC on the 2-core dev machine under load average 10-13, seed
# 20261123): 3000 of the 3040 crash states and all 13 mutants (3013 counted), 81 s wall (83 s CPU):
# setup (14 client bundles, 56 recorded flows), 3000 clean crash states, the mutant states (each
# mutant stops at its first catch; 13/13 caught); with 4 mixes (1819 states) it took 88 s (80 s
# CPU) just before. The earlier 1000-cut default cost 101 s wall (45.6 s CPU) at load 19 on 2026-12-03.
# Managed mode (the daemon against the bundled server, harness/campaign/managed.ts) is a second,
# smaller slice: FLIPSIDE_CAMPAIGN_MANAGED_CUTS clean crash states of the two managed flows (0 skips
# it) and the four managed-only mutants. Cost (measured 2026-12-03 20:37-20:40 UTC under load
# average 16-18, seed 20261123, with the server reset in place per crash state): 32 cuts + 4/4
# mutants caught after 31 states, 202 s wall, 59 s CPU, where 8 cuts took 337 s wall and 56 s CPU
# (load 28) with a new server per crash state; recording 2 flows x 5 client builds is most of it.
run_campaign() { # <json file> <label> <args...>
  local json="$1" label="$2"
  shift 2
  echo "== power-cut campaign on host-sim (${label}) at $(date -u +%T)"
  node bin/flipside-lab.js campaign --board host-sim "$@" --seed "${FLIPSIDE_LAB_SEED:-1}" --jobs 2 --json > "$json"
  local rc=$?
  read -r p f < <(node -e 'try { const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").pop()); console.log(r.passed, r.failed); } catch { console.log(0, 0); }' "$json")
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$f" -gt 0 ]; then failures+=("flipside-lab campaign on host-sim (${label}): ${f} failed (failed cuts and missed mutants; replay commands in ${json})"); fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    failed=$((failed + 1))
    failures+=("flipside-lab campaign on host-sim (${label}) exited with ${rc} and reported no failure")
  fi
  echo "campaign (${label}): ${p} passed, ${f} failed, exit ${rc} at $(date -u +%T)"
}
# The QEMU crash-image slice: FLIPSIDE_CAMPAIGN_CRASH_IMAGES distinct crash images of one recorded
# update on qemu-aarch64 (0 skips it), booted one at a time (--jobs 1: one TCG vCPU, the core the
# QEMU scenario suite leaves idle once the host-side steps end), each image one count; a failure
# keeps the recording and names its replay command. The retry of the update (an install under TCG,
# ~2-4 min) runs on at most FLIPSIDE_CAMPAIGN_RETRIES images that kept the old version (default 1);
# every other check runs on every image. The lab images are the suite's (built once: the build
# holds a lock, harness/board/build-lock.ts). The nightly templates boot 4 x 25 images.
# Cost (measured 2026-12-04 on the 2-core dev machine shared with other sessions, beside the
# qemu-aarch64 suite as here, seed 20261123): 8 images 617 s wall at load average 16-18 (recording
# 198 s; images 25-42 s each, the one with the retry 163 s); 6 images of the earlier selection
# 641 s at load 19-22 (recording 207 s, the retry's image 204 s). In the CI-shaped run at load
# 19-22 the host-side steps ended 16 min in and the 6-image slice 27 min in, with the suite at 5 of
# its 16 runs (its runs took 165-458 s each there, ~80 s idle; it ended 56 min in). Idle, the suite takes ~18-21 min
# and the host steps ~4: the slice gets 14-17 min of a core and took ~10-11 min loaded.
run_qemu_campaign() { # <board>
  local board="$1" json="reports/campaign-$1.json" n="${FLIPSIDE_CAMPAIGN_CRASH_IMAGES:-8}" rc p f
  echo "== crash-image campaign on ${board} (${n} crash images, 1 VM) at $(date -u +%T)"
  node bin/flipside-lab.js campaign --board "$board" --crash-images "$n" --retry-limit "${FLIPSIDE_CAMPAIGN_RETRIES:-1}" --seed "${FLIPSIDE_LAB_SEED:-1}" --jobs 1 --json > "$json"
  rc=$?
  read -r p f < <(node -e 'try { const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").pop()); console.log(r.passed, r.failed); } catch { console.log(0, 0); }' "$json")
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$f" -gt 0 ]; then
    failures+=("flipside-lab campaign on ${board}: ${f} crash image(s) failed (report: ${json})")
    while IFS= read -r line; do failures+=("  replay: ${line}"); done < <(node -e 'try { for (const c of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").pop()).replay) console.log(c) } catch {}' "$json")
  fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    failed=$((failed + 1))
    failures+=("flipside-lab campaign on ${board} exited with ${rc} and reported no failing crash image")
  fi
  echo "campaign (${board}, crash images): ${p} passed, ${f} failed, exit ${rc} at $(date -u +%T)"
}
# The store tests and a few server API files again on PostgreSQL (a throwaway cluster on loopback,
# ci/postgres.sh; each server test gets its own schema). FLIPSIDE_PG_TESTS=0 skips it.
# Cost (measured 2026-12-03 on the 2-core dev machine): 196 tests in 28 s at load average 2 (the first
# 56 of them took 89 s at load 14-19), plus ~11 s to initdb and start the cluster; the apt install,
# where needed, comes on top. server-mock/workers.test.ts (flipside-server --workers 2: a rollout to
# 20 devices with a worker SIGKILLed, the change stream and deviceconnect across workers) adds
# 3 tests, measured 2026-12-03 at load average ~10: 109 s, 54 s and 42 s of wall time, run two at a
# time beside the others (about 2 minutes more for the step), a few CPU seconds each; and 2 more
# (a login lockout across both workers, a webhook whose worker is SIGKILLed mid-retry), each a
# 2-worker server start like the change-stream test: run one at a time on 2026-12-04 at load
# average 12-17, 19.1 s and 16.5 s against that test's 16.8 s.
run_postgres_tests() {
  local rc=1
  if [ "${FLIPSIDE_PG_TESTS:-1}" != "0" ]; then
    echo "== store and server API tests on PostgreSQL at $(date -u +%T)"
    if pg_url=$(bash ci/postgres.sh); then
      FLIPSIDE_TEST_DATABASE_URL="$pg_url" node --import ./test-support/ava-main-watch.mjs node_modules/ava/entrypoints/cli.mjs --tap --concurrency 2 \
        server-mock/store/stores.test.ts server-mock/device/device-api.test.ts server-mock/management/deployments.test.ts \
        server-mock/management/devauth.test.ts server-mock/management/inventory.test.ts server-mock/management/useradm.test.ts \
        server-mock/management/iot-manager.test.ts server-mock/deviceconnect/retention.test.ts \
        server-mock/contract/contract.test.ts server-mock/contract/mender-ui.test.ts \
        server-mock/workers.test.ts \
        2>&1 | tee reports/postgres.tap
      rc=${PIPESTATUS[0]}
      count_tap reports/postgres.tap "$rc" "ava on PostgreSQL"
      bash ci/postgres.sh stop
    else
      failed=$((failed + 1))
      failures+=("ci/postgres.sh could not start PostgreSQL")
    fi
    echo "postgres: exit ${rc:-1} at $(date -u +%T)"
  fi
}

# The host-side steps: the host-sim scenario suite, the campaign slices and the PostgreSQL tests.
# In a subshell whose counts come back through a file (its output may be a background log).
host_steps() {
  passed=0 failed=0 failures=()
  local entry
  for entry in "${host_boards[@]}"; do run_board "$entry"; done
  campaign_cuts="${FLIPSIDE_CAMPAIGN_CUTS:-3000}"
  if [ "$campaign_cuts" != "0" ]; then
    run_campaign reports/campaign.json "standalone, ${campaign_cuts} cuts, all mutants" --cuts "$campaign_cuts" --mixes "${FLIPSIDE_CAMPAIGN_MIXES:-50}" --mutants all
  fi
  managed_cuts="${FLIPSIDE_CAMPAIGN_MANAGED_CUTS:-32}"
  if [ "$managed_cuts" != "0" ]; then
    # The four managed-only mutants, named: `--mutants all` in managed mode also searches the standalone
    # mutants that apply to the daemon (the nightly templates do), which the standalone slice above
    # already catches; naming these four keeps this slice's measured cost.
    run_campaign reports/campaign-managed.json "managed, ${managed_cuts} cuts, managed mutants" --mode managed --managed-cuts "$managed_cuts" --mutants success-before-commit,spool-unvalidated,drop-failed-report,forget-before-report
  fi
  run_postgres_tests
  # Last: the core it needs is free only once the steps above have ended.
  if [ -n "$crash_board" ] && [ "${FLIPSIDE_CAMPAIGN_CRASH_IMAGES:-8}" != "0" ]; then run_qemu_campaign "$crash_board"; fi
  { echo "${passed} ${failed}"; printf '%s\n' "${failures[@]}"; } > reports/host-steps.counts
}

# A QEMU board's scenario suite keeps about one core busy (one TCG vCPU) and waits on the guest
# for the rest; the host-side steps take ~4 min of CPU, then the crash-image slice ~10 min of one
# core. So they run beside the QEMU suites, their output kept in reports/host-steps.log and printed
# after. FLIPSIDE_CI_OVERLAP=0 runs them first.
host_boards=() qemu_boards=() crash_board=""
for entry in ${FLIPSIDE_LAB_BOARDS:-}; do
  case "${entry%%:*}" in host-sim) host_boards+=("$entry") ;; *) qemu_boards+=("$entry") ;; esac
  # The crash-image slice rides along where the qemu-aarch64 suite runs (its images, its idle core).
  [ "${entry%%:*}" = qemu-aarch64 ] && crash_board=qemu-aarch64
done
rm -f reports/host-steps.counts
if [ "${#qemu_boards[@]}" -gt 0 ] && [ "${FLIPSIDE_CI_OVERLAP:-1}" != "0" ]; then
  echo "== host-side steps (host-sim suite, campaigns, PostgreSQL, then the QEMU crash images) in the background: reports/host-steps.log, at $(date -u +%T)"
  ( host_steps ) > reports/host-steps.log 2>&1 &
  host_pid=$!
  for entry in "${qemu_boards[@]}"; do run_board "$entry"; done
  wait "$host_pid"
  echo "== host-side steps' output (they ended at $(date -u -r reports/host-steps.log +%T))"
  cat reports/host-steps.log
else
  ( host_steps )
  for entry in "${qemu_boards[@]}"; do run_board "$entry"; done
fi
if [ -f reports/host-steps.counts ]; then
  { read -r p f; while IFS= read -r line; do [ -n "$line" ] && failures+=("$line"); done; } < reports/host-steps.counts
  passed=$((passed + p))
  failed=$((failed + f))
else
  failed=$((failed + 1))
  failures+=("the host-side steps ended without their counts (see their output above)")
fi

# What failed, named again next to the count, so the tail of a long CI log says it.
if [ "${#failures[@]}" -gt 0 ]; then
  echo "== failed"
  printf '  %s\n' "${failures[@]}"
fi
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
