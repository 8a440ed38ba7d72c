import test from 'ava';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compressBuffer, decompressFileRegion, decompressFileRegionToFifo, findTool } from './compression.js';
import { FdSource } from './fd-source.js';
import { ArtifactError } from './errors.js';
import { FILE_CHUNK, FileSource } from './file-source.js';
import { readArtifact } from './reader.js';
import { pseudoRandom, tempDir, writeToBuffer } from './testing/support.js';

async function collect(s: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

for (const syncReads of [false, true]) {
  const mode = syncReads ? ' (syncReads)' : '';

  test(`FileSource${mode}: exact reads across chunk edges, seeks past whole chunks, reports the file offset`, async (t) => {
    const { dir, cleanup } = tempDir();
    t.teardown(cleanup);
    const data = pseudoRandom(3 * FILE_CHUNK + 777, 3);
    const path = join(dir, 'f');
    writeFileSync(path, data);
    const src = await FileSource.open(path, 'f');
    src.syncReads = syncReads;
    t.teardown(() => src.close());
    t.true((await src.readExact(100))!.equals(data.subarray(0, 100)));
    await src.skip(FILE_CHUNK - 150); // stays inside the first chunk
    t.is(src.fileOffset(), FILE_CHUNK - 50);
    t.true((await src.readExact(512))!.equals(data.subarray(FILE_CHUNK - 50, FILE_CHUNK + 462))); // straddles
    await src.skip(FILE_CHUNK + 1000); // beyond what was read: a seek
    const at = FILE_CHUNK + 462 + FILE_CHUNK + 1000;
    t.is(src.fileOffset(), at);
    t.is(src.position, at);
    t.true((await collect(src.take(data.length - at))).equals(data.subarray(at)));
    t.true(await src.atEnd());
  });

  test(`FileSource${mode}: a read or a seek past the end is TRUNCATED`, async (t) => {
    const { dir, cleanup } = tempDir();
    t.teardown(cleanup);
    const path = join(dir, 'f');
    writeFileSync(path, pseudoRandom(5000, 4));
    for (const op of [(s: FileSource) => s.skip(6000), (s: FileSource) => collect(s.take(6000)), (s: FileSource) => s.readExact(6000)]) {
      const src = await FileSource.open(path, 'f');
      src.syncReads = syncReads;
      const e = await t.throwsAsync(op(src), { instanceOf: ArtifactError });
      t.is(e?.code, 'TRUNCATED');
      await src.close();
    }
  });

  test(`FileSource${mode}: recycled buffers still deliver every byte to a consumer that hashes in place`, async (t) => {
    const { dir, cleanup } = tempDir();
    t.teardown(cleanup);
    const data = pseudoRandom(7 * FILE_CHUNK + 5, 5);
    const path = join(dir, 'f');
    writeFileSync(path, data);
    const src = await FileSource.open(path, 'f');
    src.recycle = true;
    src.syncReads = syncReads;
    t.true((await collect(src.take(data.length))).equals(data));
    await src.close();
  });
}

test('decompressFileRegion: a member in the middle of a file, and a corrupt one is COMPRESSION', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const plain = Buffer.concat([pseudoRandom(300_000, 6), Buffer.alloc(400_000)]);
  const z = await compressBuffer({ compression: 'zstd' }, plain);
  const before = pseudoRandom(10_000, 7);
  const path = join(dir, 'f');
  writeFileSync(path, Buffer.concat([before, z, Buffer.alloc(1024)]));
  t.true((await collect(await decompressFileRegion('zstd', path, before.length, z.length))).equals(plain));
  const bad = Buffer.from(z);
  bad.fill(0x55, 100, 200);
  writeFileSync(path, Buffer.concat([before, bad, Buffer.alloc(1024)]));
  const e = await t.throwsAsync(collect(await decompressFileRegion('zstd', path, before.length, bad.length)), { instanceOf: ArtifactError });
  t.is(e?.code, 'COMPRESSION');
});

