// The harness must catch real bugs: the client built with one deliberate bug (or the boot script
// without its bootcount), the scenario that covers it fails, and the report names the cause.
import test from 'ava';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDeviceBundle } from '../../client/build-device.js';
import type { InjectedBug } from '../../client/injected-bug.js';
import { loadScenarios } from '../scenario/load.js';
import { runScenarios, type RunSummary } from '../scenario/runner.js';
import { HostSimLabBoard } from './lab-board.js';

async function runWith(scenario: string, board: (dir: string) => Promise<HostSimLabBoard>): Promise<RunSummary & { html: string; journal: string }> {
  const def = (await loadScenarios()).find((s) => s.name === scenario);
  if (!def) throw new Error(`no scenario ${scenario}`);
  const dir = mkdtempSync(join(tmpdir(), 'flipside-bug-'));
  const r = await runScenarios({ scenarios: [def], board: await board(dir), seed: 5, reportsDir: dir, workDir: join(dir, 'work') });
  return { ...r, html: readFileSync(r.reports.html, 'utf8'), journal: readFileSync(join(r.dir, 'run.jsonl'), 'utf8') };
}

const withBug = (bug: InjectedBug) => async (dir: string) => new HostSimLabBoard(undefined, { clientBundle: await buildDeviceBundle(join(dir, 'flipside.cjs'), { injectBug: bug }) });

test('skip-fsync: power cut after the flip loses the unsynced rootfs, power-cut-after-env-flip fails and the report says why', async (t) => {
  const r = await runWith('power-cut-after-env-flip', withBug('skip-fsync'));
  t.is(r.exitCode, 1);
  const x = r.results[0]!;
  t.is(x.status, 'failed');
  t.regex(x.failure!.message, /check 'boots the new rootfs' failed/);
  t.regex(r.journal, /were never fsynced and are lost/);
  t.regex(r.html, /never fsynced and are lost/);
  t.regex(r.journal, /VFS: Unable to mount root fs/);
});

test('flip-before-checksum: the corrupt artifact changes the boot env, refuse-bad-artifacts fails at that check', async (t) => {
  const r = await runWith('refuse-bad-artifacts', withBug('flip-before-checksum'));
  t.is(r.exitCode, 1);
  const x = r.results[0]!;
  t.is(x.status, 'failed');
  t.regex(x.failure!.message, /check 'corrupt: boot env unchanged' failed/);
  t.regex(x.failure!.message, /expected the env unchanged, got boot_part 2 → 3, upgrade_available 0 → 1/);
  t.regex(r.html, /corrupt: boot env unchanged/);
});

test('no-bootcount: a boot script that never counts boots keeps booting the broken rootfs, broken-rootfs-rollback fails at the shell stage', async (t) => {
  const r = await runWith('broken-rootfs-rollback', async () => new HostSimLabBoard(undefined, { bootScriptBug: 'no-bootcount' }));
  t.is(r.exitCode, 1);
  const x = r.results[0]!;
  t.is(x.status, 'failed');
  t.regex(x.failure!.message, /stage 'shell'/);
  t.regex(x.failure!.message, /never increments it/);
  t.regex(r.html, /Attempted to kill init/);
});

test('the same scenarios pass with the clean client and boot script (the failures above are the bugs)', async (t) => {
  for (const s of ['power-cut-after-env-flip', 'refuse-bad-artifacts', 'broken-rootfs-rollback']) {
    const r = await runWith(s, async () => new HostSimLabBoard());
    t.is(r.results[0]!.status, 'passed', `${s}: ${r.results[0]!.failure?.message}`);
  }
});
