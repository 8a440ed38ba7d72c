import test from 'ava';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runStateScripts, type RunStateScriptsOptions } from './run-state-scripts.js';

interface Ctx {
  dir: string;
  trace: string;
  lines: string[];
  script: (name: string, body: string, mode?: number, dir?: string) => Promise<string>;
  run: (o?: Partial<RunStateScriptsOptions>) => ReturnType<typeof runStateScripts>;
}

async function withScripts(fn: (c: Ctx) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'statescripts-'));
  const trace = join(dir, 'trace');
  const lines: string[] = [];
  const scriptsDir = join(dir, 'scripts');
  await mkdir(scriptsDir);
  try {
    await fn({
      dir: scriptsDir,
      trace,
      lines,
      script: async (name, body, mode = 0o755, d = scriptsDir) => {
        const p = join(d, name);
        await writeFile(p, `#!/bin/sh\n${body}\n`);
        await chmod(p, mode);
        return p;
      },
      run: (o = {}) =>
        runStateScripts({
          dirs: [scriptsDir],
          state: 'ArtifactInstall',
          action: 'Enter',
          timeoutMs: 5000,
          retryLaterTimeoutMs: 2000,
          retryIntervalMs: 50,
          env: { TRACE: trace },
          log: (l) => lines.push(l),
          ...o,
        }),
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const traced = (trace: string) => (existsSync(trace) ? readFileSync(trace, 'utf8').trim().split('\n') : []);

test('runs matching scripts of both dirs in NN order, output logged with the script name', (t) =>
  withScripts(async (c) => {
    const other = join(c.dir, '..', 'other');
    await mkdir(other);
    await c.script('ArtifactInstall_Enter_10', 'echo 10 >> "$TRACE"; echo out10; echo err10 >&2');
    await c.script('ArtifactInstall_Enter_02_first', 'echo 02 >> "$TRACE"');
    await c.script('ArtifactInstall_Enter_05', 'echo 05 >> "$TRACE"', 0o755, other);
    await c.script('ArtifactInstall_Leave_01', 'echo leave >> "$TRACE"');
    await c.script('ArtifactCommit_Enter_01', 'echo commit >> "$TRACE"');
    const outcome = await c.run({ dirs: [c.dir, other] });
    t.true(outcome.ok);
    t.deepEqual(traced(c.trace), ['02', '05', '10']);
    t.is(outcome.ran.length, 3);
    t.true(c.lines.includes('ArtifactInstall_Enter_10 stdout: out10'));
    t.true(c.lines.includes('ArtifactInstall_Enter_10 stderr: err10'));
  }));

test('the first failure stops the rest and reports the script and its stderr', (t) =>
  withScripts(async (c) => {
    await c.script('ArtifactInstall_Enter_01', 'echo 01 >> "$TRACE"');
    const bad = await c.script('ArtifactInstall_Enter_02', 'echo 02 >> "$TRACE"; echo "disk full" >&2; exit 1');
    await c.script('ArtifactInstall_Enter_03', 'echo 03 >> "$TRACE"');
    const outcome = await c.run();
    t.false(outcome.ok);
    if (outcome.ok) return;
    t.is(outcome.failure.script, bad);
    t.is(outcome.failure.reason, 'exit-code');
    t.is(outcome.failure.exitCode, 1);
    t.is(outcome.failure.stderr, 'disk full\n');
    t.deepEqual(traced(c.trace), ['01', '02']);
  }));

test('exit 21 re-runs the script after the interval until it succeeds', (t) =>
  withScripts(async (c) => {
    const counter = join(c.dir, '..', 'count');
    await c.script('ArtifactInstall_Enter_01', `n=$(cat ${counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${counter}; [ $n -ge 3 ] || exit 21; echo done >> "$TRACE"`);
    await c.script('ArtifactInstall_Enter_02', 'echo next >> "$TRACE"');
    const start = Date.now();
    const outcome = await c.run();
    t.true(outcome.ok);
    t.is(await readFile(counter, 'utf8'), '3\n');
    t.deepEqual(traced(c.trace), ['done', 'next']);
    t.true(Date.now() - start >= 100, 'waited the retry interval twice');
    t.is(c.lines.filter((l) => l.includes('retry later')).length, 2);
  }));

test('a script that keeps asking to retry fails after the retry-later timeout', (t) =>
  withScripts(async (c) => {
    await c.script('ArtifactInstall_Enter_01', 'exit 21');
    await c.script('ArtifactInstall_Enter_02', 'echo never >> "$TRACE"');
    const start = Date.now();
    const outcome = await c.run({ retryLaterTimeoutMs: 300, retryIntervalMs: 50 });
    const took = Date.now() - start;
    t.false(outcome.ok);
    if (outcome.ok) return;
    t.is(outcome.failure.reason, 'retry-later-timeout');
    t.is(outcome.failure.exitCode, 21);
    t.true(took >= 250 && took < 3000, `took ${took} ms`);
    t.deepEqual(traced(c.trace), []);
  }));

test('a timeout kills the whole process group, background grandchild included', (t) =>
  withScripts(async (c) => {
    const pidFile = join(c.dir, '..', 'grandchild.pid');
    await c.script('ArtifactInstall_Enter_01', `sleep 30 & echo $! > ${pidFile}; echo started; sleep 30`);
    const start = Date.now();
    const outcome = await c.run({ timeoutMs: 400 });
    t.true(Date.now() - start < 5000);
    t.false(outcome.ok);
    if (outcome.ok) return;
    t.is(outcome.failure.reason, 'timeout');
    t.is(outcome.failure.signal, 'SIGKILL');
    t.true(c.lines.includes('ArtifactInstall_Enter_01 stdout: started'));
    const pid = Number(await readFile(pidFile, 'utf8'));
    await new Promise((r) => setTimeout(r, 100));
    const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : null;
    t.true(stat === null || / Z /.test(stat), `grandchild ${pid} still running: ${stat}`);
  }));

test('Error scripts: failures are logged, the rest still run, the outcome stays ok', (t) =>
  withScripts(async (c) => {
    await c.script('ArtifactInstall_Error_01', 'echo e1 >> "$TRACE"; echo oops >&2; exit 1');
    await c.script('ArtifactInstall_Error_02', 'echo e2 >> "$TRACE"', 0o644);
    await c.script('ArtifactInstall_Error_03', 'echo e3 >> "$TRACE"');
    const outcome = await c.run({ action: 'Error' });
    t.true(outcome.ok);
    if (!outcome.ok) return;
    t.deepEqual(traced(c.trace), ['e1', 'e3']);
    t.deepEqual(outcome.ignoredFailures.map((f) => f.reason), ['exit-code', 'not-executable']);
    t.is(outcome.ignoredFailures[0]!.stderr, 'oops\n');
    t.true(c.lines.some((l) => l.startsWith('ignoring failure of Error script')));
  }));

test('a non-executable script is an error, and nothing after it runs', (t) =>
  withScripts(async (c) => {
    const p = await c.script('ArtifactInstall_Enter_01', 'echo 01 >> "$TRACE"', 0o644);
    await c.script('ArtifactInstall_Enter_02', 'echo 02 >> "$TRACE"');
    const outcome = await c.run();
    t.false(outcome.ok);
    if (outcome.ok) return;
    t.is(outcome.failure.reason, 'not-executable');
    t.is(outcome.failure.script, p);
    t.regex(outcome.failure.message, /is not executable/);
    t.deepEqual(outcome.ran, []);
    t.deepEqual(traced(c.trace), []);
  }));

test('misnamed scripts are not run and are warned about', (t) =>
  withScripts(async (c) => {
    await c.script('ArtifactInstall_Enter_1', 'echo bad >> "$TRACE"');
    await c.script('ArtifactInstall_Enter_001', 'echo bad >> "$TRACE"');
    await c.script('ArtifactInstall_Enter_07_ok', 'echo ok >> "$TRACE"');
    const outcome = await c.run();
    t.true(outcome.ok);
    t.deepEqual(traced(c.trace), ['ok']);
    t.is(c.lines.filter((l) => l.startsWith('warning:') && l.includes('will not be run')).length, 2);
  }));

test('version file: 3 is fine, anything else fails; a missing dir is no scripts', (t) =>
  withScripts(async (c) => {
    await c.script('ArtifactInstall_Enter_01', 'echo 01 >> "$TRACE"');
    await writeFile(join(c.dir, 'version'), '3');
    t.true((await c.run()).ok);
    await writeFile(join(c.dir, 'version'), '7\n');
    const outcome = await c.run();
    t.false(outcome.ok);
    if (!outcome.ok) t.is(outcome.failure.reason, 'bad-version');
    const none = await c.run({ dirs: [join(c.dir, 'missing')] });
    t.deepEqual(none, { ok: true, ran: [], ignoredFailures: [] });
  }));

test('a script flooding stderr keeps memory bounded: capped tail and capped log', (t) =>
  withScripts(async (c) => {
    await c.script('ArtifactInstall_Enter_01', `i=0; while [ $i -lt 3000 ]; do echo "line $i" >&2; i=$((i+1)); done; head -c 3000000 /dev/zero | tr '\\0' x >&2; exit 1`);
    const outcome = await c.run();
    t.false(outcome.ok);
    if (outcome.ok) return;
    t.is(outcome.failure.stderr.length, 10 * 1024);
    t.true(/^x+$/.test(outcome.failure.stderr));
    const logged = c.lines.filter((l) => l.startsWith('ArtifactInstall_Enter_01 stderr: line '));
    t.is(logged.length, 1000);
    t.true(c.lines.includes('ArtifactInstall_Enter_01 stderr: (2001 more lines not logged)'));
  }));
