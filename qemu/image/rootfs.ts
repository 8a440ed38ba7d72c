// The guest root filesystem without chroot, mounts or root: Debian packages extracted into a
// folder (a "base tree", cached per package set), merged into /usr as bookworm does, then per
// version a copy with the board's files, the kernel and the client, made into ext4 by
// `mke2fs -d` under fakeroot so every file is owned by root.
import { chmodSync, copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { run } from './exec.js';
import { extractDeb } from './debs.js';
import { launcherScript } from '../../client/snapshot.js';
import { launcherPathsIn } from './snapshot.js';

/** Folders that must exist in the image as mount points or state locations. */
const MOUNT_POINTS = ['proc', 'sys', 'dev', 'tmp', 'run', 'data', 'uboot', 'root', 'boot', 'mnt', 'var/lib', 'var/log', 'etc/flipside'];
const TRIM = ['usr/share/doc', 'usr/share/man', 'usr/share/info', 'usr/share/locale', 'usr/share/lintian', 'usr/share/bug', 'usr/include', 'usr/share/gdb'];
/** Files of the packages that nothing on the device uses (the zstd package's parallel zstd and its shell wrappers). */
const TRIM_FILES = ['usr/bin/pzstd', 'usr/bin/zstdgrep', 'usr/bin/zstdless'];

/** Moves a top-level folder into /usr and leaves a symlink, as Debian's merged-/usr layout does. */
function mergeIntoUsr(tree: string, dir: string): void {
  const top = join(tree, dir);
  if (existsSync(top) && !lstatSync(top).isSymbolicLink()) {
    mkdirSync(join(tree, 'usr', dir), { recursive: true });
    cpSync(top, join(tree, 'usr', dir), { recursive: true, verbatimSymlinks: true, force: false, errorOnExist: false });
    rmSync(top, { recursive: true, force: true });
  }
  if (!existsSync(top)) {
    mkdirSync(join(tree, 'usr', dir), { recursive: true });
    symlinkSync(`usr/${dir}`, top);
  }
}

/** Symlinks every busybox applet that no package provides (the list comes from the host's busybox). */
async function linkBusyboxApplets(tree: string): Promise<void> {
  const list = (await run('busybox', ['--list-full'])).split('\n').filter(Boolean);
  for (const applet of list) {
    const path = join(tree, applet.replace(/^(s?bin)\//, 'usr/$1/'));
    if (lstatSync(path, { throwIfNoEntry: false })) continue; // a package's file wins
    mkdirSync(dirname(path), { recursive: true });
    symlinkSync('/usr/bin/busybox', path);
  }
}

/** Builds the package tree once into `dir` (atomic: a half-built tree is never reused). */
export async function buildBaseTree(debs: string[], dir: string, onFile?: (done: number, total: number) => void): Promise<string> {
  const tree = join(dir, 'tree');
  if (existsSync(join(dir, '.done'))) return tree;
  const tmp = `${dir}.tmp-${process.pid}`; // per process: parallel builds share the cache
  rmSync(tmp, { recursive: true, force: true });
  const tmpTree = join(tmp, 'tree');
  mkdirSync(tmpTree, { recursive: true });
  let done = 0;
  for (const deb of debs) {
    await extractDeb(deb, tmpTree);
    onFile?.(++done, debs.length);
  }
  for (const d of ['bin', 'sbin', 'lib']) mergeIntoUsr(tmpTree, d);
  for (const d of ['lib32', 'lib64', 'libx32']) if (existsSync(join(tmpTree, d))) mergeIntoUsr(tmpTree, d);
  await linkBusyboxApplets(tmpTree);
  for (const t of [...TRIM, ...TRIM_FILES]) rmSync(join(tmpTree, t), { recursive: true, force: true });
  for (const m of MOUNT_POINTS) mkdirSync(join(tmpTree, m), { recursive: true });
  // The client's state lives on the data partition; /var/lib/flipside is where tools look for it.
  symlinkSync('/data/flipside', join(tmpTree, 'var/lib/flipside'));
  if (!existsSync(join(tmpTree, 'usr/bin/node')) && existsSync(join(tmpTree, 'usr/bin/nodejs')))
    symlinkSync('nodejs', join(tmpTree, 'usr/bin/node'));
  writeFileSync(join(tmp, '.done'), '');
  if (existsSync(join(dir, '.done'))) {
    rmSync(tmp, { recursive: true, force: true }); // another process finished first
    return tree;
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dirname(dir), { recursive: true });
  try {
    renameSync(tmp, dir);
  } catch (e) {
    if (!existsSync(join(dir, '.done'))) throw e;
    rmSync(tmp, { recursive: true, force: true });
  }
  return tree;
}

export interface VersionTreeOptions {
  baseTree: string;
  workTree: string;
  files: Map<string, [string, number]>;
  kernelImage: string;
  initrd: string;
  /** The device tree, installed as /boot/dtb (boards whose boot script loads it from the rootfs). */
  dtb?: string;
  /** gzip /boot/vmlinuz (booti unpacks it). */
  compressKernel?: boolean;
  /** Makes /boot/vmlinuz unbootable (the bootloader refuses it and resets). */
  breakKernel?: boolean;
  clientBundle?: string;
  serverCa?: string;
  /** /var/lib/mender becomes a link to this folder (the data partition), as on a Mender board. */
  menderDataOn?: string;
}

export async function buildVersionTree(o: VersionTreeOptions): Promise<void> {
  rmSync(o.workTree, { recursive: true, force: true });
  mkdirSync(dirname(o.workTree), { recursive: true });
  await run('cp', ['-a', '--reflink=auto', o.baseTree, o.workTree]);
  for (const [path, [content, mode]] of o.files) {
    const p = join(o.workTree, path);
    mkdirSync(dirname(p), { recursive: true });
    rmSync(p, { force: true });
    writeFileSync(p, content, { mode });
    chmodSync(p, mode);
  }
  const vmlinuz = join(o.workTree, 'boot/vmlinuz');
  if (o.compressKernel) await run('sh', ['-c', 'gzip -n -6 -c "$1" > "$2"', 'gz', o.kernelImage, vmlinuz]);
  else copyFileSync(o.kernelImage, vmlinuz);
  if (o.breakKernel) {
    // Zero the header: booti/bootz/zboot reject the image ("bad magic") and the script resets.
    const fd = await import('node:fs/promises').then((f) => f.open(vmlinuz, 'r+'));
    await fd.write(Buffer.alloc(4096), 0, 4096, 0);
    await fd.close();
  }
  copyFileSync(o.initrd, join(o.workTree, 'boot/initrd.img'));
  if (o.dtb) copyFileSync(o.dtb, join(o.workTree, 'boot/dtb'));
  if (o.clientBundle) {
    mkdirSync(join(o.workTree, 'usr/lib/flipside'), { recursive: true });
    copyFileSync(o.clientBundle, join(o.workTree, 'usr/lib/flipside/flipside.cjs'));
    // The launcher starts the client from its start-up snapshot when the image has a valid one
    // (qemu/image/snapshot.ts adds it after this), else from the bundle.
    writeFileSync(join(o.workTree, 'usr/bin/flipside'), launcherScript(launcherPathsIn(o.workTree)), { mode: 0o755 });
  }
  if (o.serverCa) copyFileSync(o.serverCa, join(o.workTree, 'etc/flipside/server.crt'));
  if (o.menderDataOn) {
    rmSync(join(o.workTree, 'var/lib/mender'), { recursive: true, force: true });
    symlinkSync(o.menderDataOn, join(o.workTree, 'var/lib/mender'));
  }
}

/** Makes an ext4 image of `tree`, every file owned by root (fakeroot, no privileges needed). */
export async function makeExt4(tree: string, image: string, sizeMiB: number, label: string): Promise<void> {
  rmSync(image, { force: true });
  mkdirSync(dirname(image), { recursive: true });
  await run('fakeroot', [
    'sh',
    '-c',
    // Initialise inode tables and journal here, not in the guest's first mount (saves boot time).
    'chown -R 0:0 "$1" && mke2fs -q -t ext4 -L "$2" -E root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0 -d "$1" -F "$3" "$4"',
    'mkext4',
    tree,
    label,
    image,
    `${sizeMiB}M`,
  ]);
}
