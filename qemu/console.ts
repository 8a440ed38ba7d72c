// The serial console of a VM over QEMU's unix-socket chardev: expect/write like a human at a
// terminal, every line stamped and appended to a transcript file as it arrives.
import { appendFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { Console, ConsoleLine } from '../harness/types.js';

// Terminal control sequences (busybox ash asks for the cursor position with ESC[6n) and CRs:
// neither belongs in a transcript or in what expect() matches against.
// eslint-disable-next-line no-control-regex
const CONTROL = /\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\r/g;

export function cleanConsoleText(s: string): string {
  return s.replace(CONTROL, '');
}

export class ConsoleTimeoutError extends Error {
  constructor(
    readonly re: RegExp,
    readonly timeoutMs: number,
    readonly tail: string,
  ) {
    super(`console: no match for ${re} within ${timeoutMs} ms; last output:\n${tail}`);
    this.name = 'ConsoleTimeoutError';
  }
}

export class SocketConsole implements Console {
  private socket: Socket | null = null;
  private readonly lines: ConsoleLine[] = [];
  private partial = '';
  /** Output not yet consumed by expect(). */
  private unread = '';
  private readonly lineListeners = new Set<(l: ConsoleLine) => void>();
  private readonly dataListeners = new Set<() => void>();
  private readonly t0 = Date.now();

  constructor(
    readonly name: string,
    private readonly socketPath: string,
    private readonly transcriptFile: string,
    private readonly charDelayMs = 0,
  ) {
    writeFileSync(transcriptFile, '');
  }

  /** Connects, retrying while QEMU has not created the socket yet. */
  async open(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        this.socket = await new Promise<Socket>((res, rej) => {
          const s = connect(this.socketPath);
          s.once('connect', () => res(s));
          s.once('error', rej);
        });
        break;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`console ${this.socketPath}: ${(e as Error).message}`);
        await delay(20);
      }
    }
    this.socket.setEncoding('utf8');
    this.socket.on('data', (d: string) => this.onData(d));
    this.socket.on('error', () => {});
    this.socket.on('close', () => this.flushPartial());
  }

  async close(): Promise<void> {
    this.flushPartial();
    this.socket?.destroy();
    this.socket = null;
  }

  private onData(raw: string): void {
    const text = cleanConsoleText(raw);
    this.unread += text;
    // Bound memory: expect() only ever needs the recent past.
    if (this.unread.length > 1_000_000) this.unread = this.unread.slice(-500_000);
    this.partial += text;
    let nl: number;
    while ((nl = this.partial.indexOf('\n')) >= 0) {
      this.pushLine(this.partial.slice(0, nl));
      this.partial = this.partial.slice(nl + 1);
    }
    for (const l of this.dataListeners) l();
  }

  private flushPartial(): void {
    if (this.partial) this.pushLine(this.partial);
    this.partial = '';
  }

  private pushLine(text: string): void {
    const line = { t: Date.now(), text };
    this.lines.push(line);
    appendFileSync(this.transcriptFile, `[${((line.t - this.t0) / 1000).toFixed(3).padStart(8)}] ${text}\n`);
    for (const l of this.lineListeners) l(line);
  }

  async write(text: string): Promise<void> {
    const s = this.socket;
    if (!s) throw new Error(`console ${this.name}: not open`);
    if (this.charDelayMs <= 0) {
      s.write(text);
      return;
    }
    for (const ch of text) {
      s.write(ch);
      await delay(this.charDelayMs);
    }
  }

  expect(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const tryMatch = (): boolean => {
        const m = this.unread.match(re);
        if (!m || m.index === undefined) return false;
        this.unread = this.unread.slice(m.index + m[0].length);
        resolve(m);
        return true;
      };
      if (tryMatch()) return;
      const listener = () => {
        if (tryMatch()) done();
      };
      const timer = setTimeout(() => {
        done();
        reject(new ConsoleTimeoutError(re, timeoutMs, this.unread.slice(-2000)));
      }, timeoutMs);
      // An expect cut short by a power cut is never awaited again: it must not keep the process alive.
      timer.unref();
      const done = () => {
        clearTimeout(timer);
        this.dataListeners.delete(listener);
      };
      this.dataListeners.add(listener);
    });
  }

  /** Forgets output not yet matched, so the next expect only sees what comes after now. */
  discard(): void {
    this.unread = '';
  }

  transcript(): readonly ConsoleLine[] {
    return this.lines;
  }

  onLine(listener: (line: ConsoleLine) => void): () => void {
    this.lineListeners.add(listener);
    return () => this.lineListeners.delete(listener);
  }
}
