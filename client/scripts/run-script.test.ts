import test from 'ava';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runScriptOnce } from './run-script.js';

async function withScript(body: string, fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'runscript-'));
  try {
    const p = join(dir, 'Sync_Enter_00');
    await writeFile(p, `#!/bin/sh\n${body}\n`);
    await chmod(p, 0o755);
    await fn(p);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('exit code, env and output lines', (t) =>
  withScript('echo "v=$FLIPSIDE_X"; echo problem >&2; exit 3', async (p) => {
    const lines: string[] = [];
    const r = await runScriptOnce(p, { timeoutMs: 5000, env: { FLIPSIDE_X: 'y' }, log: (l) => lines.push(l) });
    t.is(r.exitCode, 3);
    t.false(r.timedOut);
    t.is(r.stderrTail, 'problem\n');
    t.deepEqual(lines.sort(), ['Sync_Enter_00 stderr: problem', 'Sync_Enter_00 stdout: v=y']);
  }));

test('a background child keeping the pipes open does not hold up the result', (t) =>
  withScript('sleep 30 & echo bye', async (p) => {
    const start = Date.now();
    const r = await runScriptOnce(p, { timeoutMs: 60000, log: () => undefined });
    t.is(r.exitCode, 0);
    // Waiting on the pipes would take the background sleep's 30 s: far from any scheduling noise.
    t.true(Date.now() - start < 15000);
  }));

test('a script that cannot be started is a spawn error, not a crash', (t) =>
  withScript('', async (p) => {
    const r = await runScriptOnce(`${p}.missing`, { timeoutMs: 5000, log: () => undefined });
    t.regex(r.spawnError ?? '', /ENOENT/);
    t.is(r.exitCode, null);
  }));

test('killed by a signal of its own', (t) =>
  withScript('kill -TERM $$', async (p) => {
    const r = await runScriptOnce(p, { timeoutMs: 5000, log: () => undefined });
    t.is(r.signal, 'SIGTERM');
    t.is(r.exitCode, null);
    t.false(r.timedOut);
  }));
