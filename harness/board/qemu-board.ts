// Binds a qemu-* board file to drivers: Power = the QEMU process (on = start or restart it on the
// scenario's disk, cut = SIGKILL), Console = its serial socket, Shell = commands between markers on
// that console, Network = QMP set_link, Storage = the env read offline from the disk file with the
// client's own U-Boot env reader, bytes written = QMP query-blockstats. Each scenario gets its own
// raw copy of the current version's disk with its files written into the data ext4 offline
// (debugfs), so nothing crosses the console before the scenario starts.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { UBootEnv } from '../../bootenv/uboot-env.js';
import { GrubEnv } from '../../bootenv/grub-env.js';
import { GRUBENV_NAME } from '../../qemu/boot/grub-cfg.js';
import { tmpdir } from 'node:os';
import { parseFwEnvConfig } from '../../bootenv/fw-env-config.js';
import { type BoardFile } from '../../boards/schema.js';
import { loadBoardFile } from '../../boards/load.js';
import { run } from '../../qemu/image/exec.js';
import { GUEST_NET } from '../../qemu/image/guest-files.js';
import { fwEnvConfig, partition } from '../../qemu/image/layout.js';
import { QemuVm } from '../drivers/qemu/vm.js';
import { pollingByteCounter, type ByteCounter } from '../faults/sources.js';
import { ConsoleShell } from '../shell/console-shell.js';
import type { Strategy } from '../strategy/board-strategy.js';
import { strategyFor } from '../strategy/strategy-for.js';
import { CONNECT_DATA_DIR, connectDaemonConfig } from '../../qemu/image/guest-files.js';
import type { StreamConsole } from '../console/stream-console.js';
import { BundledConnectServer } from './connect-server.js';
import { LinkShell, setShellPrompt } from './link-shell.js';
import type { Network, NetworkShape, Power, Storage } from '../types.js';
import type { ArtifactRole, Board, BoardCaps, Capability, EnvCopies, LabVersions, ResetOptions } from './board.js';
import { writeDataFiles } from './data-files.js';
import { buildLabImages, DEFAULT_VERSIONS, type LabImages } from './lab-artifacts.js';
import { RelayConsole } from './relay-console.js';
import type { ClientKind } from '../scenario/client.js';

/**
 * What a QEMU board adds to power, console, shell and storage: exact cuts at client states and
 * payload bytes (the image's client holds for them; where the disk model does block accounting,
 * byte cuts use QMP's counter instead: virtio does, the raspi3b SD card reports no written
 * bytes), the link and the server where there is a NIC.
 */
export function qemuCapabilities(file: BoardFile, client: ClientKind = 'flipside'): Capability[] {
  // Without the serial console the board's shell needs the board's own server, which managed
  // scenarios would replace with theirs: they do not run there (a lab board would get them from
  // its bench server, not yet wired).
  if (file.qemu?.harnessConsole === 'deviceconnect') return ['exact-cuts', 'bytes-written', 'network'];
  return ['boot-console', 'exact-cuts', 'bytes-written', ...(file.qemu?.nicDevice ? (['network', 'server'] as const) : [])];
}

/** The disk model counts written bytes for query-blockstats. */
function countsBlocks(file: BoardFile): boolean {
  return file.qemu?.diskDevice !== 'sd';
}

export class QemuBoard implements Board {
  readonly caps: BoardCaps;
  readonly strategy: Strategy;
  readonly capabilities: ReadonlySet<Capability>;
  artifacts: Partial<Record<ArtifactRole, string>> = {};
  readonly bytesWritten?: ByteCounter;
  /**
   * The image's client honours the hold hooks (Flipside at its states; a Mender image around its
   * env writes, the fw_setenv wrapper); its console shows the command's stderr.
   */
  readonly holdsForCuts = true;
  /** The image's client reaches the server behind QEMU's guestfwd address. */
  readonly deviceServerHost = GUEST_NET.server;
  private images: LabImages | null = null;
  private vm: QemuVm | null = null;
  private runDir: string | null = null;
  private baseDisk: string | null = null;
  private serverPort: number | undefined;
  /** Each scenario has its own VM: listeners subscribed once hear all of them. */
  private readonly con: RelayConsole;
  /** Campaigns: the next VM records the guest's writes and flushes to this log (blklogwrites). */
  writeLog: string | null = null;
  /** Campaigns: the disk is a crash image the VM runs on through a qcow2 overlay; never deleted here. */
  private overlay = false;
  /**
   * qemu.harnessConsole deviceconnect: the serial output only goes to the VM's log; the console
   * scenarios get is a shell session through this scenario's bundled server.
   */
  private readonly viaServer: boolean;
  private connectServer: BundledConnectServer | null = null;
  private shell: StreamConsole | null = null;

