import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const HOOKS = new URL('./test-hooks.ts', import.meta.url).href;

/** A client stand-in: arms a write for 50 ms later, then reaches `point` (or writes `bytes`). */
function stub(env: Record<string, string>, call: string) {
  const dir = mkdtempSync(join(tmpdir(), 'flipside-hold-'));
  const late = join(dir, 'late');
  const code = `import { writeFileSync } from 'node:fs'; import * as h from ${JSON.stringify(HOOKS)};
setTimeout(() => writeFileSync(${JSON.stringify(late)}, 'ran'), 50);
${call}
console.error('PASSED');`;
  const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => p.on('exit', (c) => r(c)));
  return { p, late, stderr: () => err, exited };
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  for (const end = Date.now() + ms; !cond(); await sleep(20)) if (Date.now() > end) throw new Error('timed out');
}

test('HOLD_AT prints FLIPSIDE-HOLD and stops the client at the point: nothing after it runs until the power goes', async (t) => {
  const s = stub({ FLIPSIDE_TEST_HOLD_AT: 'ArtifactCommit:done' }, `h.killPoint('ArtifactCommit'); h.killPoint('ArtifactCommit:done');`);
  await waitFor(() => s.stderr().includes('FLIPSIDE-HOLD'), 30_000);
  t.regex(s.stderr(), /^FLIPSIDE-HOLD ArtifactCommit:done$/m);
  await sleep(300);
  t.is(s.p.exitCode, null, 'still held');
  t.false(existsSync(s.late), 'a timer due after the point never ran');
  t.false(s.stderr().includes('PASSED'));
  s.p.kill('SIGKILL');
  await s.exited;
});

test('HOLD_AT_BYTE holds once the threshold is written; below it, and without hooks, the client goes on', async (t) => {
  const below = stub({ FLIPSIDE_TEST_HOLD_AT_BYTE: '4096' }, `h.killIfPastByte(4095, h.killAtByte());`);
  t.is(await below.exited, 0);
  t.regex(below.stderr(), /PASSED/);
  const none = stub({}, `h.killIfPastByte(1e9, h.killAtByte()); h.killPoint('Download');`);
  t.is(await none.exited, 0);
  const held = stub({ FLIPSIDE_TEST_HOLD_AT_BYTE: '4096' }, `h.killIfPastByte(8192, h.killAtByte());`);
  await waitFor(() => held.stderr().includes('FLIPSIDE-HOLD'), 30_000);
  t.regex(held.stderr(), /^FLIPSIDE-HOLD byte 4096$/m);
  held.p.kill('SIGKILL');
  await held.exited;
});

test('KILL_AT wins over HOLD_AT_BYTE: the host-sim kill is the power cut there', async (t) => {
  const s = stub({ FLIPSIDE_TEST_KILL_AT_BYTE: '10', FLIPSIDE_TEST_HOLD_AT_BYTE: '10' }, `h.killIfPastByte(10, h.killAtByte());`);
  await s.exited;
  t.is(s.p.signalCode, 'SIGKILL');
  t.false(s.stderr().includes('FLIPSIDE-HOLD'));
});
