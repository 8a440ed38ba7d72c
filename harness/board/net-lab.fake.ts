// A bench for a lab board reached only through a server the user runs: a listening flipside-server
// (the user's), and a "board" that is the Flipside daemon with Connect on, started when a real
// `command` power driver creates the bench's power file and stopped when it removes it, as power
// would. Its data folder stays between power cycles (the device key and identity on a card), so the
// server sees one device, accepted once by `acceptOnce()` as a user would. The board file is
// beaglebone-black's with the lab section pointing here, written to a file for `--board <path>`.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { acceptDevice, type ScratchServer } from '../../server-mock/admin-client.js';
import { startTestServer } from '../../server-mock/testing/fixtures.js';
import { connectDeviceConfig, runDaemon, type DaemonRun } from '../../server-mock/testing/connected-daemon.js';
import type { ClientConfig } from '../../client/config.js';
import { BOARDS_DIR } from '../../paths.js';
import { ensureTls } from '../../server-mock/tls.js';
import { PowerFileWatch } from '../power/power-file-watch.fake.js';

export interface NetLabOptions {
  /** The device never connects after power-on (a bricked boot). */
  bricked?: boolean;
  /** The server speaks https with its own CA (flipside-server's default), which the device trusts. */
  tls?: boolean;
}

export class NetLab {
  readonly dir = mkdtempSync(join(tmpdir(), 'flipside-netlab-'));
  readonly mac: string;
  s!: ScratchServer;
  url!: string;
  /** With tls: the server's CA (PEM file). */
  caPath?: string;
  powerOns = 0;
  private config!: ClientConfig;
  private deviceDir!: string;
  private run: DaemonRun | null = null;
  private watch: PowerFileWatch | null = null;

  constructor(
    mac: string,
    private readonly o: NetLabOptions = {},
  ) {
    this.mac = mac;
  }

  get powerFile(): string {
    return join(this.dir, 'power-on');
  }

  get adminToken(): string {
    return this.s.adminToken;
  }

  async start(): Promise<void> {
    let https: { key: string; cert: string } | undefined;
    const dataDir = join(this.dir, 'server');
    if (this.o.tls) {
      const tls = await ensureTls(dataDir);
      this.caPath = tls.caPath;
      https = { key: tls.key, cert: tls.cert };
    }
    this.s = await startTestServer({ dataDir, ...(https ? { https } : {}) });
    await this.s.app.listen({ port: 0, host: '127.0.0.1' });
    this.url = `${https ? 'https' : 'http'}://127.0.0.1:${(this.s.app.server.address() as AddressInfo).port}`;
    const caPath = this.caPath;
    const { dir, config } = await connectDeviceConfig(this.url, this.mac, async () => (caPath ? { ServerCertificate: caPath } : {}));
    this.deviceDir = dir;
    this.config = config;
    // The power driver is a real external command; the bench notices the file it switches.
    this.watch = new PowerFileWatch(this.powerFile, (on) => this.switchTo(on));
  }

  /** The user's one-time step: the device asks, the user accepts it; the device id. */
  async acceptOnce(): Promise<string> {
    const run = runDaemon(this.config);
    await run.logged(/not authorized yet/);
    const id = await acceptDevice(this.s, { mac: this.mac });
    await run.logged(/deviceconnect: connected/);
    await run.stop();
    return id;
  }

  /** The device's connection drops with the power still on (a crashed daemon, a pulled cable). */
  async dropLink(): Promise<void> {
    await this.watch?.settled();
    const run = this.run;
    this.run = null;
    await run?.stop();
  }

  private async switchTo(on: boolean): Promise<void> {
    if (!on) {
      const run = this.run;
      this.run = null;
      await run?.stop();
      return;
    }
    this.powerOns++;
    if (!this.o.bricked) this.run = runDaemon(this.config);
  }

  /** beaglebone-black with its lab section on this bench; `console` adds to (or replaces keys of) the deviceconnect console. */
  boardFile(flashOut: string, console: Record<string, unknown>, name = 'netlab-board', stageMs = 20_000): string {
    const raw = parseYaml(readFileSync(join(BOARDS_DIR, 'beaglebone-black.yaml'), 'utf8')) as Record<string, unknown>;
    raw.name = name;
    raw.console = { ...(raw.console as object), charDelayMs: 0 };
    // The link must come within the sum of the three (a host process connects in well under a
    // second when idle; a loaded CI host is slower).
    raw.timeouts = { bootloaderMs: stageMs, shellMs: stageMs, clientReadyMs: stageMs };
    raw.lab = {
      console: { type: 'deviceconnect', server: this.url, ...console },
      power: { type: 'command', on: ['touch', this.powerFile], off: ['rm', '-f', this.powerFile] },
      network: { type: 'none' },
      flash: { type: 'command', command: 'cp {image} {out}', vars: { out: flashOut } },
    };
    const path = join(this.dir, `${name}.yaml`);
    writeFileSync(path, stringify(raw));
    return path;
  }

  async stop(): Promise<void> {
    await this.watch?.stop();
    await this.run?.stop();
    await this.s?.close();
    rmSync(this.dir, { recursive: true, force: true });
    if (this.deviceDir) rmSync(this.deviceDir, { recursive: true, force: true });
  }
}
