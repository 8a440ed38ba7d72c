import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { BlobReader } from './blob-reader.js';

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

function dir(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'blob-reader-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

test('whole blobs, ranges and concurrent reads of one blob share one descriptor and return the right bytes', async (t) => {
  const d = dir(t);
  const bytes = randomBytes(200 * 1024 + 7); // several 64 KiB reads, the last one short
  writeFileSync(join(d, 'a'), bytes);
  const reader = new BlobReader((id) => join(d, id));
  const [whole, range, tail, second] = await Promise.all([
    collect(reader.stream('a', 0, bytes.length - 1)),
    collect(reader.stream('a', 70_000, 140_000)),
    collect(reader.stream('a', bytes.length - 5)),
    collect(reader.stream('a')),
  ]);
  t.deepEqual(whole, bytes);
  t.deepEqual(range, bytes.subarray(70_000, 140_001));
  t.deepEqual(tail, bytes.subarray(bytes.length - 5));
  t.deepEqual(second, bytes);
  t.is(reader.openCount, 1);
  t.deepEqual(await collect(reader.stream('a', 0, -1)), Buffer.alloc(0), 'an empty range');
  reader.closeAll();
  t.is(reader.openCount, 0);
});

test('a missing blob fails its stream with ENOENT and is not kept; a later one is read', async (t) => {
  const d = dir(t);
  const reader = new BlobReader((id) => join(d, id));
  const err = await t.throwsAsync(collect(reader.stream('nope')));
  t.is((err as NodeJS.ErrnoException).code, 'ENOENT');
  t.is(reader.openCount, 0);
  writeFileSync(join(d, 'nope'), 'now here');
  t.is((await collect(reader.stream('nope'))).toString(), 'now here');
});

test('a replaced blob is read afresh after forget(); the old descriptor closes once its reader is done', async (t) => {
  const d = dir(t);
  writeFileSync(join(d, 'a'), Buffer.alloc(300 * 1024, 1));
  const reader = new BlobReader((id) => join(d, id));
  const slow = reader.stream('a');
  await once(slow, 'readable'); // the descriptor is open and a read has returned
  t.is(reader.openCount, 1);
  writeFileSync(join(d, 'b'), Buffer.alloc(10, 2));
  rmSync(join(d, 'a'));
  writeFileSync(join(d, 'a'), Buffer.alloc(10, 2)); // a new file at the path
  reader.forget('a');
  t.is(reader.openCount, 0, 'forgotten: the next read opens the path again');
  t.deepEqual(await collect(reader.stream('a')), Buffer.alloc(10, 2), 'the new file, not the open one');
  // The old stream still reads the bytes of the file it opened: its descriptor was kept for it.
  const rest = await collect(slow);
  t.true(rest.length > 0 && rest.every((b) => b === 1));
  reader.closeAll();
  t.is(reader.openCount, 0);
});

test('a stream destroyed mid-way gives its descriptor back; beyond maxOpen the least recently used idle one is closed', async (t) => {
  const d = dir(t);
  for (const id of ['a', 'b', 'c']) writeFileSync(join(d, id), Buffer.alloc(256 * 1024, id.charCodeAt(0)));
  const reader = new BlobReader((id) => join(d, id), { maxOpen: 2 });
  const cut = reader.stream('a');
  await once(cut, 'readable');
  cut.destroy();
  await once(cut, 'close');
  await collect(reader.stream('b'));
  t.is(reader.openCount, 2);
  await collect(reader.stream('c'));
  t.is(reader.openCount, 2, "'a', the least recently used, was closed");
  t.is((await collect(reader.stream('a'))).length, 256 * 1024);
  reader.closeAll();
});

test('an idle descriptor closes after idleMs', async (t) => {
  const d = dir(t);
  writeFileSync(join(d, 'a'), 'x');
  const reader = new BlobReader((id) => join(d, id), { idleMs: 1 });
  const s = reader.stream('a');
  await collect(s); // the iterator destroys the stream at its end
  t.true(s.destroyed);
  // Waits on the reader's state, not a margin: polls until the timer has fired.
  while (reader.openCount > 0) await new Promise((r) => setTimeout(r, 5));
  t.is(reader.openCount, 0);
});
