// `buildImage`: the reference distro for one board and version — rootfs ext4 (also the payload of
// a rootfs-image artifact), boot partition with boot.scr, data partition, redundant env, whole
// disk. Every output is cached under a hash of all its inputs, so a rebuild with the same inputs
// only hashes and returns.
import { createHash } from 'node:crypto';
import { copyFileSync, createReadStream, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BoardFile } from '../../boards/schema.js';
import { loadBoardFile } from '../../boards/load.js';
import { compileBootScript, renderBootScript } from '../boot/boot-script.js';
import { debFileName, downloadPackages, resolveAll, userlandPackages } from './debs.js';
import { assembleDisk, initialEnv, makeBootPartition, makeEnvBlob } from './disk.js';
import { guestFiles, MENDER_DATA_DIR, type GuestClient, type ImageVariant } from './guest-files.js';
import { buildInitramfs, prepareKernel } from './kernel.js';
import { computeLayout, fwEnvConfig, partition, type DiskLayout } from './layout.js';
import { buildBaseTree, buildVersionTree, makeExt4 } from './rootfs.js';
import { addClientSnapshot, canBuildSnapshot, type SnapshotResult } from './snapshot.js';
import { pidAlive, run } from './exec.js';
import { downloadFirmwarePackages, prepareBootFirmware, resolveFirmwarePackages } from './boot-firmware.js';
import { installGrubMbr, prepareGrub } from './grub-boot.js';
import { writeArtifact } from '../../artifact/writer.js';
import { QEMU_CACHE_DIR } from '../../paths.js';

const here = dirname(fileURLToPath(import.meta.url));

export interface BuildImageOptions {
  board: string;
  version: string;
  /** dist/device/flipside.cjs: installed as /usr/lib/flipside/flipside.cjs with /usr/bin/flipside. */
  clientBundle?: string;
  /**
   * `mender`: Debian's mender-client package (and its libraries) instead of the bundle, with
   * /etc/mender/mender.conf for the same server and partitions. Default: flipside (the bundle, if given).
   */
  client?: GuestClient;
  /** PEM of the server's CA, installed as /etc/flipside/server.crt. */
  serverCa?: string;
  /** Default: https://10.0.2.100:80 with a CA, else http://10.0.2.100:80 (QEMU guestfwd to the server). */
  serverUrl?: string;
  /** Extra keys merged into /etc/flipside/flipside.conf. */
  clientConfig?: Record<string, unknown>;
  variant?: ImageVariant;
  /** Where the results are copied to (sparse); default: they stay in the cache. */
  outDir?: string;
  /** Write `<outDir or cache>/<version>.mender` (rootfs-image, gzip). Default true. */
  artifact?: boolean;
  cacheDir?: string;
  onProgress?: (step: string, done: number, total: number) => void;
}

export interface ArtifactInputs {
  /** The rootfs ext4, the payload of a rootfs-image artifact. */
  rootfs: string;
  deviceType: string;
  artifactName: string;
  provides: Record<string, string>;
  /** The .mender written from it, when requested. */
  artifact?: string;
}

export interface BuiltImage {
  disk: string;
  rootfs: string;
  /** boot.scr (U-Boot) or grub.cfg (GRUB), as on the boot partition. */
  bootScript: string;
  /** fw_env.config for the host, naming `disk`: fw_printenv -c / fw_setenv -c work offline (U-Boot boards). */
  hostFwEnvConfig?: string;
  layout: DiskLayout;
  board: BoardFile;
  artifactInputs: ArtifactInputs;
  cacheKey: string;
  /** True when every output came from the cache. */
  cached: boolean;
  /** The board's U-Boot from its firmware package, for QemuVm's `bios` (raspi3b), when the board has one. */
  qemuBios?: string;
  /** The client's start-up snapshot in the rootfs (qemu/image/snapshot.ts), when the image has a client bundle. */
  clientSnapshot?: SnapshotResult;
}

const STEPS = ['resolve packages', 'download packages', 'extract packages', 'kernel and initramfs', 'rootfs tree', 'client start-up snapshot', 'rootfs ext4', 'boot and data partitions', 'disk image', 'artifact'];

function sha256File(path: string): Promise<string> {
  return new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('end', () => res(h.digest('hex')))
      .on('error', rej);
  });
}