test('decompressFileRegion: a tiny member whose tool exits at once, many times over, always arrives whole', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const plain = Buffer.alloc(1024);
  const z = await compressBuffer({ compression: 'zstd' }, plain);
  const path = join(dir, 'f');
  writeFileSync(path, Buffer.concat([Buffer.alloc(512, 1), z, Buffer.alloc(1024)]));
  // Node drops the output of a child that exits before its stdout has a listener: every run
  // must still see the 1024 bytes and the end (this hung one run in a dozen before).
  for (let i = 0; i < 40; i++) t.is((await collect(await decompressFileRegion('zstd', path, 512, z.length))).length, 1024);
});

for (const onMainThread of [false, true]) {
  const mode = onMainThread ? 'blocking reads' : 'thread-pool reads';

  test(`decompressFileRegionToFifo (${mode}): reused buffers deliver the member whole; a corrupt one is COMPRESSION`, async (t) => {
    const { dir, cleanup } = tempDir();
    t.teardown(cleanup);
    const plain = Buffer.concat([pseudoRandom(700_000, 8), Buffer.alloc(900_000)]);
    const z = await compressBuffer({ compression: 'zstd' }, plain);
    const before = pseudoRandom(10_000, 9);
    const path = join(dir, 'f');
    writeFileSync(path, Buffer.concat([before, z, Buffer.alloc(1024)]));
    for (const recycle of [false, true]) {
      const region = await decompressFileRegionToFifo('zstd', path, before.length, z.length);
      if (!region) return t.pass('mkfifo is not installed');
      const src = new FdSource(region, 'member', { onMainThread });
      src.recycle = recycle;
      // collect() copies each chunk before asking for the next: the reused ring stays correct.
      t.true((await collect(src.take(plain.length))).equals(plain), `recycle ${recycle}`);
      t.true(await src.atEnd());
      await src.close();
    }
    const bad = Buffer.from(z);
    bad.fill(0x55, 100, 200);
    writeFileSync(path, Buffer.concat([before, bad, Buffer.alloc(1024)]));
    const region = (await decompressFileRegionToFifo('zstd', path, before.length, bad.length))!;
    const src = new FdSource(region, 'member', { onMainThread });
    const e = await t.throwsAsync(src.drain(), { instanceOf: ArtifactError });
    t.is(e?.code, 'COMPRESSION');
    await src.close();
  });
}

test('decompressFileRegion with tail: the last member, what follows its frames at most passed through; damage and non-zstd still fail', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const plain = Buffer.concat([pseudoRandom(300_000, 12), Buffer.alloc(400_000)]);
  const z = await compressBuffer({ compression: 'zstd' }, plain);
  const before = pseudoRandom(10_000, 13);
  const after = Buffer.alloc(3072);
  const path = join(dir, 'f');
  writeFileSync(path, Buffer.concat([before, z, after]));
  // zstd >= 1.5.4 copies the outer tar's padding through after the frame; an older one gets dd.
  const out = await collect(await decompressFileRegion('zstd', path, before.length, z.length, { tail: true }));
  t.true(out.subarray(0, plain.length).equals(plain));
  t.true(out.length === plain.length || out.subarray(plain.length).equals(after), `${out.length - plain.length} extra bytes`);
  const region = await decompressFileRegionToFifo('zstd', path, before.length, z.length, { tail: true });
  if (region) {
    const src = new FdSource(region, 'member');
    t.true((await collect(src.take(plain.length))).equals(plain));
    t.true([0, after.length].includes(await src.drain()));
    await src.close();
  }
  const bad = Buffer.from(z);
  bad.fill(0x55, 100, 200);
  writeFileSync(path, Buffer.concat([before, bad, after]));
  let e = await t.throwsAsync(collect(await decompressFileRegion('zstd', path, before.length, bad.length, { tail: true })), { instanceOf: ArtifactError });
  t.is(e?.code, 'COMPRESSION');
  // A member that does not start with a zstd frame is never passed through as it is.
  writeFileSync(path, Buffer.concat([before, plain.subarray(0, 5000), after]));
  e = await t.throwsAsync(collect(await decompressFileRegion('zstd', path, before.length, 5000, { tail: true })), { instanceOf: ArtifactError });
  t.is(e?.code, 'COMPRESSION');

});

/** The region shell, the copy (dd or head) and the tool of a member of `length` bytes still running. */
function stragglers(length: number): string {
  // The shell's and the copy's command lines end with the member's length.
  return spawnSync('pgrep', ['-f', `[ =]${length}$`], { encoding: 'utf8' }).stdout.trim();
}

