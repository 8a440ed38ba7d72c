// Renders qemu/boot/grub.cfg for a GRUB board, and the few names the image builder, the guest's
// config and the tests share: where GRUB's files sit on the FAT boot partition and where the
// guest mounts that partition.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BoardFile } from '../../boards/schema.js';
import { partition, type DiskLayout } from '../image/layout.js';

export const GRUB_CFG_TEMPLATE = join(dirname(fileURLToPath(import.meta.url)), 'grub.cfg');

/** GRUB's disk: SeaBIOS gives the only disk BIOS drive 0x80. */
export const GRUB_DISK = 'hd0';
/** core.img's $prefix: the FAT boot partition's root, where grub.cfg and grubenv live. */
export const GRUB_PREFIX = `(${GRUB_DISK},msdos1)`;
/** Files at the root of the FAT boot partition. */
export const GRUB_CFG_NAME = 'grub.cfg';
export const GRUBENV_NAME = 'grubenv';
/**
 * Where the guest mounts the FAT boot partition, read-write (the client writes the grubenv),
 * so the files sit at Debian's usual /boot/grub/grub.cfg and /boot/grub/grubenv.
 */
export const GRUB_GUEST_MOUNT = '/boot/grub';
export const GRUBENV_GUEST_PATH = `${GRUB_GUEST_MOUNT}/${GRUBENV_NAME}`;

/** Mender's variable names (grub-mender-grubenv); the client's BootVars name the same ones. */
export const GRUB_ENV_VARS = { bootPart: 'mender_boot_part', upgradeAvailable: 'upgrade_available', bootCount: 'bootcount' } as const;

/** The grubenv a fresh image starts with: slot A, nothing on trial. */
export function initialGrubEnv(layout: DiskLayout): Record<string, string> {
  return { [GRUB_ENV_VARS.bootPart]: String(partition(layout, 'rootfsA').number), [GRUB_ENV_VARS.upgradeAvailable]: '0', [GRUB_ENV_VARS.bootCount]: '0' };
}

export function renderGrubCfg(board: BoardFile, layout: DiskLayout, template = readFileSync(GRUB_CFG_TEMPLATE, 'utf8')): string {
  if (board.bootloader.type !== 'grub') throw new Error(`board ${board.name} boots with ${board.bootloader.type}, not GRUB`);
  const a = partition(layout, 'rootfsA');
  const b = partition(layout, 'rootfsB');
  const boot = partition(layout, 'boot');
  const values: Record<string, string> = {
    BOARD: board.name,
    PART_A: String(a.number),
    PART_B: String(b.number),
    ROOT_A: a.device,
    ROOT_B: b.device,
    DISK: GRUB_DISK,
    ENV_FILE: `(${GRUB_DISK},msdos${boot.number})/${GRUBENV_NAME}`,
    CONSOLE: `${board.linux.console},${board.console.baud}`,
  };
  return template.replace(/@@([A-Z0-9_]+)@@/g, (_, k: string) => {
    const v = values[k];
    if (v === undefined) throw new Error(`${GRUB_CFG_TEMPLATE}: unknown field @@${k}@@`);
    return v;
  });
}
