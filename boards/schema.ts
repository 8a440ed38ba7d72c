// Boards are data: one YAML per board under boards/, and this is the one schema they follow, so
// the image builder, the QEMU driver, the lab and the simulation all read the same, checked
// description. Two shapes: a device board (emulated by QEMU, or real hardware in a lab) with a
// bootloader, partitions and a console; and a simulated board (host-sim), whose bootloader and
// storage say "simulated": the boot script's rules run in TypeScript on file-backed partitions.
// Loading: boards/load.ts.
import { z } from 'zod';

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
  /** The firmware QEMU starts: `-bios FILE` (virt, pc) or `-kernel FILE` (raspi3b starts U-Boot as its "kernel"). */
  bios: z.string().min(1),
  firmwareArg: z.enum(['bios', 'kernel']).default('bios'),
  /** A -device model for the disk (virtio-blk-pci), or `sd` for the machine's own SD card slot (-drive if=sd). */
  diskDevice: z.string().min(1),
  /** No NIC when absent (raspi3b: usb-net does not enumerate under Linux): no network faults. */
  nicDevice: z.string().min(1).optional(),
  /** vCPUs; some machines have a fixed count (raspi3b: 4). */
  smp: z.number().int().positive().default(1),
  /** Which -serial carries the console; the ones before it get `null` (raspi3b: 1, the mini UART). */
  consoleSerial: z.number().int().min(0).max(3).default(0),
  /**
   * How the harness reaches the guest. serial: the console socket, from power-on. deviceconnect:
   * the serial output only goes to a log file; scenarios get a shell through the scenario's bundled
   * server once the device's connect link is up (a lab board with network but no serial cable).
   */
  harnessConsole: z.enum(['serial', 'deviceconnect']).default('serial'),
});

const ubootSection = z.object({
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
  /**
   * Where the device tree comes from: the firmware's (QEMU generates one), none (x86), or the
   * rootfs (/boot/dtb, copied from linux.dtb, so an update replaces kernel and dtb together).
   */
  fdt: z.enum(['firmware', 'none', 'rootfs']),
  bootlimit: z.number().int().min(1).max(8),
  /**
   * Load addresses set by the boot script instead of U-Boot's defaults, where those are too close
   * together for Debian's kernel (rpi: a 33 MB arm64 Image at 0x80000 runs into fdt_addr_r).
   */
  loadAddrs: z
    .object({
      kernel: intLike,
      ramdisk: intLike,
      fdt: intLike,
      /** With linux.kernelCompression: where booti copies the compressed image, and its room. */
      kernelComp: intLike.optional(),
      kernelCompSize: intLike.optional(),
    })
    .strict()
    .optional(),
});

/**
 * GRUB with Mender's A/B logic (grub-mender-grubenv): mender_boot_part, upgrade_available and a
 * one-bit bootcount in a grubenv file on the FAT boot partition; an upgrade boot with bootcount
 * already set rolls back. Built from Debian's GRUB modules with grub-mkimage (no grub-install).
 */
const grubSection = z
  .object({
    type: z.literal('grub'),
    /**
     * i386-pc: SeaBIOS loads boot.img from the MBR, core.img sits in the gap before partition 1.
     * x86_64-efi: OVMF starts EFI/BOOT/BOOTX64.EFI from the FAT boot partition.
     */
    platform: z.enum(['i386-pc', 'x86_64-efi']),
    /** Debian package with the platform's modules (grub-pc-bin, grub-efi-amd64-bin); grub-mkimage comes from grub-common. */
    package: z.string().min(1).optional(),
    /** Mender's GRUB scripts keep bootcount as 0/1: one trial boot, then rollback. */
    bootlimit: z.literal(1),
  })
  .strict();

const bootloaderSection = z.discriminatedUnion('type', [ubootSection, grubSection]);

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
  /**
   * gzip: /boot/vmlinuz is the arm64 Image gzip'd; booti unpacks it (needs loadAddrs.kernelComp).
   * Worth it where the bootloader reads slowly (raspi3b's emulated SD card: ~1 MB/s).
   */
  kernelCompression: z.enum(['none', 'gzip']).default('none'),
  /** With bootloader.fdt=rootfs: the dtb inside the kernel package's /usr/lib/linux-image-<release>/. */
  dtb: z.string().min(1).optional(),
});

/**
 * What the SoC's boot ROM / GPU firmware needs on the FAT boot partition before U-Boot runs.
 * QEMU boards start U-Boot directly and have none.
 */