  private constructor(
    readonly file: BoardFile,
    readonly versions: LabVersions,
    private readonly clientBundle?: string,
    readonly client: ClientKind = 'flipside',
  ) {
    this.con = new RelayConsole(`${file.name}:console`);
    const power: Power = {
      name: `${file.name}:qemu-power`,
      on: () => this.powerOn(),
      cut: async () => {
        await this.vm?.powerCut();
      },
      cycle: async (offMs = 500) => {
        await this.vm?.powerCut();
        await delay(offMs);
        await this.powerOn();
      },
    };
    const hasNic = !!file.qemu?.nicDevice;
    const network: Network | undefined = hasNic
      ? {
          name: `${file.name}:qmp-link`,
          drop: () => this.need().setLink(false),
          restore: () => this.need().setLink(true),
          shape: async (s: NetworkShape) => {
            throw new Error(`${file.name}: QMP set_link cannot shape traffic (${JSON.stringify(s)}); use the fault proxy`);
          },
        }
      : undefined;
    const storage: Storage = { readEnv: async () => (await this.readEnvCopies()).vars };
    // Through the server a second Node process (the connect daemon) shares the guest's one CPU.
    const shellTimeoutMs = file.qemu?.harnessConsole === 'deviceconnect' ? 120_000 : 60_000;
    const shell = new ConsoleShell(this.con, { prompt: file.console.shellPrompt, timeoutMs: shellTimeoutMs });
    this.caps = { console: this.con, shell: file.qemu?.harnessConsole === 'deviceconnect' ? new LinkShell(file.name, shell) : shell, power, storage, ...(network ? { network } : {}) };
    this.capabilities = new Set<Capability>(['power', 'console', 'shell', 'storage', ...qemuCapabilities(file, client)]);
    this.viaServer = file.qemu?.harnessConsole === 'deviceconnect';
    this.strategy = strategyFor(file, {
      power,
      console: this.con,
      ...(this.viaServer
        ? { viaServer: { links: { next: (after, ms) => this.needServer().next(after, ms) }, openShell: () => this.openShell(), closeShell: () => this.closeShell(), lastLines: () => this.serialTail() } }
        : {}),
    });
    // Counts from QEMU start; callers take differences. A read while the VM is off throws, which
    // the poller skips.
    if (countsBlocks(file)) this.bytesWritten = pollingByteCounter(async () => (await this.need().blockStats()).wrBytes, 200);
  }

  static async open(name: string, opts: { versions?: LabVersions; clientBundle?: string; client?: ClientKind } = {}): Promise<QemuBoard> {
    const file = await loadBoardFile(name);
    if (!file.qemu) throw new Error(`board ${name} has no qemu section`);
    if (opts.client === 'mender' && opts.clientBundle) throw new Error(`${name}: --client mender runs Debian's client, not a bundle (--inject-bug builds one)`);
    return new QemuBoard(file, opts.versions ?? DEFAULT_VERSIONS, opts.clientBundle, opts.client);
  }

  get rootfsBytes(): number {
    return this.file.disk.rootfsA.sizeMiB * 2 ** 20;
  }

  get name(): string {
    return this.file.name;
  }

  private need(): QemuVm {
    if (!this.vm) throw new Error(`${this.name}: the board has not been powered on`);
    return this.vm;
  }

  async prepare(log: (line: string) => void): Promise<void> {
    this.images = await buildLabImages(this.name, this.versions, { clientBundle: this.clientBundle, log, client: this.client });
    this.artifacts = this.images.artifacts;
  }

  async reset(opts: ResetOptions): Promise<void> {
    if (!this.images) throw new Error(`${this.name}: prepare() was not called`);
    await this.release();
    mkdirSync(opts.runDir, { recursive: true });
    this.runDir = opts.runDir;
    this.serverPort = opts.serverPort;
    this.overlay = false;
    this.baseDisk = join(opts.runDir, 'start.img');
    await run('cp', ['--sparse=always', '--reflink=auto', this.images.current.disk, this.baseDisk]);
    if (this.viaServer) {
      // The device reaches the bundled server where a managed scenario's would be (none run here).
      this.connectServer = await BundledConnectServer.start();
      this.serverPort = this.connectServer.port;
      opts = { ...opts, dataFiles: { ...opts.dataFiles, [`${CONNECT_DATA_DIR}/flipside.conf`]: { content: Buffer.from(`${JSON.stringify(connectDaemonConfig(this.images.current.layout), null, 2)}\n`) } } };
    }
    await this.writeDataFiles(this.baseDisk, opts);
    this.strategy.poweredOff();
  }

  /**
   * Campaigns: the next power-on runs `image` (a crash image, kept as it is: the VM writes to a
   * qcow2 overlay in `runDir`, which release() deletes).
   */
  async resetToImage(image: string, runDir: string): Promise<void> {
    if (!this.images) throw new Error(`${this.name}: prepare() was not called`);
    await this.release();
    mkdirSync(runDir, { recursive: true });
    this.runDir = runDir;
    this.serverPort = undefined;
    this.baseDisk = image;
    this.overlay = true;
    this.strategy.poweredOff();
  }

