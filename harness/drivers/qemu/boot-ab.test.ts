// The A/B logic on the real bootloader. U-Boot boards, without the client: build images, boot the
// default board, flip slots with fw_setenv in the guest, let U-Boot roll back broken slots by
// itself, survive a torn env copy. GRUB boards (FLIPSIDE_QEMU_BOARD=qemu-x86_64-grub, BIOS, or
// qemu-x86_64-grub-efi, UEFI), with the
// client, whose GRUB env code writes the grubenv GRUB reads: install the next version, trial boot,
// commit, stays; broken versions are rolled back by GRUB alone; a torn grubenv falls back to
// slot A. Slow (image builds + ~10 boots under emulation): FLIPSIDE_QEMU_TESTS=1 only, one VM at
// a time.
import test from 'ava';
import { openSync, writeSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage, type BuiltImage } from '../../../qemu/image/build.js';
import { REPO_ROOT } from '../../../paths.js';
import { partition, fwEnvConfig } from '../../../qemu/image/layout.js';
import { writeAt } from '../../../qemu/image/disk.js';
import { run } from '../../../qemu/image/exec.js';
import { QemuVm } from './vm.js';
import { parseEnvLines } from '../../../bootenv/env-lines.js';
import { bootToShell, guestEnv, guestGrubEnv, guestSetEnv, guestShell, rebootToBootloader, rebootToUBoot } from './testing/guest-steps.js';
import { loadBoardFile } from '../../../boards/load.js';
import { serveFiles, type FileServer } from './testing/file-server.js';
import { CLIENT_DISABLE_FILE, GUEST_NET } from '../../../qemu/image/guest-files.js';
import { GRUBENV_NAME } from '../../../qemu/boot/grub-cfg.js';
import { makeGrubEnv } from '../../../qemu/image/grub-boot.js';
import { buildDeviceBundle } from '../../../client/build-device.js';

// Before any test is declared: ava wants every declaration in the same tick as the first.
const GRUB = (await loadBoardFile(process.env.FLIPSIDE_QEMU_BOARD ?? 'qemu-aarch64')).bootloader.type === 'grub';
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


