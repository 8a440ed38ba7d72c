// End-to-end on the host-sim board: the real client bundle installs, the simulated U-Boot script
// boots, the client commits or rolls back; partitions are byte-compared and the env, provides and
// exit codes asserted at every step.
import test from 'ava';
import { createServer } from 'node:http';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { JsonStore } from '../../client/state/store.js';
import { HostSimBoard } from './board.js';
import { CONFORMANCE_DIR, payloadOf, rootfsImage, writeRootfsArtifact } from './artifacts.js';
import { sha256, snapshot } from './testing/state.js';

const KEYS = join(CONFORMANCE_DIR, 'keys');

async function withBoard(
  t: { teardown: (f: () => Promise<void>) => void },
  opts: Parameters<typeof HostSimBoard.create>[0] = {},
): Promise<HostSimBoard> {
  const b = await HostSimBoard.create(opts);
  t.teardown(() => b.destroy());
  const boot = await b.boot();
  if (!boot.ok || boot.slot !== 'A') throw new Error(`factory boot failed: ${JSON.stringify(boot)}`);
  return b;
}

const conformance: Array<{ file: string; key?: string }> = [
  { file: 'rootfs-none.mender' },
  { file: 'rootfs-gzip.mender' },
  { file: 'rootfs-zstd.mender' },
  { file: 'rootfs-lzma.mender' },
  { file: 'rootfs-signed-rsa3072.mender', key: 'rsa3072.pub' },
  { file: 'rootfs-signed-ecdsa-p256.mender', key: 'ecdsa-p256.pub' },
];

for (const c of conformance) {
  test(`conformance ${c.file}: install, reboot, commit; partitions byte-compared`, async (t) => {
    const b = await withBoard(t, { config: c.key ? { ArtifactVerifyKey: join(KEYS, c.key) } : {} });
    const artifact = join(CONFORMANCE_DIR, c.file);
    const payload = await payloadOf(artifact);
    const before = await snapshot(b);

    const inst = await b.runClient(['install', artifact, '--reboot-exit-code']);
    t.is(inst.code, 4, inst.stderr);
    t.deepEqual(inst.states, ['Download', 'ArtifactInstall', 'ArtifactReboot']);
    const env = await b.readEnv();
    t.is(env.boot_part, '3');
    t.is(env.upgrade_available, '1');
    t.is(env.bootcount, '0');
    const partB = await readFile(b.partB);
    t.true(partB.subarray(0, payload.length).equals(payload), 'slot B holds the payload');
    t.true(partB.subarray(payload.length).every((x) => x === 0), 'slot B past the payload is untouched');
    t.is(sha256(await readFile(b.partA)), before.partA, 'the running slot A is untouched');
    t.deepEqual(await b.provides(), before.provides, 'provides change only on commit');

    const boot = await b.boot();
    t.true(boot.ok);
    t.is(boot.ok && boot.slot, 'B');
    const commit = await b.runClient(['commit']);
    t.is(commit.code, 0, commit.stderr);
    t.deepEqual(commit.states, ['ArtifactVerifyReboot', 'ArtifactCommit', 'AfterCommit', 'Cleanup', 'Idle']);
    const after = await snapshot(b);
    t.is(after.env.upgrade_available, '0');
    t.is(after.env.boot_part, '3');
    t.is(after.deployment, null);
    t.deepEqual(after.provides, {
      artifact_name: 'release-1',
      'rootfs-image.checksum': sha256(payload),
      'rootfs-image.version': 'release-1',
    });
    const show = await b.runClient(['show-artifact']);
    t.is(show.stdout.trim(), 'release-1');
    // Committed: a further boot stays on B.
    const again = await b.boot();
    t.is(again.ok && again.slot, 'B');
    t.is((await b.runClient(['commit'])).code, 2, 'nothing left to commit');
  });
}

