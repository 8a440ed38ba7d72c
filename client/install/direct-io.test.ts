import test from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alignedBuffers, openDirect } from './direct-io.js';

// Where the temp folder takes O_DIRECT (ext4, xfs; not every tmpfs) a whole aligned buffer is
// written through it; elsewhere the writer falls back to the page cache (partition-writer.test.ts).
const dir = await mkdtemp(join(tmpdir(), 'direct-io-'));
await writeFile(join(dir, 'probe'), '');
const probe = await openDirect(join(dir, 'probe'));
await probe?.close();
await rm(dir, { recursive: true, force: true });

test('alignedBuffers hands out separate buffers of the asked size', (t) => {
  const bufs = alignedBuffers(3, 1 << 20)!;
  t.is(bufs.length, 3);
  for (const b of bufs) t.is(b.length, 1 << 20);
  bufs[0]!.fill(1);
  bufs[2]!.fill(3);
  t.is(bufs[1]![0], 0, 'no overlap');
  t.is(bufs[0]![(1 << 20) - 1], 1);
  t.is(bufs[2]![0], 3);
});

test('alignedBuffers refuses a size that is not whole 64 KiB pages', (t) => {
  t.throws(() => alignedBuffers(1, 1000), { message: /not a multiple of 65536/ });
});

test('openDirect gives null for a path it cannot open', async (t) => {
  t.is(await openDirect('/nonexistent/flipside-direct-io'), null);
});

(probe ? test : test.skip)('an aligned buffer writes through O_DIRECT', async (t) => {
  const d = await mkdtemp(join(tmpdir(), 'direct-io-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  const f = join(d, 'part.img');
  await writeFile(f, Buffer.alloc(2 << 20));
  const fh = (await openDirect(f))!;
  try {
    const [b] = alignedBuffers(1, 1 << 20)!;
    b!.fill(0x5a);
    t.is((await fh.write(b!, 0, b!.length, 1 << 20)).bytesWritten, 1 << 20);
  } finally {
    await fh.close();
  }
  const after = await readFile(f);
  t.true(after.subarray(1 << 20).equals(Buffer.alloc(1 << 20, 0x5a)));
  t.true(after.subarray(0, 1 << 20).equals(Buffer.alloc(1 << 20)));
});