if (GRUB) registerGrubTests();
else {
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
    const env = parseEnvLines(await run('fw_printenv', ['-c', images.v1.hostFwEnvConfig!]));
    t.like(env, { mender_boot_part: '2', mender_boot_part_hex: '2', upgrade_available: '0', bootcount: '0', bootlimit: '1', mender_check_saveenv_canary: '1' });
  });

  qtest('boots slot A to a shell; fw_printenv in the guest reads the redundant env', async (t) => {
    t.timeout(5 * 60_000);
    vm = await QemuVm.start({ board: images.v1!.board, disk: images.v1!.disk, runDir: join(runRoot, 'a'), snapshot: true });
    const booted = await bootToShell(vm);
    t.deepEqual(booted, { root: '/dev/vda2', artifact: 'ab-1' });
    const sh = guestShell(vm);
    // The first boot saved mender_saveenv_canary=1 (mender_setup): U-Boot writes the env Linux reads.
    t.like(await guestEnv(sh), { mender_boot_part: '2', mender_boot_part_hex: '2', upgrade_available: '0', bootcount: '0', mender_saveenv_canary: '1' });
    t.is((await sh.run('cat /etc/flipside/device_type')).stdout.trim(), `device_type=${images.v1!.board.deviceType}`);
    t.regex((await sh.run('cat /etc/fw_env.config')).stdout, /\/dev\/vda 0x400000 0x4000\n\/dev\/vda 0x404000 0x4000/);
    await vm.quit();
    vm = null;
  });

  qtest('A/B: switch to B, trial boot counts, commit keeps B, broken slots roll back, torn env survives', async (t) => {
    t.timeout(20 * 60_000);
    const v1 = images.v1!;
    const layout = v1.layout;
    const envLayout = layout.env!;
    const offsetA = partition(layout, 'rootfsA').offset;
    const offsetB = partition(layout, 'rootfsB').offset;
    vm = await QemuVm.start({ board: v1.board, disk: v1.disk, runDir: join(runRoot, 'ab') });
    await vm.quit();
    // Version 2 goes into slot B offline, as an installer would have streamed it.
    await writeAt(vm.diskPath, images.v2!.rootfs, offsetB);
    await vm.powerOn();
    t.is((await bootToShell(vm)).root, '/dev/vda2');
    const sh = guestShell(vm);
    await guestSetEnv(sh, { mender_boot_part: '3', mender_boot_part_hex: '3', upgrade_available: '1', bootcount: '0' });
    await rebootToUBoot(vm);
    t.deepEqual(await bootToShell(vm), { root: '/dev/vda3', artifact: 'ab-2' });
    t.like(await guestEnv(sh), { mender_boot_part: '3', mender_boot_part_hex: '3', upgrade_available: '1', bootcount: '1' }, 'the bootloader counted the trial boot');
    await guestSetEnv(sh, { upgrade_available: '0' });
    await rebootToUBoot(vm);
    t.deepEqual(await bootToShell(vm), { root: '/dev/vda3', artifact: 'ab-2' }, 'committed: stays on B');
    t.like(await guestEnv(sh), { mender_boot_part: '3', upgrade_available: '0' });

    // A broken init in slot A: the kernel panics, reboots, and U-Boot goes back to B by itself.
    await vm.quit();
    await writeAt(vm.diskPath, images.brokenInit!.rootfs, offsetA);
    await vm.powerOn();
    t.is((await bootToShell(vm)).root, '/dev/vda3');
    await guestSetEnv(sh, { mender_boot_part: '2', mender_boot_part_hex: '2', upgrade_available: '1', bootcount: '0' });
    await rebootToUBoot(vm);
    await vm.console.expect(/flipside: broken init/, 90_000);
    await vm.console.expect(/rolling back/, 60_000);
    t.deepEqual(await bootToShell(vm), { root: '/dev/vda3', artifact: 'ab-2' }, 'rolled back from broken init');
    // mender_altbootcmd: both variables back on B, upgrade_available=0, bootcount left as counted.
    t.like(await guestEnv(sh), { mender_boot_part: '3', mender_boot_part_hex: '3', upgrade_available: '0', bootcount: '2' });

    // A kernel U-Boot refuses: the script resets, the next boot rolls back.
    await vm.quit();
    await writeAt(vm.diskPath, images.brokenKernel!.rootfs, offsetA);
    await vm.powerOn();
    t.is((await bootToShell(vm)).root, '/dev/vda3');
    await guestSetEnv(sh, { mender_boot_part: '2', mender_boot_part_hex: '2', upgrade_available: '1', bootcount: '0' });
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
    const flagsBefore = await readFlags(vm.diskPath, envLayout.offsets);
    await run('fw_setenv', ['-c', cfg, 'flipside_marker', 'torn']);
    const flagsAfter = await readFlags(vm.diskPath, envLayout.offsets);
    const written = flagsAfter.findIndex((f, i) => f !== flagsBefore[i]);
    t.true(written >= 0, 'fw_setenv wrote one copy');
    corrupt(vm.diskPath, envLayout.offsets[written]! + 64);
    const after = parseEnvLines(await run('fw_printenv', ['-c', cfg]));
    t.false('flipside_marker' in after, 'host falls back to the intact copy');
    t.is(after.mender_boot_part, before.mender_boot_part);
    await vm.powerOn();
    const env = await vm.console.expect(/flipside: env copy (\d)/, 60_000);
    t.is(Number(env[1]), 2 - written, 'U-Boot took the intact copy');
    t.is((await bootToShell(vm)).root, `/dev/vda${before.mender_boot_part}`);
    const guest = await guestEnv(sh);
    t.false('flipside_marker' in guest);
    t.is(guest.mender_boot_part, before.mender_boot_part);

    // An env from an image made before the Mender names: only boot_part. The script carries it
    // over to mender_boot_part (B here; a fallback would have picked A) and drops boot_part.
    await vm.quit();
    await run('fw_setenv', ['-c', cfg, 'mender_boot_part']);
    await run('fw_setenv', ['-c', cfg, 'mender_boot_part_hex']);
    await run('fw_setenv', ['-c', cfg, 'boot_part', '3']);
    t.like(parseEnvLines(await run('fw_printenv', ['-c', cfg])), { boot_part: '3', upgrade_available: '0' });
    await vm.powerOn();
    await vm.console.expect(/flipside: migrating boot_part=3 to mender_boot_part/, 60_000);
    t.is((await bootToShell(vm)).root, '/dev/vda3');
    const migrated = await guestEnv(sh);
    t.like(migrated, { mender_boot_part: '3', mender_boot_part_hex: '3', upgrade_available: '0' });
    t.false('boot_part' in migrated);
    await vm.quit();
    vm = null;
  });
}

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

/** The grubenv on the image's FAT boot partition, read offline (mtools + grub-editenv). */
async function fatGrubEnv(disk: string, bootOffset: number, tmpDir: string): Promise<Record<string, string>> {
  const tmp = join(tmpDir, 'grubenv.offline');
  rmSync(tmp, { force: true });
  await run('mcopy', ['-o', '-n', '-i', `${disk}@@${bootOffset}`, `::${GRUBENV_NAME}`, tmp]);
  return parseEnvLines(await run('grub-editenv', [tmp, 'list']));
}

