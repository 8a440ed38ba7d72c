// GRUB without grub-install, root or loop devices: Debian's modules (grub-pc-bin or
// grub-efi-amd64-bin, extracted under the cache) go into one image made with grub-mkimage
// (grub-common). BIOS (i386-pc): the builder puts boot.img into the MBR and core.img into the gap
// before partition 1 itself, patching the same fields grub-setup would for an embedded core.
// UEFI (x86_64-efi): the image is EFI/BOOT/BOOTX64.EFI on the FAT boot partition, the path
// firmware boots when it has no boot entries (OVMF in QEMU).
import { closeSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { grubPackage, type BoardFile, type GrubSection } from '../../boards/schema.js';
import { GRUB_CFG_NAME, GRUB_PREFIX, GRUBENV_NAME, initialGrubEnv, renderGrubCfg } from '../boot/grub-cfg.js';
import { extractDeb } from './debs.js';
import { run } from './exec.js';
import { SECTOR, type DiskLayout } from './layout.js';
import type { BootFile } from './boot-firmware.js';

/**
 * Built into core.img, so nothing is read from a module folder at boot (the FAT partition holds
 * only grub.cfg and grubenv). grub-mkimage adds their dependencies.
 */
export const GRUB_MODULES = ['part_msdos', 'fat', 'ext2', 'normal', 'linux', 'echo', 'test', 'loadenv', 'serial', 'terminal', 'reboot'];
/** BIOS GRUB reads disks through the BIOS; EFI GRUB's disk driver is in its kernel. */
const PLATFORM_MODULES: Record<GrubSection['platform'], string[]> = { 'i386-pc': ['biosdisk'], 'x86_64-efi': [] };
/** Where UEFI firmware looks for a bootloader on a disk it has no boot entry for. */
export const EFI_BOOT_PATH = 'EFI/BOOT/BOOTX64.EFI';

/**
 * Runs before normal mode reads $prefix/grub.cfg: the console is the first serial port (QEMU's
 * -nodefaults gives no VGA), which is also what the harness reads.
 */
export function earlyConfig(baud: number): string {
  return [
    `serial --unit=0 --speed=${baud}`,
    'terminal_input serial',
    'terminal_output serial',
    // EFI GRUB replaces a device-only -p prefix with the folder it was loaded from (EFI/BOOT).
    `set prefix=${GRUB_PREFIX}`,
    '',
  ].join('\n');
}

// Offsets in boot.img and in diskboot.img (core.img's first sector), from GRUB's
// include/grub/i386/pc/boot.h: where boot.img finds core.img, and the jump that skips the
// "is DL a hard disk" check (grub-setup replaces it with NOPs for a hard disk).
const KERNEL_SECTOR = 0x5c;
const DRIVE_CHECK = 0x66;
/** The MBR's boot code ends where the disk signature and the partition table start. */
const MBR_CODE_END = 0x1b8;
/** diskboot.img's blocklist: {start u64, len u16, segment u16} in the last 12 bytes of the sector. */
const BLOCKLIST = SECTOR - 12;
const CORE_SEGMENT = 0x820;

export interface GrubBootFiles {
  /** BIOS only: boot.img for the MBR and core.img for the gap after it. */
  mbr: { bootImg: string; coreImg: string } | null;
  cfg: string;
  /** grub.cfg and grubenv (and BOOTX64.EFI on UEFI), for the FAT boot partition. */
  fat: BootFile[];
}

/** Extracts the GRUB package, makes core.img, grub.cfg and the initial grubenv in `workDir`. */
export async function prepareGrub(board: BoardFile, layout: DiskLayout, debs: string[], workDir: string): Promise<GrubBootFiles> {
  const bl = board.bootloader;
  if (bl.type !== 'grub') throw new Error(`board ${board.name} boots with ${bl.type}, not GRUB`);
  rmSync(workDir, { recursive: true, force: true });
  const tree = join(workDir, 'tree');
  const pkg = grubPackage(bl);
  const deb = debs.find((d) => d.replace(/^.*\//, '').startsWith(`${pkg}_`));
  if (!deb) throw new Error(`${board.name}: ${pkg} was not downloaded`);
  await extractDeb(deb, tree);
  const modDir = join(tree, 'usr/lib/grub', bl.platform);
  const early = join(workDir, 'early.cfg');
  writeFileSync(early, earlyConfig(board.console.baud));
  const efi = bl.platform === 'x86_64-efi';
  const coreImg = join(workDir, efi ? 'BOOTX64.EFI' : 'core.img');
  await run('grub-mkimage', ['-O', bl.platform, '-d', modDir, '-o', coreImg, '-p', GRUB_PREFIX, '-c', early, ...PLATFORM_MODULES[bl.platform], ...GRUB_MODULES]);
  const cfg = join(workDir, GRUB_CFG_NAME);
  writeFileSync(cfg, renderGrubCfg(board, layout));
  const env = join(workDir, GRUBENV_NAME);
  await makeGrubEnv(env, initialGrubEnv(layout));
  const fat: BootFile[] = [
    [GRUB_CFG_NAME, cfg],
    [GRUBENV_NAME, env],
  ];
  if (efi) fat.unshift([EFI_BOOT_PATH, coreImg]);
  return { mbr: efi ? null : { bootImg: join(modDir, 'boot.img'), coreImg }, cfg, fat };
}

/** A 1024-byte grubenv as Debian's grub-editenv writes it (independent of the client's writer). */
export async function makeGrubEnv(out: string, vars: Record<string, string>): Promise<void> {
  rmSync(out, { force: true });
  await run('grub-editenv', [out, 'create']);
  await run('grub-editenv', [out, 'set', ...Object.entries(vars).map(([k, v]) => `${k}=${v}`)]);
}

/** boot.img as grub-setup patches it for a core.img embedded right after the MBR. */
export function patchBootImg(bootImg: Buffer): Buffer {
  if (bootImg.length !== SECTOR || bootImg.readUInt16LE(0x1fe) !== 0xaa55) throw new Error('boot.img: not a 512-byte boot sector');
  const out = Buffer.from(bootImg);
  out.writeBigUInt64LE(1n, KERNEL_SECTOR);
  // A short jmp (0xeb) skips the drive check; as grub-setup does for a hard disk, NOP it so a
  // BIOS that passes a bad DL still boots from 0x80.
  if (out[DRIVE_CHECK] === 0xeb) out.fill(0x90, DRIVE_CHECK, DRIVE_CHECK + 2);
  return out;
}

/** core.img with its first blocklist naming the rest of itself (sectors 2.. on the disk). */
export function patchCoreImg(coreImg: Buffer): Buffer {
  const out = Buffer.from(coreImg);
  const sectors = Math.ceil(out.length / SECTOR);
  if (out.readUInt16LE(BLOCKLIST + 10) !== CORE_SEGMENT) throw new Error('core.img: no diskboot blocklist where GRUB puts it');
  out.writeBigUInt64LE(2n, BLOCKLIST);
  out.writeUInt16LE(sectors - 1, BLOCKLIST + 8);
  return out;
}

/**
 * Writes boot.img's code into the MBR (keeping sfdisk's signature and partition table) and
 * core.img from sector 1, checking it ends before partition 1.
 */
export function installGrubMbr(disk: string, bootImgPath: string, coreImgPath: string, firstPartitionOffset: number): void {
  const core = patchCoreImg(readFileSync(coreImgPath));
  const room = firstPartitionOffset - SECTOR;
  if (core.length > room) throw new Error(`core.img (${core.length} bytes) does not fit in the ${room} bytes before partition 1`);
  const boot = patchBootImg(readFileSync(bootImgPath));
  const fd = openSync(disk, 'r+');
  try {
    const mbr = Buffer.alloc(SECTOR);
    readSync(fd, mbr, 0, SECTOR, 0);
    if (mbr.readUInt16LE(0x1fe) !== 0xaa55) throw new Error(`${disk}: no partition table to keep`);
    boot.copy(mbr, 0, 0, MBR_CODE_END);
    writeSync(fd, mbr, 0, SECTOR, 0);
    writeSync(fd, core, 0, core.length, SECTOR);
  } finally {
    closeSync(fd);
  }
  if (statSync(disk).size < firstPartitionOffset) throw new Error(`${disk}: shorter than the MBR gap`);
}
