import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  applyChanges,
  checkCopy,
  chooseCurrent,
  decodeVars,
  diagnoseBlob,
  encodeBlob,
  fromEnvVars,
  nextFlag,
  toEnvVars,
} from './uboot-env-format.js';
import { crc32 } from './crc32.js';
import { EnvError } from './types.js';

test('flag rule: higher wins, 0 after 0xff wins, equal picks copy 0, invalid copies never win', (t) => {
  t.is(chooseCurrent([true, true], [1, 2]), 1);
  t.is(chooseCurrent([true, true], [7, 3]), 0);
  t.is(chooseCurrent([true, true], [5, 5]), 0);
  t.is(chooseCurrent([true, true], [0xff, 0]), 1);
  t.is(chooseCurrent([true, true], [0, 0xff]), 0);
  t.is(chooseCurrent([true, false], [1, 9]), 0);
  t.is(chooseCurrent([false, true], [9, 1]), 1);
  t.is(chooseCurrent([false, false], [1, 2]), null);
  t.is(nextFlag(0xff), 0);
  t.is(nextFlag(4), 5);
});

test('encode sorts by name, ends with \\0\\0, zero-pads and checksums the data area', (t) => {
  const blob = encodeBlob(fromEnvVars({ zeta: '1', alpha: 'a=b', empty: '' }), 64, false, 0);
  t.is(blob.length, 64);
  t.is(blob.subarray(4, 4 + 29).toString('latin1'), 'alpha=a=b\0empty=\0zeta=1\0\0'.padEnd(29, '\0'));
  t.is(blob.readUInt32LE(0), crc32(blob.subarray(4)));
  t.true(checkCopy(blob, false).crcOk);
  t.deepEqual(toEnvVars(decodeVars(blob, false)), { alpha: 'a=b', empty: '', zeta: '1' });
});

test('redundant blobs carry the flag after the CRC and checksum only the data', (t) => {
  const blob = encodeBlob(fromEnvVars({ a: '1' }), 32, true, 0x42);
  const c = checkCopy(blob, true);
  t.true(c.crcOk);
  t.is(c.flag, 0x42);
  t.is(blob.subarray(5, 10).toString('latin1'), 'a=1\0\0');
  blob[4] = 0x43; // the flag is outside the CRC: changing it keeps the copy valid
  t.true(checkCopy(blob, true).crcOk);
  blob[6] ^= 1;
  t.false(checkCopy(blob, true).crcOk);
});

test('identical to mkenvimage output for sorted input with zero padding', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'envfmt-'));
  try {
    writeFileSync(join(dir, 'in.txt'), 'bootcount=0\nboot_part=2\nupgrade_available=0\n'.split('\n').sort().join('\n'));
    for (const redundant of [false, true]) {
      const out = join(dir, 'out.bin');
      execFileSync('mkenvimage', [...(redundant ? ['-r'] : []), '-p', '0', '-s', '0x400', '-o', out, join(dir, 'in.txt')]);
      const ours = encodeBlob(fromEnvVars({ upgrade_available: '0', bootcount: '0', boot_part: '2' }), 0x400, redundant, 1);
      t.deepEqual(ours, readFileSync(out), redundant ? 'redundant' : 'single');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('TOO_LARGE at one byte over; an exact fit works', (t) => {
  // 4-byte header + "a=xxxx\0" (7) + final "\0" (1) = 12
  t.notThrows(() => encodeBlob(fromEnvVars({ a: 'xxxx' }), 12, false, 0));
  const err = t.throws(() => encodeBlob(fromEnvVars({ a: 'xxxxx' }), 12, false, 0), { instanceOf: EnvError });
  t.is(err!.code, 'TOO_LARGE');
  t.regex(err!.message, /need 9 bytes but the env holds 8/);
});

test('decode skips entries without = or with an empty name and stops at the empty string; last duplicate wins', (t) => {
  const data = Buffer.from('noequals\0=orphan\0k=1\0k=2\0\0after=ignored\0\0', 'latin1');
  const blob = Buffer.concat([Buffer.alloc(4), data]);
  t.deepEqual(toEnvVars(decodeVars(blob, false)), { k: '2' });
});

test('non-UTF-8 bytes of untouched variables survive a change to another variable', (t) => {
  const blob = Buffer.concat([Buffer.alloc(4), Buffer.from([0x62, 0x3d, 0xff, 0xfe, 0, 0])]);
  const raw = applyChanges(decodeVars(blob, false), { c: 'é' });
  const out = encodeBlob(raw, 32, false, 0);
  t.deepEqual([...out.subarray(4, 14)], [0x62, 0x3d, 0xff, 0xfe, 0, 0x63, 0x3d, 0xc3, 0xa9, 0]);
});

test('bad names and values are refused with BAD_VARIABLE', (t) => {
  for (const changes of <Array<Record<string, string>>>[{ '': 'x' }, { 'a=b': 'x' }, { 'a\0': 'x' }, { a: 'x\0y' }]) {
    const err = t.throws(() => applyChanges(new Map(), changes), { instanceOf: EnvError });
    t.is(err!.code, 'BAD_VARIABLE');
  }
});

test('diagnosis tells a blank, foreign, damaged, short or differently sized env apart', (t) => {
  t.is(diagnoseBlob(Buffer.alloc(0x400, 0xff), 0x400, false).kind, 'blank');
  t.is(diagnoseBlob(Buffer.alloc(0x400, 0), 0x400, true).kind, 'blank');
  t.is(diagnoseBlob(Buffer.alloc(0x100, 0), 0x400, true).kind, 'short');
  const foreign = Buffer.alloc(0x400, 0);
  foreign.write('\x7fELF\x02\x01\x01', 0, 'latin1');
  const f = diagnoseBlob(foreign, 0x400, false);
  t.is(f.kind, 'foreign');
  t.regex(f.detail, /7f 45 4c 46/);
  const damaged = encodeBlob(fromEnvVars({ bootcount: '1' }), 0x400, true, 3);
  damaged[12] ^= 0x20;
  t.is(diagnoseBlob(damaged, 0x400, true).kind, 'corrupt');
  const small = encodeBlob(fromEnvVars({ bootcount: '1' }), 0x2000, false, 0);
  const probe = Buffer.concat([small, Buffer.alloc(0x2000, 0x55)]);
  const other = diagnoseBlob(probe, 0x4000, false);
  t.is(other.kind, 'other-layout');
  t.regex(other.detail, /single-copy \(no flags byte\) env of size 0x2000.*config says single-copy with size 0x4000/);
  const textFile = Buffer.alloc(0x400, 0);
  textFile.write('just some text\nin a file cluster\n', 0, 'latin1');
  t.is(diagnoseBlob(textFile, 0x400, false).kind, 'foreign');
  const twoVarsOneFlipped = encodeBlob(fromEnvVars({ a: '1', b: '2' }), 0x400, false, 0);
  twoVarsOneFlipped[5] ^= 1; // 'a=1' -> 'a<1'
  t.is(diagnoseBlob(twoVarsOneFlipped, 0x400, false).kind, 'corrupt');
  const redundantOnDisk = encodeBlob(fromEnvVars({ bootcount: '1' }), 0x4000, true, 1);
  t.regex(diagnoseBlob(redundantOnDisk, 0x4000, false).detail, /valid redundant \(with flags byte\) env of size 0x4000/);
});