test('writer artifacts: release-1 then release-2 alternate slots; each commit keeps the other slot intact', async (t) => {
  const b = await withBoard(t);
  const img1 = rootfsImage('release-1', 3 << 20);
  const img2 = rootfsImage('release-2', (5 << 20) + 123);
  const a1 = await writeRootfsArtifact(b.dir, 'release-1', img1, { compression: 'gzip' });
  const a2 = await writeRootfsArtifact(b.dir, 'release-2', img2, { compression: 'zstd' });

  t.is((await b.runClient(['install', a1])).code, 0, 'without --reboot-exit-code a pending reboot exits 0');
  t.is((await b.boot()).slot, 'B');
  t.is((await b.runClient(['commit'])).code, 0);

  const inst2 = await b.runClient(['install', a2, '--reboot-exit-code']);
  t.is(inst2.code, 4, inst2.stderr);
  t.is((await b.readEnv()).boot_part, '2', 'release-2 goes to slot A');
  t.is((await b.boot()).slot, 'A');
  t.is((await b.runClient(['commit'])).code, 0);

  const partA = await readFile(b.partA);
  const partB = await readFile(b.partB);
  t.true(partA.subarray(0, img2.length).equals(img2));
  t.true(partB.subarray(0, img1.length).equals(img1));
  const p = await b.provides();
  t.is(p.artifact_name, 'release-2');
  t.is(p['rootfs-image.checksum'], sha256(img2));
  const json = await b.runClient(['--json', 'show-provides']);
  t.deepEqual(JSON.parse(json.stdout) as unknown, p);
});

