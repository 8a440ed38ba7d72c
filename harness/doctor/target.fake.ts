// A scripted board for doctor and lab-board tests, on the far end of a pty pair: U-Boot with an
// autoboot countdown and a redundant env at a raw disk offset, then Linux with fw_printenv /
// fw_setenv reading wherever its /etc/fw_env.config says, dd | od, /proc/cmdline and reboot.
// Its knobs are the bring-up mistakes the doctor must catch: a fw_env.config naming the wrong
// offset, a bootloader that never counts boots. `integration` picks where U-Boot keeps the A/B
// variables: 'native' (its own env is the raw one: printenv/saveenv see it, Mender style) or
// 'script' (U-Boot's env lives elsewhere and a boot script reads the raw copies, Flipside style).
import type { Duplex } from 'node:stream';
import { parseFwEnvConfig } from '../../bootenv/fw-env-config.js';
import { applyChanges, checkCopy, chooseCurrent, decodeVars, encodeBlob, nextFlag, toEnvVars, type RawVars } from '../../bootenv/uboot-env-format.js';
import { splitStatements } from '../console/board.fake.js';

export interface FakeTargetOptions {
  /** Where U-Boot reads and writes its two env copies (bytes on the whole disk). */
  envOffsets: [number, number];
  envSize: number;
  /** /etc/fw_env.config as Linux sees it. */
  fwEnvConfig: string;
  integration?: 'native' | 'script';
  /** false: upgrade_available=1 boots are never counted, so nothing ever rolls back. */
  countsBoots?: boolean;
  bootlimit?: number;
  shellPrompt?: string;
  /** How long "Hit any key to stop autoboot" waits for a key. */
  autobootMs?: number;
  /**
   * Resolves when the countdown may start running: at once by default. A test bench passes "once
   * the host has the countdown in front of it", so a host slowed by CI load still gets its key in;
   * a real board's countdown runs on the board's clock alone.
   */
  countdownFrom?: () => Promise<void>;
  /** Time Linux takes from the kernel start to the shell prompt. */
  linuxBootMs?: number;
}

const SECTOR = 512;
const ROOTS: Record<string, string> = { '2': '/dev/mmcblk0p2', '3': '/dev/mmcblk0p3' };
export const FAKE_UBOOT_PROMPT = '=> ';

type Mode = 'off' | 'autoboot' | 'uboot' | 'busy' | 'shell';

/** A byte-addressed disk that only stores what was written (the rest reads as zeros). */
class SparseDisk {
  private readonly sectors = new Map<number, Buffer>();
  read(offset: number, len: number): Buffer {
    const out = Buffer.alloc(len);
    for (let i = 0; i < len; i++) {
      const at = offset + i;
      const s = this.sectors.get(Math.floor(at / SECTOR));
      if (s) out[i] = s[at % SECTOR]!;
    }
    return out;
  }
  write(offset: number, data: Buffer): void {
    for (let i = 0; i < data.length; i++) {
      const at = offset + i;
      const n = Math.floor(at / SECTOR);
      let s = this.sectors.get(n);
      if (!s) this.sectors.set(n, (s = Buffer.alloc(SECTOR)));
      s[at % SECTOR] = data[i]!;
    }
  }
}

/** One redundant env pair on a disk: the read and write rules shared by U-Boot and libubootenv. */
class EnvPair {
  constructor(
    private readonly disk: SparseDisk,
    readonly offsets: number[],
    readonly size: number,
  ) {}
  private copies() {
    return this.offsets.map((o) => {
      const blob = this.disk.read(o, this.size);
      return { blob, check: checkCopy(blob, this.offsets.length === 2) };
    });
  }
  /** The current copy's variables and index, or null when no copy is valid. */
  load(): { vars: RawVars; current: number } | null {
    const c = this.copies();
    if (c.length === 1) return c[0]!.check.crcOk ? { vars: decodeVars(c[0]!.blob, false), current: 0 } : null;
    const cur = chooseCurrent([c[0]!.check.crcOk, c[1]!.check.crcOk], [c[0]!.check.flag ?? 0, c[1]!.check.flag ?? 0]);
    return cur === null ? null : { vars: decodeVars(c[cur]!.blob, true), current: cur };
  }
  /** Writes the copy that is not current, flags one above the current: what fw_setenv and saveenv do. */
  save(vars: RawVars): void {
    if (this.offsets.length === 1) {
      this.disk.write(this.offsets[0]!, encodeBlob(vars, this.size, false, 0));
      return;
    }
    const c = this.copies();
    const loaded = this.load();
    const target = loaded === null ? 0 : 1 - loaded.current;
    const flag = loaded === null ? 1 : nextFlag(c[loaded.current]!.check.flag ?? 0);
    this.disk.write(this.offsets[target]!, encodeBlob(vars, this.size, true, flag));
  }
}