/** The builder's own source is an input too: a change to it must not reuse old images. */
function builderSourceHash(): string {
  const h = createHash('sha256');
  for (const dir of [here, join(here, '..', 'boot')])
    for (const f of readdirSync(dir).sort())
      if (!f.endsWith('.test.ts') && /\.(ts|cmd|cfg)$/.test(f)) h.update(f).update(readFileSync(join(dir, f)));
  // The client's launcher and snapshot build script (the bundle's own hash is a separate input).
  h.update(readFileSync(join(here, '..', '..', 'client', 'snapshot.ts')));
  return h.digest('hex');
}

/**
 * Keeps one build per board, version and variant: an image of the same name built from older
 * inputs (builder code, packages) is never used again, and each costs hundreds of MB. Another
 * process's build in progress (`.tmp-PID`) is left alone while that process lives.
 */
function pruneOlderBuilds(imagesDir: string, keep: string): void {
  const stem = keep.replace(/-[0-9a-f]{12}$/, '');
  for (const d of readdirSync(imagesDir)) {
    const m = d.match(/^(.*)-[0-9a-f]{12}(?:\.tmp-(\d+))?$/);
    if (!m || d === keep || m[1] !== stem) continue;
    if (m[2] && pidAlive(Number(m[2]))) continue;
    rmSync(join(imagesDir, d), { recursive: true, force: true });
  }
}

function clientSnapshotOf(manifest: string): { clientSnapshot: SnapshotResult } | null {
  const m = JSON.parse(readFileSync(manifest, 'utf8')) as { clientSnapshot?: SnapshotResult | null };
  return m.clientSnapshot ? { clientSnapshot: m.clientSnapshot } : null;
}

const hashOf = (...parts: unknown[]) => createHash('sha256').update(JSON.stringify(parts)).digest('hex');

