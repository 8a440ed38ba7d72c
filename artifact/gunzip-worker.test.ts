// GunzipWorkerSource: the same bytes and the same verdicts as zlib's own gunzip, read from a region
// of a file by a worker thread; and the reader's gzip payloads through it.
import test from 'ava';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { ArtifactError } from './errors.js';
import { GunzipWorkerSource } from './gunzip-worker.js';
import { readArtifact } from './reader.js';
import { drainSource, pseudoRandom, splitTar, buildTar, tempDir, writeToBuffer } from './testing/support.js';

// Half random, half zeros, 3 MiB of output: many slots, both inflate paths.
const plain = Buffer.concat([pseudoRandom(1536 * 1024 + 13, 3), Buffer.alloc(1536 * 1024)]);
const gz = zlib.gzipSync(plain, { level: 6 });

/** `member` written into a file between other bytes; the source over its region. */
function region(t: import('ava').ExecutionContext, member: Buffer, length = member.length): GunzipWorkerSource {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const path = join(dir, 'f');
  const before = pseudoRandom(1000, 7);
  writeFileSync(path, Buffer.concat([before, member, pseudoRandom(3000, 8)]));
  return new GunzipWorkerSource(path, before.length, length, 'member');
}

/** `total` bytes in reads of 100,000 (which straddle the 256 KiB slots), copied as they come. */
async function readInPieces(src: GunzipWorkerSource, total: number): Promise<Buffer> {
  src.recycle = true;
  const parts: Buffer[] = [];
  try {
    for (let left = total; left > 0; left -= 100_000) parts.push(Buffer.from((await src.readExact(Math.min(left, 100_000)))!));
    if (!(await src.atEnd())) throw new Error('more bytes than zlib inflates');
  } finally {
    await src.close();
  }
  return Buffer.concat(parts);
}

for (const recycle of [false, true]) {
  test(`inflates a region of a file to zlib's bytes (recycle ${recycle})`, async (t) => {
    t.true((await drainSource(Object.assign(region(t, gz), { recycle }))).equals(plain));
  });
}

test('reads that straddle slots come out whole', async (t) => {
  t.true((await readInPieces(region(t, gz), plain.length)).equals(plain));
});

test('concatenated members and trailing zero padding read as zlib.gunzipSync reads them', async (t) => {
  const two = Buffer.concat([zlib.gzipSync(Buffer.from('first ')), zlib.gzipSync(Buffer.from('second')), Buffer.alloc(700)]);
  t.true((await drainSource(region(t, two))).equals(zlib.gunzipSync(two)));
});

test('a truncated member, garbage after it and a flipped byte are COMPRESSION errors', async (t) => {
  const flipped = Buffer.from(gz);
  flipped[Math.floor(gz.length / 2)]! ^= 0x55;
  const bad: Array<[string, Buffer, number, RegExp]> = [
    ['truncated', gz, gz.length - 100, /unexpected end of file/],
    ['garbage after the member', Buffer.concat([zlib.gzipSync(Buffer.from('x')), Buffer.from('garbage')]), -1, /incorrect header check/],
    ['not gzip', Buffer.from('plain text, not gzip at all'), -1, /incorrect header check/],
    ['a flipped byte', flipped, -1, /./],
  ];
  for (const [what, member, length, message] of bad) {
    const src = region(t, member, length < 0 ? member.length : length);
    src.recycle = true;
    const e = await t.throwsAsync(
      (async () => {
        for await (const _ of src.take(Number.MAX_SAFE_INTEGER)) void _;
      })(),
      { instanceOf: ArtifactError },
      what,
    );
    await src.close();
    t.is(e?.code, 'COMPRESSION', what);
    t.regex(e?.message ?? '', message, what);
  }
});

test('a region beyond the end of the file is TRUNCATED', async (t) => {
  // The file ends halfway through the member (the reader checks sizes first; this is the worker's own guard).
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const path = join(dir, 'f');
  writeFileSync(path, Buffer.concat([Buffer.alloc(512), gz.subarray(0, gz.length >> 1)]));
  const src = new GunzipWorkerSource(path, 512, gz.length, 'member');
  const e = await t.throwsAsync(
    (async () => {
      for await (const _ of src.take(Number.MAX_SAFE_INTEGER)) void _;
    })(),
    { instanceOf: ArtifactError },
  );
  await src.close();
  t.is(e?.code, 'TRUNCATED');
  t.regex(e?.message ?? '', /ends inside the gzip member/);
});

test('close() before the end stops the worker', async (t) => {
  const big = zlib.gzipSync(Buffer.alloc(64 << 20), { level: 1 });
  const src = region(t, big);
  src.recycle = true;
  t.truthy(await src.readExact(1 << 20));
  await src.close();
  t.is(await src.readExact(10), null);
});

test('the reader verifies gzip payloads of a file through the worker, and rejects bad ones', async (t) => {
  const { dir, cleanup } = tempDir();
  t.teardown(cleanup);
  const content = Buffer.concat([pseudoRandom(3 << 20, 5), Buffer.alloc(2 << 20)]);
  const art = await writeToBuffer({ type: 'single-file', name: 'x', deviceTypes: ['d'], files: [{ name: 'f', content }], compression: 'gzip' });
  const good = join(dir, 'good.mender');
  writeFileSync(good, art);
  const h = await readArtifact(good, { syncReads: true, gunzipWorkerMinBytes: 0 });
  t.is(h.payloads[0]!.files[0]!.checksum, createHash('sha256').update(content).digest('hex'));
  // A payload whose bytes inflate fine but differ: re-compressed other content under the same manifest.
  const members = splitTar(art);
  const data = members.find((m) => m.name === 'data/0000.tar.gz')!;
  const innerTar = zlib.gunzipSync(data.body);
  innerTar[innerTar.length - 2048 - 1000]! ^= 1; // inside the file's bytes (before the padding and end marker)
  const swapped = join(dir, 'swapped.mender');
  writeFileSync(swapped, buildTar(members.map((m) => (m === data ? { ...m, body: zlib.gzipSync(innerTar) } : m))));
  const corrupt = join(dir, 'corrupt.mender');
  const flipped = Buffer.from(data.body);
  flipped[Math.floor(flipped.length / 2)]! ^= 0x55;
  writeFileSync(corrupt, buildTar(members.map((m) => (m === data ? { ...m, body: flipped } : m))));
  const truncated = join(dir, 'truncated.mender');
  const whole = buildTar(members);
  const dataAt = whole.indexOf(data.body.subarray(0, 64));
  writeFileSync(truncated, whole.subarray(0, dataAt + Math.floor(data.body.length / 2)));
  {
    const opts = { syncReads: true, gunzipWorkerMinBytes: 0 };
    const e1 = await t.throwsAsync(readArtifact(swapped, opts), { instanceOf: ArtifactError });
    t.is(e1?.code, 'CHECKSUM_MISMATCH');
    const e2 = await t.throwsAsync(readArtifact(corrupt, opts), { instanceOf: ArtifactError });
    t.true(e2?.code === 'COMPRESSION' || e2?.code === 'CHECKSUM_MISMATCH', `${e2?.code}: ${e2?.message}`);
    const e3 = await t.throwsAsync(readArtifact(truncated, opts), { instanceOf: ArtifactError });
    t.is(e3?.code, 'TRUNCATED', e3?.message);
  }
});
