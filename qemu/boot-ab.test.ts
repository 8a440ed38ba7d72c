// The A/B logic on the real bootloader, without the client: build images, boot the default board,
// flip slots with fw_setenv in the guest, let U-Boot roll back broken slots by itself, survive a
// torn env copy. Slow (image builds + ~10 boots under emulation): FLIPSIDE_QEMU_TESTS=1 only,
// one VM at a time.
import test from 'ava';
import { openSync, writeSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage, REPO_ROOT, type BuiltImage } from './image/build.js';
import { partition, fwEnvConfig } from './image/layout.js';
import { writeAt } from './image/disk.js';
import { run } from './image/exec.js';
import { QemuVm } from './vm.js';
import { ConsoleShell, parseEnvLines } from './guest-shell.js';
import { bootToShell, guestEnv, guestSetEnv, rebootToUBoot } from './guest-steps.js';

const enabled = process.env.FLIPSIDE_QEMU_TESTS === '1';
const qtest = enabled ? test.serial : test.skip;
if (!enabled) test.skip('QEMU boot tests skipped: set FLIPSIDE_QEMU_TESTS=1 to build images and boot them', () => undefined);

// The default board; FLIPSIDE_QEMU_BOARD=qemu-x86_64 or qemu-armhf runs the same checks there.
const BOARD = process.env.FLIPSIDE_QEMU_BOARD ?? 'qemu-aarch64';
const images: Record<string, BuiltImage> = {};
// Kept after the run (git-ignored) so a failure's console transcripts can be read.
const runRoot = join(REPO_ROOT, '.cache', 'qemu', 'test-runs', `boot-ab-${BOARD}`);
if (enabled) rmSync(runRoot, { recursive: true, force: true });
let vm: QemuVm | null = null;

test.after.always(async () => {
  await vm?.quit();
});


qtest('builds the default board image (v1, v2, broken-init, broken-kernel) and caches it', async (t) => {
  t.timeout(15 * 60_000);
  const t0 = Date.now();
  images.v1 = await buildImage({ board: BOARD, version: 'ab-1', artifact: false });
  const first = Date.now() - t0;
  images.v2 = await buildImage({ board: BOARD, version: 'ab-2', artifact: false });
  images.brokenInit = await buildImage({ board: BOARD, version: 'ab-broken-init', variant: 'broken-init', artifact: false });
  images.brokenKernel = await buildImage({ board: BOARD, version: 'ab-broken-kernel', variant: 'broken-kernel', artifact: false });
  const t1 = Date.now();
  const again = await buildImage({ board: BOARD, version: 'ab-1', artifact: false });
  const cachedMs = Date.now() - t1;
  t.true(again.cached);
  t.is(again.disk, images.v1.disk);
  t.true(cachedMs < 10_000, `cached build took ${cachedMs} ms`);
  t.log(`first build ${(first / 1000).toFixed(1)} s (cached: ${images.v1.cached}), cached rebuild ${(cachedMs / 1000).toFixed(1)} s`);
  // The host can read the env of the image file offline.
  const env = parseEnvLines(await run('fw_printenv', ['-c', images.v1.hostFwEnvConfig]));
  t.like(env, { boot_part: '2', upgrade_available: '0', bootcount: '0', bootlimit: '1' });
});

qtest('boots slot A to a shell; fw_printenv in the guest reads the redundant env', async (t) => {
  t.timeout(5 * 60_000);
  vm = await QemuVm.start({ board: images.v1!.board, disk: images.v1!.disk, runDir: join(runRoot, 'a'), snapshot: true });
  const booted = await bootToShell(vm);
  t.deepEqual(booted, { root: '/dev/vda2', artifact: 'ab-1' });
  const sh = new ConsoleShell(vm.console);
  t.like(await guestEnv(sh), { boot_part: '2', upgrade_available: '0', bootcount: '0' });
  t.is((await sh.run('cat /etc/flipside/device_type')).stdout.trim(), `device_type=${images.v1!.board.deviceType}`);
  t.regex((await sh.run('cat /etc/fw_env.config')).stdout, /\/dev\/vda 0x400000 0x4000\n\/dev\/vda 0x404000 0x4000/);
  await vm.quit();
  vm = null;
});

