// What a real SoC needs on the FAT boot partition before U-Boot runs, from Debian packages:
// - Raspberry Pi (firmware.type rpi): the GPU firmware (bootcode.bin, start.elf, fixup.dat from
//   raspi-firmware, in the non-free-firmware component), config.txt naming U-Boot as the
//   "kernel" (u-boot-rpi's rpi_3 u-boot.bin), and the dtb the firmware hands to U-Boot.
// - BeagleBone Black (firmware.type omap): the AM335x ROM loads MLO from the active FAT
//   partition, and MLO (U-Boot SPL) loads u-boot.img from the same partition (u-boot-omap).
// A package outside the host's apt sources (non-free-firmware) is resolved and downloaded
// through a private apt state under the cache, so the host's apt configuration is not changed.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { grubPackage, type BoardFile } from '../../boards/schema.js';
import { aptListsFingerprint, debFileName, extractDeb, parseAptShow, type DebPackage } from './debs.js';
import { run } from './exec.js';

type Firmware = NonNullable<BoardFile['firmware']>;

export interface FirmwarePackage extends DebPackage {
  /** Extra apt sources this package comes from ([] = the host's own). */
  aptSources: string[];
}

/** Files for the FAT boot partition: [name on the partition, source path]. */
export type BootFile = [name: string, source: string];

/**
 * The packages a board's firmware section names, and a GRUB board's GRUB platform package, with
 * the Debian arch to ask for.
 */
export function firmwarePackageSpecs(board: BoardFile): Array<{ name: string; arch: string; aptSources: string[] }> {
  const arch = board.linux.debArch;
  const grub = board.bootloader.type === 'grub' ? [{ name: grubPackage(board.bootloader), arch, aptSources: [] }] : [];
  const fw = board.firmware;
  if (!fw) return grub;
  switch (fw.type) {
    case 'rpi':
      return [
        // raspi-firmware is Architecture: all.
        { name: fw.firmwarePackage, arch: 'all', aptSources: fw.aptSources },
        { name: fw.ubootPackage, arch, aptSources: [] },
        ...grub,
      ];
    case 'omap':
      return [{ name: fw.ubootPackage, arch, aptSources: [] }, ...grub];
  }
}

