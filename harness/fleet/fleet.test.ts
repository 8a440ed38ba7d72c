// The fleet simulator itself, at 20 devices: the rollout finishes and every device's final status
// on the server is the one the seeded plan predicts (no timing assertions: the fleet run waits on
// the deployment's status, and the numbers belong to `npm run bench fleet`).
import test from 'ava';
import { getPriority } from 'node:os';
import { FLEET_DEFAULTS, runFleet } from './fleet.js';
import { expectedFinalStatus } from './plan.js';

// A bound, not a timing assertion: on a loaded 2-core box one run takes from 30 s to minutes
// (here, at load average 28: 55 s and 47 s side by side, 14 s of CPU for both). The fleet's own
// give-up time sits inside it, so only a hung run ends a test.
const BOUND_MS = 10 * 60_000;
const fast = { pollSeconds: 1, jitter: 0.5, installSeconds: 0.05, rebootSeconds: 0.05, artifactBytes: 4096, timeoutSeconds: 8 * 60 };

test('20 devices in two worker processes: phased rollout with failures and retries, every final status as planned', async (t) => {
  t.timeout(BOUND_MS);
  const seed = 7;
  const r = await runFleet({ ...fast, devices: 20, workers: 2, seed, failureRate: 0.4, retries: 1, errorThreshold: null, phases: { batchPercents: [25], gapSeconds: 1 } });
  t.true(r.rolloutComplete, JSON.stringify(r));
  t.deepEqual(r.wrongStatuses, []);
  t.true(r.statusesRight);
  const planned: Record<string, number> = {};
  for (let i = 0; i < 20; i++) {
    const s = expectedFinalStatus(seed, i, 0.4, 1);
    planned[s] = (planned[s] ?? 0) + 1;
  }
  t.deepEqual(r.final, planned);
  // The seed gives both outcomes and at least one retry, so each path was walked.
  t.true((planned.failure ?? 0) > 0 && (planned.success ?? 0) > 0, JSON.stringify(planned));
  t.deepEqual(r.errors, {});
  t.is(r.bytesDownloaded > 0, true);
  t.true(r.statusWrites >= 3 * 20);
  t.is(r.deviceNice, Math.max(FLEET_DEFAULTS.deviceNice, getPriority()), 'the device processes ran below the server');
});

test('every attempt failing trips the error threshold: failed devices stay failed, the rest are aborted', async (t) => {
  t.timeout(BOUND_MS);
  const r = await runFleet({ ...fast, devices: 20, workers: 0, seed: 3, failureRate: 1, retries: 0, errorThreshold: 10, phases: { batchPercents: [50], gapSeconds: 3600 } });
  t.true(r.rolloutComplete, JSON.stringify(r));
  t.is(r.stopReason, 'error_threshold');
  t.deepEqual(r.wrongStatuses, []);
  t.true((r.final.failure ?? 0) >= 3, JSON.stringify(r.final)); // more than 10 % of 20
  // The second phase starts an hour later: however slow the box, the threshold trips first.
  t.true((r.final.aborted ?? 0) >= 10, JSON.stringify(r.final));
  t.is((r.final.failure ?? 0) + (r.final.aborted ?? 0), 20);
});

test('a nice value outside [0, 19] is refused before anything starts', async (t) => {
  for (const deviceNice of [30, -1, Number.NaN, 2.5]) await t.throwsAsync(runFleet({ deviceNice }), { instanceOf: RangeError, message: /deviceNice must be an integer in \[0, 19\]/ });
});
