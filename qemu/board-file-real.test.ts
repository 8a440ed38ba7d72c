// The board-file extensions for real boards and machines with their own SD slot: optional qemu
// and lab sections, firmware, rootfs dtb, card sizes, and the QEMU command line they produce.
import test from 'ava';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { BOARDS_DIR, loadBoardFile, qemuOf } from './board-file.js';
import { computeLayout } from './image/layout.js';
import { renderBootScript } from './boot/boot-script.js';
import { renderConfigTxt } from './image/boot-firmware.js';
import { qemuCommandLine } from './vm.js';
import { consoleSpecSchema } from '../harness/console/open-console.js';
import { createPower } from '../harness/power/open-power.js';

const yamlOf = (name: string) => parse(readFileSync(join(BOARDS_DIR, `${name}.yaml`), 'utf8')) as Record<string, any>;
function writeBoard(name: string, data: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'fs-board-')), `${name}.yaml`);
  writeFileSync(file, stringify(data));
  return file;
}
const paths = { disk: '/r/disk.img', diskFormat: 'raw' as const, consoleSocket: '/r/c.sock', qmpSocket: '/r/q.sock', pidFile: '/r/pid' };

test('raspi3b command line: -kernel U-Boot, console on the second serial, SD slot, 4 CPUs, no NIC', async (t) => {
  const b = await loadBoardFile('raspberrypi3-qemu');
  const args = qemuCommandLine(b, { ...paths, bios: '/img/qemu-bios.bin', serverPort: 9000 });
  const s = args.join(' ');
  t.true(s.startsWith('-M raspi3b -m 1024 -smp 4 -kernel /img/qemu-bios.bin '));
  t.regex(s, /-serial null -serial chardev:con0 /);
  t.regex(s, /-drive if=sd,id=hd0,file=\/r\/disk\.img,format=raw,cache=unsafe /);
  t.false(s.includes('-netdev'), 'no network on raspi3b');
  t.false(args.includes('-bios'));
});

test('existing boards keep their command line (bios, one serial, virtio disk and NIC)', async (t) => {
  const b = await loadBoardFile('qemu-aarch64');
  const s = qemuCommandLine(b, { ...paths, serverPort: 9000 }).join(' ');
  t.true(s.startsWith('-M virt -cpu cortex-a57 -m 512 -smp 1 -bios /usr/lib/u-boot/qemu_arm64/u-boot.bin '));
  t.is(s.match(/-serial/g)!.length, 1);
  t.regex(s, /-drive if=none,file=\/r\/disk\.img,format=raw,id=hd0,cache=unsafe -device virtio-blk-pci,drive=hd0 /);
  t.regex(s, /-netdev user,id=n0,restrict=on,guestfwd=tcp:10\.0\.2\.100:80-cmd:socat - TCP:127\.0\.0\.1:9000 -device virtio-net-pci,netdev=n0 /);
});

test('real boards have no qemu section and say so when asked to run in QEMU', async (t) => {
  const b = await loadBoardFile('beaglebone-black');
  t.throws(() => qemuOf(b), { message: /beaglebone-black has no qemu section \(real hardware\)/ });
  t.throws(() => qemuCommandLine(b, paths), { message: /real hardware/ });
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

test("the real boards' lab console and power are valid for the harness drivers", async (t) => {
  for (const name of ['raspberrypi3', 'beaglebone-black']) {
    const b = await loadBoardFile(name);
    t.true(consoleSpecSchema.safeParse(b.lab!.console).success, `${name} console`);
    t.notThrows(() => createPower(b.lab!.power, name), `${name} power`);
  }
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
  t.regex(s, /setenv fs_initrd_size \$\{filesize\}\n {4}if load mmc 0:\$\{boot_part\} \$\{fdt_addr_r\} \/boot\/dtb; then\n {6}booti \$\{kernel_addr_r\} \$\{ramdisk_addr_r\}:\$\{fs_initrd_size\} \$\{fdt_addr_r\}/);
  t.true(s.includes('console=ttyS1,115200'));
  const fw = b.firmware!;
  if (fw.type !== 'rpi') return t.fail('raspberrypi3 firmware is rpi');
  t.regex(renderConfigTxt(fw), /^arm_64bit=1\nenable_uart=1\nkernel=u-boot\.bin\n/m);
  // Existing boards render no load-address lines.
  const a = await loadBoardFile('qemu-aarch64');
  t.false(renderBootScript(a, computeLayout(a)).includes('setenv kernel_addr_r'));
});
