// The kill matrix, in the spirit of Mender's state_test.cpp "Killed_in_X": the real client process
// is SIGKILLed (FLIPSIDE_TEST_KILL_AT / FLIPSIDE_TEST_KILL_AT_BYTE) at every state the standalone
// flow stores and at byte offsets of the payload write; then the board "loses power" (boot() runs
// the U-Boot script again), the client is restarted (`flipside resume`, then `commit` where the
// update waits for it) and the end state is asserted per row: running slot, env, provides,
// partition contents and the recorded outcome. Exactly one of old/new must be running and committed.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { JsonStore } from '../../client/state/store.js';
import { lastDeploymentSchema, deploymentRecordSchema } from '../../client/state/types.js';
import { HostSimBoard } from './board.js';
import { rootfsImage, writeRootfsArtifact } from './artifacts.js';
import { sha256 } from './testing/state.js';

type Cmd = 'install' | 'commit' | 'rollback';
type Step = Cmd | 'boot' | { cmd: Cmd; killAt?: string; killAtByte?: number };

interface Row {
  name: string;
  steps: Step[];
  /** Exit code of the `flipside resume` run after the power cut. */
  resumeCode: number;
  slot: 'A' | 'B';
  outcome: 'success' | 'failure';
}

const SIZE = 2 << 20;

const fail = (name: string, steps: Step[], resumeCode = 1): Row => ({ name, steps, resumeCode, slot: 'A', outcome: 'failure' });
const ok = (name: string, steps: Step[], resumeCode = 0): Row => ({ name, steps, resumeCode, slot: 'B', outcome: 'success' });
const kill = (cmd: Cmd, killAt: string): Step => ({ cmd, killAt });

const rows: Row[] = [
  fail('Killed_in_Download', [kill('install', 'Download')]),
  fail('Killed_at_byte_1', [{ cmd: 'install', killAtByte: 1 }]),
  fail('Killed_at_byte_64KiB', [{ cmd: 'install', killAtByte: 64 << 10 }]),
  fail('Killed_at_byte_1MiB', [{ cmd: 'install', killAtByte: 1 << 20 }]),
  fail('Killed_at_last_byte', [{ cmd: 'install', killAtByte: SIZE }]),
  fail('Killed_after_Download', [kill('install', 'Download:done')]),
  fail('Killed_in_ArtifactInstall_before_flip', [kill('install', 'ArtifactInstall')]),
  // The env was flipped: the power cut boots the new slot once; recovery rolls back and the next boot is old.
  fail('Killed_in_ArtifactInstall_after_flip', [kill('install', 'ArtifactInstall:done')]),
  ok('Killed_in_ArtifactReboot', [kill('install', 'ArtifactReboot')]),
  // A second boot without commit: U-Boot's bootcount rolls back before the client runs again.
  fail('Killed_in_ArtifactVerifyReboot', ['install', 'boot', kill('commit', 'ArtifactVerifyReboot')]),
  fail('Killed_in_ArtifactCommit_before_env', ['install', 'boot', kill('commit', 'ArtifactCommit')]),
  ok('Killed_in_ArtifactCommit_after_env', ['install', 'boot', kill('commit', 'ArtifactCommit:done')]),
  ok('Killed_in_ArtifactCommit_Leave', ['install', 'boot', kill('commit', 'AfterCommit')]),
  ok('Killed_after_provides_saved', ['install', 'boot', kill('commit', 'AfterCommit:done')]),
  ok('Killed_in_Cleanup_after_commit', ['install', 'boot', kill('commit', 'Cleanup')]),
  fail('Killed_in_ArtifactRollback_after_reboot', ['install', 'boot', kill('rollback', 'ArtifactRollback')]),
  fail('Killed_in_ArtifactRollback_before_reboot', ['install', kill('rollback', 'ArtifactRollback')]),
  fail('Killed_after_ArtifactRollback', ['install', 'boot', kill('rollback', 'ArtifactRollback:done')]),
  fail('Killed_in_ArtifactFailure', ['install', kill('rollback', 'ArtifactFailure')]),
  fail('Killed_in_Cleanup_after_failure', ['install', kill('rollback', 'Cleanup')]),
  // Broken update found by the installer's own checks, killed on the failure path.
  fail('Killed_in_ArtifactFailure_after_bootloader_rollback', ['install', 'boot', 'boot', kill('commit', 'ArtifactFailure')]),
];

