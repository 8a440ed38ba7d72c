// A Console that stays the same object for scenarios and strategies while the console behind it
// is replaced (a new transcript per scenario, a new QEMU per scenario). Listeners live here, so
// fault triggers subscribed once keep hearing every line.
import type { Console, ConsoleLine } from '../types.js';

export class RelayConsole implements Console {
  private readonly listeners = new Set<(l: ConsoleLine) => void>();
  private unsubscribe: (() => void) | null = null;
  private target: Console | null = null;

  constructor(readonly name: string) {}

  attach(target: Console | null): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.target = target;
    if (target) this.unsubscribe = target.onLine((l) => this.listeners.forEach((f) => f(l)));
  }

  get current(): Console | null {
    return this.target;
  }

  private need(): Console {
    if (!this.target) throw new Error(`${this.name}: no console yet (reset() the board first)`);
    return this.target;
  }

  async open(): Promise<void> {}
  async close(): Promise<void> {}
  write(text: string): Promise<void> {
    return this.need().write(text);
  }
  expect(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return this.need().expect(re, timeoutMs);
  }
  transcript(): readonly ConsoleLine[] {
    return this.target?.transcript() ?? [];
  }
  onLine(listener: (line: ConsoleLine) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
