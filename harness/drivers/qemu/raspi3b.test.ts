// The Raspberry Pi 3's SD card image on QEMU's raspi3b: boots slot A to a shell, switches to B
// with fw_setenv in the guest, and rolls back from a broken init in the inactive slot by itself.
// Slow (~60 s per boot, U-Boot reads the 33 MB kernel from the emulated SD card at ~1 MB/s):
// FLIPSIDE_QEMU_TESTS=1 and FLIPSIDE_SLOW_BOARDS=1 only, one VM at a time.
import test from 'ava';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage, type BuiltImage } from '../../../qemu/image/build.js';
import { REPO_ROOT } from '../../../paths.js';
import { partition } from '../../../qemu/image/layout.js';
import { writeAt } from '../../../qemu/image/disk.js';
import { run } from '../../../qemu/image/exec.js';
import { QemuVm } from './vm.js';
import { parseEnvLines } from '../../../bootenv/env-lines.js';
import { bootToShell, guestEnv, guestSetEnv, guestShell, rebootToUBoot } from './testing/guest-steps.js';

const enabled = process.env.FLIPSIDE_QEMU_TESTS === '1' && process.env.FLIPSIDE_SLOW_BOARDS === '1';
const qtest = enabled ? test.serial : test.skip;
if (!enabled) test.skip('raspi3b boot tests skipped: set FLIPSIDE_QEMU_TESTS=1 FLIPSIDE_SLOW_BOARDS=1', () => undefined);

const BOARD = 'raspberrypi3-qemu';
const images: Record<string, BuiltImage> = {};
const runRoot = join(REPO_ROOT, '.cache', 'qemu', 'test-runs', `raspi3b`);
if (enabled) rmSync(runRoot, { recursive: true, force: true });
let vm: QemuVm | null = null;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

test.after.always(async () => {
  await vm?.quit();
});


qtest('builds the raspberrypi3-qemu card images (v1, v2, broken-init)', async (t) => {
  t.timeout(15 * 60_000);
  const t0 = Date.now();
  images.v1 = await buildImage({ board: BOARD, version: 'rpi-1', artifact: false });
  t.log(`v1 build ${secs(Date.now() - t0)} (cached: ${images.v1.cached})`);
  images.v2 = await buildImage({ board: BOARD, version: 'rpi-2', artifact: false });
  images.brokenInit = await buildImage({ board: BOARD, version: 'rpi-broken-init', variant: 'broken-init', artifact: false });
  t.truthy(images.v1.qemuBios, 'U-Boot rpi_3 from u-boot-rpi is kept with the image');
  t.is(images.v1.layout.totalSize & (images.v1.layout.totalSize - 1), 0, 'power-of-two card');
  const env = parseEnvLines(await run('fw_printenv', ['-c', images.v1.hostFwEnvConfig!]));
  t.like(env, { mender_boot_part: '2', mender_boot_part_hex: '2', upgrade_available: '0', bootcount: '0', bootlimit: '1', mender_check_saveenv_canary: '1' });
});

qtest('raspi3b: boots A, switches to B with fw_setenv, rolls back from a broken init in the inactive slot', async (t) => {
  t.timeout(25 * 60_000);
  const v1 = images.v1!;
  const layout = v1.layout;
  vm = await QemuVm.start({ board: v1.board, disk: v1.disk, bios: v1.qemuBios, runDir: join(runRoot, 'ab') });
  await vm.quit();
  await writeAt(vm.diskPath, images.v2!.rootfs, partition(layout, 'rootfsB').offset);

  let t0 = Date.now();
  await vm.powerOn();
  t.deepEqual(await bootToShell(vm), { root: '/dev/mmcblk0p2', artifact: 'rpi-1' });
  t.log(`boot A to shell: ${secs(Date.now() - t0)}`);
  const sh = guestShell(vm, 60_000);
  t.like(await guestEnv(sh), { mender_boot_part: '2', mender_boot_part_hex: '2', upgrade_available: '0', bootcount: '0', mender_saveenv_canary: '1' });
  t.regex((await sh.run('cat /etc/fw_env.config')).stdout, /\/dev\/mmcblk0 0x800000 0x4000\n\/dev\/mmcblk0 0x1000000 0x4000/);
  t.regex((await sh.run('cat /proc/device-tree/model')).stdout, /Raspberry Pi 3 Model B/);

  // A/B switch as the client makes it: one fw_setenv, then reboot.
  await guestSetEnv(sh, { mender_boot_part: '3', mender_boot_part_hex: '3', upgrade_available: '1', bootcount: '0' });
  t0 = Date.now();
  await rebootToUBoot(vm, 60_000);
  t.deepEqual(await bootToShell(vm), { root: '/dev/mmcblk0p3', artifact: 'rpi-2' });
  t.log(`reboot into B: ${secs(Date.now() - t0)}`);
  t.like(await guestEnv(sh), { mender_boot_part: '3', mender_boot_part_hex: '3', upgrade_available: '1', bootcount: '1' }, 'the bootloader counted the trial boot');
  await guestSetEnv(sh, { upgrade_available: '0' });

  // A broken init in the inactive slot (A): the kernel panics (panic=3), the watchdog resets,
  // U-Boot counts past bootlimit and goes back to B without help.
  await vm.quit();
  await writeAt(vm.diskPath, images.brokenInit!.rootfs, partition(layout, 'rootfsA').offset);
  await vm.powerOn();
  t.deepEqual(await bootToShell(vm), { root: '/dev/mmcblk0p3', artifact: 'rpi-2' }, 'committed B boots after a power cycle');
  await guestSetEnv(sh, { mender_boot_part: '2', mender_boot_part_hex: '2', upgrade_available: '1', bootcount: '0' });
  t0 = Date.now();
  await rebootToUBoot(vm, 60_000);
  await vm.console.expect(/flipside: broken init/, 240_000);
  await vm.console.expect(/rolling back/, 180_000);
  t.deepEqual(await bootToShell(vm), { root: '/dev/mmcblk0p3', artifact: 'rpi-2' }, 'rolled back from broken init');
  t.log(`broken-init rollback (reboot to shell on B again): ${secs(Date.now() - t0)}`);
  t.like(await guestEnv(sh), { mender_boot_part: '3', mender_boot_part_hex: '3', upgrade_available: '0', bootcount: '2' });
  await vm.quit();
  vm = null;
});
