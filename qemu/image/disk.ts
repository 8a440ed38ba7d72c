// Assembles the whole disk image from its parts: an MBR written by sfdisk into a sparse file,
// each partition image copied in with dd conv=notrunc,sparse, and both env copies at their raw
// offsets. No loop devices or mounts.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { run } from './exec.js';
import { sfdiskScript, type DiskLayout, type PartitionRole } from './layout.js';

/**
 * The initial env, Mender's default environment (env_mender.h): slot A, no upgrade pending, and
 * the canary check on. mender_saveenv_canary is left to the first boot, which proves U-Boot can save.
 */
export function initialEnv(bootlimit: number, partA: number): Record<string, string> {
  return {
    mender_boot_part: String(partA),
    mender_boot_part_hex: partA.toString(16),
    upgrade_available: '0',
    bootcount: '0',
    bootlimit: String(bootlimit),
    mender_check_saveenv_canary: '1',
  };
}

/** One redundant env copy (crc, flags=1, data) as mkenvimage -r writes it. */
export async function makeEnvBlob(vars: Record<string, string>, size: number, out: string): Promise<void> {
  const txt = `${out}.txt`;
  writeFileSync(txt, Object.entries(vars).map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  await run('mkenvimage', ['-r', '-s', String(size), '-o', out, txt]);
  rmSync(txt);
}

/**
 * A FAT boot partition holding boot.scr (and boot.cmd, for people reading the card). `named`
 * files are copied first, one by one, under the given names (firmware: MLO must come first).
 */
export async function makeBootPartition(image: string, sizeMiB: number, files: string[], named: Array<[string, string]> = []): Promise<void> {
  rmSync(image, { force: true });
  await run('mkfs.vfat', ['-n', 'BOOT', '-C', image, String(sizeMiB * 1024)]);
  const dirs = new Set<string>();
  for (const [name] of named)
    for (let d = name.lastIndexOf('/') > 0 ? name.slice(0, name.lastIndexOf('/')) : ''; d; d = d.includes('/') ? d.slice(0, d.lastIndexOf('/')) : '') dirs.add(d);
  // Parents first (EFI before EFI/BOOT).
  for (const d of [...dirs].sort((a, b) => a.length - b.length)) await run('mmd', ['-i', image, `::${d}`]);
  for (const [name, src] of named) await run('mcopy', ['-o', '-i', image, src, `::${name}`]);
  // With no sources, mcopy would read `::` as the source and copy the partition into the cwd.
  if (files.length) await run('mcopy', ['-o', '-i', image, ...files, '::']);
}

/** Copies `src` into `disk` at byte `offset` without truncating, keeping holes. */
export async function writeAt(disk: string, src: string, offset: number): Promise<void> {
  await run('dd', [`if=${src}`, `of=${disk}`, 'bs=1M', `seek=${offset}`, 'oflag=seek_bytes', 'conv=notrunc,sparse', 'status=none']);
}

export async function assembleDisk(opts: {
  layout: DiskLayout;
  out: string;
  parts: Partial<Record<PartitionRole, string>>;
  /** The U-Boot env copy written at each env offset; none on GRUB boards. */
  envBlob?: string;
}): Promise<void> {
  const { layout, out } = opts;
  mkdirSync(dirname(out), { recursive: true });
  rmSync(out, { force: true });
  await run('truncate', ['-s', String(layout.totalSize), out]);
  await run('sfdisk', ['--no-reread', '--no-tell-kernel', '-q', out], { input: sfdiskScript(layout) });
  for (const p of layout.partitions) {
    const src = opts.parts[p.role];
    if (src) await writeAt(out, src, p.offset);
  }
  if (layout.env && opts.envBlob) for (const offset of layout.env.offsets) await writeAt(out, opts.envBlob, offset);
}
