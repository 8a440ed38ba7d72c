// The device client's start-up snapshot (client/snapshot.ts), made while the image is built: the
// rootfs tree's own node (Debian's Node 18 for the board's architecture) runs under QEMU's user-mode
// emulator (qemu-user, `-L tree`: the tree's libraries and files), so the snapshot matches that node
// and the bundle exactly, costs no guest boot, and is part of the rootfs: the disk image and the
// rootfs-image artifact made from it (an update's new rootfs brings the snapshot of its own bundle).
// Without qemu-user, or when the snapshot cannot be built or does not start, the image has none and
// the launcher starts the bundle (its code cache, or source).
import { mkdtempSync, readFileSync, readdirSync, lstatSync, rmSync, writeFileSync, copyFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { BoardFile } from '../../boards/schema.js';
import { bundleSourceOf } from '../../client/build-device.js';
import { SNAPSHOT_CHECK_NAME, SNAPSHOT_GC_CHECK_ENV, SNAPSHOT_NAME, snapshotBuildScript, snapshotFingerprint, unsupportedBuiltinsLoaded, type LauncherPaths } from '../../client/snapshot.js';
import { VERSION } from '../../client/version.js';

/** Where the image installs the client (qemu/image/rootfs.ts). */
export const GUEST_BUNDLE = '/usr/lib/flipside/flipside.cjs';
const GUEST_BUILD_SCRIPT = '/usr/lib/flipside/flipside-snapshot-build.cjs';

/**
 * qemu-user's emulator and the CPU it emulates for each Debian architecture, and the guest address
 * space (-R) of the check run (see addClientSnapshot), where there is one: on 64-bit guests qemu-user
 * puts the building process's malloc heap beside the executable at 0x55_0000_0000 and its mmaps
 * from 0x40_0000_0000 up, so in a 128 GiB space none of the build's native addresses is mapped. A
 * 32-bit guest's 4 GiB have no such split: it gets the snapshot without the commands (none so far
 * has shown a stale pointer), checked as far as a start and a full GC go. Neither does x86-64 under
 * qemu-user: with -R, qemu-x86_64 cannot map the guest's vsyscall page at the top of the address
 * space ("Cannot allocate vsyscall page"), so no reserved space can run it.
 */
const EMULATORS: Record<string, { binary: string; cpu: string; checkReserve: string | null }> = {
  // Without a -cpu in the board file, the oldest core of the architecture Debian supports: V8 picks
  // instructions by the CPU it runs on, and the snapshot must suit every board of that architecture.
  arm64: { binary: 'qemu-aarch64', cpu: 'cortex-a53', checkReserve: '0x2000000000' },
  armhf: { binary: 'qemu-arm', cpu: 'cortex-a7', checkReserve: null },
  amd64: { binary: 'qemu-x86_64', cpu: 'qemu64', checkReserve: null },
};

/** Whether images of this architecture get the snapshot with every command's modules (a -R check). */
export function snapshotHoldsCommands(debArch: string): boolean {
  return Boolean(EMULATORS[debArch]?.checkReserve);
}

/** The emulator and CPU for this board, or null when the architecture has none. */
export function snapshotEmulator(board: BoardFile): { binary: string; cpu: string } | null {
  const e = EMULATORS[board.linux.debArch];
  if (!e) return null;
  const args = board.qemu?.machineArgs ?? [];
  const i = args.indexOf('-cpu');
  return { binary: e.binary, cpu: i >= 0 && args[i + 1] ? args[i + 1]! : e.cpu };
}

/** Whether the host can build snapshots for this board (part of the image's cache key). */
export async function canBuildSnapshot(board: BoardFile): Promise<boolean> {
  const e = snapshotEmulator(board);
  if (!e) return false;
  const r = await execa(e.binary, ['-version'], { reject: false });
  return r.exitCode === 0;
}

/** node's files in the tree, as the guest names them: the executable and libnode, when Debian splits it out. */
export function nodeFilesIn(tree: string): string[] {
  const files = ['/usr/bin/node'];
  for (const dir of readdirSync(join(tree, 'usr/lib')).sort()) {
    const p = join(tree, 'usr/lib', dir);
    if (!lstatSync(p).isDirectory()) continue;
    for (const f of readdirSync(p).sort()) if (/^libnode\.so\.\d+$/.test(f) && lstatSync(join(p, f)).isFile()) files.push(`/usr/lib/${dir}/${f}`);
  }
  return files;
}

export function launcherPathsIn(tree: string): LauncherPaths {
  return { node: '/usr/bin/node', bundle: GUEST_BUNDLE, nodeFiles: nodeFilesIn(tree) };
}

export interface SnapshotResult {
  built: boolean;
  /** Whether the snapshot holds every command's modules (snapshotBuildScript's loadCommands). */
  commands?: boolean;
  /** Why there is none (built false), or why it is the one without the commands. */
  reason?: string;
  seconds: number;
  bytes?: number;
}

/**
 * Builds the snapshot of the tree's installed bundle with the tree's node, with every command's
 * modules loaded where the architecture has a check address space, else (or when that one fails a
 * check) without them; checks that it starts: under qemu-user in another address space (the
 * emulator's checkReserve) with a full GC first, so a native pointer left in the snapshot by the
 * build (client/snapshot.ts: snapshotBuildScript) faults here instead of on the device, and
 * `--version` prints this checkout's version, as the bundle does. Then writes it and its check file
 * into the tree. Never throws for a snapshot that cannot be made: the image works without one.
 */
export async function addClientSnapshot(tree: string, board: BoardFile): Promise<SnapshotResult> {
  const started = Date.now();
  const done = (r: Omit<SnapshotResult, 'seconds'>): SnapshotResult => ({ ...r, seconds: (Date.now() - started) / 1000 });
  const emulator = snapshotEmulator(board);
  if (!emulator) return done({ built: false, reason: `no qemu-user emulator for ${board.linux.debArch}` });
  const reserve = EMULATORS[board.linux.debArch]!.checkReserve;
  const host = (p: string) => join(tree, p);
  const work = mkdtempSync(join(tmpdir(), 'flipside-snapshot-'));
  const blob = join(work, SNAPSHOT_NAME);
  // A clean environment: the host's (NODE_OPTIONS, a tsx loader) must not reach the device's node.
  const env = { PATH: '/usr/bin:/bin', HOME: '/root', LANG: 'C.UTF-8' };
  // qemu-user finds absolute paths under -L first: the script sits where the bundle does, so the
  // snapshot's stack traces name /usr/lib/flipside; the blob goes to the host's temp folder.
  const node = (qemuArgs: string[], args: string[], extraEnv: Record<string, string> = {}) =>
    execa(emulator.binary, [...qemuArgs, '-cpu', emulator.cpu, '-L', tree, host('usr/bin/node'), ...args], { env: { ...env, ...extraEnv }, extendEnv: false, reject: false, encoding: 'utf8', timeout: 10 * 60_000 });
  /** Builds and checks one snapshot into `blob`: null when it is good, else why not. */
  const attempt = async (loadCommands: boolean): Promise<string | null> => {
    rmSync(blob, { force: true });
    const { source } = bundleSourceOf(readFileSync(host(GUEST_BUNDLE), 'utf8'));
    writeFileSync(host(GUEST_BUILD_SCRIPT), snapshotBuildScript(source, { loadCommands }));
    const b = await node([], ['--snapshot-blob', blob, '--build-snapshot', GUEST_BUILD_SCRIPT]);
    rmSync(host(GUEST_BUILD_SCRIPT), { force: true });
    const unsupported = unsupportedBuiltinsLoaded(String(b.stderr));
    if (unsupported.length) return `the bundle loads ${unsupported.join(', ')} at start: add them to LAZY_BUILTINS (client/build-device.ts)`;
    if (b.exitCode !== 0 || !existsSync(blob)) return `node --build-snapshot: ${b.signal ?? `exit ${b.exitCode}`}: ${String(b.stderr).trim().slice(-2000)}`;
    const r = await node(reserve ? ['-R', reserve] : [], ['--snapshot-blob', blob, '--', '--version'], { [SNAPSHOT_GC_CHECK_ENV]: '1' });
    if (r.exitCode !== 0 || String(r.stdout).trim() !== VERSION) {
      return `the snapshot does not start and survive a full GC: ${r.signal ?? `exit ${r.exitCode}`}: ${String(r.stdout).trim()} ${String(r.stderr).trim()}`.slice(0, 2000);
    }
    return null;
  };
  try {
    const reasons: string[] = [];
    for (const commands of reserve ? [true, false] : [false]) {
      const why = await attempt(commands);
      if (why) {
        reasons.push(`${commands ? 'with' : 'without'} the commands: ${why}`);
        continue;
      }
      copyFileSync(blob, host(`usr/lib/flipside/${SNAPSHOT_NAME}`));
      writeFileSync(host(`usr/lib/flipside/${SNAPSHOT_CHECK_NAME}`), snapshotFingerprint(launcherPathsIn(tree), host));
      return done({ built: true, commands, bytes: readFileSync(blob).length, ...(reasons.length ? { reason: reasons.join('; ') } : {}) });
    }
    return done({ built: false, reason: reasons.join('; ') });
  } finally {
    rmSync(host(GUEST_BUILD_SCRIPT), { force: true });
    rmSync(work, { recursive: true, force: true });
  }
}
