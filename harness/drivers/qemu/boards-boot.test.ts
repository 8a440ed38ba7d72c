// Every QEMU board's image is built and booted to a shell where the client reports the image's
// artifact name: the smoke test that a board file, its bootloader and its kernel still fit
// together. One board after another (2 cores; each boot keeps one busy). FLIPSIDE_QEMU_TESTS=1
// runs all of them (from a cold cache about 5 min for the first four here: builds 33-42 s each,
// the amd64 ones share packages; boots 8-16 s to the shell); FLIPSIDE_QEMU_BOOT_BOARDS="a b"
// names a smaller set.
// FLIPSIDE_QEMU_CACHE_DIR builds into another cache (an empty one measures a cold CI run).
import test from 'ava';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage } from '../../../qemu/image/build.js';
import { REPO_ROOT } from '../../../paths.js';
import { QemuVm } from './vm.js';
import { bootToShell, guestShell } from './testing/guest-steps.js';
import { buildDeviceBundle } from '../../../client/build-device.js';
import { snapshotHoldsCommands } from '../../../qemu/image/snapshot.js';

const enabled = process.env.FLIPSIDE_QEMU_TESTS === '1';
// The default board and the GRUB one first: the ones that must keep working.
const ALL_BOARDS = ['qemu-aarch64', 'qemu-x86_64-grub', 'qemu-x86_64', 'qemu-armhf', 'qemu-x86_64-grub-efi'];
const boards = process.env.FLIPSIDE_QEMU_BOOT_BOARDS?.split(/\s+/).filter(Boolean) ?? ALL_BOARDS;
const cacheDir = process.env.FLIPSIDE_QEMU_CACHE_DIR;
const runRoot = join(REPO_ROOT, '.cache', 'qemu', 'test-runs', 'boards-boot');
let vm: QemuVm | null = null;
let bundle: Promise<string> | null = null;

if (!enabled) test.skip('board boot tests skipped: set FLIPSIDE_QEMU_TESTS=1 to build images and boot them', () => undefined);
else rmSync(runRoot, { recursive: true, force: true });

test.after.always(async () => {
  await vm?.quit();
});

for (const name of boards) {
  (enabled ? test.serial : test.skip)(`${name}: builds its image and boots to a shell where flipside show-artifact names it`, async (t) => {
    t.timeout(30 * 60_000);
    const version = `boot-${name}`;
    bundle ??= buildDeviceBundle(join(runRoot, 'flipside.cjs'));
    const t0 = Date.now();
    const img = await buildImage({ board: name, version, clientBundle: await bundle, artifact: false, ...(cacheDir ? { cacheDir } : {}) });
    const built = Date.now() - t0;
    const t1 = Date.now();
    vm = await QemuVm.start({ board: img.board, disk: img.disk, runDir: join(runRoot, name), snapshot: true, ...(img.qemuBios ? { bios: img.qemuBios } : {}) });
    const booted = await bootToShell(vm);
    const shellAt = Date.now() - t1;
    t.deepEqual(booted, { root: img.board.disk.rootfsA.device, artifact: version });
    const shown = await guestShell(vm).run('FLIPSIDE_SNAPSHOT_DEBUG=1 flipside show-artifact', { timeoutMs: 90_000 });
    t.is(shown.code, 0, shown.stdout);
    // The image's start-up snapshot (built under qemu-user for the board's CPU) is the one node takes.
    if (img.clientSnapshot?.built) t.regex(shown.stdout, /flipside: start-up snapshot /, shown.stdout);
    // Where the builder's GC check has another address space (arm64; qemu/image/snapshot.ts), the
    // snapshot holds every command's modules; an image that fell back says why.
    if (img.clientSnapshot?.built && snapshotHoldsCommands(img.board.linux.debArch)) t.true(img.clientSnapshot.commands, img.clientSnapshot.reason);
    // The daemon shares the console: take the line that is the artifact name.
    t.true(shown.stdout.split('\n').map((l) => l.trim()).includes(version), shown.stdout);
    t.log(`build ${(built / 1000).toFixed(1)} s (cached: ${img.cached}), shell ${(shellAt / 1000).toFixed(1)} s, show-artifact ${((Date.now() - t1 - shellAt) / 1000).toFixed(1)} s`);
    await vm.quit();
    vm = null;
  });
}