const firmwareSection = z.discriminatedUnion('type', [
  z
    .object({
      /** Raspberry Pi: bootcode.bin, start.elf, fixup.dat, config.txt, U-Boot as the "kernel", the dtb. */
      type: z.literal('rpi'),
      /** Package with bootcode.bin/start.elf/fixup.dat (Debian: raspi-firmware, non-free-firmware). */
      firmwarePackage: z.string().min(1),
      /** Package and build of U-Boot (u-boot-rpi: rpi_3, rpi_arm64). */
      ubootPackage: z.string().min(1),
      ubootTarget: z.string().min(1),
      /** Extra apt source lines for the firmware package, used through a private apt state under the cache. */
      aptSources: z.array(z.string().regex(/^deb /)).default([]),
      /** config.txt, one line per entry. */
      configTxt: z.array(z.string()).min(1),
    })
    .strict(),
  z
    .object({
      /** TI AM335x (BeagleBone): the ROM loads MLO from the active FAT partition, MLO loads u-boot.img. */
      type: z.literal('omap'),
      ubootPackage: z.string().min(1),
      ubootTarget: z.string().min(1),
    })
    .strict(),
]);

/** How the lab reaches a real board. Shapes follow harness/console and harness/power (checked there). */
const labSection = z
  .object({
    /** serial: a USB serial adapter (use a /dev/serial/by-path/ name: stable across replugs); ser2net: TCP. */
    console: z.discriminatedUnion('type', [
      z
        .object({
          type: z.literal('serial'),
          path: z.string().startsWith('/dev/'),
          baud: z.number().int().positive().default(115200),
          charDelayMs: z.number().nonnegative().optional(),
        })
        .strict(),
      z
        .object({
          type: z.literal('ser2net'),
          host: z.string().min(1),
          port: z.number().int().min(1).max(65535),
          telnet: z.boolean().default(false),
          charDelayMs: z.number().nonnegative().optional(),
        })
        .strict(),
      /**
       * deviceconnect: a shell through a server the user runs (harness/board/server-links.ts), for
       * a board with a network but no serial cable; only once the device runs and is connected.
       * The device: its id on the server, or identity attributes to look it up by (it must be
       * accepted). The user's token comes from tokenFile or the environment (tokenEnv, default
       * FLIPSIDE_TOKEN), never from the board file. ca: the PEM the server's certificate chains to.
       */
      z
        .object({
          type: z.literal('deviceconnect'),
          server: z.string().url().refine((u) => /^https?:/.test(u), 'must be an http:// or https:// URL'),
          device: z.string().min(1).optional(),
          identity: z.record(z.string()).optional(),
          tokenFile: z.string().min(1).optional(),
          tokenEnv: z.string().min(1).optional(),
          ca: z.string().min(1).optional(),
          /** The server's URL as the device reaches it, when not `server` (another address on the bench network). */
          deviceServerUrl: z.string().url().refine((u) => /^https?:/.test(u), 'must be an http:// or https:// URL').optional(),
          charDelayMs: z.number().nonnegative().optional(),
        })
        .strict(),
    ]),
    /** Passed to harness/power createPower: command | preset (uhubctl, usbrelay, gpioset) | http | manual. */
    power: z.object({ type: z.enum(['command', 'preset', 'http', 'manual']) }).passthrough(),
    network: z.discriminatedUnion('type', [
      /**
       * The client talks to the server through the harness fault proxy (drop/shape in software):
       * the proxy listens on listenHost:listenPort of the lab host, and the image's client is built
       * with serverUrl, the lab host's address as the board reaches it. Managed scenarios need it.
       */
      z
        .object({ type: z.literal('proxy'), listenHost: z.string().min(1), listenPort: z.number().int().min(1).max(65535), serverUrl: z.string().url().optional() })
        .strict(),
      /** A managed switch port: commands that take the board's link down and up. */
      z
        .object({
          type: z.literal('switch-port'),
          down: z.union([z.string().min(1), z.array(z.string()).min(1)]),
          up: z.union([z.string().min(1), z.array(z.string()).min(1)]),
          vars: z.record(z.union([z.string(), z.number()])).default({}),
        })
        .strict(),
      z.object({ type: z.literal('none') }).strict(),
    ]),
    /** Writing a card image: an SD mux switched to the host then dd, or dd to a card reader. */
    flash: z.discriminatedUnion('type', [
      z
        .object({
          type: z.literal('sd-mux'),
          /** Commands that hand the card to the host and back to the board ({serial} etc. from vars). */
          toHost: z.union([z.string().min(1), z.array(z.string()).min(1)]),
          toBoard: z.union([z.string().min(1), z.array(z.string()).min(1)]),
          /** The card as the host sees it once muxed over (a /dev/disk/by-id/ name). */
          device: z.string().startsWith('/dev/'),
          vars: z.record(z.union([z.string(), z.number()])).default({}),
        })
        .strict(),
      z.object({ type: z.literal('dd'), device: z.string().startsWith('/dev/') }).strict(),
      /** The lab's own flashing tool: `{image}` is the card image to write (plus any vars). */
      z
        .object({
          type: z.literal('command'),
          command: z.union([z.string().min(1), z.array(z.string()).min(1)]),
          vars: z.record(z.union([z.string(), z.number()])).default({}),
          timeoutMs: z.number().int().positive().optional(),
        })
        .strict(),
      z.object({ type: z.literal('manual') }).strict(),
    ]),
  })
  .strict();

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

