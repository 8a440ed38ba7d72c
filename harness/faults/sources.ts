// What fault triggers listen to. Each source is a subscribe function returning an unsubscribe, the
// same shape as Console.onLine, so a driver, a Node EventEmitter or a poller can all feed the
// scheduler and disposal is always one call.
import type { EventEmitter } from 'node:events';
import type { BoardState, ConsoleLine } from '../types.js';

export type Unsubscribe = () => void;

export interface LineSource {
  onLine(listener: (line: ConsoleLine) => void): Unsubscribe;
}
export interface StatusSource {
  /** Each deployment status the server records for the device (Mender's: downloading, installing, rebooting, success, failure…). */
  onStatus(listener: (status: string) => void): Unsubscribe;
}
export interface ByteCounter {
  /** Running totals of payload bytes (written to disk, or sent by the proxy). */
  onBytes(listener: (total: number) => void): Unsubscribe;
}
export interface StageSource {
  onStage(listener: (stage: BoardState) => void): Unsubscribe;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Adapts an EventEmitter event to a subscribe function. */
export function fromEmitter<T>(emitter: EventEmitter, event: string): (listener: (value: T) => void) => Unsubscribe {
  return (listener) => {
    const l = (v: T) => listener(v);
    emitter.on(event, l);
    return () => emitter.off(event, l);
  };
}

/**
 * A byte counter read by polling (QMP `query-blockstats` has no events). Polls only while someone
 * listens; a read that fails or returns the same total is not reported.
 */
export function pollingByteCounter(read: () => number | Promise<number>, intervalMs: number, timers: Timers = realTimers): ByteCounter {
  const listeners = new Set<(total: number) => void>();
  let handle: unknown = null;
  let last = -1;
  // Bumped on every stop, so a read still in flight from an earlier polling loop cannot restart it.
  let generation = 0;
  const tick = async (gen: number): Promise<void> => {
    let total: number | null = null;
    try {
      total = await read();
    } catch {
      total = null; // the board may be mid power cut; try again next tick
    }
    if (gen !== generation || listeners.size === 0) return;
    if (total !== null && total !== last) {
      last = total;
      for (const l of [...listeners]) l(total);
    }
    if (gen === generation && listeners.size > 0) handle = timers.setTimeout(() => void tick(gen), intervalMs);
  };
  return {
    onBytes(listener) {
      listeners.add(listener);
      if (handle === null) {
        const gen = generation;
        handle = timers.setTimeout(() => void tick(gen), intervalMs);
      }
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0 && handle !== null) {
          timers.clearTimeout(handle);
          handle = null;
          generation++;
        }
      };
    },
  };
}
