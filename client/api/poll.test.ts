import test from 'ava';
import { backoffDelayMs, PollSchedule, DEFAULT_UPDATE_POLL_SECONDS } from './poll.js';
import { RetryLater } from './deployments.js';

const MIN = 60_000;

test("backoff: a minute three times, doubling every three tries, capped, then gives up (Mender's table)", (t) => {
  const seq = Array.from({ length: 14 }, (_, i) => backoffDelayMs(i, 5 * MIN));
  t.deepEqual(seq, [MIN, MIN, MIN, 2 * MIN, 2 * MIN, 2 * MIN, 4 * MIN, 4 * MIN, 4 * MIN, 5 * MIN, 5 * MIN, 5 * MIN, null, null]);
});

test('backoff: a cap below one minute still waits a minute; maxAttempts bounds the tries', (t) => {
  t.is(backoffDelayMs(0, 10_000), MIN);
  t.is(backoffDelayMs(2, 10_000), MIN);
  t.is(backoffDelayMs(3, 10_000), null);
  t.is(backoffDelayMs(20, 5 * MIN, 21), 5 * MIN);
  t.is(backoffDelayMs(21, 5 * MIN, 21), null);
});

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

test('schedule: both tasks due at start, inventory first, then each at its own interval', (t) => {
  const c = clock();
  const s = new PollSchedule({ updatePollSeconds: 30, inventoryPollSeconds: 600 }, c);
  t.deepEqual(s.next(), { task: 'inventory', at: c.t, waitMs: 0 });
  s.succeeded('inventory');
  t.deepEqual(s.next(), { task: 'update', at: c.t, waitMs: 0 });
  s.succeeded('update');
  t.deepEqual(s.next(), { task: 'update', at: c.t + 30_000, waitMs: 30_000 });
  c.t += 30_000;
  s.succeeded('update');
  t.is(s.dueAt('update'), c.t + 30_000);
  t.is(s.dueAt('inventory'), c.t - 30_000 + 600_000);
});

test('schedule: failures back off, success resets, exhaustion falls back to the interval', (t) => {
  const c = clock();
  const s = new PollSchedule({ retryPollSeconds: 120 }, c);
  const waits = [0, 1, 2, 3, 4, 5].map(() => s.failed('update'));
  t.deepEqual(waits, [MIN, MIN, MIN, 2 * MIN, 2 * MIN, 2 * MIN]);
  t.is(s.failed('update'), DEFAULT_UPDATE_POLL_SECONDS * 1000);
  t.is(s.failures('update'), 0);
  s.failed('update');
  s.failed('update');
  s.succeeded('update');
  t.is(s.failures('update'), 0);
  t.is(s.failed('update'), MIN);
  t.is(s.dueAt('update'), c.t + MIN);
});

test('schedule: Retry-After from the server sets the wait; trigger makes a task due now', (t) => {
  const c = clock();
  const s = new PollSchedule({}, c);
  s.succeeded('inventory');
  const e = new RetryLater({ status: 429, url: 'u', retryAfterMs: 7000 });
  t.is(s.failed('update', e), 7000);
  t.deepEqual(s.next(), { task: 'update', at: c.t + 7000, waitMs: 7000 });
  s.trigger('inventory');
  t.is(s.next().task, 'inventory');
});
