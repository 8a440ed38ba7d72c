import test from 'ava';
import { countByStatus, newRunId, replayCommand, type ScenarioResult } from './result.js';

const base = { scenario: 's', board: 'b', seed: 1, durationMs: 1, timeline: [], artifacts: [] };

test('replay command names scenario, board and seed', (t) => {
  t.is(replayCommand({ scenario: 'power-cut-sweep', board: 'qemu-aarch64', seed: 42 }), 'flipside-lab run power-cut-sweep --board qemu-aarch64 --seed 42');
});

test('replay command repeats every setting that changed the run, defaults left out', (t) => {
  const r = { scenario: 'power-cut-sweep#2', board: 'host-sim', seed: 42 };
  t.is(replayCommand({ ...r, settings: { injectBug: 'skip-fsync', sweep: 7 } }), 'flipside-lab run power-cut-sweep#2 --board host-sim --seed 42 --inject-bug skip-fsync --sweep 7');
  t.is(replayCommand({ ...r, settings: { client: 'mender' } }), 'flipside-lab run power-cut-sweep#2 --board host-sim --seed 42 --client mender');
  t.is(replayCommand({ ...r, settings: { sweep: 3, client: 'flipside' } }), 'flipside-lab run power-cut-sweep#2 --board host-sim --seed 42');
  t.is(replayCommand({ ...r, settings: {} }), 'flipside-lab run power-cut-sweep#2 --board host-sim --seed 42');
});

test('counts results by status', (t) => {
  const rs: ScenarioResult[] = (['passed', 'passed', 'failed', 'skipped', 'error'] as const).map((status) => ({ ...base, status }));
  t.deepEqual(countByStatus(rs), { passed: 2, failed: 1, skipped: 1, error: 1, total: 5 });
});

test('run ids sort by time and are folder-safe', (t) => {
  const a = newRunId(new Date('2026-11-23T20:05:26.123Z'), () => 0.5);
  t.is(a, '20261123-200526-8000');
  t.true(newRunId(new Date('2026-11-23T20:05:27Z')) > a);
  t.regex(newRunId(), /^[0-9]{8}-[0-9]{6}-[0-9a-f]{4}$/);
});
