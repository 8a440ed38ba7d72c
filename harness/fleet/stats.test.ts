import test from 'ava';
import { OwnStalls } from './own-stalls.js';
import { Latencies, percentile } from './stats.js';

test('slow lines: only samples at or over the bound, with wall-clock starts and the stall taken out', (t) => {
  const l = new Latencies();
  const t0 = performance.now();
  l.add(10, t0);
  l.add(80, t0 + 100);
  l.add(45, Number.NaN); // no start: cannot be placed in time
  const stalls = new OwnStalls();
  stalls.add(t0 + 120, t0 + 150);
  const lines = l.slowLines(stalls, 30, 'poll');
  t.is(lines.length, 1);
  const [at, ms, net, kind] = lines[0]!.trim().split(' ');
  t.is(Number(at), Math.round(performance.timeOrigin + t0 + 100));
  t.is([ms, net, kind].join(' '), '80.0 50.0 poll');
});

test('percentile is nearest-rank over sorted samples', (t) => {
  t.is(percentile([], 99), 0);
  t.is(percentile([1, 2, 3, 4], 50), 2);
  t.is(percentile([1, 2, 3, 4], 99), 4);
});