export const deviceBoardSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'lower-case letters, digits, - and _'),
    description: z.string().default(''),
    /** The device_type the client reports (and artifacts depend on). */
    deviceType: z.string().min(1),
    /** How QEMU runs the board; absent on real hardware. */
    qemu: qemuSection.optional(),
    firmware: firmwareSection.optional(),
    /** How the lab reaches the real board (console, power, network, flashing); absent in QEMU. */
    lab: labSection.optional(),
    bootloader: bootloaderSection,
    linux: linuxSection,
    disk: z.object({
      /** Where partition 1 starts; the env copies live before it. */
      firstPartitionMiB: z.number().int().positive(),
      /** Whole image size (pads after the data partition); SD cards in QEMU need a power of two. */
      imageSizeMiB: z.number().int().positive().optional(),
      boot: partition,
      rootfsA: partition,
      rootfsB: partition,
      data: partition,
    }),
    /** The raw U-Boot env; GRUB boards keep theirs in a grubenv file on the boot partition instead. */
    env: envSection.optional(),
    console: consoleSection,
    timeouts: timeoutsSection,
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.bootloader.type === 'uboot' && !b.env)
      ctx.addIssue({ code: 'custom', path: ['env'], message: 'a U-Boot board needs an env section (where the env copies are on the disk)' });
    if (b.bootloader.type === 'grub' && b.env)
      ctx.addIssue({ code: 'custom', path: ['env'], message: 'a GRUB board keeps its env in a grubenv file: no env section' });
    if (b.env) {
      const [a, r] = b.env.offsets;
      const envEnd = Math.max(a, r) + b.env.size;
      if (Math.abs(a - r) < b.env.size)
        ctx.addIssue({ code: 'custom', path: ['env', 'offsets'], message: 'the two env copies overlap' });
      if (envEnd > b.disk.firstPartitionMiB * 1024 * 1024)
        ctx.addIssue({ code: 'custom', path: ['env', 'offsets'], message: 'the env must end before the first partition' });
    }
    if (b.disk.rootfsA.sizeMiB !== b.disk.rootfsB.sizeMiB)
      ctx.addIssue({ code: 'custom', path: ['disk', 'rootfsB', 'sizeMiB'], message: 'rootfs A and B must be the same size' });
    const numbers = [b.disk.boot, b.disk.rootfsA, b.disk.rootfsB, b.disk.data].map((p) => p.number);
    if (new Set(numbers).size !== 4 || numbers.join() !== '1,2,3,4')
      ctx.addIssue({ code: 'custom', path: ['disk'], message: 'partitions must be boot=1, rootfsA=2, rootfsB=3, data=4' });
    const d = b.disk;
    const used = d.firstPartitionMiB + d.boot.sizeMiB + d.rootfsA.sizeMiB + d.rootfsB.sizeMiB + d.data.sizeMiB;
    if (d.imageSizeMiB !== undefined && d.imageSizeMiB < used)
      ctx.addIssue({ code: 'custom', path: ['disk', 'imageSizeMiB'], message: `the partitions need ${used} MiB` });
    const total = d.imageSizeMiB ?? used;
    if (b.qemu?.diskDevice === 'sd' && (total & (total - 1)) !== 0)
      ctx.addIssue({ code: 'custom', path: ['disk', 'imageSizeMiB'], message: `an SD card image must be a power-of-two size (${total} MiB)` });
    if (b.bootloader.type === 'uboot' && b.bootloader.fdt === 'rootfs' && !b.linux.dtb)
      ctx.addIssue({ code: 'custom', path: ['linux', 'dtb'], message: 'bootloader.fdt=rootfs needs linux.dtb' });
    if (b.linux.kernelCompression !== 'none' && (b.bootloader.type !== 'uboot' || b.bootloader.bootCommand !== 'booti' || b.bootloader.loadAddrs?.kernelComp === undefined || b.bootloader.loadAddrs.kernelCompSize === undefined))
      ctx.addIssue({ code: 'custom', path: ['linux', 'kernelCompression'], message: 'a compressed kernel needs booti and bootloader.loadAddrs.kernelComp/kernelCompSize' });
    if (b.qemu?.harnessConsole === 'deviceconnect' && !b.qemu.nicDevice)
      ctx.addIssue({ code: 'custom', path: ['qemu', 'harnessConsole'], message: 'a deviceconnect console needs a network: set qemu.nicDevice' });
    const dc = b.lab?.console.type === 'deviceconnect' ? b.lab.console : null;
    if (dc && (dc.device === undefined) === (dc.identity === undefined || Object.keys(dc.identity).length === 0))
      ctx.addIssue({ code: 'custom', path: ['lab', 'console'], message: 'a deviceconnect console names the device by id (device) or by identity attributes (identity), exactly one' });
    if (!b.qemu && !b.lab)
      ctx.addIssue({ code: 'custom', path: ['lab'], message: 'a board needs a qemu section (emulated) or a lab section (real hardware)' });
  });

