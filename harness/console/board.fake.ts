// A scripted board for tests: a U-Boot-like prompt, a login, and a shell that understands just
// enough (echo with quotes and $?, true, false, seq, sleep) to drive the marker protocol, with the
// nuisances of real consoles on demand: echo of typed input, \r\n line ends, colour escapes and
// `\e[6n` in the prompt, and kernel messages injected in the middle of command output.
import type { Duplex } from 'node:stream';

export interface FakeBoardOptions {
  /** Start in U-Boot (default) or straight at the Linux login. */
  start?: 'uboot' | 'login' | 'shell';
  user?: string;
  password?: string;
  /** Inject a kernel message inside the output of every command that prints several lines. */
  kernelNoise?: boolean;
  /** Put colour and terminal queries around the shell prompt. */
  ansiPrompt?: boolean;
}

export const UBOOT_PROMPT = '=> ';
export const SHELL_PROMPT = 'root@fake:~# ';

type Mode = 'uboot' | 'login-user' | 'login-password' | 'shell' | 'busy';

export class FakeBoard {
  private mode: Mode;
  private line = '';
  private status = 0;
  private attempted = '';
  /** Everything the board received, for assertions on what was typed. */
  readonly received: Array<{ t: number; bytes: Buffer }> = [];

  constructor(
    private stream: Duplex,
    private readonly opts: FakeBoardOptions = {},
  ) {
    const start = opts.start ?? 'uboot';
    this.mode = start === 'uboot' ? 'uboot' : start === 'login' ? 'login-user' : 'shell';
    this.listen(stream);
  }

  /** Moves the board onto a new stream (after its serial link was re-created). */
  reattach(stream: Duplex): void {
    this.stream = stream;
    this.listen(stream);
  }

  /** Prints the power-on banner and the prompt of the current mode. */
  banner(): void {
    if (this.mode === 'uboot') this.out('\r\nU-Boot 2023.01 (fake)\r\n\r\nHit any key to stop autoboot:  0 \r\n' + UBOOT_PROMPT);
    else this.prompt();
  }

  /** Writes a kernel-style message at once, wherever the console happens to be. */
  kernelMessage(text: string): void {
    this.out(`[   ${(performance.now() / 1000).toFixed(6).padStart(10)}] ${text}\r\n`);
  }

  private listen(stream: Duplex): void {
    stream.on('data', (chunk: Buffer) => {
      this.received.push({ t: performance.now(), bytes: Buffer.from(chunk) });
      for (const ch of chunk.toString('utf8')) this.key(ch);
    });
    stream.on('error', () => {});
  }

  private out(text: string): void {
    if (!this.stream.destroyed) this.stream.write(text);
  }

  private prompt(): void {
    if (this.mode === 'login-user') this.out('\r\nfake login: ');
    else if (this.mode === 'login-password') this.out('Password: ');
    else if (this.mode === 'uboot') this.out(UBOOT_PROMPT);
    else if (this.opts.ansiPrompt) this.out(`\x1b[6n\x1b[1;32mroot@fake\x1b[0m:~# \x1b[?2004h`);
    else this.out(SHELL_PROMPT);
  }

  private key(ch: string): void {
    if (this.mode === 'busy') return;
    if (ch === '\r' || ch === '\n') {
      if (this.mode !== 'login-password') this.out('\r\n');
      const line = this.line;
      this.line = '';
      this.enter(line);
      return;
    }
    if (ch === '\x03') {
      this.line = '';
      this.out('^C\r\n');
      this.prompt();
      return;
    }
    this.line += ch;
    if (this.mode !== 'login-password') this.out(ch);
  }

  private enter(line: string): void {
    switch (this.mode) {
      case 'uboot':
        return this.uboot(line.trim());
      case 'login-user':
        this.attempted = line.trim();
        if (this.opts.password === undefined) return this.loginAs(this.attempted === (this.opts.user ?? 'root'));
        this.mode = 'login-password';
        return this.prompt();
      case 'login-password':
        this.out('\r\n');
        return this.loginAs(this.attempted === (this.opts.user ?? 'root') && line === this.opts.password);
      case 'shell':
        return this.shell(line);
      case 'busy':
        return;
    }
  }

  private loginAs(ok: boolean): void {
    if (ok) {
      this.mode = 'shell';
    } else {
      this.out('\r\nLogin incorrect');
      this.mode = 'login-user';
    }
    this.prompt();
  }

  private uboot(cmd: string): void {
    if (cmd === '') return this.prompt();
    if (cmd === 'boot') {
      this.mode = 'busy';
      this.out('Starting kernel ...\r\n\r\n');
      this.kernelMessage('Booting Linux on physical CPU 0x0');
      this.kernelMessage('Run /sbin/init as init process');
      this.mode = 'login-user';
      return this.prompt();
    }
    if (cmd.startsWith('echo ')) this.out(cmd.slice(5) + '\r\n');
    else this.out(`Unknown command '${cmd.split(' ')[0]}' - try 'help'\r\n`);
    this.prompt();
  }

  private shell(line: string): void {
    const statements = splitStatements(line);
    const run = async () => {
      this.mode = 'busy';
      for (const words of statements) {
        if (words.length === 0) continue;
        await this.exec(words.map((w) => w.replace(/\$\?/g, String(this.status))));
      }
      this.mode = 'shell';
      this.prompt();
    };
    void run();
  }

  private async exec(words: string[]): Promise<void> {
    const [cmd, ...args] = words;
    switch (cmd) {
      case 'echo':
        this.out(args.join(' ') + '\r\n');
        this.status = 0;
        return;
      case 'printf':
        this.out((args[0] ?? '').replace(/\\n/g, '\r\n'));
        this.status = 0;
        return;
      case 'true':
        this.status = 0;
        return;
      case 'false':
        this.status = 1;
        return;
      case 'seq': {
        const n = Number(args[0]);
        for (let i = 1; i <= n; i++) {
          // A message in the middle of a line, the way printk cuts into userspace output.
          if (this.opts.kernelNoise && i === Math.ceil(n / 2)) {
            this.out(String(i).slice(0, 1));
            this.kernelMessage('usb 1-1: new high-speed USB device number 3 using dwc2');
            this.out(String(i).slice(1) + '\r\n');
          } else this.out(`${i}\r\n`);
          if (this.opts.kernelNoise && i === 1) this.kernelMessage('EXT4-fs (vda2): mounted filesystem');
        }
        this.status = 0;
        return;
      }
      case 'sleep':
        await new Promise((r) => setTimeout(r, Number(args[0]) * 1000));
        this.status = 0;
        return;
      case 'exit-with':
        this.status = Number(args[0]);
        return;
      default:
        this.out(`sh: ${cmd}: not found\r\n`);
        this.status = 127;
    }
  }
}

/** Splits `a 'b''c' "d $?"; e` into statements of words, with quotes removed (no other syntax). */
export function splitStatements(line: string): string[][] {
  const statements: string[][] = [];
  let words: string[] = [];
  let word: string | null = null;
  let quote: '' | "'" | '"' = '';
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = '';
      else word += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      word ??= '';
    } else if (ch === ';') {
      if (word !== null) words.push(word);
      statements.push(words);
      words = [];
      word = null;
    } else if (ch === ' ' || ch === '\t') {
      if (word !== null) words.push(word);
      word = null;
    } else word = (word ?? '') + ch;
  }
  if (word !== null) words.push(word);
  statements.push(words);
  return statements;
}
