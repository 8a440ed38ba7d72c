// A Shell over a Console: logs in, waits for prompts and runs commands through random markers
// (markers.ts), so the typed echo, kernel messages and prompts around the output do not leak into
// stdout. Every timeout says which step hung: the start of the command, its end, or the prompt.
import type { Console, Shell, ShellResult } from '../types.js';
import { extractStdout, markCommand } from './markers.js';

export interface ConsoleShellOptions {
  /** The shell prompt; a string matches literally (a board file's `shellPrompt`). */
  prompt: RegExp | string;
  loginPrompt?: RegExp | string;
  passwordPrompt?: RegExp | string;
  /** What the board prints when a login is refused. */
  loginFailed?: RegExp | string;
  /** Default for run() and login() (ms). */
  timeoutMs?: number;
  /**
   * How long login() waits for a prompt before pressing Enter (default 2000). Pressing it too early
   * can land in U-Boot's autoboot countdown and stop the boot.
   */
  loginWaitMs?: number;
  /** Remove `[  12.345678] …` kernel lines from stdout (default true); per-run override in run(). */
  dropKernelMessages?: boolean;
}

export interface RunOptions {
  timeoutMs?: number;
  /** Keep kernel-looking lines, e.g. when the command is `dmesg`. */
  keepKernelMessages?: boolean;
}

export class ShellTimeoutError extends Error {
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.name = 'ShellTimeoutError';
  }
}

const asRegExp = (p: RegExp | string): RegExp => (typeof p === 'string' ? new RegExp(p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : p);

export class ConsoleShell implements Shell {
  private readonly prompt: RegExp;
  private readonly loginPrompt: RegExp;
  private readonly passwordPrompt: RegExp;
  private readonly loginFailed: RegExp;
  private readonly timeoutMs: number;
  private readonly dropKernelMessages: boolean;
  private readonly loginWaitMs: number;
  private busy = false;

  constructor(
    private readonly console: Console,
    opts: ConsoleShellOptions,
  ) {
    if (opts.prompt === undefined || opts.prompt === '') throw new Error(`shell on ${console.name}: a prompt is required`);
    this.prompt = asRegExp(opts.prompt);
    this.loginPrompt = asRegExp(opts.loginPrompt ?? / login: ?$/);
    this.passwordPrompt = asRegExp(opts.passwordPrompt ?? /[Pp]assword: ?$/);
    this.loginFailed = asRegExp(opts.loginFailed ?? /Login incorrect/);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    if (!(this.timeoutMs > 0)) throw new RangeError(`shell on ${console.name}: timeoutMs must be positive, got ${opts.timeoutMs}`);
    this.dropKernelMessages = opts.dropKernelMessages ?? true;
    this.loginWaitMs = opts.loginWaitMs ?? 2000;
  }

  async run(command: string, opts: RunOptions = {}): Promise<ShellResult> {
    const marked = markCommand(command);
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    return this.exclusive(`run ${command}`, async () => {
      const deadline = Date.now() + timeoutMs;
      const step = (re: RegExp, what: string) => this.expectBy(re, deadline, `\`${command}\` ${what} within ${timeoutMs} ms`);
      await this.console.write(marked.line + '\n');
      await step(marked.start, 'did not start (no start marker)');
      const end = await step(marked.end, 'did not finish (no end marker)');
      await step(this.prompt, 'finished but the prompt did not come back');
      return {
        stdout: extractStdout(end[1]!, this.dropKernelMessages && !opts.keepKernelMessages),
        code: Number(end[2]),
      };
    });
  }

  /** Logs in at a login prompt; returns at once when the shell prompt is already there. */
  async login(user: string, password?: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    if (!user) throw new Error(`shell on ${this.console.name}: login needs a user name`);
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    await this.exclusive(`login ${user}`, async () => {
      const deadline = Date.now() + timeoutMs;
      const ready = either(this.loginPrompt, this.prompt);
      // The prompt may already be waiting; only then nudge the console with Enter.
      let first: RegExpMatchArray;
      try {
        first = await this.console.expect(ready, Math.min(this.loginWaitMs, timeoutMs));
      } catch {
        await this.console.write('\n');
        first = await this.expectBy(ready, deadline, `no login prompt (${this.loginPrompt}) or shell prompt within ${timeoutMs} ms`);
      }
      if (which(first) === 1) return;
      await this.console.write(user + '\n');
      const asked = await this.expectBy(
        either(this.passwordPrompt, this.prompt, this.loginFailed),
        deadline,
        `no password prompt or shell prompt after user ${user} within ${timeoutMs} ms`,
      );
      if (which(asked) === 2) throw new Error(`shell on ${this.console.name}: login as ${user} refused: ${asked[0]}`);
      if (which(asked) === 1) return;
      if (password === undefined) throw new Error(`shell on ${this.console.name}: ${user} needs a password and none was configured`);
      await this.console.write(password + '\n');
      const done = await this.expectBy(
        either(this.prompt, this.loginFailed),
        deadline,
        `no shell prompt after the password for ${user} within ${timeoutMs} ms`,
      );
      if (which(done) === 1) throw new Error(`shell on ${this.console.name}: login as ${user} refused: ${done[0]}`);
    });
  }

  /** Waits for the shell prompt, by default pressing Enter first so a prompt printed earlier is not needed. */
  async waitForPrompt(opts: { timeoutMs?: number; poke?: boolean } = {}): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    await this.exclusive('waitForPrompt', async () => {
      if (opts.poke ?? true) await this.console.write('\n');
      await this.expectBy(this.prompt, Date.now() + timeoutMs, `no shell prompt (${this.prompt}) within ${timeoutMs} ms`);
    });
  }

  private async exclusive<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.busy) throw new Error(`shell on ${this.console.name}: ${what} while another command is running`);
    this.busy = true;
    try {
      return await fn();
    } finally {
      this.busy = false;
    }
  }

  private async expectBy(re: RegExp, deadline: number, what: string): Promise<RegExpMatchArray> {
    try {
      return await this.console.expect(re, Math.max(0, deadline - Date.now()));
    } catch (e) {
      const tail = e instanceof Error && 'tail' in e ? `; last output: ${JSON.stringify((e as { tail: string }).tail)}` : '';
      if (e instanceof Error && e.name === 'ExpectTimeoutError') {
        throw new ShellTimeoutError(`shell on ${this.console.name}: ${what}${tail}`, e);
      }
      throw e;
    }
  }
}

/** One regex over several alternatives; `which()` tells which one matched (named groups, so the callers' own groups do not shift it). */
function either(...alternatives: RegExp[]): RegExp {
  const flags = [...new Set(alternatives.flatMap((r) => [...r.flags.replace(/[gyd]/g, '')]))].join('');
  return new RegExp(alternatives.map((r, i) => `(?<fsalt${i}>${r.source})`).join('|'), flags);
}

function which(m: RegExpMatchArray): number {
  for (let i = 0; m.groups && `fsalt${i}` in m.groups; i++) if (m.groups[`fsalt${i}`] !== undefined) return i;
  return -1;
}
