import test from 'ava';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunJournal } from '../run/journal.js';
import { sampleRun } from './sample-run.fake.js';
import { writeReports, writeReportsFromJournal } from './write.js';

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'flipside-write-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('writes junit.xml, report.html, run.json and the console logs; copies outside logs in', (t) => {
  const dir = tempDir(t);
  const outside = join(dir, 'qemu-stderr.log');
  writeFileSync(outside, 'qemu: terminating on signal 9\n');
  const run = sampleRun();
  run.scenarios[1]!.artifacts.push(outside);
  run.scenarios[1]!.artifacts.push(join(dir, 'never-written.log'));
  const out = writeReports(run, join(dir, 'reports', run.id));

  t.is(out.dir, join(dir, 'reports', run.id));
  for (const p of [out.junit, out.html, out.json]) t.true(existsSync(p), p);
  t.deepEqual(readdirSync(out.dir).filter((f) => f.endsWith('.tmp')), []);
  t.deepEqual(readdirSync(join(out.dir, 'logs')).sort(), [
    'qemu-aarch64--happy-update.console.log',
    'qemu-aarch64--power-cut-in-reboot.console.log',
    'qemu-aarch64--server-down-during-download.console.log',
    'qemu-stderr.log',
  ]);
  t.is(out.logs.length, 4);
  t.true(out.logs.every((p) => p.startsWith(`${out.dir}/logs/`)));
  t.is(readFileSync(join(out.dir, 'logs/qemu-stderr.log'), 'utf8'), 'qemu: terminating on signal 9\n');

  // Raw logs keep the raw bytes (the reports clean them, the logs do not).
  const con = readFileSync(join(out.dir, 'logs/qemu-aarch64--power-cut-in-reboot.console.log'), 'utf8');
  t.true(con.includes('\x00\x00'));
  t.regex(con, /^\[ {4}0\.000\] U-Boot/m);

  // Reports reference logs relative to the folder, so it can be published and moved as a whole.
  const xml = readFileSync(out.junit, 'utf8');
  t.true(xml.includes('[[ATTACHMENT|logs/qemu-stderr.log]]'));
  const html = readFileSync(out.html, 'utf8');
  t.true(html.includes('href="logs/qemu-aarch64--power-cut-in-reboot.console.log"'));
  const json = JSON.parse(readFileSync(out.json, 'utf8'));
  t.is(json.id, run.id);
  t.true(json.scenarios[1].artifacts.includes('logs/qemu-stderr.log'));
  // The missing log stays referenced, so the report shows what was expected.
  t.true(json.scenarios[1].artifacts.some((p: string) => p.endsWith('never-written.log')));
  // The input run is not modified.
  t.is(run.scenarios[1]!.artifacts[0], outside);
});

test('same-named logs get distinct names, a shared log is copied once, rewriting replaces the reports', (t) => {
  const dir = tempDir(t);
  const run = sampleRun();
  run.scenarios.push({ ...run.scenarios[0]! });
  for (const sub of ['a', 'b']) {
    rmSync(join(dir, sub), { recursive: true, force: true });
    mkdirSync(join(dir, sub));
    writeFileSync(join(dir, sub, 'x.log'), sub);
  }
  run.scenarios[0]!.artifacts = [join(dir, 'a', 'x.log'), join(dir, 'b', 'x.log')];
  run.scenarios[4]!.artifacts = [join(dir, 'a', 'x.log')];
  const out = writeReports(run, join(dir, 'out'));
  const logs = readdirSync(join(out.dir, 'logs')).sort();
  t.true(logs.includes('qemu-aarch64--happy-update.console.log'));
  t.true(logs.includes('qemu-aarch64--happy-update-2.console.log'));
  t.deepEqual(logs.filter((f) => f.startsWith('x')), ['x-2.log', 'x.log']);
  t.is(readFileSync(join(out.dir, 'logs/x.log'), 'utf8'), 'a');
  t.is(readFileSync(join(out.dir, 'logs/x-2.log'), 'utf8'), 'b');
  const again = writeReports(sampleRun(), join(dir, 'out'));
  t.is(again.html, out.html);
  t.notRegex(readFileSync(again.junit, 'utf8'), /happy-update #2/);
});

test('a run that crashed mid-scenario still gets its reports from the journal', (t) => {
  const dir = join(tempDir(t), 'r9');
  let now = 0;
  const j = RunJournal.open(dir, { id: 'r9', boards: ['host-sim'], seed: 99 });
  j.startScenario({ scenario: 'ok', board: 'host-sim', seed: 99 }, { clock: () => now }).finish({ status: 'passed' });
  const rec = j.startScenario({ scenario: 'cut', board: 'host-sim', seed: 99 }, { clock: () => now });
  now = 2500;
  rec.timeline.appendConsoleLine({ t: 2500, text: 'FLIPSIDE-STATE {"state":"ArtifactInstall","deployment":"d","t":1}' });
  // no finish(), no close(): the harness died here
  const out = writeReportsFromJournal(dir);
  const xml = readFileSync(out.junit, 'utf8');
  t.regex(xml, /<testsuites [^>]*tests="2" failures="0" errors="1"/);
  t.regex(xml, /<error message="the run stopped before this scenario finished[^"]*" type="client state ArtifactInstall">/);
  t.regex(readFileSync(out.html, 'utf8'), /\(run did not finish\)/);
  j.close();
});