export class FakeTarget {
  private mode: Mode = 'off';
  private line = '';
  private status = 0;
  private timers = new Set<NodeJS.Timeout>();
  /** Power-offs and U-Boot starts so far: a countdown belongs to the start it was printed in. */
  private starts = 0;
  private readonly disk = new SparseDisk();
  private readonly uboot: EnvPair;
  /** U-Boot's in-RAM env (native: loaded from the raw copies; script: its own defaults). */
  private ram: RawVars = new Map();
  /** U-Boot's RAM for `mmc read` / `md.b`. */
  private readonly mem = new Map<number, Buffer>();
  private root = ROOTS['2']!;
  private readonly o: Required<FakeTargetOptions>;
  /** Every boot of Linux, by root device, for assertions. */
  readonly boots: string[] = [];

  constructor(
    private stream: Duplex,
    opts: FakeTargetOptions,
  ) {
    this.o = {
      integration: 'native',
      countsBoots: true,
      bootlimit: 1,
      shellPrompt: 'flipside-shell# ',
      autobootMs: 2000,
      countdownFrom: async () => undefined,
      linuxBootMs: 50,
      ...opts,
    };
    this.uboot = new EnvPair(this.disk, opts.envOffsets, opts.envSize);
    // A freshly flashed card: both copies valid, copy 1 newer.
    const vars = applyChanges(new Map(), { boot_part: '2', bootcount: '0', bootlimit: String(this.o.bootlimit), upgrade_available: '0' });
    this.disk.write(opts.envOffsets[0], encodeBlob(vars, opts.envSize, true, 1));
    this.disk.write(opts.envOffsets[1], encodeBlob(vars, opts.envSize, true, 0));
    this.listen(stream);
  }

  /** The board's serial link was re-created (USB adapter re-enumerated): talk on the new one. */
  reattach(stream: Duplex): void {
    this.stream = stream;
    this.listen(stream);
  }

  get powered(): boolean {
    return this.mode !== 'off';
  }

  /** The env as U-Boot would read it right now, for assertions. */
  bootloaderEnv(): Record<string, string> | null {
    const l = this.uboot.load();
    return l ? toEnvVars(l.vars) : null;
  }

