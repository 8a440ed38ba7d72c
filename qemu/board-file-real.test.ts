// The board-file extensions for real boards and machines with their own SD slot: optional qemu
// and lab sections, firmware, rootfs dtb, card sizes (the QEMU command line they produce:
// harness/drivers/qemu/command-line.test.ts; their lab console and power: harness/board/board-files.test.ts).
import test from 'ava';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { qemuOf } from '../boards/schema.js';
import { loadBoardFile } from '../boards/load.js';
import { BOARDS_DIR } from '../paths.js';
import { computeLayout } from './image/layout.js';
import { renderBootScript } from './boot/boot-script.js';
import { renderConfigTxt } from './image/boot-firmware.js';

const yamlOf = (name: string) => parse(readFileSync(join(BOARDS_DIR, `${name}.yaml`), 'utf8')) as Record<string, any>;
function writeBoard(name: string, data: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'fs-board-')), `${name}.yaml`);
  writeFileSync(file, stringify(data));
  return file;
}

test('real boards have no qemu section and say so when asked to run in QEMU', async (t) => {
  const b = await loadBoardFile('beaglebone-black');
  t.throws(() => qemuOf(b), { message: /beaglebone-black has no qemu section \(real hardware\)/ });
});

test('an SD card image that is not a power of two is refused for QEMU sd boards', async (t) => {
  const d = yamlOf('raspberrypi3-qemu');
  d.disk.imageSizeMiB = 600;
  const e = await t.throwsAsync(loadBoardFile(writeBoard('raspberrypi3-qemu', d)));
  t.regex(e!.message, /disk\.imageSizeMiB: an SD card image must be a power-of-two size \(600 MiB\)/);
  d.disk.imageSizeMiB = 256;
  const e2 = await t.throwsAsync(loadBoardFile(writeBoard('raspberrypi3-qemu', d)));
  t.regex(e2!.message, /the partitions need 512 MiB/);
});

test('fdt=rootfs needs linux.dtb; a board needs qemu or lab; lab sections are checked', async (t) => {
  const d = yamlOf('beaglebone-black');
  delete d.linux.dtb;
  delete d.lab;
  const e = await t.throwsAsync(loadBoardFile(writeBoard('beaglebone-black', d)));
  t.regex(e!.message, /linux\.dtb: bootloader\.fdt=rootfs needs linux\.dtb/);
  t.regex(e!.message, /lab: a board needs a qemu section/);
  const d2 = yamlOf('beaglebone-black');
  d2.lab.console = { type: 'serial', path: 'ttyUSB0' };
  d2.lab.flash = { type: 'dd' };
  const e2 = await t.throwsAsync(loadBoardFile(writeBoard('beaglebone-black', d2)));
  t.regex(e2!.message, /lab\.console\.path/);
  t.regex(e2!.message, /lab\.flash\.device/);
});

test('a compressed kernel needs booti and a decompression area', async (t) => {
  const d = yamlOf('raspberrypi3-qemu');
  delete d.bootloader.loadAddrs.kernelComp;
  const e = await t.throwsAsync(loadBoardFile(writeBoard('raspberrypi3-qemu', d)));
  t.regex(e!.message, /linux\.kernelCompression: a compressed kernel needs booti/);
});

test('layout pads to imageSizeMiB; Mender env offsets sit before partition 1', async (t) => {
  const l = computeLayout(await loadBoardFile('raspberrypi3'));
  t.is(l.totalSize, 512 * 2 ** 20);
  t.deepEqual(l.env?.offsets, [0x800000, 0x1000000]);
  t.is(l.partitions[0]!.offset, 24 * 2 ** 20);
});

test('rpi boot script sets load addresses and boots with the rootfs dtb; config.txt starts U-Boot', async (t) => {
  const b = await loadBoardFile('raspberrypi3');
  const s = renderBootScript(b, computeLayout(b));
  t.regex(s, /^setenv kernel_addr_r 0x200000\nsetenv ramdisk_addr_r 0x4100000\nsetenv fdt_addr_r 0x4000000\nsetenv kernel_comp_addr_r 0x6000000\nsetenv kernel_comp_size 0x2000000$/m);
  t.regex(s, /setenv fs_initrd_size \$\{filesize\}\n {4}if load mmc 0:\$\{mender_boot_part_hex\} \$\{fdt_addr_r\} \/boot\/dtb; then\n {6}booti \$\{kernel_addr_r\} \$\{ramdisk_addr_r\}:\$\{fs_initrd_size\} \$\{fdt_addr_r\}/);
  t.true(s.includes('console=ttyS1,115200'));
  const fw = b.firmware!;
  if (fw.type !== 'rpi') return t.fail('raspberrypi3 firmware is rpi');
  t.regex(renderConfigTxt(fw), /^arm_64bit=1\nenable_uart=1\nkernel=u-boot\.bin\n/m);
  // Existing boards render no load-address lines.
  const a = await loadBoardFile('qemu-aarch64');
  t.false(renderBootScript(a, computeLayout(a)).includes('setenv kernel_addr_r'));
});
