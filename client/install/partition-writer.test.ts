import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WriteJournal } from '../durable.js';
import { WRITE_BATCH, writePayload } from './partition-writer.js';

async function tempFile(t: { teardown: (f: () => Promise<void>) => void }, content: Buffer): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'partition-writer-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const f = join(dir, 'part.img');
  await writeFile(f, content);
  return f;
}

/** A source that hands out `data` in chunks of the given sizes (cycled), each chunk a reused buffer. */
function chunked(data: Buffer, sizes: number[]): () => Promise<Buffer | null> {
  const reused = Buffer.alloc(Math.max(...sizes));
  let off = 0;
  let i = 0;
  return async () => {
    if (off >= data.length) return null;
    const n = Math.min(sizes[i++ % sizes.length]!, data.length - off);
    // The writer must copy: the next call overwrites this buffer, as the reader's ring does.
    data.copy(reused, 0, off, off + n);
    off += n;
    return reused.subarray(0, n);
  };
}

function recorder(): WriteJournal & { writes: Array<[number, number]>; syncs: number } {
  const j = {
    writes: [] as Array<[number, number]>,
    syncs: 0,
    write: (_p: string, offset: number, length: number) => void j.writes.push([offset, length]),
    sync: () => void j.syncs++,
  };
  return j;
}

const tooLong = () => new Error('too long');

test('writes exactly the payload from reused chunks, in aligned 1 MiB writes, and nothing past it', async (t) => {
  const payload = randomBytes(3 * WRITE_BATCH + 12_345);
  const before = Buffer.alloc(payload.length + 70_000, 0xee);
  const f = await tempFile(t, before);
  const fh = await open(f, 'r+');
  const j = recorder();
  const progress: number[] = [];
  try {
    const n = await writePayload(chunked(payload, [65_536, 1000, 131_072, 7]), {
      fh,
      path: f,
      size: payload.length,
      tooLong,
      journal: j,
      onProgress: (w) => progress.push(w),
    });
    t.is(n, payload.length);
  } finally {
    await fh.close();
  }
  const after = await readFile(f);
  t.true(after.subarray(0, payload.length).equals(payload));
  t.true(after.subarray(payload.length).equals(before.subarray(payload.length)), 'bytes past the payload untouched');
  t.deepEqual(j.writes, [
    [0, WRITE_BATCH],
    [WRITE_BATCH, WRITE_BATCH],
    [2 * WRITE_BATCH, WRITE_BATCH],
    [3 * WRITE_BATCH, 12_345],
  ]);
  t.is(j.syncs, 0, 'the caller syncs once, at the end');
  t.deepEqual(progress, [WRITE_BATCH, 2 * WRITE_BATCH, 3 * WRITE_BATCH, payload.length], 'progress counts a contiguous prefix');
});

test('a source longer than the declared size fails before the extra bytes are written', async (t) => {
  const payload = randomBytes(WRITE_BATCH + 10);
  const f = await tempFile(t, Buffer.alloc(2 * WRITE_BATCH));
  const fh = await open(f, 'r+');
  try {
    await t.throwsAsync(writePayload(chunked(payload, [4096]), { fh, path: f, size: payload.length - 1, tooLong, journal: recorder() }), { message: 'too long' });
  } finally {
    await fh.close();
  }
});

test('a source error is thrown once no write is running any more', async (t) => {
  const payload = randomBytes(2 * WRITE_BATCH);
  const f = await tempFile(t, Buffer.alloc(2 * WRITE_BATCH));
  const fh = await open(f, 'r+');
  const inner = chunked(payload, [65_536]);
  let calls = 0;
  const failing = async () => {
    if (++calls === 20) throw new Error('zstd exited with status 1');
    return inner();
  };
  let finished = 0;
  const j = recorder();
  const realWrite = fh.write.bind(fh);
  // Count finished writes: none may still be running when the error comes out.
  (fh as unknown as { write: typeof fh.write }).write = (async (...a: Parameters<typeof fh.write>) => {
    const r = await realWrite(...a);
    finished++;
    return r;
  }) as typeof fh.write;
  try {
    await t.throwsAsync(writePayload(failing, { fh, path: f, size: payload.length, tooLong, journal: j }), { message: /status 1/ });
    t.is(finished, j.writes.length, 'every announced write finished before the error was thrown');
  } finally {
    await fh.close();
  }
});

