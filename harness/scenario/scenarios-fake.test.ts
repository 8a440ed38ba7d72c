// The real scenario files against the in-memory fake board: their logic (checks, faults on state
// lines, expected final version) runs in milliseconds; QEMU runs them for real (gated test).
import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeBoard } from '../board/board.fake.js';
import { loadScenarios } from './load.js';
import { runScenarios } from './runner.js';

test('happy-path and power-cut-after-env-flip pass on the fake board, with the invariants', async (t) => {
  const all = await loadScenarios();
  const picked = all.filter((s) => s.name === 'happy-path' || s.name === 'power-cut-after-env-flip');
  t.is(picked.length, 2);
  const dir = mkdtempSync(join(tmpdir(), 'flipside-scen-'));
  const r = await runScenarios({ scenarios: picked, board: new FakeBoard(), seed: 3, reportsDir: dir, workDir: join(dir, 'w') });
  for (const x of r.results) t.is(x.status, 'passed', `${x.scenario}: ${x.failure?.message}`);
});

test('power-cut-sweep is skipped on a board that cannot count bytes written', async (t) => {
  const sweep = (await loadScenarios()).find((s) => s.name === 'power-cut-sweep')!;
  const dir = mkdtempSync(join(tmpdir(), 'flipside-scen-'));
  const r = await runScenarios({ scenarios: [sweep], board: new FakeBoard(), seed: 3, sweep: 2, reportsDir: dir, workDir: join(dir, 'w') });
  t.deepEqual(r.results.map((x) => [x.scenario, x.status]), [['power-cut-sweep#1', 'skipped'], ['power-cut-sweep#2', 'skipped']]);
  t.is(r.exitCode, 0);
});
