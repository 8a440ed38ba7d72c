// The real boards' SD card images, checked offline (no QEMU machine for the BeagleBone, and the
// Raspberry Pi's raspi3b boots are slow): the partition table, the FAT boot partition's firmware
// and boot.scr, the redundant env (both CRCs, defaults, fw_printenv -c), the boot script's raw
// env offsets, and what each rootfs carries in /boot. A build takes ~15 s once the .debs are in
// .cache/qemu/debs (first run downloads them); set FLIPSIDE_IMAGE_TESTS=0 to skip on hosts
// without the Debian foreign architectures (ci/setup.sh adds them).
import test, { type ExecutionContext } from 'ava';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { buildImage, type BuiltImage } from './image/build.js';
import { REPO_ROOT } from '../paths.js';
import { partition, SECTOR } from './image/layout.js';
import { run } from './image/exec.js';
import { parseEnvLines } from '../bootenv/env-lines.js';
import { loadBoardFile } from '../boards/load.js';
import { crc32 } from '../bootenv/crc32.js';

const enabled = process.env.FLIPSIDE_IMAGE_TESTS !== '0';
const itest = enabled ? test.serial : test.skip;
if (!enabled) test.skip('board image tests skipped (FLIPSIDE_IMAGE_TESTS=0)', () => undefined);

mkdirSync(join(REPO_ROOT, '.cache', 'tmp'), { recursive: true });


/** The first `n` bytes of a file (the card's MBR and env area, not its 512 MiB). */
function readHead(file: string, n: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(n);
    readSync(fd, buf, 0, n, 0);
    return buf;
  } finally {
    closeSync(fd);
  }
}

interface SfdiskJson {
  partitiontable: { label: string; partitions: Array<{ start: number; size: number; type: string; bootable?: boolean }> };
}

/** A file of the FAT boot partition, read with mtools straight from the card image. */
async function fatFile(img: BuiltImage, name: string): Promise<Buffer> {
  const p = partition(img.layout, 'boot');
  const tmp = join(REPO_ROOT, '.cache', 'tmp', `fat-${process.pid}-${img.board.name}-${name}`);
  await run('mcopy', ['-o', '-n', '-i', `${img.disk}@@${p.offset}`, `::${name}`, tmp]);
  try {
    return readFileSync(tmp);
  } finally {
    rmSync(tmp, { force: true });
  }
}

