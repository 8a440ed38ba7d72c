// What every Power driver shares: on/cut are one switch, and cycle is cut, wait, on. Drivers only
// say how to flip their switch.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Power } from '../types.js';

export abstract class SwitchedPower implements Power {
  constructor(readonly name: string) {
    if (!name) throw new Error('a power driver needs a name');
  }

  protected abstract switchTo(on: boolean): Promise<void>;

  on(): Promise<void> {
    return this.switchTo(true);
  }

  cut(): Promise<void> {
    return this.switchTo(false);
  }

  /** Cut, wait (1 s by default: long enough for most boards' capacitors to drain), on. */
  async cycle(offMs = 1000): Promise<void> {
    if (!Number.isFinite(offMs) || offMs < 0) throw new RangeError(`power ${this.name}: cycle offMs must be a non-negative number, got ${offMs}`);
    await this.cut();
    await sleep(offMs);
    await this.on();
  }
}
