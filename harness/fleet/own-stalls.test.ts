import test from 'ava';
import { OwnStalls } from './own-stalls.js';
import { Latencies } from './stats.js';

test('overlap counts only the stalled part of a request, across several stalls and at both edges', (t) => {
  const s = new OwnStalls();
  s.add(10, 20);
  s.add(30, 35);
  s.add(100, 300);
  t.is(s.overlap(0, 5), 0, 'before any stall');
  t.is(s.overlap(15, 32), 5 + 2, 'the end of one stall and the start of the next');
  t.is(s.overlap(0, 1000), 10 + 5 + 200);
  t.is(s.overlap(150, 160), 10, 'inside one stall');
  t.is(s.overlap(20, 30), 0, 'between two stalls');
  t.is(s.overlap(400, 500), 0, 'after the last');
  t.is(s.totalMs, 215);
});

test("a request's latency less its own process's stalls; samples without a start stay as they are", (t) => {
  const s = new OwnStalls();
  s.add(100, 180);
  const l = new Latencies();
  l.add(100, 50); // 50..150: 50 ms of it stalled
  l.add(30, 200); // after the stall
  l.add(70); // no start
  t.deepEqual(l.samples, [100, 30, 70], 'the raw samples are kept');
  t.deepEqual(l.withoutOwnStalls(s), [50, 30, 70]);
});

test('a blocked loop is recorded as a stall of about the time it was blocked', async (t) => {
  const s = new OwnStalls(5, 2);
  s.start();
  await new Promise((r) => setTimeout(r, 20)); // the ticker runs
  const t0 = performance.now();
  while (performance.now() - t0 < 100); // blocks this loop for 100 ms
  await new Promise((r) => setTimeout(r, 20)); // the next tick sees it
  s.stop();
  const during = s.overlap(t0, t0 + 100);
  // At least the blocked time less one tick (the stall starts when the tick was due).
  t.true(during >= 100 - 5 - 2 && during <= 100, String(during));
});
