import test from 'ava';
import type { Fault } from '../types.js';
import { planFaults } from './plan.js';

const states = ['Download', 'ArtifactInstall', 'ArtifactReboot', 'ArtifactCommit'];

test('same seed and template give the same plan on every call', (t) => {
  const tpl = { count: 13, states, payloadBytes: 1_000_000, timeMs: { from: 0, to: 60_000 }, durationMs: { min: 100, max: 900 } };
  t.deepEqual(planFaults(5, tpl), planFaults(5, tpl));
  t.notDeepEqual(planFaults(5, tpl), planFaults(6, tpl));
});

test('count is shared evenly between states and byte offsets', (t) => {
  const plan = planFaults(1, { count: 10, states, payloadBytes: 4096 });
  t.is(plan.length, 10);
  t.true(plan.every((f) => f.kind === 'power-cut'));
  t.is(plan.filter((f) => f.at.on === 'state').length, 5);
  t.is(plan.filter((f) => f.at.on === 'bytes-written').length, 5);
});

test('states are each covered, leftovers spread at most one apart', (t) => {
  for (const seed of [1, 2, 3, 4]) {
    const plan = planFaults(seed, { count: 10, states });
    const per = states.map((s) => plan.filter((f) => f.at.on === 'state' && f.at.state === s).length);
    t.deepEqual([...per].sort(), [2, 2, 3, 3], `seed ${seed}`);
  }
  const few = planFaults(3, { count: 2, states });
  t.is(new Set(few.map((f) => (f.at.on === 'state' ? f.at.state : ''))).size, 2);
});

test('nth occurrence targets carry through', (t) => {
  const plan = planFaults(1, { count: 1, states: [{ state: 'ArtifactReboot', nth: 2 }] });
  t.deepEqual(plan, [{ kind: 'power-cut', at: { on: 'state', state: 'ArtifactReboot', nth: 2 } }]);
});

test('byte offsets fall one per equal slice of the payload, within [1, size]', (t) => {
  const size = 1_000_003;
  const n = 100;
  const plan = planFaults(77, { count: n, payloadBytes: size, bytesTrigger: 'bytes-sent' });
  const offsets = plan.map((f) => (f.at.on === 'bytes-sent' ? f.at.bytes : -1));
  offsets.forEach((o, i) => {
    t.true(o >= 1 && o <= size);
    t.true(o >= Math.floor((i * size) / n) && o <= Math.floor(((i + 1) * size) / n) + 1, `offset ${i}: ${o}`);
  });
  const mean = offsets.reduce((a, b) => a + b, 0) / n;
  t.true(Math.abs(mean - size / 2) < size * 0.02);
});

test('times and boot stages, durations and shapes', (t) => {
  const plan: Fault[] = planFaults(2, {
    kind: 'network-shape',
    count: 4,
    timeMs: { from: 1000, to: 5000 },
    bootStages: ['bootloader', 'shell'],
    durationMs: 3000,
    shape: { lossPct: 20 },
  });
  t.deepEqual(
    plan.map((f) => f.at.on),
    ['time', 'time', 'boot-stage', 'boot-stage'],
  );
  t.true(plan.every((f) => f.kind === 'network-shape' && f.durationMs === 3000 && f.shape?.lossPct === 20));
  const times = plan.flatMap((f) => (f.at.on === 'time' ? [f.at.ms] : []));
  t.true(times[0]! >= 1000 && times[0]! < 3000 && times[1]! >= 3000 && times[1]! < 5000);
  const ranged = planFaults(2, { kind: 'network-drop', count: 20, timeMs: { from: 0, to: 10 }, durationMs: { min: 10, max: 20 } });
  t.true(ranged.every((f) => f.durationMs! >= 10 && f.durationMs! <= 20));
});

test('bad templates are rejected', (t) => {
  t.throws(() => planFaults(1, { count: 0, states }), { instanceOf: RangeError });
  t.throws(() => planFaults(1, { count: 3 }), { message: /at least one/ });
  t.throws(() => planFaults(1, { count: 3, payloadBytes: 0 }), { instanceOf: RangeError });
  t.throws(() => planFaults(1, { count: 3, timeMs: { from: 5, to: 5 } }), { instanceOf: RangeError });
});
