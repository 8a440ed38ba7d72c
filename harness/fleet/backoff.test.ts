import test from 'ava';
import { pollDelayMs, retryDelayMs, RETRY_BASE_SECONDS } from './backoff.js';

const at = (x: number) => () => x;

test('retries double from the base and stop at the poll interval', (t) => {
  const upper = (n: number) => retryDelayMs(n, 120, at(0.999999));
  t.true(Math.abs(upper(1) - RETRY_BASE_SECONDS * 1000) < 1);
  t.true(Math.abs(upper(2) - 2 * RETRY_BASE_SECONDS * 1000) < 1);
  t.true(Math.abs(upper(3) - 4 * RETRY_BASE_SECONDS * 1000) < 1);
  t.true(Math.abs(upper(10) - 120_000) < 1);
  t.true(Math.abs(upper(1000) - 120_000) < 1); // no overflow to Infinity
});

test('a retry waits between half and all of its step', (t) => {
  t.is(retryDelayMs(2, 120, at(0)), RETRY_BASE_SECONDS * 1000);
  t.is(retryDelayMs(1, 120, at(0.5)), RETRY_BASE_SECONDS * 1000 * 0.75);
  // A poll interval below the base caps the first retry too.
  t.is(retryDelayMs(1, 1, at(0)), 500);
});

test('failures must be counted from 1', (t) => {
  t.throws(() => retryDelayMs(0, 60, at(0)), { instanceOf: RangeError });
  t.throws(() => retryDelayMs(1.5, 60, at(0)), { instanceOf: RangeError });
});

test('a poll waits the interval times [1 - jitter, 1 + jitter]', (t) => {
  t.is(pollDelayMs(120, 0.5, at(0)), 60_000);
  t.is(pollDelayMs(120, 0.5, at(0.5)), 120_000);
  t.is(pollDelayMs(120, 0.5, at(1)), 180_000);
  t.is(pollDelayMs(120, 0, at(0.9)), 120_000);
});
