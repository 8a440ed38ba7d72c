// The same state machine in daemon mode (the managed client of issue 5 reuses it): it reboots by
// itself, reports statuses, and runs the reboot states the standalone CLI never stores
// (ArtifactRollbackReboot, ArtifactVerifyRollbackReboot). Run in-process against the host-sim
// board, with reboot = the board's boot(); a "restart" is a fresh machine over the same store.
import test from 'ava';
import { ClientError } from '../../client/errors.js';
import { detectActiveSlot } from '../../client/install/active-partition.js';
import { RootfsInstaller } from '../../client/install/rootfs.js';
import type { PayloadInstaller } from '../../client/install/types.js';
import { FileSource } from '../../client/sources.js';
import { UpdateMachine } from '../../client/state/machine.js';
import { JsonStore } from '../../client/state/store.js';
import { deploymentRecordSchema, type DeploymentStatus } from '../../client/state/types.js';
import { HostSimBoard } from './board.js';
import { rootfsImage, writeRootfsArtifact } from './artifacts.js';

interface Rig {
  b: HostSimBoard;
  states: string[];
  statuses: DeploymentStatus[];
  machine: (wrap?: (i: PayloadInstaller) => PayloadInstaller) => UpdateMachine;
}

async function rig(t: { teardown: (f: () => Promise<void>) => void }): Promise<Rig> {
  const b = await HostSimBoard.create({ partitionSize: 2 << 20 });
  t.teardown(() => b.destroy());
  await b.boot();
  const states: string[] = [];
  const statuses: DeploymentStatus[] = [];
  const machine = (wrap: (i: PayloadInstaller) => PayloadInstaller = (i) => i): UpdateMachine =>
    new UpdateMachine({
      dataDir: b.dataDir,
      mode: 'daemon',
      deviceType: async () => 'qemux86-64',
      verifyKeys: [],
      reporter: { status: async (_id, s) => void statuses.push(s) },
      onState: (s) => states.push(s),
      log: () => undefined,
      installerFor: async (_type, ctx) =>
        wrap(
          new RootfsInstaller({
            partA: b.partA,
            partB: b.partB,
            env: b.env,
            vars: { BootPart: 'boot_part', UpgradeAvailable: 'upgrade_available', BootCount: 'bootcount', ValueA: '2', ValueB: '3' },
            activeSlot: () => detectActiveSlot({ from: 'cmdline', procCmdline: b.cmdline, mountTable: '', partA: b.partA, partB: b.partB }),
            reboot: async () => void (await b.boot()),
            ctx,
          }),
        ),
    });
  return { b, states, statuses, machine };
}

test('daemon: download, install, reboot by itself, verify and commit after the restart', async (t) => {
  const { b, states, statuses, machine } = await rig(t);
  const art = await writeRootfsArtifact(b.dir, 'release-1', rootfsImage('d1', 1 << 20));
  const first = await machine().install(new FileSource(art), 'dep-1');
  t.deepEqual(first, { kind: 'rebooting', id: 'dep-1' });
  t.is(b.running, 'B');
  const second = await machine().resume('resume');
  t.like(second, { kind: 'done', outcome: 'success', error: null });
  t.deepEqual(states, ['Download', 'ArtifactInstall', 'ArtifactReboot', 'ArtifactVerifyReboot', 'ArtifactCommit', 'AfterCommit', 'Cleanup', 'Idle']);
  t.deepEqual(statuses, ['downloading', 'installing', 'rebooting', 'installing', 'success']);
  t.is((await b.provides()).artifact_name, 'release-1');
});

test('daemon: a broken rootfs is rolled back by the bootloader and reported as failure', async (t) => {
  const { b, states, statuses, machine } = await rig(t);
  const art = await writeRootfsArtifact(b.dir, 'release-bad', rootfsImage('bad', 1 << 20, { broken: true }));
  t.like(await machine().install(new FileSource(art)), { kind: 'rebooting' });
  t.is(b.running, 'A');
  const r = await machine().resume('resume');
  t.like(r, { kind: 'done', outcome: 'failure', rollback: 'done' });
  t.regex((r as { error: string }).error, /refusing to commit/);
  t.deepEqual(states.slice(3), ['ArtifactVerifyReboot', 'ArtifactRollback', 'ArtifactFailure', 'Cleanup', 'Idle']);
  t.is(statuses.at(-1), 'failure');
  t.is((await b.provides()).artifact_name, 'release-0');
});

