import test from 'ava';
import { PoolTiming } from './pool-timing.js';

test('a window counts queries, waits and holds, the most waiting at once, and starts the next', (t) => {
  const p = new PoolTiming();
  t.is(p.take(), undefined, 'no query, no window');
  const a = p.waitStarted();
  const b = p.waitStarted();
  a();
  p.queried(4);
  p.queried(8);
  p.held(10);
  const w = p.take()!;
  t.is(w.queries, 2);
  t.is(w.query_mean_ms, 6);
  t.is(w.query_max_ms, 8);
  t.is(w.transactions, 1);
  t.is(w.tx_hold_max_ms, 10);
  t.is(w.waiting_max, 2);
  // b still waits: the next window starts from it and counts its end.
  b();
  const next = p.take()!;
  t.is(next.queries, 0);
  t.is(next.waiting_max, 1);
  t.true(next.wait_max_ms >= 0);
  t.is(p.take(), undefined);
});

test("the driver's queue counts toward the most waiting at once, with the transactions waiting then", (t) => {
  const p = new PoolTiming();
  const a = p.waitStarted();
  p.waitingNow(5);
  p.queried(1);
  p.waitingNow(2);
  t.is(p.take()!.waiting_max, 6, 'five queued in the driver while one transaction waited');
  a();
  p.waitingNow(0);
  p.queried(1);
  t.is(p.take()!.waiting_max, 1, 'the next window starts from the transaction still waiting at its start');
});