  /** The layout and firmware of the current version's image (after prepare()). */
  get image(): LabImages['current'] {
    if (!this.images) throw new Error(`${this.name}: prepare() was not called`);
    return this.images.current;
  }

  /** Puts files into the data ext4 inside the disk image (shared with lab boards: data-files.ts). */
  private async writeDataFiles(disk: string, opts: ResetOptions): Promise<void> {
    await writeDataFiles(disk, partition(this.images!.current.layout, 'data').offset, opts.dataFiles, opts.runDir);
  }

  private async powerOn(): Promise<void> {
    if (this.vm) {
      await this.vm.powerOn();
      return;
    }
    if (!this.runDir || !this.baseDisk || !this.images) throw new Error(`${this.name}: reset() was not called`);
    this.vm = await QemuVm.start({ board: this.file, disk: this.baseDisk, runDir: join(this.runDir, 'vm'), snapshot: this.overlay, bios: this.images.current.qemuBios, ...(this.writeLog ? { writeLog: this.writeLog } : {}), ...(this.serverPort ? { serverPort: this.serverPort } : {}) });
    // Without a serial console for the harness the VM's output only goes to its transcript file.
    if (!this.viaServer) this.con.attach(this.vm.console);
  }

  /** The last lines of the serial log (the harness never reads the serial console on such a board). */
  private serialTail(): string[] {
    const file = this.vm?.transcriptFile;
    if (!file || !existsSync(file)) return [];
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-12);
  }

  private needServer(): BundledConnectServer {
    if (!this.connectServer) throw new Error(`${this.name}: reset() was not called (no bundled server)`);
    return this.connectServer;
  }

  /** A shell session on the device's new connection becomes the console; the prompt is set as the board file says. */
  private async openShell(): Promise<void> {
    await this.closeShell();
    const con = await this.needServer().openConsole(`${this.name}:deviceconnect`, join(this.runDir!, 'shell.log'));
    this.shell = con;
    this.con.attach(con);
    await setShellPrompt(con, this.file.console.shellPrompt);
  }

  private async closeShell(): Promise<void> {
    const con = this.shell;
    this.shell = null;
    if (!con) return;
    if (this.con.current === con) this.con.attach(null);
    await con.close().catch(() => undefined);
  }

  async readEnvCopies(): Promise<EnvCopies> {
    const disk = this.vm?.diskPath ?? this.baseDisk;
    if (!disk || !this.images) throw new Error(`${this.name}: no disk yet`);
    if (this.vm?.running) throw new Error(`${this.name}: the env is read offline; power the board off first`);
    if (this.file.bootloader.type === 'grub') return this.readGrubenv(disk);
    const env = new UBootEnv(parseFwEnvConfig(fwEnvConfig(this.images.current.layout, disk), `${disk}.fw_env.config`));
    const state = await env.inspect();
    const vars = state.current === null ? {} : await env.read();
    return { current: state.current, copies: state.copies.map((c) => ({ offset: c.offset, crcOk: c.crcOk, flag: c.flag })), vars };
  }

  /** GRUB keeps one env block, a file on the FAT boot partition: copied out with mtools, read with the client's own reader. */
  private async readGrubenv(disk: string): Promise<EnvCopies> {
    const boot = partition(this.images!.current.layout, 'boot');
    const tmp = join(this.runDir ?? tmpdir(), `grubenv-${Date.now()}`);
    try {
      await run('mcopy', ['-o', '-n', '-i', `${disk}@@${boot.offset}`, `::${GRUBENV_NAME}`, tmp]);
      const vars = await new GrubEnv(tmp).read();
      return { current: 0, copies: [{ offset: 0, crcOk: true, flag: null }], vars };
    } catch {
      // Missing or without the GRUB header: the one copy is not valid, which the invariants report.
      return { current: null, copies: [{ offset: 0, crcOk: false, flag: null }], vars: {} };
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  async release(): Promise<string[]> {
    const vm = this.vm;
    this.vm = null;
    this.con.attach(null);
    const shellLog = this.runDir && this.connectServer ? [join(this.runDir, 'shell.log')] : [];
    await this.closeShell();
    await this.connectServer?.close().catch(() => undefined);
    this.connectServer = null;
    // The disk copies are hundreds of MB each; the transcript is what a report keeps.
    const drop = () => [this.overlay ? null : this.baseDisk, vm?.diskPath].forEach((f) => f && rmSync(f, { force: true }));
    if (!vm) {
      drop();
      return [];
    }
    await vm.quit();
    drop();
    return [vm.transcriptFile, ...shellLog.filter((f) => existsSync(f))];
  }
}