test('daemon: a failed commit on the new rootfs rolls back with a rollback reboot, verified after restart', async (t) => {
  const { b, states, machine } = await rig(t);
  const art = await writeRootfsArtifact(b.dir, 'release-1', rootfsImage('d1', 1 << 20));
  const failingCommit = (i: PayloadInstaller): PayloadInstaller =>
    Object.assign(Object.create(i) as PayloadInstaller, {
      commit: async () => {
        throw new ClientError('BOOT_ENV', 'simulated commit failure');
      },
    });
  await machine().install(new FileSource(art));
  const r1 = await machine(failingCommit).resume('resume');
  t.like(r1, { kind: 'rebooting' });
  t.is(b.running, 'A');
  const r2 = await machine().resume('resume');
  t.like(r2, { kind: 'done', outcome: 'failure', rollback: 'done', error: 'simulated commit failure' });
  t.deepEqual(states.slice(3), [
    'ArtifactVerifyReboot',
    'ArtifactCommit',
    'ArtifactRollback',
    'ArtifactRollbackReboot',
    'ArtifactVerifyRollbackReboot',
    'ArtifactFailure',
    'Cleanup',
    'Idle',
  ]);
  t.like(await b.readEnv(), { boot_part: '2', upgrade_available: '0' });
});

test('loop guard: past 28 stored transitions the deployment fails as inconsistent, from the stored count alone', async (t) => {
  const { b, states, machine } = await rig(t);
  const art = await writeRootfsArtifact(b.dir, 'release-1', rootfsImage('d1', 1 << 20));
  await machine().install(new FileSource(art), 'dep-loop');
  const store = new JsonStore(b.dataDir);
  const rec = (await store.read('state', deploymentRecordSchema))!;
  t.is(rec.state, 'ArtifactReboot');
  await store.write('state', { ...rec, state: 'ArtifactCommit', storeCount: 28 });
  const r = await machine().resume('resume');
  t.like(r, { kind: 'done', outcome: 'failure', rollback: 'failed' });
  t.regex((r as { error: string }).error, /state loop detected/);
  t.deepEqual(states.slice(3), ['ArtifactFailure', 'Cleanup', 'Idle']);
  t.is((await b.provides()).artifact_name, 'release-1_INCONSISTENT');
});

test('hard cap: a record far past the limit is dropped as failed without running any state', async (t) => {
  const { b, states, machine } = await rig(t);
  const art = await writeRootfsArtifact(b.dir, 'release-1', rootfsImage('d1', 1 << 20));
  await machine().install(new FileSource(art), 'dep-cap');
  const store = new JsonStore(b.dataDir);
  const rec = (await store.read('state', deploymentRecordSchema))!;
  await store.write('state', { ...rec, state: 'ArtifactFailure', storeCount: 99 });
  const r = await machine().resume('resume');
  t.like(r, { kind: 'done', outcome: 'failure' });
  t.deepEqual(states.slice(3), ['Idle']);
  t.is(await store.read('state', deploymentRecordSchema), null);
});

test('daemon offers: the machine runs an offer, resumes it after the reboot, answers already-installed', async (t) => {
  const { b, states, statuses, machine } = await rig(t);
  const art = await writeRootfsArtifact(b.dir, 'release-1', rootfsImage('cyc', 1 << 20));
  const offer = { id: 'dep-9', artifactName: 'release-1', source: new FileSource(art) };
  t.like(await machine().runOffer(offer), { kind: 'rebooting', id: 'dep-9' });
  t.like(await machine().resume('resume'), { kind: 'done', outcome: 'success' });
  t.deepEqual(await machine().runOffer(offer), { kind: 'idle' });
  t.is(statuses.at(-1), 'already-installed');
  t.deepEqual(states.slice(0, 1), ['Download']);
});

test('an offer whose signal is aborted stops the download: nothing installed, failure recorded', async (t) => {
  const { b, states, machine } = await rig(t);
  const art = await writeRootfsArtifact(b.dir, 'release-1', rootfsImage('abort', 1 << 20));
  const stop = new AbortController();
  stop.abort();
  const r = await machine().runOffer({ id: 'dep-10', artifactName: 'release-1', source: new FileSource(art), signal: stop.signal });
  t.like(r, { kind: 'done', outcome: 'failure' });
  t.false(states.includes('ArtifactInstall'));
});

test('a deployment id that could escape the work directory is refused before anything is stored', async (t) => {
  const { b, machine } = await rig(t);
  const art = await writeRootfsArtifact(b.dir, 'release-1', rootfsImage('id', 256 << 10));
  for (const id of ['../../etc', '', 'a/b', '.hidden']) {
    const e = await t.throwsAsync(machine().install(new FileSource(art), id), { instanceOf: ClientError });
    t.is(e?.code, 'SOURCE');
  }
  t.is(await new JsonStore(b.dataDir).read('state', deploymentRecordSchema), null);
});