async function fatListing(img: BuiltImage): Promise<string[]> {
  const out = await run('mdir', ['-b', '-i', `${img.disk}@@${partition(img.layout, 'boot').offset}`, '::']);
  return out.split('\n').filter(Boolean).map((l) => l.replace(/^::\//, ''));
}

/** A file of the rootfs image (debugfs reads ext4 without mounting). */
async function rootfsFile(img: BuiltImage, path: string): Promise<Buffer> {
  const tmp = join(REPO_ROOT, '.cache', 'tmp', `rootfs-${process.pid}-${img.board.name}-${path.replace(/\//g, '_')}`);
  await run('debugfs', ['-R', `dump ${path} ${tmp}`, img.rootfs]);
  try {
    return readFileSync(tmp);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Checks shared by both boards: table, env copies, boot.scr. */
async function checkCard(t: ExecutionContext, img: BuiltImage): Promise<string> {
  const { layout, board } = img;
  // A power-of-two card (QEMU's SD model needs it; any real card of this size or more fits).
  t.is(statSync(img.disk).size, layout.totalSize);
  t.is(layout.totalSize & (layout.totalSize - 1), 0, 'card image is a power of two');

  const table = JSON.parse(await run('sfdisk', ['--json', img.disk])) as SfdiskJson;
  t.is(table.partitiontable.label, 'dos');
  t.deepEqual(
    table.partitiontable.partitions.map((p) => [p.start * SECTOR, p.size * SECTOR, p.type, !!p.bootable]),
    layout.partitions.map((p) => [p.offset, p.size, p.role === 'boot' ? 'c' : '83', p.role === 'boot']),
  );
  const env = layout.env!;
  const boardEnv = board.env!;
  // The env copies sit between the MBR and partition 1, at the board file's offsets.
  t.deepEqual(env.offsets, [boardEnv.offsets[0], boardEnv.offsets[1]]);
  t.true(Math.max(...env.offsets) + env.size <= partition(layout, 'boot').offset);

  // Both copies: [crc32][flags][data], CRC over the data.
  const disk = readHead(img.disk, partition(layout, 'boot').offset);
  for (const [i, off] of env.offsets.entries()) {
    const copy = disk.subarray(off, off + env.size);
    t.is(copy.readUInt32LE(0), crc32(copy.subarray(5)), `env copy ${i + 1} CRC`);
    t.regex(copy.subarray(5).toString('latin1'), /^(?=.*mender_boot_part=2\0)(?=.*mender_boot_part_hex=2\0)(?=.*bootlimit=1\0)/s);
  }
  t.deepEqual(parseEnvLines(await run('fw_printenv', ['-c', img.hostFwEnvConfig!])), {
    mender_boot_part: '2',
    mender_boot_part_hex: '2',
    mender_check_saveenv_canary: '1',
    bootcount: '0',
    bootlimit: String(board.bootloader.bootlimit),
    upgrade_available: '0',
  });
  t.is(readFileSync(img.hostFwEnvConfig!, 'utf8'), env.offsets.map((o) => `${img.disk} 0x${o.toString(16)} 0x4000`).join('\n') + '\n');

  // boot.scr: a U-Boot script image, on the FAT partition, reading the env from mmc at the offsets.
  t.regex(await run('dumpimage', ['-l', img.bootScript]), /Script/);
  const scr = readFileSync(img.bootScript);
  t.deepEqual(await fatFile(img, 'boot.scr'), scr, 'boot.scr on the card is the built one');
  const text = scr.subarray(64 + 8).toString('utf8');
  const sect = (o: number) => `0x${(o / SECTOR).toString(16)}`;
  const nsect = `0x${(env.size / SECTOR).toString(16)}`;
  t.regex(text, new RegExp(`^mmc read 0x[0-9a-f]+ ${sect(env.offsets[0])} ${nsect}$`, 'm'));
  t.regex(text, new RegExp(`^mmc read 0x[0-9a-f]+ ${sect(env.offsets[1])} ${nsect}$`, 'm'));
  t.regex(text, /^ {2}mmc write 0x[0-9a-f]+ \$\{fs_target_sect\} 0x20$/m);
  t.regex(text, /load mmc 0:\$\{mender_boot_part_hex\} \$\{fdt_addr_r\} \/boot\/dtb/);
  t.regex(text, new RegExp(`root=\\$\\{mender_kernel_root\\}`));
  t.true(text.includes(`setenv mender_kernel_root ${partition(layout, 'rootfsA').device}`) && text.includes(`setenv mender_kernel_root ${partition(layout, 'rootfsB').device}`));
  t.true(text.includes(`console=${board.linux.console},${board.console.baud}`));
  // The rootfs knows the same env location.
  t.is((await rootfsFile(img, '/etc/fw_env.config')).toString(), `${boardEnv.device} 0x${env.offsets[0].toString(16)} 0x4000\n${boardEnv.device} 0x${env.offsets[1].toString(16)} 0x4000\n`);
  return text;
}

function dtbCompatible(dtb: Buffer): string {
  t0(dtb.readUInt32BE(0) === 0xd00dfeed, 'not a flattened device tree');
  return dtb.toString('latin1');
}
function t0(ok: boolean, msg: string): void {
  if (!ok) throw new Error(msg);
}

itest('raspberrypi3: SD card with GPU firmware, config.txt, U-Boot rpi_3, boot.scr, dtb, A/B, env at 8/16 MiB', async (t) => {
  t.timeout(15 * 60_000);
  const started = Date.now();
  const img = await buildImage({ board: 'raspberrypi3', version: 'offline-1', artifact: false });
  t.log(`build ${((Date.now() - started) / 1000).toFixed(1)} s (cached: ${img.cached})`);
  t.is(img.board.deviceType, 'raspberrypi3');
  t.deepEqual(img.layout.env?.offsets, [0x800000, 0x1000000]);
  await checkCard(t, img);

  const files = await fatListing(img);
  for (const f of ['bootcode.bin', 'start.elf', 'fixup.dat', 'u-boot.bin', 'config.txt', 'bcm2837-rpi-3-b.dtb', 'boot.scr'])
    t.true(files.includes(f), `${f} on the boot partition (have ${files.join(', ')})`);
  const config = (await fatFile(img, 'config.txt')).toString();
  for (const line of ['arm_64bit=1', 'enable_uart=1', 'kernel=u-boot.bin']) t.regex(config, new RegExp(`^${line}$`, 'm'));
  t.true((await fatFile(img, 'start.elf')).length > 1_000_000, 'start.elf is the GPU firmware');
  t.true((await fatFile(img, 'bootcode.bin')).length > 10_000);
  const uboot = await fatFile(img, 'u-boot.bin');
  t.true(uboot.includes(Buffer.from('U-Boot 2023.01')), 'u-boot.bin is U-Boot');
  // AArch64 U-Boot starts with a branch instruction (b reset): top byte 0x14.
  t.is(uboot.readUInt32LE(0) >>> 26, 0x05, 'u-boot.bin starts with an AArch64 branch');
  // The dtb: on the FAT (for the firmware) and in the rootfs /boot (for Linux, updated with it).
  const fatDtb = await fatFile(img, 'bcm2837-rpi-3-b.dtb');
  t.regex(dtbCompatible(fatDtb), /raspberrypi,3-model-b\0/);
  t.deepEqual(await rootfsFile(img, '/boot/dtb'), fatDtb);
  // The arm64 Image, gzip'd (booti unpacks it; ~11 MB to read instead of 33 MB).
  const vmlinuz = await rootfsFile(img, '/boot/vmlinuz');
  t.is(vmlinuz.readUInt16BE(0), 0x1f8b, 'gzip');
  t.is(gunzipSync(vmlinuz).subarray(0x38, 0x3c).toString('latin1'), 'ARM\x64', 'arm64 Image magic');
  // The real board's lab section is data the harness can use.
  t.is(img.board.lab?.console.type, 'serial');
  t.is(img.board.qemu, undefined);
});

itest('beaglebone-black: SD card with MLO + u-boot.img on FAT, boot.scr, am335x-boneblack dtb, armhf Node, A/B', async (t) => {
  t.timeout(15 * 60_000);
  const started = Date.now();
  const img = await buildImage({ board: 'beaglebone-black', version: 'offline-1', artifact: false });
  t.log(`build ${((Date.now() - started) / 1000).toFixed(1)} s (cached: ${img.cached})`);
  const text = await checkCard(t, img);
  // am335x_evm has no setexpr: the script counts with tables and still runs bootz with the rootfs dtb.
  t.false(text.includes('setexpr'));
  t.regex(text, /bootz \$\{kernel_addr_r\} \$\{ramdisk_addr_r\}:\$\{fs_initrd_size\} \$\{fdt_addr_r\}/);

  const files = await fatListing(img);
  t.is(files[0], 'MLO', 'MLO is the first entry of the FAT root');
  for (const f of ['MLO', 'u-boot.img', 'boot.scr']) t.true(files.includes(f), `${f} on the boot partition`);
  // MLO (mkimage -T omapimage): a 512-byte CHSETTINGS table of contents, then the GP header
  // (image size, load address 0x402f0400 in the AM335x public SRAM) and U-Boot SPL.
  const mlo = await fatFile(img, 'MLO');
  t.is(mlo.subarray(0x14, 0x1e).toString('latin1'), 'CHSETTINGS', 'TOC');
  t.is(mlo.readUInt32LE(0x204), 0x402f0400, 'MLO loads into the AM335x public SRAM');
  const spl = mlo.readUInt32LE(0x200);
  t.true(spl > 0x8000 && spl <= mlo.length - 0x200, `GP header size ${spl} within the file`);
  const ubootImg = await fatFile(img, 'u-boot.img');
  t.true([0x27051956, 0xd00dfeed].includes(ubootImg.readUInt32BE(0)), 'u-boot.img is a U-Boot image (legacy or FIT)');
  t.regex(dtbCompatible(await rootfsFile(img, '/boot/dtb')), /ti,am335x-bone-black\0/);
  // zImage magic at 0x24, and Node 18 for armhf (ELF class 32, machine ARM).
  t.is((await rootfsFile(img, '/boot/vmlinuz')).readUInt32LE(0x24), 0x016f2818, 'ARM zImage');
  const node = await rootfsFile(img, '/usr/bin/node');
  t.is(node[4], 1, 'ELF32');
  t.is(node.readUInt16LE(18), 40, 'EM_ARM');
  t.is(img.board.lab?.flash.type, 'dd');
});

test('the real boards and the raspi3b stand-in load; real boards have a lab section, the stand-in qemu', async (t) => {
  const pi = await loadBoardFile('raspberrypi3');
  const piq = await loadBoardFile('raspberrypi3-qemu');
  const bbb = await loadBoardFile('beaglebone-black');
  t.is(pi.qemu, undefined);
  t.is(bbb.qemu, undefined);
  t.truthy(pi.lab && bbb.lab);
  t.like(piq.qemu, { diskDevice: 'sd', firmwareArg: 'kernel', consoleSerial: 1, smp: 4, memoryMiB: 1024 });
  t.is(piq.qemu?.nicDevice, undefined);
  // The stand-in runs the same card: everything but qemu/lab/timeouts/console pacing agrees.
  const shared = (b: typeof pi) => ({ ...b, name: '', description: '', file: '', qemu: undefined, lab: undefined, timeouts: undefined, console: { ...b.console, charDelayMs: 0 } });
  t.deepEqual(shared(piq), shared(pi));
  t.deepEqual([pi.env?.offsets, bbb.env?.offsets], [[0x800000, 0x1000000], [0x800000, 0x1000000]]);
});