qtest('A/B: switch to B, trial boot counts, commit keeps B, broken slots roll back, torn env survives', async (t) => {
  t.timeout(20 * 60_000);
  const v1 = images.v1!;
  const layout = v1.layout;
  const offsetA = partition(layout, 'rootfsA').offset;
  const offsetB = partition(layout, 'rootfsB').offset;
  vm = await QemuVm.start({ board: v1.board, disk: v1.disk, runDir: join(runRoot, 'ab') });
  await vm.quit();
  // Version 2 goes into slot B offline, as an installer would have streamed it.
  await writeAt(vm.diskPath, images.v2!.rootfs, offsetB);
  await vm.powerOn();
  t.is((await bootToShell(vm)).root, '/dev/vda2');
  const sh = new ConsoleShell(vm.console);
  await guestSetEnv(sh, { boot_part: '3', upgrade_available: '1', bootcount: '0' });
  await rebootToUBoot(vm);
  t.deepEqual(await bootToShell(vm), { root: '/dev/vda3', artifact: 'ab-2' });
  t.like(await guestEnv(sh), { boot_part: '3', upgrade_available: '1', bootcount: '1' }, 'the bootloader counted the trial boot');
  await guestSetEnv(sh, { upgrade_available: '0' });
  await rebootToUBoot(vm);
  t.deepEqual(await bootToShell(vm), { root: '/dev/vda3', artifact: 'ab-2' }, 'committed: stays on B');
  t.like(await guestEnv(sh), { boot_part: '3', upgrade_available: '0' });

  // A broken init in slot A: the kernel panics, reboots, and U-Boot goes back to B by itself.
  await vm.quit();
  await writeAt(vm.diskPath, images.brokenInit!.rootfs, offsetA);
  await vm.powerOn();
  t.is((await bootToShell(vm)).root, '/dev/vda3');
  await guestSetEnv(sh, { boot_part: '2', upgrade_available: '1', bootcount: '0' });
  await rebootToUBoot(vm);
  await vm.console.expect(/flipside: broken init/, 90_000);
  await vm.console.expect(/rolling back/, 60_000);
  t.deepEqual(await bootToShell(vm), { root: '/dev/vda3', artifact: 'ab-2' }, 'rolled back from broken init');
  t.like(await guestEnv(sh), { boot_part: '3', upgrade_available: '0', bootcount: '0' });

  // A kernel U-Boot refuses: the script resets, the next boot rolls back.
  await vm.quit();
  await writeAt(vm.diskPath, images.brokenKernel!.rootfs, offsetA);
  await vm.powerOn();
  t.is((await bootToShell(vm)).root, '/dev/vda3');
  await guestSetEnv(sh, { boot_part: '2', upgrade_available: '1', bootcount: '0' });
  await rebootToUBoot(vm);
  await vm.console.expect(/flipside: boot failed, resetting/, 60_000);
  await vm.console.expect(/rolling back/, 60_000);
  t.deepEqual(await bootToShell(vm), { root: '/dev/vda3', artifact: 'ab-2' }, 'rolled back from broken kernel');

  // Torn env: offline, write a marker (fw_setenv puts it in the older copy, which becomes the
  // newer), then corrupt that copy's data. Both sides must fall back to the other, intact copy.
  await vm.quit();
  const cfg = join(runRoot, 'ab', 'fw_env.config');
  writeFileSync(cfg, fwEnvConfig(layout, vm.diskPath));
  const before = parseEnvLines(await run('fw_printenv', ['-c', cfg]));
  const flagsBefore = await readFlags(vm.diskPath, layout.env.offsets);
  await run('fw_setenv', ['-c', cfg, 'flipside_marker', 'torn']);
  const flagsAfter = await readFlags(vm.diskPath, layout.env.offsets);
  const written = flagsAfter.findIndex((f, i) => f !== flagsBefore[i]);
  t.true(written >= 0, 'fw_setenv wrote one copy');
  corrupt(vm.diskPath, layout.env.offsets[written]! + 64);
  const after = parseEnvLines(await run('fw_printenv', ['-c', cfg]));
  t.false('flipside_marker' in after, 'host falls back to the intact copy');
  t.is(after.boot_part, before.boot_part);
  await vm.powerOn();
  const env = await vm.console.expect(/flipside: env copy (\d)/, 60_000);
  t.is(Number(env[1]), 2 - written, 'U-Boot took the intact copy');
  t.is((await bootToShell(vm)).root, `/dev/vda${before.boot_part}`);
  const guest = await guestEnv(sh);
  t.false('flipside_marker' in guest);
  t.is(guest.boot_part, before.boot_part);
  await vm.quit();
  vm = null;
});

async function readFlags(disk: string, offsets: readonly number[]): Promise<number[]> {
  const { open } = await import('node:fs/promises');
  const fh = await open(disk, 'r');
  try {
    const out: number[] = [];
    for (const o of offsets) {
      const b = Buffer.alloc(1);
      await fh.read(b, 0, 1, o + 4);
      out.push(b[0]!);
    }
    return out;
  } finally {
    await fh.close();
  }
}

function corrupt(disk: string, at: number): void {
  const fd = openSync(disk, 'r+');
  writeSync(fd, Buffer.from('TORN-WRITE-TORN-WRITE'), 0, 21, at);
  closeSync(fd);
}
