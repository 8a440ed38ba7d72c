// A whole fake bench for tests: a pty pair standing in for the USB serial adapter, a FakeTarget on
// the board's end, and power switched by a real `command` power driver (touch/rm of a file the
// bench watches). With `vanishOnPowerOff` the adapter is powered by the board, as on many benches:
// cutting power removes the device node and power-on brings a new pty up under the same path.
// The board is powered only once the host has re-opened that pty (watchHost): what a board prints
// before the host has the device open never reaches it, and how long a busy host takes to re-open
// is not something a fixed delay can cover (400 ms was not, under a loaded CI).
// Lives under /dev/shm so the paths pass the board file's `/dev/` checks.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseYaml } from 'yaml';
import { SerialPort } from 'serialport';
import { type BoardFile } from '../../boards/schema.js';
import type { Console } from '../types.js';
import { parseBoardFile } from '../../boards/load.js';
import { BOARDS_DIR } from '../../paths.js';
import { PtyPair } from '../console/pty-pair.fake.js';
import { FakeTarget, type FakeTargetOptions } from './target.fake.js';
import { PowerFileWatch } from '../power/power-file-watch.fake.js';

export interface FakeLabOptions extends Partial<FakeTargetOptions> {
  vanishOnPowerOff?: boolean;
  /** Per-character pacing of the harness side (the board file's console.charDelayMs). */
  charDelayMs?: number;
}

/** Longest the bench waits for the host to notice the adapter going or coming back. */
const HOST_WAIT_MS = 30_000;

export const FAKE_ENV_OFFSETS: [number, number] = [0x800000, 0x1000000];
export const FAKE_ENV_SIZE = 0x4000;
export const GOOD_FW_ENV_CONFIG = '/dev/mmcblk0 0x800000 0x4000\n/dev/mmcblk0 0x1000000 0x4000\n';

async function openPort(path: string): Promise<SerialPort> {
  const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  return port;
}

export class FakeLab {
  readonly dir: string;
  readonly pair: PtyPair;
  target!: FakeTarget;
  /** Power-on count and the times the adapter vanished, for assertions. */
  powerOns = 0;
  vanished = 0;
  private port: SerialPort | null = null;
  private watch: PowerFileWatch | null = null;
  private hostOpen: (() => boolean) | null = null;
  private hostConsole: Console | null = null;

  constructor(private readonly o: FakeLabOptions = {}) {
    const base = existsSync('/dev/shm') ? '/dev/shm' : '/tmp';
    this.dir = mkdtempSync(join(base, 'flipside-lab-'));
    this.pair = new PtyPair(this.dir);
  }

  /**
   * With `vanishOnPowerOff`: how the bench tells whether the host has its end of the adapter open
   * (a test passes its console's state). Power-off then completes once the host saw the adapter
   * go, and power-on waits for the host to have the new one open, as a host that keeps up with
   * enumeration would, so no boot output is lost to the host's reopen being late.
   */
  watchHost(isOpen: () => boolean): void {
    this.hostOpen = isOpen;
  }

  /**
   * The host's console: U-Boot's autoboot countdown then starts once the host has received the
   * line before it, so how long a loaded host takes to read is not raced against the 2 s.
   */
  watchHostConsole(con: Console): void {
    this.hostConsole = con;
  }

  /** Resolves at the host console's next line matching `re` (at once without one; HOST_WAIT_MS at most). */
  private hostSees(re: RegExp): Promise<void> {
    const con = this.hostConsole;
    if (!con) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        stop();
        resolve();
      };
      const timer = setTimeout(done, HOST_WAIT_MS);
      const stop = con.onLine((l) => {
        if (re.test(l.text)) done();
      });
    });
  }

  /** Waits for the host's side of the adapter to reach `open`; gives up after HOST_WAIT_MS so a broken host cannot hang the bench. */
  private async hostReaches(open: boolean): Promise<void> {
    const isOpen = this.hostOpen;
    if (!isOpen) return;
    const deadline = Date.now() + HOST_WAIT_MS;
    while (isOpen() !== open && Date.now() < deadline) await sleep(10);
  }

  get powerFile(): string {
    return join(this.dir, 'power-on');
  }

  async start(): Promise<void> {
    await this.pair.start();
    this.port = await openPort(this.pair.boardPath);
    this.target = new FakeTarget(this.port, {
      envOffsets: FAKE_ENV_OFFSETS,
      envSize: FAKE_ENV_SIZE,
      fwEnvConfig: GOOD_FW_ENV_CONFIG,
      // Registered as the banner is written, before the host can have read any of it.
      countdownFrom: () => this.hostSees(/Loading Environment from/),
      ...this.o,
    });
    // The power driver is a real external command; the bench notices the file it switches.
    this.watch = new PowerFileWatch(this.powerFile, (on) => this.switchTo(on));
  }

  private async switchTo(on: boolean): Promise<void> {
    if (!on) {
      this.target.power(false);
      if (this.o.vanishOnPowerOff) {
        const p = this.port;
        this.port = null;
        if (p?.isOpen) await new Promise((r) => p.close(r));
        await this.pair.stop();
        this.vanished++;
        await this.hostReaches(false);
      }
      return;
    }
    if (this.o.vanishOnPowerOff && !this.port) {
      await this.pair.start();
      this.port = await openPort(this.pair.boardPath);
      this.target.reattach(this.port);
      // The adapter enumerates a moment after power comes up; the host reopens it on its own clock.
      await this.hostReaches(true);
    }
    this.powerOns++;
    this.target.power(true);
  }

  /** A board file like raspberrypi3's, with its lab section pointing at this bench. */
  boardFile(flashOut: string): BoardFile {
    const raw = parseYaml(readFileSync(join(BOARDS_DIR, 'raspberrypi3.yaml'), 'utf8')) as Record<string, unknown>;
    raw.console = { ...(raw.console as object), charDelayMs: this.o.charDelayMs ?? 0 };
    raw.timeouts = { bootloaderMs: 30_000, shellMs: 30_000, clientReadyMs: 30_000 };
    raw.lab = {
      console: { type: 'serial', path: this.pair.hostPath, baud: 115200 },
      power: { type: 'command', on: ['touch', this.powerFile], off: ['rm', '-f', this.powerFile] },
      network: { type: 'none' },
      flash: { type: 'command', command: 'cp {image} {out}', vars: { out: flashOut } },
    };
    return parseBoardFile(raw, join(this.dir, 'raspberrypi3.yaml'));
  }

  async stop(): Promise<void> {
    await this.watch?.stop();
    this.target?.power(false);
    const p = this.port;
    if (p?.isOpen) await new Promise((r) => p.close(r));
    await this.pair.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
