// Binds a real board (a board file with a `lab:` section) to drivers: Console = a serial port or
// ser2net through StreamConsole (re-opened when a USB adapter vanishes on a power cycle), Shell =
// commands between markers on that console, Power = the board file's relay / hub / PDU / command /
// manual driver, Network = a managed switch port where the board file names one. Each scenario
// starts from the current version's card image with its data files written in offline (debugfs),
// flashed with the power off as `lab.flash` says, and gets its own console transcript.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type BoardFile } from '../../boards/schema.js';
import { loadBoardFile } from '../../boards/load.js';
import { run } from '../../qemu/image/exec.js';
import { partition } from '../../qemu/image/layout.js';
import { parseFwEnvConfig } from '../../bootenv/fw-env-config.js';
import { UBootEnv } from '../../bootenv/uboot-env.js';
import { createConsole } from '../console/open-console.js';
import type { StreamConsole } from '../console/stream-console.js';
import { createPower } from '../power/open-power.js';
import { ConsoleShell } from '../shell/console-shell.js';
import { BoardStrategy, literal } from '../strategy/board-strategy.js';
import type { Network, NetworkShape, Power, Storage } from '../types.js';
import type { ArtifactRole, Board, BoardCaps, Capability, EnvCopies, LabVersions, ResetOptions } from './board.js';
import { writeDataFiles } from './data-files.js';
import { buildLabImages, DEFAULT_VERSIONS, type LabImages } from './lab-artifacts.js';
import { flashImage, runTemplate, waitForDevice, type FlashOptions } from './lab-flash.js';
import { RelayConsole } from './relay-console.js';

export type LabSection = NonNullable<BoardFile['lab']>;

export interface LabBoardOptions {
  versions?: LabVersions;
  clientBundle?: string;
  /** Builds the images and artifacts (default: buildLabImages, as QEMU boards do); tests pass a stand-in. */
  buildImages?: (log: (line: string) => void, o: { serverUrl?: string }) => Promise<LabImages>;
  /** Who confirms manual flashing steps (default: the terminal). */
  ask?: FlashOptions['ask'];
  /** How long to keep re-opening a serial device that is absent after power-on (USB adapter powered by the board). */
  consoleWaitMs?: number;
  /** Where the console transcript goes between scenarios (before the first reset()). */
  logDir?: string;
  /**
   * Shortest time the power stays off after a cut before it may come back (default 1000 ms): a
   * board's capacitors ride through a shorter gap, so a cut-then-on would not be a power cycle.
   */
  minOffMs?: number;
}

/** A managed switch port as Network: link down/up commands; shaping needs the fault proxy. */
function switchPortNetwork(board: string, spec: Extract<LabSection['network'], { type: 'switch-port' }>): Network {
  return {
    name: `${board}:switch-port`,
    drop: () => runTemplate(spec.down, spec.vars, `network ${board} down`, 60_000),
    restore: () => runTemplate(spec.up, spec.vars, `network ${board} up`, 60_000),
    shape: async (s: NetworkShape) => {
      throw new Error(`${board}: a switch port cannot shape traffic (${JSON.stringify(s)}); use network type proxy`);
    },
  };
}

export class LabBoard implements Board {
  readonly caps: BoardCaps;
  readonly strategy: BoardStrategy;
  readonly capabilities: ReadonlySet<Capability>;
  readonly versions: LabVersions;
  artifacts: Partial<Record<ArtifactRole, string>> = {};
  /** The image's client honours the hold hooks; its console shows the command's stderr. */
  readonly holdsForCuts = true;
  readonly serverListen?: { host: string; port: number };
  readonly deviceServerHost?: string;
  private images: LabImages | null = null;
  private con: StreamConsole | null = null;
  private conOpen: Promise<void> | null = null;
  private card: string | null = null;
  private readonly transcriptPaths = new WeakMap<StreamConsole, string>();
  private readonly relay: RelayConsole;
  private readonly switch: Power;

