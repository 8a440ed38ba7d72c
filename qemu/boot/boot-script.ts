// Renders qemu/boot/boot.cmd for a board (addresses, sectors, partitions, boot command) and
// compiles it to boot.scr. The template holds the logic; this file only does the arithmetic
// that U-Boot builds without setexpr cannot do themselves.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ubootOf, type BoardFile } from '../../boards/schema.js';
import { partition, SECTOR, type DiskLayout } from '../image/layout.js';
import { run } from '../image/exec.js';

export const BOOT_CMD_TEMPLATE = join(dirname(fileURLToPath(import.meta.url)), 'boot.cmd');

/**
 * The variables the script keeps in the env blob: Mender's U-Boot integration (meta-mender's
 * env_mender.h). A save writes these only; other variables fw_setenv put there are not kept.
 */
export const ENV_VARS = [
  'mender_boot_part',
  'mender_boot_part_hex',
  'upgrade_available',
  'bootcount',
  'bootlimit',
  'mender_check_saveenv_canary',
  'mender_saveenv_canary',
] as const;

/** Read but never written back: where images made before the Mender names kept the slot. */
export const LEGACY_ENV_VARS = ['boot_part'] as const;

const hex = (n: number) => `0x${n.toString(16)}`;

/** RAM map inside the board's scratch area: two raw copies, two import buffers, export and output. */
export function scratchMap(scratch: number, envSize: number) {
  const slot = Math.max(0x4000, Math.ceil(envSize / 0x1000) * 0x1000);
  return {
    raw1: scratch,
    raw2: scratch + slot,
    imp1: scratch + 2 * slot,
    imp2: scratch + 3 * slot,
    exp: scratch + 4 * slot,
    out: scratch + 5 * slot,
  };
}

function bootCountTable(limit: number): string {
  // One line per value instead of setexpr, which Debian's qemu-x86 U-Boot lacks.
  const lines: string[] = [];
  for (let i = 0; i <= limit + 1; i++)
    lines.push(`  if itest.s "x\${bootcount}" == "x${i}"; then setenv fs_next ${i + 1}; fi`);
  return lines.join('\n');
}

function flagIncrement(board: BoardFile, outFlag: number): string {
  if (ubootOf(board).hasSetexpr)
    return [
      '    setexpr.b fs_flag *${fs_cur_flag} + 1',
      '    if itest.s "x${fs_flag}" == "x100"; then setenv fs_flag 0; fi',
      `    mw.b ${hex(outFlag)} \${fs_flag}`,
    ].join('\n');
  // Without setexpr: a 256-entry table (flags wrap 255 -> 0 as libubootenv expects).
  const lines: string[] = [];
  for (let v = 0; v < 256; v++)
    lines.push(`    if itest.b *\${fs_cur_flag} == ${hex(v)}; then mw.b ${hex(outFlag)} ${hex((v + 1) & 0xff)}; fi`);
  return lines.join('\n');
}

function bootCommand(board: BoardFile): string {
  const bl = ubootOf(board);
  switch (bl.bootCommand) {
    case 'booti':
    case 'bootz':
      // The initrd's size must be ${filesize} of the initrd load: load the dtb first.
      if (bl.fdt === 'rootfs')
        return [
          'setenv fs_initrd_size ${filesize}',
          `    if load ${bl.storageInterface} ${bl.storageDevice}:\${mender_boot_part_hex} \${fdt_addr_r} /boot/dtb; then`,
          `      ${bl.bootCommand} \${kernel_addr_r} \${ramdisk_addr_r}:\${fs_initrd_size} \${fdt_addr_r}`,
          '    fi',
        ].join('\n');
      return `${bl.bootCommand} \${kernel_addr_r} \${ramdisk_addr_r}:\${filesize} ${bl.fdt === 'firmware' ? '${fdt_addr}' : '-'}`;
    case 'zboot':
      return 'zboot ${kernel_addr_r} 0 ${ramdisk_addr_r} ${filesize}';
  }
}

