// Boards are data: one YAML per board under boards/. This module loads and validates them so the
// image builder, the QEMU driver and the harness all read the same, checked description.
import { readFile } from 'node:fs/promises';
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

export const BOARDS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'boards');

// YAML users write offsets in hex; accept both `0x400000` strings and plain numbers.
const intLike = z.union([
  z.number().int().nonnegative(),
  z
    .string()
    .regex(/^(0x[0-9a-fA-F]+|[0-9]+)$/, 'expected an integer or a 0x-prefixed hex string')
    .transform((s) => Number(s)),
]);

const partition = z.object({
  number: z.number().int().min(1).max(4),
  sizeMiB: z.number().int().positive(),
  /** The block device as the guest kernel names it, e.g. /dev/vda2. */
  device: z.string().startsWith('/dev/'),
});

const qemuSection = z.object({
  binary: z.string().min(1),
  /** Machine and CPU arguments, passed as they are. */
  machineArgs: z.array(z.string()).min(1),
  memoryMiB: z.number().int().positive(),
  bios: z.string().min(1),
  diskDevice: z.string().min(1),
  nicDevice: z.string().min(1),
});

const bootloaderSection = z.object({
  type: z.literal('uboot'),
  /** `mkimage -A` value for boot.scr. */
  mkimageArch: z.string().min(1),
  /** booti (arm64 Image), bootz (arm zImage), zboot (x86 bzImage). */
  bootCommand: z.enum(['booti', 'bootz', 'zboot']),
  /** U-Boot block interface and device number holding the disk. */
  storageInterface: z.enum(['virtio', 'mmc', 'scsi']),
  storageDevice: z.number().int().nonnegative(),
  /** Debian's qemu-x86 U-Boot has no setexpr: the boot script then avoids arithmetic. */
  hasSetexpr: z.boolean(),
  /** 64 KiB of RAM the boot script may use for the env copies. */
  scratchAddr: intLike,
  /** Where the device tree comes from: the firmware's (QEMU generates one) or none (x86). */
  fdt: z.enum(['firmware', 'none']),
  bootlimit: z.number().int().min(1).max(8),
});

const linuxSection = z.object({
  /** Debian metapackage naming the kernel, resolved to the versioned package at build time. */
  kernelPackage: z.string().min(1),
  console: z.string().min(1),
  /** Modules the initramfs loads before switching root (dependencies are added). */
  initrdModules: z.array(z.string().min(1)).min(1),
  /** Debian arch for `apt-get download PKG:ARCH`. */
  debArch: z.string().min(1),
  /** Pinned package versions where another apt source could shadow Debian's (e.g. nodejs). */
  pins: z.record(z.string()).default({}),
});

const envSection = z.object({
  /** Byte offsets of the two copies of the redundant env on the whole disk. */
  offsets: z.tuple([intLike, intLike]),
  size: intLike,
  /** Whole-disk device in the guest, for /etc/fw_env.config. */
  device: z.string().startsWith('/dev/'),
});

const consoleSection = z.object({
  baud: z.number().int().positive(),
  /** Seen when U-Boot starts (the bootloader stage). */
  bootloaderPrompt: z.string().min(1),
  /** Printed by /sbin/init once the shell is up. */
  shellPrompt: z.string().min(1),
  /** Printed by the client once it runs. */
  clientReadyPrompt: z.string().min(1),
  charDelayMs: z.number().nonnegative(),
});

const timeoutsSection = z.object({
  bootloaderMs: z.number().int().positive(),
  shellMs: z.number().int().positive(),
  clientReadyMs: z.number().int().positive(),
});

export const boardFileSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'lower-case letters, digits, - and _'),
    description: z.string().default(''),
    /** The device_type the client reports (and artifacts depend on). */
    deviceType: z.string().min(1),
    qemu: qemuSection,
    bootloader: bootloaderSection,
    linux: linuxSection,
    disk: z.object({
      /** Where partition 1 starts; the env copies live before it. */
      firstPartitionMiB: z.number().int().positive(),
      boot: partition,
      rootfsA: partition,
      rootfsB: partition,
      data: partition,
    }),
    env: envSection,
    console: consoleSection,
    timeouts: timeoutsSection,
  })
  .strict()
  .superRefine((b, ctx) => {
    const [a, r] = b.env.offsets;
    const envEnd = Math.max(a, r) + b.env.size;
    if (Math.abs(a - r) < b.env.size)
      ctx.addIssue({ code: 'custom', path: ['env', 'offsets'], message: 'the two env copies overlap' });
    if (envEnd > b.disk.firstPartitionMiB * 1024 * 1024)
      ctx.addIssue({ code: 'custom', path: ['env', 'offsets'], message: 'the env must end before the first partition' });
    if (b.disk.rootfsA.sizeMiB !== b.disk.rootfsB.sizeMiB)
      ctx.addIssue({ code: 'custom', path: ['disk', 'rootfsB', 'sizeMiB'], message: 'rootfs A and B must be the same size' });
    const numbers = [b.disk.boot, b.disk.rootfsA, b.disk.rootfsB, b.disk.data].map((p) => p.number);
    if (new Set(numbers).size !== 4 || numbers.join() !== '1,2,3,4')
      ctx.addIssue({ code: 'custom', path: ['disk'], message: 'partitions must be boot=1, rootfsA=2, rootfsB=3, data=4' });
  });

export type BoardFile = z.infer<typeof boardFileSchema> & { file: string };

export class BoardFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'BoardFileError';
  }
}

/** Validates parsed YAML; errors name the file and each failing field path. */
export function parseBoardFile(data: unknown, file: string): BoardFile {
  const r = boardFileSchema.safeParse(data);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
    throw new BoardFileError(file, lines.join('; '));
  }
  return { ...r.data, file };
}

/** Loads a board by name (boards/NAME.yaml) or by path to a YAML file. */
export async function loadBoardFile(nameOrPath: string, boardsDir = BOARDS_DIR): Promise<BoardFile> {
  const file = /[/.]/.test(nameOrPath) ? resolve(nameOrPath) : join(boardsDir, `${nameOrPath}.yaml`);
  if (!existsSync(file)) {
    const known = listBoards(boardsDir).join(', ');
    throw new BoardFileError(file, `no such board file (known boards: ${known})`);
  }
  let data: unknown;
  try {
    data = parseYaml(await readFile(file, 'utf8'));
  } catch (e) {
    throw new BoardFileError(file, `not valid YAML: ${(e as Error).message}`);
  }
  const board = parseBoardFile(data, file);
  if (board.name !== basename(file, '.yaml'))
    throw new BoardFileError(file, `name: "${board.name}" does not match the file name`);
  return board;
}

/** Names of the QEMU boards this module describes (host-sim and real boards have other shapes). */
export function listBoards(boardsDir = BOARDS_DIR): string[] {
  if (!existsSync(boardsDir)) return [];
  return readdirSync(boardsDir)
    .filter((f) => f.startsWith('qemu-') && f.endsWith('.yaml'))
    .map((f) => basename(f, '.yaml'))
    .sort();
}