export async function buildImage(opts: BuildImageOptions): Promise<BuiltImage> {
  const variant = opts.variant ?? 'good';
  if (!/^[A-Za-z0-9._+-]+$/.test(opts.version)) throw new Error(`version "${opts.version}": use letters, digits and . _ + -`);
  const cache = opts.cacheDir ?? QEMU_CACHE_DIR;
  const progress = (i: number) => opts.onProgress?.(STEPS[i]!, i, STEPS.length);
  const board = await loadBoardFile(opts.board);
  const layout = computeLayout(board);
  const arch = board.linux.debArch;
  const client = opts.client ?? 'flipside';
  if (client === 'mender' && opts.clientBundle) throw new Error('an image carries one client: --client mender takes no client bundle');

  progress(0);
  const { packages: pkgs, kernel: kernelPkg } = await resolveAll(
    arch,
    board.linux.pins,
    board.linux.kernelPackage,
    join(cache, 'debs', `resolved-${arch}${client === 'mender' ? '-mender' : ''}.json`),
    userlandPackages(client),
  );
  // Boot ROM / GPU firmware and the board's U-Boot (real boards; none for QEMU boards).
  const firmwarePkgs = await resolveFirmwarePackages(board, cache);
  const src = builderSourceHash();
  const bundleHash = opts.clientBundle ? await sha256File(opts.clientBundle) : null;
  const caText = opts.serverCa ? readFileSync(opts.serverCa, 'utf8') : null;
  const serverUrl = opts.serverUrl ?? (caText ? 'https://10.0.2.100:80' : 'http://10.0.2.100:80');
  const wantArtifact = opts.artifact ?? true;
  // The client's start-up snapshot is built by the host's qemu-user: an image made without one is
  // not reused once the host can make it.
  const snapshotWanted = !!opts.clientBundle && (await canBuildSnapshot(board));
  const key = hashOf(readFileSync(board.file, 'utf8'), pkgs, kernelPkg, ...(firmwarePkgs.length ? [firmwarePkgs] : []), src, opts.version, variant, bundleHash, caText, serverUrl, opts.clientConfig ?? null, wantArtifact, ...(client === 'mender' ? [client] : []), ...(snapshotWanted ? ['snapshot'] : []));
  let snapshotInfo: SnapshotResult | undefined;
  const imageDir = join(cache, 'images', `${board.name}-${opts.version}-${variant}${client === 'mender' ? '-mender' : ''}-${key.slice(0, 12)}`);
  const grub = board.bootloader.type === 'grub';
  const names = {
    disk: join(imageDir, 'disk.img'),
    rootfs: join(imageDir, 'rootfs.ext4'),
    bootScript: join(imageDir, grub ? 'grub.cfg' : 'boot.scr'),
    artifact: join(imageDir, `${opts.version}.mender`),
  };
  const cached = existsSync(join(imageDir, 'manifest.json'));

  // Per process: test files and lab runs build in parallel into the same cache.
  const tmpDir = `${imageDir}.tmp-${process.pid}`;
  if (!cached) try {
    rmSync(tmpDir, { recursive: true, force: true });
    mkdirSync(tmpDir, { recursive: true });
    const t = (n: string) => join(tmpDir, n);

    progress(1);
    const debDir = join(cache, 'debs', arch);
    const debs = await downloadPackages([...pkgs, kernelPkg], debDir);
    const userDebs = debs.slice(0, pkgs.length);

    progress(2);
    // The package tree only depends on the packages and the code that lays them out.
    const treeCode = ['rootfs.ts', 'debs.ts'].map((f) => readFileSync(join(here, f), 'utf8'));
    const baseDir = join(cache, 'base', `${arch}-${hashOf(pkgs, treeCode).slice(0, 16)}`);
    const baseTree = await buildBaseTree(userDebs, baseDir);

    progress(3);
    const kernel = await prepareKernel(join(debDir, debFileName(kernelPkg)), join(cache, 'kernel', `${kernelPkg.name}_${kernelPkg.version}_${arch}`));
    const dtb = board.linux.dtb ? join(kernel.root, 'usr/lib', `linux-image-${kernel.release}`, board.linux.dtb) : undefined;
    if (dtb && !existsSync(dtb)) throw new Error(`${board.name}: linux.dtb ${board.linux.dtb} is not in ${kernelPkg.name}`);
    await buildInitramfs({
      kernel,
      busybox: join(baseTree, 'usr/bin/busybox'),
      modules: board.linux.initrdModules,
      workDir: t('initramfs'),
      out: t('initrd.img'),
    });

    progress(4);
    const files = guestFiles(board, layout, {
      version: opts.version,
      variant,
      client: opts.clientBundle || client === 'mender' ? { kind: client, serverUrl, serverCa: !!caText, extra: opts.clientConfig } : undefined,
    });
    await buildVersionTree({
      baseTree,
      workTree: t('rootfs'),
      files,
      kernelImage: kernel.image,
      initrd: t('initrd.img'),
      dtb,
      compressKernel: board.linux.kernelCompression === 'gzip',
      breakKernel: variant === 'broken-kernel',
      clientBundle: opts.clientBundle,
      serverCa: opts.serverCa,
      menderDataOn: client === 'mender' ? MENDER_DATA_DIR : undefined,
    });

    progress(5);
    if (snapshotWanted) {
      const snap = await addClientSnapshot(t('rootfs'), board);
      if (!snap.built) process.stderr.write(`image: no client start-up snapshot: ${snap.reason}\n`);
      else if (snap.reason) process.stderr.write(`image: client start-up snapshot without the commands' modules: ${snap.reason}\n`);
      snapshotInfo = snap;
    }

    progress(6);
    await makeExt4(t('rootfs'), t('rootfs.ext4'), partition(layout, 'rootfsA').size / 2 ** 20, 'rootfs');
    rmSync(t('rootfs'), { recursive: true, force: true });
    rmSync(t('initramfs'), { recursive: true, force: true });

    progress(7);
    const firmwareDebs = await downloadFirmwarePackages(firmwarePkgs, join(cache, 'debs', 'firmware'), cache);
    const firmwareFiles = await prepareBootFirmware(board, firmwareDebs, t('firmware'), dtb);
    const grubFiles = grub ? await prepareGrub(board, layout, firmwareDebs, t('grub')) : null;
    if (grubFiles) {
      copyFileSync(grubFiles.cfg, t('grub.cfg'));
      await makeBootPartition(t('boot.vfat'), partition(layout, 'boot').size / 2 ** 20, [], [...firmwareFiles, ...grubFiles.fat]);
    } else {
      await compileBootScript(renderBootScript(board, layout), board, t('boot.scr'));
      await makeBootPartition(t('boot.vfat'), partition(layout, 'boot').size / 2 ** 20, [t('boot.scr'), t('boot.cmd')], firmwareFiles);
    }
    // QEMU starts the board's own U-Boot (raspi3b: -kernel u-boot.bin): keep it with the image,
    // so the host needs no u-boot-rpi package installed.
    const qemuBiosInPackage = board.qemu && board.firmware ? join(t('firmware'), 'tree', board.qemu.bios) : null;
    if (qemuBiosInPackage && existsSync(qemuBiosInPackage)) copyFileSync(qemuBiosInPackage, t('qemu-bios.bin'));
    rmSync(t('firmware'), { recursive: true, force: true });
    mkdirSync(t('data/flipside'), { recursive: true });
    if (client === 'mender') mkdirSync(t(MENDER_DATA_DIR.slice(1)), { recursive: true });
    await makeExt4(t('data'), t('data.ext4'), partition(layout, 'data').size / 2 ** 20, 'data');
    if (layout.env) await makeEnvBlob(initialEnv(board.bootloader.bootlimit, partition(layout, 'rootfsA').number), layout.env.size, t('env.bin'));

    progress(8);
    await assembleDisk({
      layout,
      out: t('disk.img'),
      parts: { boot: t('boot.vfat'), rootfsA: t('rootfs.ext4'), data: t('data.ext4') },
      ...(layout.env ? { envBlob: t('env.bin') } : {}),
    });
    if (grubFiles?.mbr) installGrubMbr(t('disk.img'), grubFiles.mbr.bootImg, grubFiles.mbr.coreImg, partition(layout, 'boot').offset);
    rmSync(t('grub'), { recursive: true, force: true });
    for (const f of ['boot.vfat', 'data.ext4', 'env.bin', 'initrd.img']) rmSync(t(f), { force: true });
    rmSync(t('data'), { recursive: true, force: true });

    if (wantArtifact) {
      progress(9);
      await writeArtifact(
        {
          type: 'rootfs-image',
          name: opts.version,
          deviceTypes: [board.deviceType],
          files: [t('rootfs.ext4')],
          compression: 'gzip',
          softwareFilesystem: 'rootfs-image',
          softwareVersion: opts.version,
        },
        t(basename(names.artifact)),
      );
    }
    writeFileSync(t('manifest.json'), JSON.stringify({ board: board.name, version: opts.version, variant, key, packages: pkgs, kernel: kernelPkg, firmware: firmwarePkgs, clientSnapshot: snapshotInfo ?? null }, null, 2));
    // Another process may have finished the same build meanwhile: theirs is as good as ours.
    if (!existsSync(join(imageDir, 'manifest.json'))) {
      rmSync(imageDir, { recursive: true, force: true });
      try {
        renameSync(tmpDir, imageDir);
      } catch (e) {
        if (!existsSync(join(imageDir, 'manifest.json'))) throw e;
      }
    }
    pruneOlderBuilds(dirname(imageDir), basename(imageDir));
  } finally {
    rmSync(tmpDir, { recursive: true, force: true });
  }
  progress(STEPS.length);

  let out = names;
  if (opts.outDir) {
    mkdirSync(opts.outDir, { recursive: true });
    const copy = async (from: string, name: string) => {
      const to = join(opts.outDir!, name);
      await run('cp', ['--sparse=always', '--reflink=auto', from, to]);
      return to;
    };
    out = {
      disk: await copy(names.disk, `${board.name}-${opts.version}.img`),
      rootfs: await copy(names.rootfs, `${board.name}-${opts.version}.ext4`),
      bootScript: await copy(names.bootScript, basename(names.bootScript)),
      artifact: wantArtifact ? await copy(names.artifact, `${opts.version}.mender`) : names.artifact,
    };
  }
  let hostFwEnvConfig: string | undefined;
  if (layout.env) {
    hostFwEnvConfig = join(dirname(out.disk), `${basename(out.disk)}.fw_env.config`);
    writeFileSync(hostFwEnvConfig, fwEnvConfig(layout, out.disk));
  }
  return {
    disk: out.disk,
    rootfs: out.rootfs,
    bootScript: out.bootScript,
    ...(hostFwEnvConfig ? { hostFwEnvConfig } : {}),
    layout,
    board,
    cacheKey: key,
    cached,
    ...(existsSync(join(imageDir, 'qemu-bios.bin')) ? { qemuBios: join(imageDir, 'qemu-bios.bin') } : {}),
    ...(clientSnapshotOf(join(imageDir, 'manifest.json')) ?? {}),
    artifactInputs: {
      rootfs: out.rootfs,
      deviceType: board.deviceType,
      artifactName: opts.version,
      provides: { 'rootfs-image.version': opts.version },
      ...(wantArtifact ? { artifact: out.artifact } : {}),
    },
  };
}
