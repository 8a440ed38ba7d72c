import test from 'ava';
import { main } from './cli.js';

function capture(): { out: string[]; restore: () => void } {
  const out: string[] = [];
  const log = console.log;
  const err = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void out.push(a.join(' '));
  return { out, restore: () => ((console.log = log), (console.error = err)) };
}

test.serial('list --json names every scenario with its purpose and the boards it runs on', async (t) => {
  const c = capture();
  const code = await main(['list', '--json']).finally(c.restore);
  t.is(code, 0);
  const j = JSON.parse(c.out.join('\n')) as { scenarios: { name: string; purpose: string; boards: string[] }[]; boards: { name: string }[] };
  const names = j.scenarios.map((s) => s.name);
  for (const n of ['happy-path', 'power-cut-during-write', 'power-cut-after-env-flip', 'power-cut-first-boot', 'broken-rootfs-rollback', 'health-check-rollback', 'refuse-bad-artifacts', 'power-cut-sweep', 'network-drop-mid-download', 'server-unreachable-after-reboot'])
    t.true(names.includes(n), n);
  t.true(j.scenarios.every((s) => s.purpose.length > 0 && !s.purpose.includes('\n')));
  t.true(j.scenarios.find((s) => s.name === 'happy-path')!.boards.includes('qemu-aarch64'));
  t.true(j.scenarios.find((s) => s.name === 'happy-path')!.boards.includes('host-sim'));
  // Managed scenarios need the server: not on raspberrypi3-qemu (no network there).
  t.false(j.scenarios.find((s) => s.name === 'network-drop-mid-download')!.boards.includes('raspberrypi3-qemu'));
  t.true(j.scenarios.find((s) => s.name === 'network-drop-mid-download')!.boards.includes('host-sim'));
});

test.serial('run with an unknown scenario exits 1 and says which exist', async (t) => {
  const c = capture();
  const code = await main(['run', 'no-such-scenario']).finally(c.restore);
  t.is(code, 1);
  t.regex(c.out.join('\n'), /no scenario named no-such-scenario; known: .*happy-path/);
});

test.serial('bad options are usage errors', async (t) => {
  const c = capture();
  const code = await main(['run', '--repeat', 'x']).finally(c.restore);
  t.not(code, 0);
});

test.serial('--inject-bug names the bugs it knows', async (t) => {
  const err: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
  const code = await main(['run', '--board', 'host-sim', '--inject-bug', 'no-such-bug']).finally(() => (process.stderr.write = write));
  t.not(code, 0);
  t.regex(err.join(''), /skip-fsync.*flip-before-checksum.*no-bootcount/);
});

test.serial('the replay printed for a failure under --inject-bug reproduces it; run.jsonl and the report record the bug', async (t) => {
  const { mkdtempSync, readFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const reports = mkdtempSync(join(tmpdir(), 'flipside-replay-'));
  type Out = { dir: string; html: string; failed: number; results: { status: string; failure?: string; replay: string }[] };
  const run = async (argv: string[]): Promise<Out> => {
    const c = capture();
    const code = await main([...argv, '--reports', reports, '--json']).finally(c.restore);
    t.is(code, 1, c.out.join('\n'));
    return JSON.parse(c.out.at(-1)!) as Out;
  };
  const first = await run(['run', 'power-cut-after-env-flip', '--board', 'host-sim', '--seed', '5', '--inject-bug', 'skip-fsync']);
  const r = first.results[0]!;
  t.is(r.status, 'failed');
  t.is(r.replay, 'flipside-lab run power-cut-after-env-flip --board host-sim --seed 5 --inject-bug skip-fsync');
  const journal = readFileSync(join(first.dir, 'run.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; settings?: unknown });
  t.deepEqual(journal.find((l) => l.type === 'run')!.settings, { injectBug: 'skip-fsync' });
  t.deepEqual(journal.find((l) => l.type === 'scenario')!.settings, { injectBug: 'skip-fsync' });
  t.regex(readFileSync(first.html, 'utf8'), /--seed 5 --inject-bug skip-fsync/);
  // Run exactly what was printed: the same check fails the same way.
  const again = await run(r.replay.split(' ').slice(1));
  t.is(again.results[0]!.status, 'failed');
  t.is(again.results[0]!.failure, r.failure);
});

test.serial('--client mender is refused where no image can carry it, and with --inject-bug', async (t) => {
  const c = capture();
  const err: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
  try {
    t.is(await main(['run', 'happy-path', '--board', 'host-sim', '--client', 'mender']), 1);
    t.is(await main(['run', 'happy-path', '--board', 'qemu-aarch64', '--client', 'mender', '--inject-bug', 'skip-fsync']), 1);
    t.not(await main(['run', 'happy-path', '--client', 'rauc']), 0);
  } finally {
    c.restore();
    process.stderr.write = write;
  }
  const said = [...c.out, ...err].join('\n');
  t.regex(said, /--client mender runs on the QEMU boards .*host-sim is not one/);
  t.regex(said, /--inject-bug builds a Flipside client with a bug; it cannot go with --client mender/);
  t.regex(said, /'rauc' is invalid.*flipside, mender/s);
});

test.serial('campaign: --client mender only on QEMU boards, a bad --only is named before anything runs', async (t) => {
  const c = capture();
  const err: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
  try {
    t.is(await main(['campaign', '--board', 'host-sim', '--client', 'mender']), 1);
    t.is(await main(['campaign', '--board', 'host-sim', '--only', 'bad']), 1);
    t.not(await main(['campaign', '--board', 'qemu-aarch64', '--crash-images', '0']), 0);
  } finally {
    c.restore();
    process.stderr.write = write;
  }
  const said = [...c.out, ...err].join('\n');
  t.regex(said, /--client mender runs on QEMU boards only/);
  t.regex(said, /--only wants flow:cut:index/);
  t.regex(said, /--crash-images must be an integer ≥ 1, got 0/);
});