  power(on: boolean): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.line = '';
    if (!on) {
      this.mode = 'off';
      this.starts++;
      return;
    }
    this.powerOnReset();
  }

  private powerOnReset(): void {
    this.starts++;
    this.mode = 'busy';
    this.mem.clear();
    this.out('\r\n\r\nU-Boot 2023.01 (fake)\r\n\r\nDRAM:  948 MiB\r\n');
    if (this.o.integration === 'native') {
      const l = this.uboot.load();
      this.out(l ? 'Loading Environment from MMC... OK\r\n' : 'Loading Environment from MMC... *** Warning - bad CRC, using default environment\r\n\r\n');
      this.ram = l ? l.vars : new Map();
    } else {
      this.out('Loading Environment from FAT... OK\r\n');
      this.ram = applyChanges(new Map(), { bootcmd: 'run fs_boot_script' });
    }
    this.mode = 'autoboot';
    // U-Boot's default CONFIG_BOOTDELAY=2: a real countdown (300 ms failed under CI load), from
    // when the bench says the host can see it.
    this.out('Hit any key to stop autoboot:  2 ');
    const start = this.starts;
    void this.o.countdownFrom().then(() => {
      if (this.starts === start && this.mode === 'autoboot')
        this.later(this.o.autobootMs, () => {
          if (this.mode === 'autoboot') this.bootcmd();
        });
    });
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private listen(stream: Duplex): void {
    stream.on('data', (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) this.key(ch);
    });
    stream.on('error', () => {});
  }

  private out(text: string): void {
    if (!this.stream.destroyed && this.mode !== 'off') this.stream.write(text);
  }

  private key(ch: string): void {
    if (this.mode === 'off' || this.mode === 'busy') return;
    if (this.mode === 'autoboot') {
      this.mode = 'uboot';
      this.out(`\b\b 0 \r\n${FAKE_UBOOT_PROMPT}`);
      return;
    }
    if (ch === '\x03') {
      this.line = '';
      this.out(this.mode === 'uboot' ? `<INTERRUPT>\r\n${FAKE_UBOOT_PROMPT}` : `^C\r\n${this.o.shellPrompt}`);
      return;
    }
    if (ch === '\r' || ch === '\n') {
      this.out('\r\n');
      const line = this.line;
      this.line = '';
      if (this.mode === 'uboot') this.ubootLine(line);
      else this.shellLine(line);
      return;
    }
    this.line += ch;
    this.out(ch);
  }

  // ---- U-Boot ----

  private ubootLine(line: string): void {
    for (const words of splitStatements(line)) {
      if (words.length === 0) continue;
      if (this.ubootCommand(words) === 'left') return;
    }
    this.out(FAKE_UBOOT_PROMPT);
  }

  /** Runs one U-Boot command; 'left' when it left the prompt (boot, reset). */
  private ubootCommand(words: string[]): 'left' | void {
    const [cmd, ...args] = words;
    switch (cmd) {
      case 'echo':
        this.out(`${args.join(' ')}\r\n`);
        return;
      case 'printenv': {
        const vars = toEnvVars(this.ram);
        if (args.length === 0) for (const [k, v] of Object.entries(vars).sort()) this.out(`${k}=${v}\r\n`);
        for (const name of args) this.out(name in vars ? `${name}=${vars[name]}\r\n` : `## Error: "${name}" not defined\r\n`);
        return;
      }
      case 'setenv':
        this.ram = applyChanges(this.ram, { [args[0]!]: args.length > 1 ? args.slice(1).join(' ') : null });
        return;
      case 'saveenv':
        if (this.o.integration === 'native') {
          this.out('Saving Environment to MMC... Writing to redundant MMC(0)... OK\r\n');
          this.uboot.save(this.ram);
        } else this.out('Saving Environment to FAT... OK\r\n');
        return;
      case 'mmc':
        if (args[0] === 'dev') this.out(`switch to partitions #0, OK\r\nmmc${args[1]} is current device\r\n`);
        else if (args[0] === 'read') {
          const [addr, blk, cnt] = args.slice(1).map((a) => parseInt(a, 16));
          this.mem.set(addr!, this.disk.read(blk! * SECTOR, cnt! * SECTOR));
          this.out(`\r\nMMC read: dev # 0, block # ${blk}, count ${cnt} ... ${cnt} blocks read: OK\r\n`);
        } else this.out('Usage: mmc ...\r\n');
        return;
      case 'md.b': {
        const addr = parseInt(args[0]!, 16);
        const len = parseInt(args[1] ?? '40', 16);
        const base = [...this.mem.keys()].find((a) => addr >= a && addr + len <= a + this.mem.get(a)!.length);
        const bytes = base === undefined ? Buffer.alloc(len) : this.mem.get(base)!.subarray(addr - base, addr - base + len);
        for (let o = 0; o < len; o += 16) {
          const row = bytes.subarray(o, o + 16);
          const hex = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
          const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
          this.out(`${(addr + o).toString(16).padStart(8, '0')}: ${hex.padEnd(47)}    ${ascii}\r\n`);
        }
        return;
      }
      case 'boot':
        this.bootcmd();
        return 'left';
      case 'run':
        if (args[0] === 'bootcmd') {
          this.bootcmd();
          return 'left';
        }
        this.out(`## Error: "${args[0]}" not defined\r\n`);
        return;
      case 'reset':
        this.out('resetting ...\r\n');
        this.powerOnReset();
        return 'left';
      default:
        this.out(`Unknown command '${cmd}' - try 'help'\r\n`);
    }
  }

  /** Boot counting as Mender's U-Boot integration does it, then the kernel of boot_part. */
  private bootcmd(): void {
    this.mode = 'busy';
    let vars: RawVars;
    if (this.o.integration === 'native') vars = this.ram;
    else {
      const l = this.uboot.load();
      vars = l ? l.vars : applyChanges(new Map(), { boot_part: '2', bootcount: '0', upgrade_available: '0', bootlimit: String(this.o.bootlimit) });
      this.out(`flipside: env copy ${l ? l.current + 1 : 0}: ${['boot_part', 'upgrade_available', 'bootcount', 'bootlimit'].map((k) => `${k}=${toEnvVars(vars)[k] ?? ''}`).join(' ')}\r\n`);
    }
    const get = (k: string) => toEnvVars(vars)[k] ?? '';
    if (get('upgrade_available') === '1' && this.o.countsBoots) {
      const count = Number(get('bootcount') || '0') + 1;
      vars = applyChanges(vars, { bootcount: String(count) });
      if (count > Number(get('bootlimit') || this.o.bootlimit)) {
        this.out(`flipside: bootcount ${count} > bootlimit ${get('bootlimit')}, rolling back\r\n`);
        vars = applyChanges(vars, { boot_part: get('boot_part') === '2' ? '3' : '2', upgrade_available: '0', bootcount: '0' });
      }
      this.uboot.save(vars);
    }
    if (this.o.integration === 'native') this.ram = vars;
    this.root = ROOTS[get('boot_part')] ?? ROOTS['2']!;
    this.out(`flipside: booting mmc 0:${get('boot_part')} root=${this.root}\r\nStarting kernel ...\r\n\r\n`);
    this.later(this.o.linuxBootMs, () => {
      this.out('[    0.000000] Booting Linux on physical CPU 0x0\r\n');
      this.boots.push(this.root);
      this.out(`flipside: init root=${this.root} artifact_name=lab-1\r\n${this.o.shellPrompt}`);
      this.mode = 'shell';
    });
  }

  // ---- Linux ----

  private linuxEnv(): EnvPair {
    const cfg = parseFwEnvConfig(this.o.fwEnvConfig, '/etc/fw_env.config');
    return new EnvPair(this.disk, cfg.copies.map((c) => c.offset), cfg.copies[0]!.size);
  }

  private shellLine(line: string): void {
    for (const words of splitStatements(line)) {
      if (words.length === 0) continue;
      const w = words.map((x) => x.replace(/\$\?/g, String(this.status)));
      if (this.shellCommand(w) === 'left') return;
    }
    this.out(this.o.shellPrompt);
  }

  private shellCommand(words: string[]): 'left' | void {
    const [cmd, ...args] = words;
    const fail = (text: string, code = 1) => {
      this.out(text);
      this.status = code;
    };
    this.status = 0;
    switch (cmd) {
      case 'echo':
        this.out(`${args.join(' ')}\r\n`);
        return;
      case 'true':
      case 'sync':
        return;
      case 'sleep':
        // Runs until the power goes: the fake never finishes it (a command a power cut interrupts).
        return 'left';
      case 'cat':
        if (args[0] === '/etc/fw_env.config') this.out(this.o.fwEnvConfig.replace(/\n/g, '\r\n'));
        else if (args[0] === '/proc/cmdline') this.out(`console=ttyS1,115200 root=${this.root} ro rootwait\r\n`);
        else fail(`cat: can't open '${args[0]}': No such file or directory\r\n`);
        return;
      case 'fw_printenv': {
        const l = this.linuxEnv().load();
        if (!l) return fail('Cannot read environment, using default\r\nCannot read default environment from file\r\n', 1);
        const vars = toEnvVars(l.vars);
        if (args.length === 0) for (const [k, v] of Object.entries(vars).sort()) this.out(`${k}=${v}\r\n`);
        for (const name of args) {
          if (name in vars) this.out(`${name}=${vars[name]}\r\n`);
          else fail(`## Error: "${name}" not defined\r\n`);
        }
        return;
      }
      case 'fw_setenv': {
        const env = this.linuxEnv();
        const changes: Record<string, string | null> = {};
        // libubootenv: one name deletes it, name value sets it, several pairs set them all at once.
        if (args.length === 1) changes[args[0]!] = null;
        else for (let i = 0; i + 1 < args.length; i += 2) changes[args[i]!] = args[i + 1]!;
        env.save(applyChanges(env.load()?.vars ?? new Map(), changes));
        return;
      }
      case 'dd': {
        // dd if=DEV bs=512 skip=N count=M 2>/dev/null | od -An -tx1 -v
        const opt = (k: string) => args.find((a) => a.startsWith(`${k}=`))?.slice(k.length + 1);
        const bs = Number(opt('bs') ?? 512);
        const bytes = this.disk.read(Number(opt('skip') ?? 0) * bs, Number(opt('count') ?? 1) * bs);
        if (!args.includes('|') || !args.includes('od')) return fail('dd: binary output on a console\r\n');
        for (let o = 0; o < bytes.length; o += 16) this.out(` ${[...bytes.subarray(o, o + 16)].map((b) => b.toString(16).padStart(2, '0')).join(' ')}\r\n`);
        return;
      }
      case 'reboot':
        this.out('reboot: Restarting system\r\n');
        this.powerOnReset();
        return 'left';
      default:
        fail(`sh: ${cmd}: not found\r\n`, 127);
    }
  }
}