/** apt options that point apt at a private sources list and state under `dir`. */
export function privateAptOptions(dir: string): string[] {
  return [
    '-o', `Dir::Etc::sourcelist=${join(dir, 'sources.list')}`,
    '-o', 'Dir::Etc::sourceparts=-',
    '-o', `Dir::State::Lists=${join(dir, 'lists')}`,
    '-o', `Dir::Cache=${join(dir, 'cache')}`,
    '-o', 'APT::Get::List-Cleanup=0',
  ];
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** Sets up (once) a private apt state for `sources` and returns its options. Needs root for apt-get update. */
export async function privateApt(cacheDir: string, sources: string[]): Promise<{ dir: string; options: string[] }> {
  const dir = join(cacheDir, 'apt', sha(sources.join('\n')).slice(0, 16));
  const options = privateAptOptions(dir);
  const hasLists = existsSync(join(dir, 'lists')) && readdirSync(join(dir, 'lists')).some((f) => f.includes('_Packages'));
  if (!hasLists) {
    for (const d of ['lists/partial', 'cache/archives/partial']) mkdirSync(join(dir, d), { recursive: true });
    writeFileSync(join(dir, 'sources.list'), sources.join('\n') + '\n');
    // The same lock every apt-get on this host takes (ci/setup.sh and the other builders).
    await run('flock', ['/tmp/apt.lock', 'apt-get', ...options, '-q', 'update']);
  }
  return { dir, options };
}

/** Resolves the firmware packages to exact versions, remembered until the apt lists change. */
export async function resolveFirmwarePackages(board: BoardFile, cacheDir: string): Promise<FirmwarePackage[]> {
  const specs = firmwarePackageSpecs(board);
  if (!specs.length) return [];
  const out: FirmwarePackage[] = [];
  const groups = new Map<string, typeof specs>();
  for (const s of specs) groups.set(JSON.stringify(s.aptSources), [...(groups.get(JSON.stringify(s.aptSources)) ?? []), s]);
  for (const [key, group] of groups) {
    const sources = JSON.parse(key) as string[];
    const apt = sources.length ? await privateApt(cacheDir, sources) : null;
    const listsDir = apt ? join(apt.dir, 'lists') : undefined;
    const memo = join(cacheDir, 'debs', `firmware-${sha(key + JSON.stringify(group)).slice(0, 16)}.json`);
    const fingerprint = aptListsFingerprint(listsDir);
    let found: DebPackage[] | null = null;
    if (existsSync(memo)) {
      const saved = JSON.parse(readFileSync(memo, 'utf8')) as { fingerprint: string; packages: DebPackage[] };
      if (saved.fingerprint === fingerprint) found = saved.packages;
    }
    if (!found) {
      const text = await run('apt-cache', [...(apt?.options ?? []), 'show', '--no-all-versions', ...group.map((s) => `${s.name}:${s.arch}`)]);
      const parsed = parseAptShow(text);
      const missing = group.filter((s) => !parsed.some((p) => p.name === s.name));
      if (missing.length)
        throw new Error(`apt has no ${missing.map((s) => `${s.name}:${s.arch}`).join(', ')}${sources.length ? ` in ${sources.join('; ')}` : ''}`);
      found = group.map((s) => parsed.find((p) => p.name === s.name)!);
      mkdirSync(join(cacheDir, 'debs'), { recursive: true });
      writeFileSync(memo, JSON.stringify({ fingerprint, packages: found }, null, 2));
    }
    for (const p of found) out.push({ ...p, aptSources: sources });
  }
  return out;
}

/** Downloads what is not in `dir` yet (private apt state for packages from extra sources). */
export async function downloadFirmwarePackages(pkgs: FirmwarePackage[], dir: string, cacheDir: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const have = new Set(readdirSync(dir));
  for (const p of pkgs) {
    if (have.has(debFileName(p))) continue;
    const apt = p.aptSources.length ? await privateApt(cacheDir, p.aptSources) : null;
    await run('apt-get', [...(apt?.options ?? []), 'download', `${p.name}:${p.arch}=${p.version}`], { cwd: dir });
  }
  return pkgs.map((p) => {
    const f = join(dir, debFileName(p));
    if (!existsSync(f)) throw new Error(`apt-get download did not produce ${f}`);
    return f;
  });
}

/** config.txt for the Raspberry Pi firmware. */
export function renderConfigTxt(fw: Extract<Firmware, { type: 'rpi' }>): string {
  return ['# Flipside: the GPU firmware starts U-Boot, which runs boot.scr (A/B).', ...fw.configTxt].join('\n') + '\n';
}

/**
 * Extracts the firmware packages into `workDir` and returns the boot partition files, in the
 * order they are copied (MLO first: older TI ROMs want it as the first directory entry).
 */
export async function prepareBootFirmware(board: BoardFile, debs: string[], workDir: string, dtb?: string): Promise<BootFile[]> {
  const fw = board.firmware;
  if (!fw) return [];
  rmSync(workDir, { recursive: true, force: true });
  const tree = join(workDir, 'tree');
  for (const d of debs) await extractDeb(d, tree);
  const need = (path: string) => {
    const p = join(tree, path);
    if (!existsSync(p)) throw new Error(`${board.name}: ${path} is not in ${debs.map((d) => d.replace(/^.*\//, '')).join(', ')}`);
    return p;
  };
  switch (fw.type) {
    case 'rpi': {
      const files: BootFile[] = ['bootcode.bin', 'start.elf', 'fixup.dat'].map((f) => [f, need(`usr/lib/raspi-firmware/${f}`)]);
      files.push(['u-boot.bin', need(`usr/lib/u-boot/${fw.ubootTarget}/u-boot.bin`)]);
      const config = join(workDir, 'config.txt');
      writeFileSync(config, renderConfigTxt(fw));
      files.push(['config.txt', config]);
      if (dtb) {
        const name = dtb.replace(/^.*\//, '');
        copyFileSync(dtb, join(workDir, name));
        files.push([name, join(workDir, name)]);
      }
      return files;
    }
    case 'omap':
      return [
        ['MLO', need(`usr/lib/u-boot/${fw.ubootTarget}/MLO`)],
        ['u-boot.img', need(`usr/lib/u-boot/${fw.ubootTarget}/u-boot.img`)],
      ];
  }
}
