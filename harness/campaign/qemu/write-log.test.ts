// The dm-log-writes reader: a log encoded here with a known pattern, bad logs refused, and a log
// QEMU's own blklogwrites driver wrote (qemu-io, no VM) read back entry by entry.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeWriteLog, readWriteLog, WriteLogError } from './write-log.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'write-log-'));
const fill = (n: number, byte: number) => Buffer.alloc(n, byte);

function hasQemuIo(): boolean {
  try {
    execFileSync('qemu-io', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('a known pattern: writes, flushes and a discard come back in order with their offsets and data', (t) => {
  const d = tmp();
  const f = join(d, 'log');
  writeFileSync(
    f,
    encodeWriteLog([
      { kind: 'write', offset: 4096, data: fill(1024, 0xaa) },
      { kind: 'flush' },
      { kind: 'write', offset: 0, data: fill(512, 0xbb) },
      { kind: 'discard', offset: 8192, length: 2048 },
      { kind: 'flush' },
    ]),
  );
  const log = readWriteLog(f);
  t.is(log.sectorSize, 512);
  t.deepEqual(
    log.entries.map((e) => [e.kind, e.offset, e.length]),
    [
      ['write', 4096, 1024],
      ['flush', 0, 0],
      ['write', 0, 512],
      ['discard', 8192, 2048],
      ['flush', 0, 0],
    ],
  );
  const raw = readFileSync(f);
  t.true(raw.subarray(log.entries[0]!.dataAt, log.entries[0]!.dataAt + 1024).equals(fill(1024, 0xaa)));
  t.true(raw.subarray(log.entries[2]!.dataAt, log.entries[2]!.dataAt + 512).equals(fill(512, 0xbb)));
  rmSync(d, { recursive: true });
});

test('a log cut inside its last entry keeps the whole entries before it', (t) => {
  const d = tmp();
  const f = join(d, 'log');
  const full = encodeWriteLog([{ kind: 'write', offset: 0, data: fill(512, 1) }, { kind: 'flush' }, { kind: 'write', offset: 512, data: fill(2048, 2) }], 512, 2);
  writeFileSync(f, full.subarray(0, full.length - 700));
  const log = readWriteLog(f);
  t.is(log.entries.length, 2);
  t.true(log.truncatedBytes > 0);
  rmSync(d, { recursive: true });
});

test('not a log, another version, or fewer entries than the superblock counts: clear errors', (t) => {
  const d = tmp();
  const f = join(d, 'log');
  writeFileSync(f, Buffer.alloc(1024));
  t.throws(() => readWriteLog(f), { instanceOf: WriteLogError, message: /not a dm-log-writes log/ });
  const v2 = encodeWriteLog([]);
  v2.writeBigUInt64LE(2n, 8);
  writeFileSync(f, v2);
  t.throws(() => readWriteLog(f), { message: /version 2/ });
  writeFileSync(f, encodeWriteLog([{ kind: 'flush' }], 512, 5));
  t.throws(() => readWriteLog(f), { message: /counts 5 entries, the file holds 1/ });
  writeFileSync(f, Buffer.alloc(10));
  t.throws(() => readWriteLog(f), { message: /too short/ });
  rmSync(d, { recursive: true });
});

test('a log QEMU wrote (blklogwrites under qemu-io): the same requests come back', (t) => {
  if (!hasQemuIo()) return t.pass('qemu-io is not installed');
  const d = tmp();
  const disk = join(d, 'disk.img');
  const log = join(d, 'write.log');
  writeFileSync(disk, Buffer.alloc(1 << 20));
  writeFileSync(log, '');
  const opts = `driver=blklogwrites,log-sector-size=512,log-append=off,file.driver=file,file.filename=${disk},log.driver=file,log.filename=${log}`;
  execFileSync('qemu-io', ['--image-opts', opts, '-c', 'write -P 0xaa 0 4k', '-c', 'flush', '-c', 'write -P 0xbb 8k 512', '-c', 'write -z 16k 1k'], { stdio: 'ignore' });
  const l = readWriteLog(log);
  const raw = readFileSync(log);
  const writes = l.entries.filter((e) => e.kind === 'write');
  t.deepEqual(
    writes.map((e) => [e.offset, e.length]),
    [
      [0, 4096],
      [8192, 512],
      [16384, 1024],
    ],
  );
  t.is(l.entries[1]!.kind, 'flush', 'the flush between the first two writes');
  t.true(raw.subarray(writes[0]!.dataAt, writes[0]!.dataAt + 4096).equals(fill(4096, 0xaa)));
  t.true(raw.subarray(writes[1]!.dataAt, writes[1]!.dataAt + 512).equals(fill(512, 0xbb)));
  t.true(raw.subarray(writes[2]!.dataAt, writes[2]!.dataAt + 1024).equals(fill(1024, 0)), 'write-zeroes are logged as zeros');
  // The disk QEMU wrote is what replaying the log onto a zero disk gives.
  const replay = Buffer.alloc(1 << 20);
  for (const e of writes) raw.copy(replay, e.offset, e.dataAt, e.dataAt + e.length);
  t.true(replay.equals(readFileSync(disk)));
  rmSync(d, { recursive: true });
});
