// What the doctor does to a board, in protocol terms only (Console, Shell, Power, the strategy),
// so it runs on any bound board: power-cycle to the Linux shell or into the U-Boot prompt, run a
// U-Boot command and take its output, read the env from Linux (fw_printenv, dd | od) and from
// U-Boot (`<if> read` + md.b) at raw disk offsets.
import { randomBytes } from 'node:crypto';
import { parseFwEnvConfig, type FwEnvConfig } from '../../bootenv/fw-env-config.js';
import type { BoardFile } from '../../boards/schema.js';
import type { Strategy } from '../strategy/board-strategy.js';
import type { Console, Power, Shell } from '../types.js';
import { parseEnvLines } from '../../bootenv/env-lines.js';

/** What the doctor needs from a bound board: QemuBoard and LabBoard both have it. */
export interface DoctorTarget {
  readonly name: string;
  readonly file: BoardFile;
  readonly caps: { console: Console; shell: Shell; power: Power };
  readonly strategy: Strategy;
}

export interface UBootSettings {
  /** U-Boot's command prompt (CONFIG_SYS_PROMPT); the board file's bootloaderPrompt is its banner. */
  prompt: RegExp;
  /** How long to keep pressing keys for the autoboot countdown to stop. */
  interruptMs: number;
}

const SECTOR = 512;
const hex = (n: number) => `0x${n.toString(16)}`;
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export class DoctorBench {
  /** Where the board is as far as the doctor drove it. */
  state: 'unknown' | 'shell' | 'uboot' = 'unknown';
  /** Power cycles so far (each is a boot the engineer waited for). */
  boots = 0;
  private readonly con: Console;
  private readonly prompt: RegExp;

  constructor(
    readonly target: DoctorTarget,
    private readonly uboot: UBootSettings = { prompt: /=> $/, interruptMs: 15_000 },
  ) {
    this.con = target.caps.console;
    this.prompt = uboot.prompt;
  }

  get file(): BoardFile {
    return this.target.file;
  }

  /** Cut, then on: the strategy only powers on from 'off', so cut explicitly whatever it believes. */
  private async cycleTo(stage: 'bootloader' | 'shell'): Promise<void> {
    this.state = 'unknown';
    await this.target.caps.power.cut();
    this.target.strategy.poweredOff();
    // Capacitors and USB serial adapters need a moment; 1 s is what SwitchedPower.cycle uses.
    await new Promise((r) => setTimeout(r, 500));
    this.boots++;
    await this.target.strategy.transition(stage);
  }

  async powerCycleToShell(): Promise<void> {
    await this.cycleTo('shell');
    this.state = 'shell';
  }

  /** At the Linux shell, from wherever the board is (from U-Boot by `boot`, else a power cycle). */
  async ensureShell(): Promise<void> {
    if (this.state === 'shell') return;
    if (this.state === 'uboot') return this.bootFromUBoot();
    await this.powerCycleToShell();
  }

  /** Power cycle, then press keys until the autoboot countdown stops at the prompt. */
  async powerCycleToUBoot(): Promise<void> {
    await this.cycleTo('bootloader');
    const deadline = Date.now() + this.uboot.interruptMs;
    const pressed = new RegExp(`${this.prompt.source.replace(/\$$/, '')} *$`);
    for (;;) {
      await this.con.write(' ');
      try {
        await this.con.expect(pressed, 200);
        break;
      } catch {
        if (Date.now() > deadline) throw new Error(`${this.target.name}: U-Boot's prompt (${this.prompt}) did not come within ${this.uboot.interruptMs} ms of keys pressed during autoboot (bootdelay=-2 or CONFIG_AUTOBOOT_KEYED?)`);
      }
    }
    // Ctrl-C drops the spaces typed after the countdown stopped, leaving a clean prompt.
    await this.con.write('\x03');
    await this.con.expect(this.prompt, this.file.timeouts.bootloaderMs);
    this.state = 'uboot';
  }

  /** Runs one U-Boot command line and returns what it printed (\n line ends). */
  async ubootRun(command: string, timeoutMs = 20_000): Promise<string> {
    if (this.state !== 'uboot') throw new Error('ubootRun: not at the U-Boot prompt');
    const n = randomBytes(3).toString('hex');
    // The echoed command line also contains the markers, but never alone on a line.
    await this.con.write(`echo FSB${n}; ${command}; echo FSE${n}\n`);
    const m = await this.con.expect(new RegExp(`^FSB${n}\\r?\\n([\\s\\S]*?)^FSE${n}\\r?\\n`, 'm'), timeoutMs);
    // The prompt follows the end marker at once on a board; the host's own delays are not the board's.
    await this.con.expect(this.prompt, this.file.timeouts.bootloaderMs);
    return m[1]!.replace(/\r/g, '');
  }

  /** `boot` at the U-Boot prompt, then the Linux shell prompt. */
  async bootFromUBoot(): Promise<void> {
    if (this.state !== 'uboot') throw new Error('bootFromUBoot: not at the U-Boot prompt');
    this.state = 'unknown';
    await this.con.write('boot\n');
    await this.con.expect(new RegExp(escape(this.file.console.shellPrompt)), this.file.timeouts.shellMs);
    this.state = 'shell';
  }

  /** A shell command that must succeed; its stdout. */
  async sh(command: string, timeoutMs?: number): Promise<string> {
    const r = await this.target.caps.shell.run(command, timeoutMs ? { timeoutMs } : undefined);
    if (r.code !== 0) throw new Error(`\`${command}\` on ${this.target.name} exited ${r.code}: ${r.stdout.trim().slice(0, 300)}`);
    return r.stdout;
  }

  async tryShell(command: string): Promise<{ stdout: string; code: number }> {
    return this.target.caps.shell.run(command);
  }

  async fwEnvConfig(): Promise<{ text: string; config: FwEnvConfig }> {
    const text = await this.sh('cat /etc/fw_env.config');
    return { text, config: parseFwEnvConfig(text, '/etc/fw_env.config') };
  }

  /** fw_printenv as name → value; null when it cannot read any valid copy. */
  async fwPrintenv(): Promise<Record<string, string> | null> {
    const r = await this.tryShell('fw_printenv');
    return r.code === 0 ? parseEnvLines(r.stdout) : null;
  }

  /** Sets (or with null, deletes) variables, one fw_setenv call per variable so each is one save. */
  async fwSetenv(vars: Record<string, string | null>): Promise<void> {
    const sets = Object.entries(vars).filter(([, v]) => v !== null);
    // libubootenv takes several pairs in one call: one write, as the client makes it.
    if (sets.length) await this.sh(`fw_setenv ${sets.map(([k, v]) => `${k} ${v}`).join(' ')}`);
    for (const [k] of Object.entries(vars).filter(([, v]) => v === null)) await this.sh(`fw_setenv ${k}`);
  }

  /** The running root device, from the kernel command line. */
  async runningRoot(): Promise<string> {
    const m = /(?:^|\s)root=(\S+)/.exec(await this.sh('cat /proc/cmdline'));
    if (!m) throw new Error(`${this.target.name}: /proc/cmdline has no root=`);
    return m[1]!;
  }

  /** Bytes of the disk as Linux reads them (dd | od: works on any busybox or coreutils). */
  async readFromLinux(device: string, offset: number, length: number): Promise<Buffer> {
    if (offset % SECTOR || length % SECTOR) throw new Error(`readFromLinux: ${hex(offset)}+${hex(length)} is not sector aligned`);
    const out = await this.sh(`dd if=${device} bs=${SECTOR} skip=${offset / SECTOR} count=${length / SECTOR} 2>/dev/null | od -An -tx1 -v`, 120_000);
    const bytes = Buffer.from((out.match(/\b[0-9a-f]{2}\b/g) ?? []).join(''), 'hex');
    if (bytes.length !== length) throw new Error(`readFromLinux: wanted ${length} bytes of ${device} at ${hex(offset)}, got ${bytes.length}`);
    return bytes;
  }

  /** Bytes of the disk as U-Boot reads them: `<if> read` into scratch RAM, then md.b. */
  async readFromUBoot(offset: number, length: number): Promise<Buffer> {
    const bl = this.file.bootloader;
    if (bl.type !== 'uboot') throw new Error(`${this.target.name}: not a U-Boot board`);
    const sectors = Math.ceil(length / SECTOR);
    const addr = bl.scratchAddr;
    const out = await this.ubootRun(
      `${bl.storageInterface} dev ${bl.storageDevice}; ${bl.storageInterface} read ${hex(addr)} ${hex(offset / SECTOR)} ${hex(sectors)}; md.b ${hex(addr)} ${hex(length)}`,
      60_000,
    );
    const bytes: number[] = [];
    for (const line of out.split('\n')) {
      const m = /^[0-9a-f]{8}:((?: [0-9a-f]{2}){1,16})/.exec(line.trim());
      if (m) for (const b of m[1]!.trim().split(' ')) bytes.push(parseInt(b, 16));
    }
    if (bytes.length !== length) throw new Error(`readFromUBoot: wanted ${length} bytes at ${hex(offset)}, U-Boot printed ${bytes.length}:\n${out.slice(0, 400)}`);
    return Buffer.from(bytes);
  }
}

export function randomToken(): string {
  return randomBytes(6).toString('hex');
}