function registerGrubTests(): void {
  let server: FileServer | null = null;
  test.after.always(async () => {
    await server?.close();
  });

  qtest('GRUB: builds v1 with the client, artifacts of v2, broken-init and broken-kernel; the boot code and grubenv are in place', async (t) => {
    t.timeout(20 * 60_000);
    const t0 = Date.now();
    const bundle = await buildDeviceBundle(join(runRoot, 'flipside.cjs'));
    images.v1 = await buildImage({ board: BOARD, version: 'ab-1', clientBundle: bundle, artifact: false });
    const first = Date.now() - t0;
    images.v2 = await buildImage({ board: BOARD, version: 'ab-2', clientBundle: bundle });
    images.brokenInit = await buildImage({ board: BOARD, version: 'ab-broken-init', variant: 'broken-init', clientBundle: bundle });
    images.brokenKernel = await buildImage({ board: BOARD, version: 'ab-broken-kernel', variant: 'broken-kernel', clientBundle: bundle });
    t.log(`builds: v1 ${(first / 1000).toFixed(1)} s (cached: ${images.v1.cached}), all ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const v1 = images.v1;
    t.is(v1.hostFwEnvConfig, undefined, 'no raw U-Boot env on a GRUB disk');
    // GRUB's boot.img in the MBR (its "GRUB " string), sfdisk's partition table kept.
    const head = Buffer.alloc(1024);
    const { open } = await import('node:fs/promises');
    const fh = await open(v1.disk, 'r');
    await fh.read(head, 0, 1024, 0);
    await fh.close();
    t.is(head.readUInt16LE(510), 0xaa55);
    t.is(head[446], 0x80, 'partition 1 stays bootable');
    const bootOffset = partition(v1.layout, 'boot').offset;
    if (v1.board.bootloader.type === 'grub' && v1.board.bootloader.platform === 'i386-pc') t.true(head.subarray(0, 440).includes(Buffer.from('GRUB ')), 'boot.img in the MBR');
    else t.regex(await run('mdir', ['-b', '-i', `${v1.disk}@@${bootOffset}`, '::EFI/BOOT']), /BOOTX64\.EFI/i, 'the UEFI removable-media path');
    t.deepEqual(await fatGrubEnv(v1.disk, bootOffset, runRoot), { mender_boot_part: '2', upgrade_available: '0', bootcount: '0' });
    server = await serveFiles({
      'ab-2.mender': images.v2.artifactInputs.artifact!,
      'ab-broken-init.mender': images.brokenInit.artifactInputs.artifact!,
      'ab-broken-kernel.mender': images.brokenKernel.artifactInputs.artifact!,
    });
  });

  qtest('GRUB A/B with the client: install, trial boot, commit, stays; broken versions roll back by GRUB alone; torn grubenv falls back to A', async (t) => {
    t.timeout(30 * 60_000);
    const v1 = images.v1!;
    const started = Date.now();
    const at = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
    vm = await QemuVm.start({ board: v1.board, disk: v1.disk, runDir: join(runRoot, 'ab'), serverPort: server!.port });
    t.deepEqual(await bootToShell(vm), { root: '/dev/vda2', artifact: 'ab-1' });
    t.log(`boot to shell ${at()}`);
    const sh = guestShell(vm);
    // The image starts the daemon, which would look for a server; this test drives the
    // standalone commands (the daemon stays off on the next boots: the file is on /data).
    await sh.run(`touch ${CLIENT_DISABLE_FILE}; kill $(pidof node) 2>/dev/null; true`);
    const install = async (name: string) => {
      const r = await sh.run(`flipside install http://${GUEST_NET.server}/${name}.mender`, { timeoutMs: 10 * 60_000 });
      t.is(r.code, 0, r.stdout);
      t.log(`installed ${name} at ${at()}`);
    };

    // 1. The next version, through the client's GRUB env code.
    await install('ab-2');
    t.deepEqual(await guestGrubEnv(sh), { mender_boot_part: '3', upgrade_available: '1', bootcount: '0' }, 'the client flipped the grubenv');
    t.is((await sh.run(`wc -c < /boot/grub/${GRUBENV_NAME}`)).stdout.trim(), '1024');
    await rebootToBootloader(vm);
    await vm.console.expect(/flipside: trial boot of the update/, 15_000);
    t.deepEqual(await bootToShell(vm), { root: '/dev/vda3', artifact: 'ab-2' });
    t.deepEqual(await guestGrubEnv(sh), { mender_boot_part: '3', upgrade_available: '1', bootcount: '1' }, 'GRUB counted the trial boot in the file the client wrote');
    const commit = await sh.run('flipside commit', { timeoutMs: 120_000 });
    t.is(commit.code, 0, commit.stdout);
    t.like(await guestGrubEnv(sh), { mender_boot_part: '3', upgrade_available: '0' });
    await rebootToBootloader(vm);
    await vm.console.expect(/flipside: grub env: mender_boot_part=3 upgrade_available=0/, 15_000);
    t.deepEqual(await bootToShell(vm), { root: '/dev/vda3', artifact: 'ab-2' }, 'committed: stays on B');
    t.is((await sh.run('flipside show-artifact', { timeoutMs: 60_000 })).stdout.trim(), 'ab-2');
    t.log(`v2 committed at ${at()}`);

    // 2. A version whose init exits: the kernel panics (panic=3) and reboots; GRUB finds
    // bootcount already set on the upgrade boot and goes back to B by itself.
    await install('ab-broken-init');
    t.deepEqual(await guestGrubEnv(sh), { mender_boot_part: '2', upgrade_available: '1', bootcount: '0' });
    await rebootToBootloader(vm);
    await vm.console.expect(/flipside: trial boot of the update/, 15_000);
    await vm.console.expect(/flipside: broken init/, 90_000);
    await vm.console.expect(/rolling back/, 60_000);
    t.deepEqual(await bootToShell(vm), { root: '/dev/vda3', artifact: 'ab-2' }, 'rolled back from broken init');
    t.deepEqual(await guestGrubEnv(sh), { mender_boot_part: '3', upgrade_available: '0', bootcount: '0' });
    const refused = await sh.run('flipside commit', { timeoutMs: 120_000 });
    t.not(refused.code, 0, `commit after GRUB's rollback must fail: ${refused.stdout}`);
    t.log(`commit after rollback: exit ${refused.code}: ${refused.stdout.trim().split('\n').pop()}`);
    t.is((await sh.run('flipside show-artifact', { timeoutMs: 60_000 })).stdout.trim(), 'ab-2');
    t.log(`broken init rolled back at ${at()}`);

    // 3. A kernel GRUB cannot load: grub.cfg reboots, the next boot rolls back. (The variant's
    // zeroed first 4 KiB is a hole in the ext4 image; GRUB 2.06's ext4 reader stops there with
    // "invalid extent" before it would see the bad magic.)
    await install('ab-broken-kernel');
    await rebootToBootloader(vm);
    await vm.console.expect(/flipside: boot failed, resetting/, 60_000);
    await vm.console.expect(/rolling back/, 60_000);
    t.deepEqual(await bootToShell(vm), { root: '/dev/vda3', artifact: 'ab-2' }, 'rolled back from broken kernel');
    t.deepEqual(await guestGrubEnv(sh), { mender_boot_part: '3', upgrade_available: '0', bootcount: '0' });
    t.log(`broken kernel rolled back at ${at()}`);

    // 4. Torn grubenv. GRUB keeps one copy: save_env rewrites the block's sectors in place, and
    // Debian's grub-editenv truncates then rewrites (an empty file if cut between). Offline, leave
    // the empty file such a cut leaves: GRUB reads no valid env and boots slot A, whatever A holds
    // (here the broken kernel, so: reset, and again), and the client refuses to guess either.
    await vm.quit();
    const bootOffset = partition(v1.layout, 'boot').offset;
    const empty = join(runRoot, 'grubenv.empty');
    writeFileSync(empty, '');
    await run('mcopy', ['-o', '-i', `${vm.diskPath}@@${bootOffset}`, empty, `::${GRUBENV_NAME}`]);
    await vm.powerOn();
    await vm.console.expect(/flipside: grub env invalid/, 30_000);
    await vm.console.expect(/flipside: booting \(hd0,msdos2\)/, 15_000);
    await vm.console.expect(/flipside: boot failed, resetting/, 60_000);
    await vm.quit();
    // Repaired offline (as a recovery tool would) the device is back on B.
    const good = join(runRoot, 'grubenv.good');
    await makeGrubEnv(good, { mender_boot_part: '3', upgrade_available: '0', bootcount: '0' });
    await run('mcopy', ['-o', '-i', `${vm.diskPath}@@${bootOffset}`, good, `::${GRUBENV_NAME}`]);
    await vm.powerOn();
    t.deepEqual(await bootToShell(vm), { root: '/dev/vda3', artifact: 'ab-2' });
    t.log(`torn grubenv checked at ${at()}`);
    await vm.quit();
    vm = null;
  });
}
