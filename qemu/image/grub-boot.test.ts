import test from 'ava';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { earlyConfig, installGrubMbr, patchBootImg, patchCoreImg } from './grub-boot.js';

/** boot.img's shape: a jmp at 0x66, kernel sector 1 at 0x5c, the 0xaa55 signature. */
function fakeBootImg(): Buffer {
  const b = Buffer.alloc(512, 0xcc);
  b.writeBigUInt64LE(1n, 0x5c);
  b[0x66] = 0xeb;
  b[0x67] = 0x05;
  b.writeUInt16LE(0xaa55, 0x1fe);
  return b;
}

/** core.img's shape: diskboot's default blocklist {2, 0, 0x820} at the end of its first sector. */
function fakeCoreImg(bytes: number): Buffer {
  const c = Buffer.alloc(bytes, 0x11);
  c.writeBigUInt64LE(2n, 500);
  c.writeUInt16LE(0, 508);
  c.writeUInt16LE(0x820, 510);
  return c;
}

test('boot.img: core.img at sector 1, the drive check jump replaced by NOPs as grub-setup does', (t) => {
  const b = patchBootImg(fakeBootImg());
  t.is(b.readBigUInt64LE(0x5c), 1n);
  t.deepEqual([b[0x66], b[0x67]], [0x90, 0x90]);
  t.throws(() => patchBootImg(Buffer.alloc(512)), { message: /boot sector/ });
});

test('core.img: the first blocklist names the rest of the image from sector 2', (t) => {
  const c = patchCoreImg(fakeCoreImg(149_553));
  t.is(c.readBigUInt64LE(500), 2n);
  t.is(c.readUInt16LE(508), 292); // ceil(149553 / 512) - 1
  t.is(c.readUInt16LE(510), 0x820);
  t.throws(() => patchCoreImg(Buffer.alloc(1024)), { message: /blocklist/ });
});

test('installGrubMbr keeps the disk signature and partition table, and refuses a core.img past partition 1', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fs-grub-'));
  const disk = join(dir, 'disk.img');
  const mbr = Buffer.alloc(4096);
  mbr.fill(0x5a, 0x1b8, 0x1fe); // signature + partition entries
  mbr.writeUInt16LE(0xaa55, 0x1fe);
  writeFileSync(disk, mbr);
  writeFileSync(join(dir, 'boot.img'), fakeBootImg());
  writeFileSync(join(dir, 'core.img'), fakeCoreImg(1500));
  installGrubMbr(disk, join(dir, 'boot.img'), join(dir, 'core.img'), 4096);
  const out = readFileSync(disk);
  t.true(out.subarray(0x1b8, 0x1fe).every((x) => x === 0x5a));
  t.is(out.readUInt16LE(0x1fe), 0xaa55);
  t.is(out.readBigUInt64LE(0x5c), 1n);
  t.is(out.readUInt16LE(512 + 508), 2);
  writeFileSync(join(dir, 'core.img'), fakeCoreImg(4096));
  t.throws(() => installGrubMbr(disk, join(dir, 'boot.img'), join(dir, 'core.img'), 4096), { message: /does not fit/ });
});

test('the early config puts GRUB on the serial console at the board speed', (t) => {
  t.is(earlyConfig(115200), 'serial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\nset prefix=(hd0,msdos1)\n');
});