test('install from an http URL streams the artifact', async (t) => {
  const b = await withBoard(t);
  const img = rootfsImage('http', 2 << 20);
  const art = await writeRootfsArtifact(b.dir, 'release-http', img);
  const server = createServer((req, res) => {
    if (req.url === '/a.mender') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      createReadStream(art).pipe(res);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const { port } = server.address() as AddressInfo;
  const missing = await b.runClient(['install', `http://127.0.0.1:${port}/nope.mender`]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /HTTP 404/);
  const ok = await b.runClient(['install', `http://127.0.0.1:${port}/a.mender`, '--reboot-exit-code']);
  t.is(ok.code, 4, ok.stderr);
  t.true((await readFile(b.partB)).subarray(0, img.length).equals(img));
});

test('rollback before the reboot: env back to slot A at once, provides unchanged, no reboot needed', async (t) => {
  const b = await withBoard(t);
  const art = await writeRootfsArtifact(b.dir, 'release-1', rootfsImage('r1', 1 << 20));
  const before = await snapshot(b);
  t.is((await b.runClient(['install', art, '--reboot-exit-code'])).code, 4);
  const rb = await b.runClient(['rollback', '--reboot-exit-code']);
  t.is(rb.code, 0, rb.stderr);
  t.deepEqual(rb.states, ['ArtifactRollback', 'ArtifactFailure', 'Cleanup', 'Idle']);
  const after = await snapshot(b);
  t.is(after.env.boot_part, '2');
  t.is(after.env.upgrade_available, '0');
  t.deepEqual(after.provides, before.provides);
  t.is(after.partA, before.partA);
  t.is((await b.boot()).slot, 'A');
  t.is((await b.runClient(['rollback'])).code, 2, 'nothing left to roll back');
});

test('rollback after rebooting into the update: reboot required, then the old slot runs', async (t) => {
  const b = await withBoard(t);
  const art = await writeRootfsArtifact(b.dir, 'release-1', rootfsImage('r1', 1 << 20));
  const before = await snapshot(b);
  await b.runClient(['install', art]);
  t.is((await b.boot()).slot, 'B');
  const rb = await b.runClient(['rollback', '--reboot-exit-code']);
  t.is(rb.code, 4, rb.stderr);
  t.is((await b.readEnv()).boot_part, '2');
  t.is((await b.boot()).slot, 'A');
  const after = await snapshot(b);
  t.deepEqual(after.provides, before.provides);
  t.is(after.partA, before.partA);
  t.is(after.deployment, null);
  const last = await new JsonStore(b.dataDir).read('last-deployment', (await import('../../client/state/types.js')).lastDeploymentSchema);
  t.is(last?.outcome, 'failure');
});

test('broken new rootfs: the bootloader rolls back, commit is refused, provides unchanged', async (t) => {
  const b = await withBoard(t);
  const art = await writeRootfsArtifact(b.dir, 'release-broken', rootfsImage('broken', 1 << 20, { broken: true }));
  const before = await snapshot(b);
  t.is((await b.runClient(['install', art, '--reboot-exit-code'])).code, 4);
  const boot = await b.boot();
  t.true(boot.ok);
  t.is(boot.ok && boot.slot, 'A', 'altbootcmd swapped back to A');
  t.true(boot.resets >= 1);
  t.true(boot.log.some((l) => l.startsWith('altbootcmd')));
  const commit = await b.runClient(['commit']);
  t.is(commit.code, 1);
  t.regex(commit.stderr, /refusing to commit/);
  t.true(commit.states.includes('ArtifactRollback') && commit.states.includes('ArtifactFailure'));
  const after = await snapshot(b);
  t.is(after.env.boot_part, '2');
  t.is(after.env.upgrade_available, '0');
  t.deepEqual(after.provides, before.provides);
  t.is(after.partA, before.partA);
  t.is(after.deployment, null);
});

test('power cut during the first boot of the update: the second boot rolls back, commit refused', async (t) => {
  const b = await withBoard(t);
  const art = await writeRootfsArtifact(b.dir, 'release-1', rootfsImage('r1', 1 << 20));
  const before = await snapshot(b);
  await b.runClient(['install', art]);
  t.is((await b.boot()).slot, 'B');
  // Power lost before anyone committed: U-Boot counts the second boot past bootlimit.
  const second = await b.boot();
  t.is(second.ok && second.slot, 'A');
  const commit = await b.runClient(['commit']);
  t.is(commit.code, 1);
  t.deepEqual((await snapshot(b)).provides, before.provides);
});

test('depends and provides: rootfs-depends-provides installs on a device that meets its depends', async (t) => {
  const b = await withBoard(t, { deviceType: 'raspberrypi4' });
  await new JsonStore(b.dataDir).write('provides', {
    artifact_name: 'release-1',
    artifact_group: 'groupA',
    foo: 'bar',
    'rootfs-image.version': 'old',
    'rootfs-image.myos.version': '1.0.0',
    keep: 'me',
  });
  const r = await b.runClient(['install', join(CONFORMANCE_DIR, 'rootfs-depends-provides.mender'), '--reboot-exit-code']);
  t.is(r.code, 4, r.stderr);
  await b.boot();
  t.is((await b.runClient(['commit'])).code, 0);
  t.deepEqual(await b.provides(), {
    artifact_name: 'release-2',
    artifact_group: 'groupB',
    foo: 'bar',
    keep: 'me',
    'custom.key': 'custom-value',
    'rootfs-image.checksum': '6f401263bdcd9f8fdd51866b0b55c73690f5909f70e78a5456f30f73f3e9952a',
    'rootfs-image.myos.version': '2.0.0',
  });
});

test('the console state log gets the same FLIPSIDE-STATE lines as stdout', async (t) => {
  const b = await withBoard(t);
  const art = await writeRootfsArtifact(b.dir, 'release-1', rootfsImage('r1', 256 << 10));
  const r = await b.runClient(['install', art]);
  const consoleLines = (await readFile(b.consoleLog, 'utf8')).trim().split('\n');
  t.is(consoleLines.length, r.states.length);
  for (const l of consoleLines) t.regex(l, /^FLIPSIDE-STATE \{"state":"\w+","deployment":"[0-9a-f-]+","t":\d+\}$/);
});

test('the running partition can come from the mount table instead of the kernel command line', async (t) => {
  const b = await withBoard(t, { config: { ActivePartitionFrom: 'mount' } });
  const art = await writeRootfsArtifact(b.dir, 'release-1', rootfsImage('mnt', 1 << 20));
  t.is((await b.runClient(['install', art, '--reboot-exit-code'])).code, 4);
  t.is((await b.boot()).slot, 'B');
  t.is((await b.runClient(['commit'])).code, 0);
  t.is((await b.provides()).artifact_name, 'release-1');
});