  private constructor(
    readonly file: BoardFile,
    readonly lab: LabSection,
    private readonly opts: LabBoardOptions,
  ) {
    this.versions = opts.versions ?? DEFAULT_VERSIONS;
    this.relay = new RelayConsole(`${file.name}:console`);
    this.switch = createPower(lab.power, file.name);
    // Power-on also (re)opens the console: a USB serial adapter powered by the board only exists
    // once the board has power.
    const minOffMs = opts.minOffMs ?? 1000;
    let cutAt = 0;
    const power: Power = {
      name: this.switch.name,
      on: async () => {
        const off = Date.now() - cutAt;
        if (off < minOffMs) await sleep(minOffMs - off);
        // Open first where the adapter is already there, so the first bytes after power-on are seen.
        this.ensureConsoleObject();
        await this.tryOpenConsole();
        await this.switch.on();
        await this.ensureConsole();
      },
      cut: async () => {
        await this.switch.cut();
        cutAt = Date.now();
        this.con?.abandonExpect('the power was cut');
      },
      cycle: async (offMs = minOffMs) => {
        await power.cut();
        await sleep(offMs);
        await power.on();
      },
    };
    const network = lab.network.type === 'switch-port' ? switchPortNetwork(file.name, lab.network) : undefined;
    // With an SD mux the card can be read with the board off, as QEMU boards read their disk file.
    const offline = lab.flash.type === 'sd-mux' && file.env !== undefined;
    const storage: Storage | undefined = offline ? { readEnv: async () => (await this.readCardEnv()).vars } : undefined;
    this.caps = {
      console: this.relay,
      shell: new ConsoleShell(this.relay, { prompt: file.console.shellPrompt, timeoutMs: 60_000 }),
      power,
      ...(network ? { network } : {}),
      ...(storage ? { storage } : {}),
    };
    if (offline) this.readEnvCopies = () => this.readCardEnv();
    // A proxy network with the address the board reaches it by: the managed scenarios run here, the
    // fault proxy listening on the bench network.
    const proxy = lab.network.type === 'proxy' && lab.network.serverUrl ? lab.network : null;
    if (proxy) {
      this.serverListen = { host: proxy.listenHost, port: proxy.listenPort };
      this.deviceServerHost = new URL(proxy.serverUrl!).hostname.replace(/^\[|\]$/g, '');
    }
    this.capabilities = new Set<Capability>([
      'power',
      'console',
      'boot-console',
      'shell',
      'exact-cuts',
      'bytes-written',
      ...(network ? (['network'] as const) : []),
      ...(storage ? (['storage'] as const) : []),
      ...(proxy ? (['server'] as const) : []),
    ]);
    this.strategy = new BoardStrategy({
      power,
      console: this.relay,
      prompts: { bootloader: literal(file.console.bootloaderPrompt), shell: literal(file.console.shellPrompt), clientReady: literal(file.console.clientReadyPrompt) },
      timeouts: file.timeouts,
    });
  }

  static open(file: BoardFile, opts: LabBoardOptions = {}): LabBoard {
    if (!file.lab) throw new Error(`board ${file.name} has no lab section: it is not real hardware (use its QEMU binding)`);
    // The boot strategy reads the bootloader's prompt and the client's state lines from power-on;
    // a shell through the server exists only once the device runs and is connected.
    if (file.lab.console.type === 'deviceconnect')
      throw new Error(`board ${file.name}: its console is deviceconnect (a shell through the server), which shows neither the bootloader nor the client's state lines that scenarios follow from power-on; use \`flipside-lab console --board ${file.name}\` for the shell, or give the board a serial / ser2net console`);
    return new LabBoard(file, file.lab, opts);
  }

  get name(): string {
    return this.file.name;
  }

  get rootfsBytes(): number {
    return this.file.disk.rootfsA.sizeMiB * 2 ** 20;
  }

  async prepare(log: (line: string) => void): Promise<void> {
    const serverUrl = this.lab.network.type === 'proxy' ? this.lab.network.serverUrl : undefined;
    this.images = this.opts.buildImages
      ? await this.opts.buildImages(log, serverUrl ? { serverUrl } : {})
      : await buildLabImages(this.name, this.versions, { clientBundle: this.opts.clientBundle, log, ...(serverUrl ? { serverUrl } : {}) });
    this.artifacts = this.images.artifacts;
  }

  async reset(opts: ResetOptions): Promise<void> {
    if (!this.images) throw new Error(`${this.name}: prepare() was not called`);
    await this.release();
    mkdirSync(opts.runDir, { recursive: true });
    // The console first, so the transcript shows the board from its first byte after flashing.
    this.newConsole(join(opts.runDir, 'console.log'));
    await this.switch.cut();
    this.strategy.poweredOff();
    this.card = join(opts.runDir, 'card.img');
    await run('cp', ['--sparse=always', '--reflink=auto', this.images.current.disk, this.card]);
    await writeDataFiles(this.card, partition(this.images.current.layout, 'data').offset, opts.dataFiles, opts.runDir);
    await flashImage(this.lab.flash, this.card, { ask: this.opts.ask });
    // The copy was only needed for flashing; a card image is hundreds of MB.
    rmSync(this.card, { force: true });
    this.card = null;
    await this.tryOpenConsole();
  }

