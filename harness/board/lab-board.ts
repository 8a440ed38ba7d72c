// Binds a real board (a board file with a `lab:` section) to drivers: Console = a serial port or
// ser2net through StreamConsole (re-opened when a USB adapter vanishes on a power cycle), or a
// shell through a server the user runs (deviceconnect: the board is at its shell once the device
// connects; server-links.ts), Shell = commands between markers on that console, Power = the board file's relay / hub / PDU / command /
// manual driver, Network = a managed switch port where the board file names one. Each scenario
// starts from the current version's card image with its data files written in offline (debugfs),
// flashed with the power off as `lab.flash` says, and gets its own console transcript.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
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
import type { Strategy } from '../strategy/board-strategy.js';
import { strategyFor } from '../strategy/strategy-for.js';
import { CONNECT_DATA_DIR, connectDaemonConfig } from '../../qemu/image/guest-files.js';
import type { Network, NetworkShape, Power, Storage } from '../types.js';
import type { ArtifactRole, Board, BoardCaps, Capability, EnvCopies, LabVersions, ResetOptions } from './board.js';
import { writeDataFiles } from './data-files.js';
import { buildLabImages, DEFAULT_VERSIONS, type LabImages } from './lab-artifacts.js';
import { flashImage, runTemplate, waitForDevice, type FlashOptions } from './lab-flash.js';
import { RelayConsole } from './relay-console.js';
import { LinkShell, setShellPrompt } from './link-shell.js';
import { connectKeyPem } from './lab-keys.js';
import { ServerConnectLinks } from './server-links.js';

