// Bad input on the host-sim board: each case fails with a clear message and leaves both
// partitions, the env and provides exactly as they were (or, for a damaged env copy, works from
// the other copy).
import test from 'ava';
import { open, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HostSimBoard } from './board.js';
import { CONFORMANCE_DIR, rootfsImage, writeRootfsArtifact } from './artifacts.js';
import { snapshotFiles } from './testing/state.js';

async function board(t: { teardown: (f: () => Promise<void>) => void }, o: Parameters<typeof HostSimBoard.create>[0] = {}): Promise<HostSimBoard> {
  const b = await HostSimBoard.create(o);
  t.teardown(() => b.destroy());
  await b.boot();
  return b;
}

const refusals: Array<{
  name: string;
  message: RegExp;
  setup: (b: HostSimBoard) => Promise<string>;
  opts?: Parameters<typeof HostSimBoard.create>[0];
}> = [
  {
    name: 'wrong device type',
    message: /for device types \[raspberrypi4\], this device is qemux86-64/,
    setup: (b) => writeRootfsArtifact(b.dir, 'release-1', rootfsImage('x', 1 << 20), { deviceTypes: ['raspberrypi4'] }),
  },
  {
    name: 'failed depends (artifact name and group)',
    message: /artifact_name: header-info depends on one of \[release-1\], the device has "release-0"/,
    setup: async () => join(CONFORMANCE_DIR, 'rootfs-depends-provides.mender'),
    opts: { deviceType: 'raspberrypi4' },
  },
  {
    name: 'failed type-info depends',
    message: /foo: payload 0 depends on one of \[bar\], the device provides no foo/,
    setup: (b) => writeRootfsArtifact(b.dir, 'release-1', rootfsImage('x', 1 << 20), { depends: { foo: 'bar' } }),
  },
  {
    name: 'unsigned artifact with a verify key configured',
    message: /not signed/,
    setup: async () => join(CONFORMANCE_DIR, 'rootfs-gzip.mender'),
    opts: { config: { ArtifactVerifyKey: join(CONFORMANCE_DIR, 'keys', 'rsa3072.pub') } },
  },
  {
    name: 'signed with another key',
    message: /signature/i,
    setup: async () => join(CONFORMANCE_DIR, 'rootfs-signed-ecdsa-p256.mender'),
    opts: { config: { ArtifactVerifyKey: join(CONFORMANCE_DIR, 'keys', 'rsa3072.pub') } },
  },
  {
    name: 'payload larger than the partition',
    message: /is 3145728 bytes but partition .*rootfs-b\.img holds only 2097152; nothing was written/,
    setup: (b) => writeRootfsArtifact(b.dir, 'release-1', rootfsImage('big', 3 << 20)),
    opts: { partitionSize: 2 << 20 },
  },
  {
    name: 'full data partition (ENOSPC on the store)',
    message: /data partition is full \(ENOSPC\)/,
    setup: async (b) => {
      // Every write of the deployment record lands on /dev/full: ENOSPC, as on a full /data.
      await symlink('/dev/full', join(b.dataDir, 'state.json.tmp'));
      return writeRootfsArtifact(b.dir, 'release-1', rootfsImage('x', 1 << 20));
    },
  },
  {
    name: 'env location that does not match',
    message: /fw_env\.config/,
    setup: async (b) => {
      await writeFile(b.fwEnvConfig, `${b.envFile} 0x10000 0x4000\n${b.envFile} 0x14000 0x4000\n`);
      await writeFile(b.envFile, Buffer.concat([await readFile(b.envFile), Buffer.alloc(0x10000, 0xff)]));
      return writeRootfsArtifact(b.dir, 'release-1', rootfsImage('x', 1 << 20));
    },
  },
  {
    name: 'corrupt payload (checksum mismatch)',
    message: /CHECKSUM|sha256/i,
    setup: async (b) => {
      const img = rootfsImage('corrupt', 1 << 20);
      const art = await writeRootfsArtifact(b.dir, 'release-1', img);
      const bytes = await readFile(art);
      const at = bytes.indexOf(img.subarray(0, 4096));
      if (at < 0) throw new Error('payload not found in artifact');
      bytes[at + 500_000] ^= 0xff;
      await writeFile(art, bytes);
      return art;
    },
  },
  {
    name: 'artifact file that does not exist',
    message: /cannot read artifact .*nope\.mender/,
    setup: async (b) => join(b.dir, 'nope.mender'),
  },
];

for (const c of refusals) {
  test(`refused, nothing changed: ${c.name}`, async (t) => {
    const b = await board(t, c.opts);
    const before = await snapshotFiles(b);
    const art = await c.setup(b);
    const envBytes = await readFile(b.envFile);
    const r = await b.runClient(['install', art, '--reboot-exit-code']);
    t.is(r.code, 1, r.stderr);
    t.regex(r.stderr, c.message);
    t.true(envBytes.equals(await readFile(b.envFile)), 'env image unchanged byte for byte');
    const after = await snapshotFiles(b);
    t.is(after.partA, before.partA, 'slot A unchanged');
    t.deepEqual(after.provides, before.provides, 'provides unchanged');
    t.is(after.deployment, null, 'no deployment left behind');
    // A corrupt payload is only detectable once written (to the inactive slot, which is harmless).
    if (c.name !== 'corrupt payload (checksum mismatch)') t.is(after.partB, before.partB, 'slot B unchanged');
    if (c.name !== 'env location that does not match') t.is((await b.boot()).slot, 'A');
  });
}

test('an update in progress refuses a second install', async (t) => {
  const b = await board(t);
  const art = await writeRootfsArtifact(b.dir, 'release-1', rootfsImage('x', 1 << 20));
  t.is((await b.runClient(['install', art, '--reboot-exit-code'])).code, 4);
  const env = await b.readEnv();
  const again = await b.runClient(['install', art]);
  t.is(again.code, 1);
  t.regex(again.stderr, /already in progress in state ArtifactReboot/);
  t.deepEqual(await b.readEnv(), env);
});

test('a damaged current env copy: the other copy is used and the update works', async (t) => {
  const b = await board(t);
  // Copy 1 (flag 1) is current; damage a byte of its data area so its CRC fails.
  const fh = await open(b.envFile, 'r+');
  await fh.write(Buffer.from([0x00]), 0, 1, 10);
  await fh.close();
  const state = await b.env.inspect();
  t.is(state.current, 1, 'copy 2 is now the valid one');
  const art = await writeRootfsArtifact(b.dir, 'release-1', rootfsImage('x', 1 << 20));
  const r = await b.runClient(['install', art, '--reboot-exit-code']);
  t.is(r.code, 4, r.stderr);
  t.is((await b.readEnv()).boot_part, '3');
  t.is((await b.boot()).slot, 'B');
  t.is((await b.runClient(['commit'])).code, 0);
  t.is((await b.provides()).artifact_name, 'release-1');
});

test('an invalid configuration names the file and the key', async (t) => {
  const b = await board(t);
  await b.writeConfig({ RootfsPartB: 42 });
  const r = await b.runClient(['show-provides']);
  t.is(r.code, 1);
  t.regex(r.stderr, /invalid configuration .*flipside\.conf: RootfsPartB: Expected string, received number/);
});