function loadAddrLines(board: BoardFile): string {
  const a = ubootOf(board).loadAddrs;
  if (!a) return '';
  const lines = [`setenv kernel_addr_r ${hex(a.kernel)}`, `setenv ramdisk_addr_r ${hex(a.ramdisk)}`, `setenv fdt_addr_r ${hex(a.fdt)}`];
  // booti unpacks a compressed Image through kernel_comp_addr_r (room: kernel_comp_size).
  if (a.kernelComp !== undefined && a.kernelCompSize !== undefined)
    lines.push(`setenv kernel_comp_addr_r ${hex(a.kernelComp)}`, `setenv kernel_comp_size ${hex(a.kernelCompSize)}`);
  return lines.join('\n');
}

export function renderBootScript(board: BoardFile, layout: DiskLayout, template = readFileSync(BOOT_CMD_TEMPLATE, 'utf8')): string {
  const bl = ubootOf(board);
  if (!layout.env) throw new Error(`board ${board.name}: no env section, so no boot script`);
  const env = layout.env;
  const size = env.size;
  const m = scratchMap(bl.scratchAddr, size);
  const a = partition(layout, 'rootfsA');
  const b = partition(layout, 'rootfsB');
  const values: Record<string, string> = {
    BOARD: board.name,
    IF: bl.storageInterface,
    DEV: String(bl.storageDevice),
    SECT1: hex(env.offsets[0] / SECTOR),
    SECT2: hex(env.offsets[1] / SECTOR),
    NSECT: hex(size / SECTOR),
    RAW1: hex(m.raw1),
    RAW2: hex(m.raw2),
    RAW1_DATA: hex(m.raw1 + 5),
    RAW2_DATA: hex(m.raw2 + 5),
    IMP1: hex(m.imp1),
    IMP2: hex(m.imp2),
    IMP1_DATA: hex(m.imp1 + 4),
    IMP2_DATA: hex(m.imp2 + 4),
    IMP_SIZE: hex(size - 1),
    DATA_SIZE: hex(size - 5),
    FLAG1: hex(m.raw1 + 4),
    FLAG2: hex(m.raw2 + 4),
    EXP: hex(m.exp),
    EXP_DATA: hex(m.exp + 4),
    OUT: hex(m.out),
    OUT_DATA: hex(m.out + 5),
    OUT_FLAG: hex(m.out + 4),
    VARS: ENV_VARS.join(' '),
    IMPORT_VARS: [...ENV_VARS, ...LEGACY_ENV_VARS].join(' '),
    // Cleared before the import, so a variable missing from the blob is not U-Boot's own default.
    CLEAR_VARS: [...ENV_VARS, ...LEGACY_ENV_VARS].map((v) => `setenv ${v}`).join('\n'),
    PART_A: String(a.number),
    PART_B: String(b.number),
    PART_A_HEX: a.number.toString(16),
    PART_B_HEX: b.number.toString(16),
    ROOT_A: a.device,
    ROOT_B: b.device,
    BOOTLIMIT: String(bl.bootlimit),
    CONSOLE: `${board.linux.console},${board.console.baud}`,
    BOOTCOUNT_TABLE: bootCountTable(bl.bootlimit),
    FLAG_INCREMENT: flagIncrement(board, m.out + 4),
    BOOT_COMMAND: bootCommand(board),
    LOAD_ADDRS: loadAddrLines(board),
  };
  const text = template.replace(/@@([A-Z0-9_]+)@@/g, (_, k: string) => {
    const v = values[k];
    if (v === undefined) throw new Error(`${BOOT_CMD_TEMPLATE}: unknown field @@${k}@@`);
    return v;
  });
  return text;
}

/** Writes boot.cmd and compiles it into a U-Boot script image (boot.scr). */
export async function compileBootScript(text: string, board: BoardFile, outScr: string): Promise<void> {
  const src = outScr.replace(/\.scr$/, '') + '.cmd';
  writeFileSync(src, text);
  await run('mkimage', ['-A', ubootOf(board).mkimageArch, '-O', 'linux', '-T', 'script', '-C', 'none', '-n', 'flipside boot', '-d', src, outScr]);
}