  /** The env copies on the card, read through the SD mux with the board off (undefined without a mux). */
  readonly readEnvCopies?: () => Promise<EnvCopies>;

  private async readCardEnv(): Promise<EnvCopies> {
    const flash = this.lab.flash;
    if (flash.type !== 'sd-mux' || !this.file.env) throw new Error(`${this.name}: the env can only be read offline through an SD mux`);
    // Reading the card while the board runs would race its writes: power goes off first.
    await this.switch.cut();
    this.strategy.poweredOff();
    await runTemplate(flash.toHost, flash.vars, 'env: switching the SD mux to the host');
    try {
      await waitForDevice(flash.device, 30_000);
      const { offsets, size } = this.file.env;
      const config = offsets.map((o) => `${flash.device} 0x${o.toString(16)} 0x${size.toString(16)}`).join('\n');
      const env = new UBootEnv(parseFwEnvConfig(config, `${flash.device} (${this.name} card)`));
      const state = await env.inspect();
      const vars = state.current === null ? {} : await env.read();
      return { current: state.current, copies: state.copies.map((c) => ({ offset: c.offset, crcOk: c.crcOk, flag: c.flag })), vars };
    } finally {
      await runTemplate(flash.toBoard, flash.vars, 'env: switching the SD mux back to the board');
    }
  }

  async release(): Promise<string[]> {
    if (this.card) rmSync(this.card, { force: true });
    this.card = null;
    const con = this.con;
    if (!con) return [];
    await this.switch.cut().catch(() => undefined);
    this.strategy.poweredOff();
    this.con = null;
    this.conOpen = null;
    this.relay.attach(null);
    await con.close().catch(() => undefined);
    return [this.transcriptPath(con)];
  }

  private transcriptPath(con: StreamConsole): string {
    return this.transcriptPaths.get(con)!;
  }

  private newConsole(transcriptPath: string): void {
    const spec = labConsoleSpec(this.file, this.lab, transcriptPath);
    const con = createConsole(spec);
    this.transcriptPaths.set(con, transcriptPath);
    this.con = con;
    this.conOpen = null;
    this.relay.attach(con);
  }

  /** Opens the console once; absent devices are fine before power-on. */
  private async tryOpenConsole(): Promise<boolean> {
    if (!this.con) return false;
    if (this.conOpen) return true;
    try {
      const opening = this.con.open();
      this.conOpen = opening;
      await opening;
      return true;
    } catch {
      this.conOpen = null;
      return false;
    }
  }

  /** Outside a scenario (the doctor, `boot`) the transcript goes to logDir. */
  private ensureConsoleObject(): void {
    if (!this.con) this.newConsole(join(this.opts.logDir ?? join(process.cwd(), 'reports', 'lab'), `${this.name}-console.log`));
  }

  private async ensureConsole(): Promise<void> {
    this.ensureConsoleObject();
    const deadline = Date.now() + (this.opts.consoleWaitMs ?? 10_000);
    while (!(await this.tryOpenConsole())) {
      if (Date.now() > deadline) throw new Error(`${this.name}: cannot open ${this.con!.name} within ${this.opts.consoleWaitMs ?? 10_000} ms of power-on (is the serial adapter plugged in?)`);
      await sleep(100);
    }
  }
}

/** Board name → LabBoard, for harness/board/open-board.ts. */
export async function openLabBoard(name: string, opts: LabBoardOptions = {}): Promise<LabBoard> {
  return LabBoard.open(await loadBoardFile(name), opts);
}

/** The console spec (harness/console) of a lab board's console section. */
export function labConsoleSpec(file: BoardFile, lab: LabSection, transcriptPath?: string) {
  const c = lab.console;
  const common = { charDelayMs: c.charDelayMs ?? file.console.charDelayMs, name: `${file.name}:console`, ...(transcriptPath ? { transcriptPath } : {}) };
  switch (c.type) {
    case 'serial':
      return { type: 'serial' as const, path: c.path, baud: c.baud, ...common };
    case 'ser2net':
      return { type: 'ser2net' as const, host: c.host, port: c.port, telnet: c.telnet, ...common, reconnectIntervalMs: 500 };
    case 'deviceconnect':
      // A reboot drops the session: it is opened again once the device reconnects. Typed input
      // is not paced (it travels as messages, not through a UART).
      return { type: 'deviceconnect' as const, server: c.server, device: c.device, tokenFile: c.tokenFile, tokenEnv: c.tokenEnv, ca: c.ca, ...common, charDelayMs: c.charDelayMs ?? 0, reconnectIntervalMs: 1000 };
  }
}
