// A console whose lines the board model emits itself (the fake board, host-sim): expect() reads
// what was emitted since the last match, as a serial console's buffer would hold it.
import type { Console, ConsoleLine } from '../types.js';

export class LineConsole implements Console {
  constructor(readonly name: string) {}
  private readonly lines: ConsoleLine[] = [];
  private unread = '';
  private readonly waiters = new Set<() => void>();
  private readonly listeners = new Set<(l: ConsoleLine) => void>();

  async open(): Promise<void> {}
  async close(): Promise<void> {}
  /** Typed text; the board reacts to a raw `reboot` (how scenarios reboot: no marker reply comes). */
  onWrite: (text: string) => void = () => undefined;
  async write(text: string): Promise<void> {
    this.onWrite(text);
  }

  emit(text: string): void {
    const line = { t: Date.now(), text };
    this.lines.push(line);
    this.unread += `${text}\n`;
    this.listeners.forEach((f) => f(line));
    this.waiters.forEach((f) => f());
  }

  /** Power-on: output from before can no longer satisfy an expect (a stale prompt must not look like a new boot). */
  discardUnread(): void {
    this.unread = '';
  }

  expect(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const m = this.unread.match(re);
        if (!m || m.index === undefined) return false;
        this.unread = this.unread.slice(m.index + m[0].length);
        resolve(m);
        return true;
      };
      if (check()) return;
      const waiter = () => {
        if (check()) done();
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no match for ${re}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      this.waiters.add(waiter);
    });
  }

  transcript(): readonly ConsoleLine[] {
    return this.lines;
  }
  onLine(listener: (line: ConsoleLine) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
