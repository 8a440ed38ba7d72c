// RootfsInstaller in-process against a host-sim board's partitions and real U-Boot env image.
import test, { type ExecutionContext } from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readArtifact, type ReaderExtras } from '../../artifact/reader.js';
import { writeArtifact } from '../../artifact/writer.js';
import { Readable } from 'node:stream';
import type { ArtifactHeaders, PayloadEntry } from '../../artifact/types.js';
import { HostSimBoard } from './board.js';
import { ClientError } from '../../client/errors.js';
import { detectActiveSlot } from '../../client/install/active-partition.js';
import { RootfsInstaller, type BootVarNames } from '../../client/install/rootfs.js';

const VARS: BootVarNames = { BootPart: 'boot_part', UpgradeAvailable: 'upgrade_available', BootCount: 'bootcount', ValueA: '2', ValueB: '3' };

async function setup(t: { teardown: (f: () => Promise<void>) => void }, vars: BootVarNames = VARS, extra: { skipUnchangedBlocks?: boolean; partitionSize?: number } = {}) {
  const b = await HostSimBoard.create({ partitionSize: extra.partitionSize ?? 1 << 20 });
  t.teardown(() => b.destroy());
  await b.boot();
  const lines: string[] = [];
  const inst = new RootfsInstaller({
    partA: b.partA,
    partB: b.partB,
    env: b.env,
    vars,
    activeSlot: () => detectActiveSlot({ from: 'cmdline', procCmdline: b.cmdline, mountTable: '/nonexistent', partA: b.partA, partB: b.partB }),
    skipUnchangedBlocks: extra.skipUnchangedBlocks,
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

test.serial('SkipUnchangedBlocks: only the blocks that differ are written, the result is the payload', async (t) => {
  const MiB = 1 << 20;
  const { b, inst } = await setup(t, VARS, { skipUnchangedBlocks: true, partitionSize: 4 * MiB });
  const payload = Buffer.alloc(3 * MiB + 1000, 9);
  payload.fill(1, MiB, 2 * MiB); // the second MiB differs from what the partition holds
  const before = Buffer.alloc(4 * MiB, 9);
  before.fill(5, 3 * MiB); // and the tail
  await writeFile(b.partB, before);
  const journal = join(b.dir, 'journal');
  process.env.FLIPSIDE_TEST_WRITE_JOURNAL = journal;
  t.teardown(() => void delete process.env.FLIPSIDE_TEST_WRITE_JOURNAL);
  await inst.storeFile(entry(payload), Readable.from([payload.subarray(0, 777), payload.subarray(777)]));
  delete process.env.FLIPSIDE_TEST_WRITE_JOURNAL;
  const writes = (await readFile(journal, 'utf8')).split('\n').filter((l) => l.startsWith('w ') && l.endsWith(b.partB)); // tests run side by side
  // Which blocks, in offset order: whole ones (O_DIRECT where the file system takes it) and the
  // partial last one (through the page cache) are written side by side.
  const blocks = writes.map((l) => l.split(' ').slice(1, 3).map(Number)).sort((x, y) => x[0]! - y[0]!);
  t.deepEqual(blocks, [[MiB, MiB], [3 * MiB, 1000]]);
  t.true((await readFile(b.partB)).subarray(0, payload.length).equals(payload));
  await inst.downloadDone();
  await inst.install();
});

// The install path as `flipside install <file>` runs it: readArtifact on the file, the payload
// pulled (payloadPuller) by the installer, for every way the reader can decompress zstd.
const MiB = 1 << 20;
/** Compressible like a rootfs: random 64 KiB blocks and zero blocks in turn. */
function rootfsLike(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let o = 0; o < size; o += 128 * 1024) randomBytes(Math.min(64 * 1024, size - o)).copy(b, o);
  return b;
}

async function artifactOf(t: { teardown: (f: () => Promise<void>) => void }, payload: Buffer, compression: 'zstd_fast' | 'none'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rootfs-pull-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const img = join(dir, 'rootfs.img');
  await writeFile(img, payload);
  const art = join(dir, 'a.mender');
  await writeArtifact({ type: 'rootfs-image', name: 'pull-1', deviceTypes: ['qemux86-64'], files: [img], compression }, art);
  return art;
}

const READS: Array<{ what: string; opts: ReaderExtras }> = [
  { what: 'zstd through a FIFO, blocking reads (standalone)', opts: { syncReads: true } },
  { what: 'zstd through the tool stdout (daemon)', opts: {} },
  { what: 'zstd in-process (no zstd binary on the device)', opts: { engine: 'js' } },
];

for (const r of READS) {
  test(`install from a file, ${r.what}: the partition holds exactly the payload, and the flip follows`, async (t) => {
    const { b, inst } = await setup(t, VARS, { partitionSize: 4 * MiB });
    const payload = rootfsLike(2 * MiB + 4321);
    const art = await artifactOf(t, payload, 'zstd_fast');
    const before = await readFile(b.partB);
    await readArtifact(art, { ...r.opts, onPayloadFile: (e, s) => inst.storeFile(e, s) });
    await inst.downloadDone();
    const after = await readFile(b.partB);
    t.true(after.subarray(0, payload.length).equals(payload));
    t.true(after.subarray(payload.length).equals(before.subarray(payload.length)), 'nothing written past the payload');
    await inst.install();
    t.like(await b.readEnv(), { boot_part: '3', upgrade_available: '1' });
  });
}

/** Runs the install of a damaged artifact: it must fail with `code`, and nothing may switch. */
async function refused(t: ExecutionContext, art: string, opts: ReaderExtras, codes: string[]): Promise<void> {
  const { b, inst } = await setup(t, VARS, { partitionSize: 4 * MiB });
  const envBefore = await b.readEnv();
  const partA = await readFile(b.partA);
  const e = await t.throwsAsync(readArtifact(art, { ...opts, onPayloadFile: (en, s) => inst.storeFile(en, s) }));
  t.true(codes.includes((e as { code?: string }).code ?? ''), `${(e as { code?: string }).code}: ${e?.message}`);
  const refusal = await t.throwsAsync(inst.install(), { instanceOf: ClientError });
  t.regex(refusal!.message, /refusing to switch partitions|no rootfs payload/);
  t.deepEqual(await b.readEnv(), envBefore, 'the env was not touched');
  t.true((await readFile(b.partA)).equals(partA), 'the running slot was not touched');
}

test('a payload that does not match its checksum is written but never switched to', async (t) => {
  const payload = rootfsLike(MiB + 100);
  const marker = Buffer.from('FLIPSIDE-MARKER-0123456789');
  marker.copy(payload, 700_000);
  const art = await artifactOf(t, payload, 'none');
  const bytes = await readFile(art);
  const at = bytes.indexOf(marker);
  t.true(at > 0);
  bytes[at] ^= 1;
  await writeFile(art, bytes);
  for (const opts of [{ syncReads: true }, {}]) await refused(t, art, opts, ['CHECKSUM_MISMATCH']);
});

test('corrupt zstd data fails clearly whichever engine decompresses it', async (t) => {
  const payload = rootfsLike(2 * MiB);
  const art = await artifactOf(t, payload, 'zstd_fast');
  const bytes = await readFile(art);
  // Damage the middle of the data member (the last member; its end is the padding and markers).
  const mid = bytes.length - 1024 - 400_000;
  for (let i = 0; i < 64; i++) bytes[mid + i * 97] ^= 0x5a;
  await writeFile(art, bytes);
  for (const r of READS) await refused(t, art, r.opts, ['COMPRESSION', 'CHECKSUM_MISMATCH', 'BAD_HEADER', 'TRUNCATED']);
});

test('a truncated artifact fails clearly whichever engine decompresses it', async (t) => {
  const payload = rootfsLike(2 * MiB);
  const art = await artifactOf(t, payload, 'zstd_fast');
  const bytes = await readFile(art);
  await writeFile(art, bytes.subarray(0, bytes.length - 300_000));
  for (const r of READS) await refused(t, art, r.opts, ['TRUNCATED', 'COMPRESSION']);
});
