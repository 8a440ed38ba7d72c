import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { readFileSync } from 'node:fs';
import { BOARDS_DIR, BoardFileError, listBoards, loadBoardFile } from './board-file.js';

const base = () => parse(readFileSync(join(BOARDS_DIR, 'qemu-aarch64.yaml'), 'utf8')) as Record<string, any>;

function writeBoard(name: string, data: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'fs-board-'));
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, typeof data === 'string' ? data : stringify(data));
  return file;
}

test('every QEMU board in boards/ loads and validates', async (t) => {
  const names = listBoards();
  t.true(names.includes('qemu-aarch64'));
  for (const n of names) {
    const b = await loadBoardFile(n);
    t.is(b.name, n);
    t.is(b.disk.rootfsA.sizeMiB, b.disk.rootfsB.sizeMiB);
  }
});

test('the default board parses hex offsets into numbers', async (t) => {
  const b = await loadBoardFile('qemu-aarch64');
  t.deepEqual(b.env.offsets, [0x400000, 0x404000]);
  t.is(b.env.size, 0x4000);
  t.is(b.bootloader.scratchAddr, 0x50000000);
  t.is(b.disk.rootfsB.device, '/dev/vda3');
});

test('a missing field is reported with the file and the field path', async (t) => {
  const d = base();
  delete d.qemu.binary;
  const file = writeBoard('qemu-aarch64', d);
  const e = await t.throwsAsync(loadBoardFile(file), { instanceOf: BoardFileError });
  t.true(e!.message.startsWith(file));
  t.regex(e!.message, /qemu\.binary: Required/);
});

test('overlapping env copies and env past the first partition are refused', async (t) => {
  const d = base();
  d.env.offsets = ['0x400000', '0x402000'];
  const e = await t.throwsAsync(loadBoardFile(writeBoard('qemu-aarch64', d)));
  t.regex(e!.message, /env\.offsets: the two env copies overlap/);
  const d2 = base();
  d2.env.offsets = ['0x400000', '0x7fe000'];
  const e2 = await t.throwsAsync(loadBoardFile(writeBoard('qemu-aarch64', d2)));
  t.regex(e2!.message, /env must end before the first partition/);
});

test('unknown keys, bad enums and unequal slots are refused', async (t) => {
  const d = base();
  d.bootloader.bootCommand = 'bootm';
  d.extra = 1;
  const e = await t.throwsAsync(loadBoardFile(writeBoard('qemu-aarch64', d)));
  t.regex(e!.message, /bootloader\.bootCommand/);
  t.regex(e!.message, /Unrecognized key/);
  const d2 = base();
  d2.disk.rootfsB.sizeMiB = 10;
  const e2 = await t.throwsAsync(loadBoardFile(writeBoard('qemu-aarch64', d2)));
  t.regex(e2!.message, /disk\.rootfsB\.sizeMiB: rootfs A and B must be the same size/);
});

test('name must match the file name; unknown board names list the known ones', async (t) => {
  const e = await t.throwsAsync(loadBoardFile(writeBoard('other', base())));
  t.regex(e!.message, /does not match the file name/);
  const e2 = await t.throwsAsync(loadBoardFile('no-such-board'));
  t.regex(e2!.message, /known boards: .*qemu-aarch64/);
});

test('invalid YAML names the file', async (t) => {
  const file = writeBoard('qemu-aarch64', 'name: [unclosed');
  const e = await t.throwsAsync(loadBoardFile(file));
  t.regex(e!.message, /not valid YAML/);
});