test('ENOSPC from the device comes out as the file system error, after the writes settled', async (t) => {
  const fh = await open('/dev/full', 'r+').catch(() => null);
  if (!fh) return t.pass('no /dev/full here');
  try {
    const e = await t.throwsAsync(writePayload(chunked(randomBytes(3 * WRITE_BATCH), [65_536]), { fh, path: '/dev/full', size: 3 * WRITE_BATCH, tooLong, journal: recorder() }));
    t.is((e as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    await fh.close();
  }
});

test('skipUnchanged writes only the batches that differ', async (t) => {
  const payload = randomBytes(3 * WRITE_BATCH);
  const old = Buffer.from(payload);
  old[WRITE_BATCH + 5] ^= 1; // only the second megabyte differs
  const f = await tempFile(t, old);
  const fh = await open(f, 'r+');
  const j = recorder();
  try {
    await writePayload(chunked(payload, [100_000]), { fh, path: f, size: payload.length, tooLong, journal: j, skipUnchanged: true });
  } finally {
    await fh.close();
  }
  t.deepEqual(j.writes, [[WRITE_BATCH, WRITE_BATCH]]);
  t.true((await readFile(f)).equals(payload));
});

test('with a byte kill hook armed every chunk is written on its own, in order', async (t) => {
  const payload = randomBytes(200_000);
  const f = await tempFile(t, Buffer.alloc(payload.length));
  const fh = await open(f, 'r+');
  const j = recorder();
  try {
    // A threshold past the end: armed (exact cut points) but never reached.
    await writePayload(chunked(payload, [65_536]), { fh, path: f, size: payload.length, tooLong, journal: j, killAt: { bytes: payload.length + 1, hold: false } });
  } finally {
    await fh.close();
  }
  t.deepEqual(j.writes, [
    [0, 65_536],
    [65_536, 65_536],
    [131_072, 65_536],
    [196_608, 200_000 - 196_608],
  ]);
  t.true((await readFile(f)).equals(payload));
});

/** A handle that counts the writes it takes and passes them on to `fh`; `refuse` fails them with EINVAL first. */
function countingHandle(fh: FileHandle, refuse = false): FileHandle & { writes: Array<[number, number]> } {
  const writes: Array<[number, number]> = [];
  const h = Object.create(fh) as FileHandle & { writes: Array<[number, number]> };
  h.writes = writes;
  h.write = (async (buf: Buffer, off: number, len: number, pos: number) => {
    if (refuse) throw Object.assign(new Error('EINVAL: invalid argument, write'), { code: 'EINVAL' });
    writes.push([pos, len]);
    return fh.write(buf, off, len, pos);
  }) as FileHandle['write'];
  return h;
}

test('with a direct handle every whole batch goes through it and the partial last one through fh', async (t) => {
  const payload = randomBytes(2 * WRITE_BATCH + 4_321);
  const f = await tempFile(t, Buffer.alloc(3 * WRITE_BATCH, 0xee));
  const fh = await open(f, 'r+');
  const other = await open(f, 'r+');
  const direct = countingHandle(other);
  const buffered = countingHandle(fh);
  try {
    t.is(await writePayload(chunked(payload, [65_536, 999]), { fh: buffered, direct, path: f, size: payload.length, tooLong, journal: recorder() }), payload.length);
  } finally {
    await Promise.all([fh.close(), other.close()]);
  }
  t.deepEqual(direct.writes, [
    [0, WRITE_BATCH],
    [WRITE_BATCH, WRITE_BATCH],
  ]);
  t.deepEqual(buffered.writes, [[2 * WRITE_BATCH, 4_321]]);
  t.true((await readFile(f)).subarray(0, payload.length).equals(payload));
});

test('a direct handle that refuses a write (EINVAL) leaves every batch to fh, whole', async (t) => {
  const payload = randomBytes(3 * WRITE_BATCH);
  const f = await tempFile(t, Buffer.alloc(3 * WRITE_BATCH, 0xee));
  const fh = await open(f, 'r+');
  const buffered = countingHandle(fh);
  try {
    t.is(await writePayload(chunked(payload, [65_536]), { fh: buffered, direct: countingHandle(fh, true), path: f, size: payload.length, tooLong, journal: recorder() }), payload.length);
  } finally {
    await fh.close();
  }
  t.deepEqual(
    buffered.writes.map(([p]) => p).sort((a, b) => a - b),
    [0, WRITE_BATCH, 2 * WRITE_BATCH],
  );
  t.true((await readFile(f)).equals(payload));
});

test('the kill hook writes through fh alone, whatever the direct handle', async (t) => {
  const payload = randomBytes(WRITE_BATCH + 100);
  const f = await tempFile(t, Buffer.alloc(2 * WRITE_BATCH));
  const fh = await open(f, 'r+');
  const direct = countingHandle(fh);
  try {
    await writePayload(chunked(payload, [WRITE_BATCH]), { fh, direct, path: f, size: payload.length, tooLong, journal: recorder(), killAt: { bytes: payload.length + 1, hold: false } });
  } finally {
    await fh.close();
  }
  t.deepEqual(direct.writes, []);
  t.true((await readFile(f)).subarray(0, payload.length).equals(payload));
});