for (const onMainThread of [false, true]) {
  for (const tail of [false, true]) {
    const mode = `${onMainThread ? 'blocking reads' : 'thread-pool reads'}${tail ? ', zstd reading the file' : ', bounded copy'}`;
    test(`FdSource (${mode}): closed early with a read in flight, the read ends, the tool is killed, its exit a failure`, async (t) => {
      const { dir, cleanup } = tempDir();
      t.teardown(cleanup);
      const plain = pseudoRandom(12_000_000, 17);
      const z = await compressBuffer({ compression: 'zstd' }, plain);
      const path = join(dir, 'f');
      writeFileSync(path, z);
      const region = await decompressFileRegionToFifo('zstd', path, 0, z.length, { tail });
      if (!region) return t.pass('mkfifo is not installed');
      const src = new FdSource(region, 'member', { onMainThread });
      t.true((await src.readExact(1000))!.equals(plain.subarray(0, 1000)));
      await src.close();
      // Killed, the tool's exit is a failure: never a clean end of a short stream.
      const e = await t.throwsAsync(region.exited, { instanceOf: ArtifactError });
      t.is(e?.code, 'COMPRESSION');
      // The copy and zstd outlive the shell unless the FIFO has no reader left: they go once it
      // has none (one that never does fails by ava's timeout).
      while (stragglers(z.length) !== '') await new Promise((r) => setTimeout(r, 50));
      t.pass();
    });
  }
}

test('readArtifact from a path (library, no syncReads): a zstd payload is verified through the FIFO on the thread pool; a damaged one is refused', async (t) => {
  if (!findTool('zstd') || !findTool('mkfifo')) return t.pass('zstd or mkfifo is not installed');
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const image = Buffer.concat([pseudoRandom(3 << 20, 18), Buffer.alloc(2 << 20)]);
  const art = await writeToBuffer({ type: 'rootfs-image', name: 'n', deviceTypes: ['d'], files: [{ name: 'img', content: image }], compression: 'zstd' });
  const path = join(dir, 'a.mender');
  writeFileSync(path, art);
  t.is((await readArtifact(path)).payloads[0]!.files[0]!.size, image.length);
  // A stream consumer gets copies of the reused buffers: the bytes it keeps stay right.
  let got: Buffer | null = null;
  await readArtifact(path, { onPayloadFile: async (_e, s) => void (got = await collect(s)) });
  t.true(got!.equals(image));
  const member = art.indexOf('data/0000.tar.zst');
  const bad = Buffer.from(art);
  for (let i = 0; i < 64; i++) bad[member + 512 + 2000 + i] ^= 0xff;
  writeFileSync(path, bad);
  const e = await t.throwsAsync(readArtifact(path), { instanceOf: ArtifactError });
  t.true(['COMPRESSION', 'CHECKSUM_MISMATCH'].includes(e!.code), e!.code);
});

test('readArtifact with syncReads: a zstd payload is verified through the FIFO; a damaged one is refused', async (t) => {
  if (!findTool('zstd') || !findTool('mkfifo')) return t.pass('zstd or mkfifo is not installed');
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const image = Buffer.concat([pseudoRandom(1 << 20, 11), Buffer.alloc(1 << 20)]);
  const art = await writeToBuffer({ type: 'rootfs-image', name: 'n', deviceTypes: ['d'], files: [{ name: 'img', content: image }], compression: 'zstd' });
  const path = join(dir, 'a.mender');
  writeFileSync(path, art);
  const h = await readArtifact(path, { syncReads: true });
  t.is(h.payloads[0]!.files[0]!.size, image.length);
  // Damage the compressed payload: the tool fails, or the bytes miss the manifest's checksum.
  const member = art.indexOf('data/0000.tar.zst');
  t.true(member > 0);
  const bad = Buffer.from(art);
  for (let i = 0; i < 64; i++) bad[member + 512 + 2000 + i] ^= 0xff;
  writeFileSync(path, bad);
  const e = await t.throwsAsync(readArtifact(path, { syncReads: true }), { instanceOf: ArtifactError });
  t.true(['COMPRESSION', 'CHECKSUM_MISMATCH'].includes(e!.code), e!.code);
});