/** A device board: emulated (a qemu section) or real hardware (a lab section). */
export type BoardFile = z.infer<typeof deviceBoardSchema> & { file: string };
export type QemuSection = NonNullable<BoardFile['qemu']>;
export type UBootSection = Extract<BoardFile['bootloader'], { type: 'uboot' }>;
export type GrubSection = Extract<BoardFile['bootloader'], { type: 'grub' }>;
export type EnvSection = NonNullable<BoardFile['env']>;

/** The Debian package with a GRUB board's modules: the board's, else the platform's usual one. */
export function grubPackage(bl: GrubSection): string {
  return bl.package ?? (bl.platform === 'i386-pc' ? 'grub-pc-bin' : 'grub-efi-amd64-bin');
}

/** The board's U-Boot section, or a clear error where a U-Boot-only step meets another bootloader. */
export function ubootOf(board: Pick<BoardFile, 'name' | 'bootloader'>): UBootSection {
  if (board.bootloader.type !== 'uboot') throw new Error(`board ${board.name} boots with ${board.bootloader.type}, not U-Boot`);
  return board.bootloader;
}

/** The board's qemu section, or a clear error for real hardware. */
export function qemuOf(board: Pick<BoardFile, 'name' | 'qemu'>): QemuSection {
  if (!board.qemu) throw new Error(`board ${board.name} has no qemu section (real hardware): it cannot run in QEMU`);
  return board.qemu;
}

/**
 * A simulated board: the client runs as a host process against file-backed partitions; "boot"
 * applies the U-Boot script's bootcount/altbootcmd rules in TypeScript (harness/host-sim/) to a
 * redundant U-Boot env image in the format U-Boot and fw_setenv use; a power cut is SIGKILL.
 */
export const simulatedBoardSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'lower-case letters, digits, - and _'),
    description: z.string().default(''),
    deviceType: z.string().min(1),
    bootloader: z
      .object({
        type: z.literal('simulated'),
        /** The bootloader whose env format and boot-script rules the simulation follows. */
        emulates: z.literal('uboot'),
        bootlimit: z.number().int().nonnegative(),
        vars: z.object({ bootPart: z.string(), upgradeAvailable: z.string(), bootCount: z.string(), bootLimit: z.string() }).strict(),
        /** boot_part values of rootfs A and B. */
        values: z.object({ A: z.string(), B: z.string() }).strict(),
      })
      .strict(),
    /** Files and folders under the board's run folder instead of partitions. */
    disk: z
      .object({
        type: z.literal('simulated'),
        rootfsA: z.object({ file: z.string(), sizeMiB: z.number().positive() }).strict(),
        rootfsB: z.object({ file: z.string(), sizeMiB: z.number().positive() }).strict(),
        data: z.object({ dir: z.string() }).strict(),
      })
      .strict(),
    env: z.object({ file: z.string(), offsets: z.tuple([intLike, intLike]), size: intLike }).strict(),
    client: z
      .object({
        /** The device bundle (dist/device/flipside.cjs, built per run) or the sources through tsx. */
        runner: z.enum(['bundle', 'tsx']),
        activePartitionFrom: z.enum(['cmdline', 'mount']),
        cmdline: z.string(),
        consoleStateLog: z.string(),
      })
      .strict(),
    power: z.object({ driver: z.literal('sigkill') }).strict(),
    capabilities: z.array(z.string()),
  })
  .strict();

export type SimulatedBoardFile = z.infer<typeof simulatedBoardSchema> & { file: string };
/** Any board file: a device board or a simulated one (bootloader.type tells them apart). */
export type AnyBoardFile = BoardFile | SimulatedBoardFile;

export function isSimulated(board: AnyBoardFile): board is SimulatedBoardFile {
  return board.bootloader.type === 'simulated';
}

/** Which schema a parsed YAML follows: a simulated bootloader makes a simulated board. */
export function schemaOf(data: unknown): typeof deviceBoardSchema | typeof simulatedBoardSchema {
  const bl = typeof data === 'object' && data !== null ? (data as { bootloader?: unknown }).bootloader : undefined;
  const type = typeof bl === 'object' && bl !== null ? (bl as { type?: unknown }).type : undefined;
  return type === 'simulated' ? simulatedBoardSchema : deviceBoardSchema;
}
