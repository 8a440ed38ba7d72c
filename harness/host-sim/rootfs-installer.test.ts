// RootfsInstaller in-process against a host-sim board's partitions and real U-Boot env image.
import test from 'ava';
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { ArtifactHeaders, PayloadEntry } from '../../artifact/types.js';
import { HostSimBoard } from './board.js';
import { ClientError } from '../../client/errors.js';
import { detectActiveSlot } from '../../client/install/active-partition.js';
import { RootfsInstaller, type BootVarNames } from '../../client/install/rootfs.js';

const VARS: BootVarNames = { BootPart: 'boot_part', UpgradeAvailable: 'upgrade_available', BootCount: 'bootcount', ValueA: '2', ValueB: '3' };

async function setup(t: { teardown: (f: () => Promise<void>) => void }, vars: BootVarNames = VARS) {
  const b = await HostSimBoard.create({ partitionSize: 1 << 20 });
  t.teardown(() => b.destroy());
  await b.boot();
  const lines: string[] = [];
  const inst = new RootfsInstaller({
    partA: b.partA,
    partB: b.partB,
    env: b.env,
    vars,
    activeSlot: () => detectActiveSlot({ from: 'cmdline', procCmdline: b.cmdline, mountTable: '/nonexistent', partA: b.partA, partB: b.partB }),
    ctx: {
      headers: {} as ArtifactHeaders,
      workDir: join(b.dir, 'work'),
      current: { artifactName: 'release-0', deviceType: 'qemux86-64' },
      log: (l) => lines.push(l),
    },
  });
  return { b, inst, lines };
}

function entry(content: Buffer, over: Partial<PayloadEntry> = {}): PayloadEntry {
  return {
    payloadIndex: 0,
    name: 'rootfs.img',
    size: content.length,
    modified: new Date(0),
    checksum: createHash('sha256').update(content).digest('hex'),
    ...over,
  };
}

const content = Buffer.alloc(300_000, 7);

test('happy path: write without truncating, flip in one env write, verify, commit (twice), nothing else touched', async (t) => {
  const { b, inst } = await setup(t);
  const a = await readFile(b.partA);
  await inst.storeFile(entry(content), Readable.from([content.subarray(0, 1000), content.subarray(1000)]));
  t.is((await stat(b.partB)).size, 1 << 20, 'partition file keeps its size');
  await inst.downloadDone();
  await inst.install();
  t.like(await b.readEnv(), { boot_part: '3', upgrade_available: '1', bootcount: '0' });
  t.is(await inst.needsReboot(), 'automatic');
  await t.throwsAsync(inst.verifyReboot(), { message: /refusing to commit/ }, 'not rebooted yet');
  await b.boot();
  await inst.verifyReboot();
  await inst.commit();
  await inst.commit();
  t.like(await b.readEnv(), { boot_part: '3', upgrade_available: '0' });
  t.true((await readFile(b.partB)).subarray(0, content.length).equals(content));
  t.true((await readFile(b.partA)).equals(a));
});

test('the flip is refused unless the reader verified the artifact and our own hash matches', async (t) => {
  const { b, inst } = await setup(t);
  const env = await b.readEnv();
  await inst.storeFile(entry(content), Readable.from([content]));
  const e1 = await t.throwsAsync(inst.install(), { instanceOf: ClientError });
  t.is(e1?.code, 'CHECKSUM');
  t.regex(e1!.message, /not verified/);
  const other = await setup(t);
  const bad = Buffer.from(content);
  bad[5] = 0;
  await other.inst.storeFile(entry(content), Readable.from([bad]));
  await other.inst.downloadDone();
  const e2 = await t.throwsAsync(other.inst.install(), { instanceOf: ClientError });
  t.regex(e2!.message, /holds sha256 .* artifact says/);
  t.deepEqual(await b.readEnv(), env);
  t.deepEqual((await other.b.readEnv()).boot_part, '2');
});

test('short, long, second-file and oversized payloads are typed errors', async (t) => {
  const { inst } = await setup(t);
  const short = await t.throwsAsync(inst.storeFile(entry(content), Readable.from([content.subarray(10)])), { instanceOf: ClientError });
  t.regex(short!.message, /ended after 299990 of 300000/);
  const s2 = await setup(t);
  const long = await t.throwsAsync(s2.inst.storeFile(entry(content), Readable.from([content, Buffer.alloc(1)])), { instanceOf: ClientError });
  t.regex(long!.message, /longer than its declared/);
  const s3 = await setup(t);
  await s3.inst.storeFile(entry(content), Readable.from([content]));
  t.is((await t.throwsAsync(s3.inst.storeFile(entry(content), Readable.from([content])), { instanceOf: ClientError }))?.code, 'PAYLOAD_TYPE');
  const s4 = await setup(t);
  const before = await readFile(s4.b.partB);
  const big = await t.throwsAsync(s4.inst.storeFile(entry(content, { size: (1 << 20) + 1 }), Readable.from([content])), { instanceOf: ClientError });
  t.is(big?.code, 'PAYLOAD_TOO_LARGE');
  t.true((await readFile(s4.b.partB)).equals(before));
});

test('a pending upgrade in the env stops the write before any byte', async (t) => {
  const { b, inst } = await setup(t);
  await b.env.write({ upgrade_available: '1' });
  const before = await readFile(b.partB);
  const e = await t.throwsAsync(inst.storeFile(entry(content), Readable.from([content])), { instanceOf: ClientError });
  t.is(e?.code, 'BOOT_ENV');
  t.true((await readFile(b.partB)).equals(before));
});

test('rollback restores the old partition in the env; after a rollback reboot it verifies', async (t) => {
  const { b, inst } = await setup(t);
  await inst.storeFile(entry(content), Readable.from([content]));
  await inst.downloadDone();
  await inst.install();
  await b.boot();
  t.true(await inst.rollbackNeedsReboot());
  await inst.rollback();
  t.like(await b.readEnv(), { boot_part: '2', upgrade_available: '0' });
  await t.throwsAsync(inst.verifyRollbackReboot(), { message: /expected slot A/ });
  await b.boot();
  await inst.verifyRollbackReboot();
  await t.throwsAsync(inst.commit(), { message: /refusing to commit/ }, 'commit from the old slot is refused');
  await inst.cleanup();
});

test('configurable variable names and values, with a hex copy of the partition number', async (t) => {
  const vars: BootVarNames = { ...VARS, BootPart: 'boot_part', BootPartHex: 'mender_boot_part_hex', ValueA: '2', ValueB: '3' };
  const { b, inst } = await setup(t, vars);
  await inst.storeFile(entry(content), Readable.from([content]));
  await inst.downloadDone();
  await inst.install();
  t.like(await b.readEnv(), { boot_part: '3', mender_boot_part_hex: '3' });
});
