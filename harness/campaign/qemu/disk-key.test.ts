// The content key of a crash image: equal bytes ⇔ equal keys, whatever writes got them there.
import test from 'ava';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskKey } from './disk-key.js';

function disk(bytes: Buffer) {
  const d = mkdtempSync(join(tmpdir(), 'disk-key-'));
  const f = join(d, 'img');
  writeFileSync(f, bytes);
  const fd = openSync(f, 'r+');
  const key = new DiskKey(fd, 16);
  const write = (offset: number, data: Buffer) => {
    key.beforeWrite(offset, data.length);
    writeSync(fd, data, 0, data.length, offset);
  };
  return { key, write, done: () => (closeSync(fd), rmSync(d, { recursive: true })) };
}

test('the base disk and a disk written back to its base bytes have the same key', (t) => {
  const { key, write, done } = disk(Buffer.alloc(64, 7));
  const base = key.key();
  write(10, Buffer.alloc(20, 1)); // spans chunks 0 and 1
  const changed = key.key();
  t.not(changed, base);
  write(10, Buffer.alloc(20, 7));
  t.is(key.key(), base);
  done();
});

test('two different write sequences that leave the same bytes give the same key; different bytes differ', (t) => {
  const a = disk(Buffer.alloc(64));
  const b = disk(Buffer.alloc(64));
  a.write(0, Buffer.alloc(32, 5));
  b.write(16, Buffer.alloc(16, 5));
  b.write(0, Buffer.from(Buffer.alloc(16, 9)));
  t.not(a.key.key(), b.key.key());
  b.write(0, Buffer.alloc(16, 5));
  t.is(a.key.key(), b.key.key());
  b.write(63, Buffer.from([1]));
  t.not(a.key.key(), b.key.key());
  a.done();
  b.done();
});

test('writes past the end of the file count as changes from zeros', (t) => {
  const { key, write, done } = disk(Buffer.alloc(20));
  const base = key.key();
  write(40, Buffer.alloc(4, 0)); // zeros past the end: the disk reads the same
  t.is(key.key(), base);
  write(40, Buffer.alloc(4, 3));
  t.not(key.key(), base);
  done();
});
