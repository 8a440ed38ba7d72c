import test from 'ava';
import { rolloutTimeline } from './timeline.js';

const at = (s: number) => new Date(Date.UTC(2026, 11, 3, 12, 0, s)).toISOString();

test('replays status changes into counts per moment; events sharing a moment make one point', (t) => {
  const tl = rolloutTimeline([
    { device_id: 'a', status: 'pending', ts: at(0) },
    { device_id: 'b', status: 'pending', ts: at(0) },
    { device_id: 'a', status: 'downloading', ts: at(5) },
    { device_id: 'a', status: 'success', ts: at(9) },
    { device_id: 'b', status: 'downloading', ts: at(10) },
    { device_id: 'b', status: 'failure', ts: at(12) },
  ]);
  t.is(tl.device_count, 2);
  t.deepEqual(tl.points, [
    { ts: at(0), counts: { pending: 2 } },
    { ts: at(5), counts: { pending: 1, downloading: 1 } },
    { ts: at(9), counts: { pending: 1, success: 1 } },
    { ts: at(10), counts: { downloading: 1, success: 1 } },
    { ts: at(12), counts: { success: 1, failure: 1 } },
  ]);
});

test('a long rollout is sampled, keeping the first and the final state', (t) => {
  const events = [];
  for (let i = 0; i < 500; i++) events.push({ device_id: `d${i}`, status: 'pending', ts: at(0) });
  for (let i = 0; i < 500; i++) events.push({ device_id: `d${i}`, status: 'success', ts: at(1 + i) });
  const tl = rolloutTimeline(events, 50);
  t.true(tl.points.length <= 50);
  t.deepEqual(tl.points[0], { ts: at(0), counts: { pending: 500 } });
  t.deepEqual(tl.points.at(-1), { ts: at(500), counts: { success: 500 } });
  // Time only moves forward and success only grows.
  for (let i = 1; i < tl.points.length; i++) {
    t.true(tl.points[i]!.ts > tl.points[i - 1]!.ts);
    t.true((tl.points[i]!.counts.success ?? 0) >= (tl.points[i - 1]!.counts.success ?? 0));
  }
});

test('no events, no points', (t) => {
  t.deepEqual(rolloutTimeline([]), { device_count: 0, points: [] });
  t.throws(() => rolloutTimeline([], 1), { message: /at least two points/ });
});