export type LabSection = NonNullable<BoardFile['lab']>;
type DeviceConnectConsole = Extract<LabSection['console'], { type: 'deviceconnect' }>;

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
  /** deviceconnect console: how often the device's connection state is asked for (default 500 ms). */
  linkPollMs?: number;
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
  readonly strategy: Strategy;
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
  /** deviceconnect console: the user's server, and the shell session on the device's current link. */
  private readonly viaServer: DeviceConnectConsole | null;
  private serverLinks: ServerConnectLinks | null = null;
  private shell: StreamConsole | null = null;
  /** What the last shell session showed, for a boot that then never connects again. */
  private lastShellLines: string[] = [];
  private runDir: string | null = null;

  private constructor(
    readonly file: BoardFile,
    readonly lab: LabSection,
    private readonly opts: LabBoardOptions,
  ) {
    this.versions = opts.versions ?? DEFAULT_VERSIONS;
    this.relay = new RelayConsole(`${file.name}:console`);
    this.switch = createPower(lab.power, file.name);
    this.viaServer = lab.console.type === 'deviceconnect' ? lab.console : null;
    // Power-on also (re)opens the console: a USB serial adapter powered by the board only exists
    // once the board has power.
    const minOffMs = opts.minOffMs ?? 1000;
    let cutAt = 0;
    const power: Power = {
      name: this.switch.name,
      on: async () => {
        const off = Date.now() - cutAt;
        if (off < minOffMs) await sleep(minOffMs - off);
        if (this.viaServer) return this.switch.on();
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
        this.shell?.abandonExpect('the power was cut');
        // The server may show the old connection for a while (no TCP close from a board without power).
        await this.serverLinks?.forgetCurrent();
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
    const shell = new ConsoleShell(this.relay, { prompt: file.console.shellPrompt, timeoutMs: 60_000 });
    this.caps = {
      console: this.relay,
      shell: this.viaServer ? new LinkShell(file.name, shell) : shell,
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
      // Through the server the console is a shell once the device connects, never its boot.
      ...(this.viaServer ? [] : (['boot-console'] as const)),
      'shell',
      'exact-cuts',
      'bytes-written',
      ...(network ? (['network'] as const) : []),
      ...(storage ? (['storage'] as const) : []),
      ...(proxy ? (['server'] as const) : []),
    ]);
    this.strategy = strategyFor(file, {
      power,
      console: this.relay,
      ...(this.viaServer
        ? {
            viaServer: {
              links: { next: (after, ms) => this.links().next(after, ms) },
              openShell: () => this.openShell(),
              closeShell: () => this.closeShell(),
              // No serial output to show: what the last shell session printed.
              lastLines: () => (this.shell ? this.shell.transcript().map((l) => l.text) : this.lastShellLines),
            },
          }
        : {}),
    });
  }

  static open(file: BoardFile, opts: LabBoardOptions = {}): LabBoard {
    if (!file.lab) throw new Error(`board ${file.name} has no lab section: it is not real hardware (use its QEMU binding)`);
    return new LabBoard(file, file.lab, opts);
  }

  /** The user's server, made on first use: listing boards needs no token. */
  private links(): ServerConnectLinks {
    if (!this.viaServer) throw new Error(`${this.name}: its console is not deviceconnect`);
    this.serverLinks ??= ServerConnectLinks.fromBoardFile(this.name, this.viaServer, this.opts.linkPollMs ? { pollMs: this.opts.linkPollMs } : {});
    return this.serverLinks;
  }

  /** A shell session on the device's new link becomes the console; the prompt is set as the board file says. */
  private async openShell(): Promise<void> {
    await this.closeShell();
    const transcript = join(this.runDir ?? this.opts.logDir ?? join(process.cwd(), 'reports', 'lab'), this.runDir ? 'shell.log' : `${this.name}-shell.log`);
    mkdirSync(join(transcript, '..'), { recursive: true });
    const con = await this.links().openConsole(`${this.name}:deviceconnect`, transcript);
    this.transcriptPaths.set(con, transcript);
    this.shell = con;
    this.relay.attach(con);
    await setShellPrompt(con, this.file.console.shellPrompt);
  }

  private async closeShell(): Promise<void> {
    const con = this.shell;
    this.shell = null;
    if (!con) return;
    this.lastShellLines = con.transcript().slice(-12).map((l) => l.text);
    if (this.relay.current === con) this.relay.attach(null);
    await con.close().catch(() => undefined);
  }

  /**
   * The connect daemon's files on the data partition: its config with the user's server (as the
   * device reaches it) and CA, and the device key kept for this board on the lab host, so every
   * flashed card is the same device to the server, accepted once.
   */
  private connectFiles(c: DeviceConnectConsole): ResetOptions['dataFiles'] {
    const cert = c.ca ? `${CONNECT_DATA_DIR}/server.crt` : undefined;
    const config = connectDaemonConfig(this.images!.current.layout, { serverUrl: c.deviceServerUrl ?? c.server, ...(cert ? { serverCertificate: cert } : {}) });
    return {
      [`${CONNECT_DATA_DIR}/flipside.conf`]: { content: Buffer.from(`${JSON.stringify(config, null, 2)}\n`) },
      [`${CONNECT_DATA_DIR}/mender-agent.pem`]: { content: Buffer.from(connectKeyPem(this.name)) },
      ...(cert ? { [cert]: { content: readFileSync(c.ca!) } } : {}),
    };
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
    this.runDir = opts.runDir;
    if (this.viaServer) {
      // Off, and the link the server shows now is the old boot's. The token, and a device the
      // server already knows being accepted, are checked before anything is flashed.
      await this.switch.cut();
      await this.links().checkBeforeFlashing();
      await this.links().forgetCurrent();
    } else {
      // The console first, so the transcript shows the board from its first byte after flashing.
      this.newConsole(join(opts.runDir, 'console.log'));
      await this.switch.cut();
    }
    this.strategy.poweredOff();
    this.card = join(opts.runDir, 'card.img');
    await run('cp', ['--sparse=always', '--reflink=auto', this.images.current.disk, this.card]);
    const dataFiles = this.viaServer ? { ...opts.dataFiles, ...this.connectFiles(this.viaServer) } : opts.dataFiles;
    await writeDataFiles(this.card, partition(this.images.current.layout, 'data').offset, dataFiles, opts.runDir);
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
    if (this.viaServer) return this.releaseLink();
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

  /** deviceconnect: power off, end the session; the shell transcript is the log to keep. */
  private async releaseLink(): Promise<string[]> {
    const runDir = this.runDir;
    this.runDir = null;
    if (!runDir) return [];
    await this.switch.cut().catch(() => undefined);
    this.strategy.poweredOff();
    await this.closeShell();
    const log = join(runDir, 'shell.log');
    return existsSync(log) ? [log] : [];
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
export function labConsoleSpec(file: BoardFile, lab: LabSection, transcriptPath?: string, device?: string) {
  const c = lab.console;
  const common = { charDelayMs: c.charDelayMs ?? file.console.charDelayMs, name: `${file.name}:console`, ...(transcriptPath ? { transcriptPath } : {}) };
  switch (c.type) {
    case 'serial':
      return { type: 'serial' as const, path: c.path, baud: c.baud, ...common };
    case 'ser2net':
      return { type: 'ser2net' as const, host: c.host, port: c.port, telnet: c.telnet, ...common, reconnectIntervalMs: 500 };
    case 'deviceconnect':
      // A reboot drops the session: it is opened again once the device reconnects. Typed input
      // is not paced (it travels as messages, not through a UART). A device named by identity
      // is looked up on the server first (ServerConnectLinks.deviceId), then passed as `device`.
      if (!(device ?? c.device)) throw new Error(`board ${file.name}: its deviceconnect console names the device by identity: look its id up on the server first`);
      return { type: 'deviceconnect' as const, server: c.server, device: (device ?? c.device)!, tokenFile: c.tokenFile, tokenEnv: c.tokenEnv, ca: c.ca, ...common, charDelayMs: c.charDelayMs ?? 0, reconnectIntervalMs: 1000 };
  }
}
