import test from 'ava';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunJournal, readRunJournal } from './journal.js';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'flipside-journal-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a finished run reads back exactly as recorded', (t) => {
  const dir = tempDir(t);
  let now = 0;
  const settings = { injectBug: 'skip-fsync', sweep: 5 };
  const j = RunJournal.open(join(dir, 'r1'), { id: 'r1', boards: ['host-sim'], seed: 7, startedAt: '2026-01-01T00:00:00.000Z', settings });
  const rec = j.startScenario({ scenario: 'happy', board: 'host-sim', seed: 7, settings, purpose: 'install, reboot, commit' }, { clock: () => now });
  now = 40;
  rec.timeline.appendConsoleLine({ t: 40, text: 'FLIPSIDE-STATE {"state":"Download","deployment":"d","t":1}' });
  rec.addArtifact('/tmp/console.log');
  now = 90;
  const res = rec.finish({ status: 'passed' });
  t.is(res.durationMs, 90);
  const run = j.close();
  t.truthy(run.finishedAt);
  const back = readRunJournal(j.path);
  t.deepEqual(back, JSON.parse(JSON.stringify(run)));
  t.is(back.scenarios[0]!.timeline.length, 2);
  t.deepEqual(back.settings, settings);
  t.deepEqual(back.scenarios[0]!.settings, settings);
  t.throws(() => rec.finish({ status: 'failed' }), { message: /already finished/ });
});

test('every event is on disk the moment it is appended', (t) => {
  const dir = tempDir(t);
  const j = RunJournal.open(dir, { id: 'r2', boards: ['b'], seed: 1 });
  const rec = j.startScenario({ scenario: 's', board: 'b', seed: 1 });
  rec.timeline.append({ source: 'fault', kind: 'power-cut', text: 'cut' });
  const lines = readFileSync(j.path, 'utf8').trim().split('\n');
  t.is(JSON.parse(lines.at(-1)!).e.kind, 'power-cut');
  j.close();
});

test('a crashed run still reads back: torn last line ignored, unfinished scenario is an error at its last state', (t) => {
  const dir = tempDir(t);
  let now = 0;
  const j = RunJournal.open(dir, { id: 'r3', boards: ['b'], seed: 3 });
  const done = j.startScenario({ scenario: 'first', board: 'b', seed: 3 }, { clock: () => now });
  done.finish({ status: 'failed', failure: { message: 'two commits', stage: 'check' } });
  const rec = j.startScenario({ scenario: 'second', board: 'b', seed: 3 }, { clock: () => now });
  now = 1234;
  rec.timeline.appendConsoleLine({ t: 1234, text: 'FLIPSIDE-STATE {"state":"ArtifactCommit","deployment":"d","t":5}' });
  // Simulate the process dying mid-write: no finish, no close, half a line.
  appendFileSync(j.path, '{"type":"event","s":1,"e":{"t":13');
  const back = readRunJournal(j.path);
  t.is(back.finishedAt, undefined);
  t.deepEqual(back.scenarios.map((s) => s.status), ['failed', 'error']);
  t.deepEqual(back.scenarios[0]!.failure, { message: 'two commits', stage: 'check' });
  t.is(back.scenarios[1]!.durationMs, 1234);
  t.is(back.scenarios[1]!.failure?.stage, 'client state ArtifactCommit');
  t.regex(back.scenarios[1]!.failure!.message, /stopped before/);
  j.close();
});

test('unserialisable event data does not lose the event', (t) => {
  const dir = tempDir(t);
  const j = RunJournal.open(dir, { id: 'r4', boards: ['b'], seed: 1 });
  const rec = j.startScenario({ scenario: 's', board: 'b', seed: 1 });
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  rec.timeline.append({ source: 'env', kind: 'snapshot', text: 'env', data: cyclic });
  j.close();
  const e = readRunJournal(j.path).scenarios[0]!.timeline[0]!;
  t.is(e.text, 'env');
  t.regex(String(e.data), /unserialisable/);
});

test('a file without a run header is rejected', (t) => {
  const dir = tempDir(t);
  const p = join(dir, 'x.jsonl');
  appendFileSync(p, 'hello\n');
  t.throws(() => readRunJournal(p), { message: /not a run journal/ });
});

test('a run folder cannot be journaled twice', (t) => {
  const dir = tempDir(t);
  RunJournal.open(dir, { id: 'r5', boards: ['b'], seed: 1 }).close();
  t.throws(() => RunJournal.open(dir, { id: 'r5', boards: ['b'], seed: 1 }), { code: 'EEXIST' });
});
