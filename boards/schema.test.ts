import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { readFileSync } from 'node:fs';
import { grubPackage, isSimulated, ubootOf } from './schema.js';
import { BoardFileError, listBoards, loadAnyBoardFile, loadBoardFile } from './load.js';
import { BOARDS_DIR } from '../paths.js';

const base = () => parse(readFileSync(join(BOARDS_DIR, 'qemu-aarch64.yaml'), 'utf8')) as Record<string, any>;

function writeBoard(name: string, data: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'fs-board-'));
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, typeof data === 'string' ? data : stringify(data));
  return file;
}

test('every board in boards/ loads and validates, device and simulated', async (t) => {
  const names = listBoards();
  t.true(names.includes('qemu-aarch64'));
  for (const n of names) {
    const b = await loadAnyBoardFile(n);
    t.is(b.name, n);
    t.is(b.disk.rootfsA.sizeMiB, b.disk.rootfsB.sizeMiB);
    if (!isSimulated(b)) t.is((await loadBoardFile(n)).name, n);
  }
});

test('the default board parses hex offsets into numbers', async (t) => {
  const b = await loadBoardFile('qemu-aarch64');
  t.deepEqual(b.env?.offsets, [0x400000, 0x404000]);
  t.is(b.env?.size, 0x4000);
  t.is(ubootOf(b).scratchAddr, 0x50000000);
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

test('GRUB boards: no raw env section, bootlimit 1 (Mender keeps bootcount as 0/1); U-Boot boards need env', async (t) => {
  const g = parse(readFileSync(join(BOARDS_DIR, 'qemu-x86_64-grub.yaml'), 'utf8')) as Record<string, any>;
  const b = await loadBoardFile(writeBoard('qemu-x86_64-grub', g));
  t.like(b.bootloader, { type: 'grub', platform: 'i386-pc', package: 'grub-pc-bin', bootlimit: 1 });
  t.is(b.env, undefined);
  t.throws(() => ubootOf(b), { message: /boots with grub/ });
  const withEnv = { ...g, env: base().env };
  await t.throwsAsync(loadBoardFile(writeBoard('g2', withEnv)), { message: /env: a GRUB board keeps its env in a grubenv file/ });
  await t.throwsAsync(loadBoardFile(writeBoard('g3', { ...g, bootloader: { ...g.bootloader, bootlimit: 2 } })), { message: /bootloader\.bootlimit/ });
  const noEnv = base();
  delete noEnv.env;
  await t.throwsAsync(loadBoardFile(writeBoard('u1', noEnv)), { message: /env: a U-Boot board needs an env section/ });
});

test('the UEFI GRUB board: x86_64-efi from grub-efi-amd64-bin, same device type as the BIOS one', async (t) => {
  const efi = await loadBoardFile('qemu-x86_64-grub-efi');
  const bios = await loadBoardFile('qemu-x86_64-grub');
  t.is(efi.bootloader.type === 'grub' && grubPackage(efi.bootloader), 'grub-efi-amd64-bin');
  t.is(bios.bootloader.type === 'grub' && grubPackage(bios.bootloader), 'grub-pc-bin');
  t.is(efi.deviceType, bios.deviceType);
  t.is(grubPackage({ type: 'grub', platform: 'x86_64-efi', bootlimit: 1 }), 'grub-efi-amd64-bin');
});

test('a deviceconnect harness console needs a NIC; without one the board is refused', async (t) => {
  const d = base();
  d.qemu.harnessConsole = 'deviceconnect';
  delete d.qemu.nicDevice;
  const e = await t.throwsAsync(loadBoardFile(writeBoard('qemu-aarch64', d)));
  t.regex(e!.message, /qemu\.harnessConsole: a deviceconnect console needs a network/);
  const b = await loadBoardFile('qemu-aarch64-netonly');
  t.is(b.qemu?.harnessConsole, 'deviceconnect');
  t.is((await loadBoardFile('qemu-aarch64')).qemu?.harnessConsole, 'serial');
});