async function runRow(row: Row): Promise<string[]> {
  const problems: string[] = [];
  const check = (cond: boolean, what: string): void => {
    if (!cond) problems.push(what);
  };
  const b = await HostSimBoard.create({ partitionSize: 4 << 20 });
  try {
    await b.boot();
    const img = rootfsImage(`kill-${row.name}`, SIZE);
    const art = await writeRootfsArtifact(b.dir, 'release-1', img);
    const factoryA = sha256(await readFile(b.partA));
    let killed = false;
    for (const s of row.steps) {
      if (s === 'boot') {
        await b.boot();
        continue;
      }
      const cmd = typeof s === 'string' ? s : s.cmd;
      const env: Record<string, string> = {};
      if (typeof s !== 'string' && s.killAt) env.FLIPSIDE_TEST_KILL_AT = s.killAt;
      if (typeof s !== 'string' && s.killAtByte !== undefined) env.FLIPSIDE_TEST_KILL_AT_BYTE = String(s.killAtByte);
      const r = await b.runClient(cmd === 'install' ? ['install', art] : [cmd], { env });
      if (typeof s === 'string') continue;
      check(r.signal === 'SIGKILL', `${cmd} was not killed (code ${r.code}, signal ${r.signal}): ${r.stderr.trim()}`);
      const want = s.killAt?.replace(/:done$/, '');
      if (want) check(r.states.at(-1) === want, `last state before the kill was ${r.states.at(-1)}, expected ${want}`);
      killed = true;
      // Power cut: the board boots again through the U-Boot script.
      await b.boot();
    }
    check(killed, 'row has no kill step');
    const resume = await b.runClient(['resume']);
    check(resume.code === row.resumeCode, `resume exited ${resume.code}, expected ${row.resumeCode}: ${resume.stderr.trim()}`);
    const store = new JsonStore(b.dataDir);
    const pending = await store.read('state', deploymentRecordSchema);
    if (pending?.state === 'ArtifactReboot') {
      const c = await b.runClient(['commit']);
      check(c.code === 0, `commit after resume exited ${c.code}: ${c.stderr.trim()}`);
    }
    // Whatever happened, one more power cycle must land on a settled, bootable system.
    const final = await b.boot();
    check(final.ok && final.slot === row.slot, `final boot: ${JSON.stringify(final)}, expected slot ${row.slot}`);
    const env = await b.readEnv();
    check(env.boot_part === (row.slot === 'A' ? '2' : '3'), `env boot_part=${env.boot_part}`);
    check(env.upgrade_available === '0', `env upgrade_available=${env.upgrade_available}`);
    check((await store.read('state', deploymentRecordSchema)) === null, 'a deployment is still stored');
    const provides = await b.provides();
    const wantName = row.outcome === 'success' ? 'release-1' : 'release-0';
    check(provides.artifact_name === wantName, `provides artifact_name=${provides.artifact_name}, expected ${wantName}`);
    if (row.outcome === 'success') check(provides['rootfs-image.checksum'] === sha256(img), 'provides checksum');
    const last = await store.read('last-deployment', lastDeploymentSchema);
    check(last?.outcome === row.outcome, `last outcome ${last?.outcome}, expected ${row.outcome}`);
    check(sha256(await readFile(b.partA)) === factoryA, 'slot A (the old rootfs) was modified');
    if (row.slot === 'B') check((await readFile(b.partB)).subarray(0, SIZE).equals(img), 'slot B does not hold the update');
    const count = (await b.runClient(['commit'])).code;
    check(count === 2, `a final commit exited ${count}, expected 2 (nothing in progress)`);
  } finally {
    await b.destroy();
  }
  return problems;
}

test('kill matrix: SIGKILL at every stored state and at payload byte offsets, then power cycle and resume', async (t) => {
  t.timeout(180_000);
  const results = new Map<string, string[]>();
  const queue = [...rows];
  const workers = Array.from({ length: 3 }, async () => {
    for (let row = queue.shift(); row; row = queue.shift()) results.set(row.name, await runRow(row));
  });
  await Promise.all(workers);
  for (const row of rows) {
    t.deepEqual(results.get(row.name), [], row.name);
  }
  t.is(results.size, rows.length);
});
