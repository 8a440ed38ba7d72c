// Where everything sits on the disk image, computed once from the board file so the builder, the
// boot script, fw_env.config and the tests all agree on the same numbers.
import type { BoardFile } from '../../boards/schema.js';

export const MiB = 1024 * 1024;
export const SECTOR = 512;

export type PartitionRole = 'boot' | 'rootfsA' | 'rootfsB' | 'data';

export interface PartitionExtent {
  role: PartitionRole;
  number: number;
  offset: number;
  size: number;
  /** Device name in the guest, e.g. /dev/vda2. */
  device: string;
  /** MBR partition type for sfdisk: c = FAT32 LBA, 83 = Linux. */
  mbrType: 'c' | '83';
}

export interface DiskLayout {
  totalSize: number;
  partitions: PartitionExtent[];
  /** The raw U-Boot env copies; null on GRUB boards (their env is a file on the boot partition). */
  env: { offsets: [number, number]; size: number; device: string } | null;
}

export function computeLayout(board: Pick<BoardFile, 'disk' | 'env'>): DiskLayout {
  const roles: PartitionRole[] = ['boot', 'rootfsA', 'rootfsB', 'data'];
  let offset = board.disk.firstPartitionMiB * MiB;
  const partitions = roles.map((role): PartitionExtent => {
    const p = board.disk[role];
    const ext = {
      role,
      number: p.number,
      offset,
      size: p.sizeMiB * MiB,
      device: p.device,
      mbrType: role === 'boot' ? ('c' as const) : ('83' as const),
    };
    offset += ext.size;
    return ext;
  });
  return {
    // Padding after the data partition where the board asks for a fixed card size.
    totalSize: Math.max(offset, (board.disk.imageSizeMiB ?? 0) * MiB),
    partitions,
    env: board.env ? { offsets: [board.env.offsets[0], board.env.offsets[1]], size: board.env.size, device: board.env.device } : null,
  };
}

export function partition(layout: DiskLayout, role: PartitionRole): PartitionExtent {
  const p = layout.partitions.find((x) => x.role === role);
  if (!p) throw new Error(`layout has no ${role} partition`);
  return p;
}

/** The sfdisk script for an MBR table with the four partitions (offsets in sectors). */
export function sfdiskScript(layout: DiskLayout): string {
  const lines = ['label: dos', 'unit: sectors', ''];
  for (const p of layout.partitions)
    lines.push(`start=${p.offset / SECTOR}, size=${p.size / SECTOR}, type=${p.mbrType}${p.role === 'boot' ? ', bootable' : ''}`);
  return lines.join('\n') + '\n';
}

/** fw_env.config lines for both env copies, on `device` (a guest device or the host image path). */
export function fwEnvConfig(layout: DiskLayout, device?: string): string {
  const env = layout.env;
  if (!env) throw new Error('fw_env.config: this disk has no raw U-Boot env (a GRUB board keeps a grubenv file on its boot partition)');
  const hex = (n: number) => `0x${n.toString(16)}`;
  return env.offsets.map((o) => `${device ?? env.device} ${hex(o)} ${hex(env.size)}`).join('\n') + '\n';
}
