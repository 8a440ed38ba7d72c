// The whole scenario suite on host-sim through the same runner `flipside-lab run` uses: every
// scenario, a seeded sweep with cuts at client states and exact payload bytes, the invariants
// after each, and the reports written.
import test from 'ava';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadScenarios } from '../scenario/load.js';
import { runScenarios } from '../scenario/runner.js';
import { HostSimLabBoard } from './lab-board.js';

test('every scenario passes on host-sim, with the invariants, and the report says so', async (t) => {
  const scenarios = await loadScenarios();
  const dir = mkdtempSync(join(tmpdir(), 'flipside-hostsim-suite-'));
  const r = await runScenarios({ scenarios, board: new HostSimLabBoard(), seed: 11, sweep: 6, reportsDir: dir, workDir: join(dir, 'work') });
  for (const x of r.results) t.is(x.status, 'passed', `${x.scenario}: ${x.failure?.message}`);
  // The sweep runs its 6 points, power-cut-during-commit its two sides of the env write.
  t.is(r.results.length, scenarios.length - 2 + 6 + 2);
  t.is(r.exitCode, 0);
  const junit = readFileSync(r.reports.junit, 'utf8');
  t.regex(junit, /failures="0"/);
  // Byte-offset cuts are exact on host-sim: the client's own hook cut the power.
  const journal = readFileSync(join(r.dir, 'run.jsonl'), 'utf8');
  t.regex(journal, /injected: power-cut at \d+ bytes written \(exact, by the board\)/);
  t.regex(journal, /injected: power-cut at client state \w+ \(exact, by the board\)/);
});
