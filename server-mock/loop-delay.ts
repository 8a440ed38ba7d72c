// The server's event-loop delay, logged once per window (flipside-server and each --workers
// process): a request waits for everything else the process runs, so one synchronous stretch of
// seconds (a loop over the fleet, a checkpoint, a big GC) shows up as a tail on every route at
// once. The line says how long the loop was blocked at most in the window; the fleet run reads
// it from the log to explain its tail (harness/fleet/fleet.ts).
import { monitorEventLoopDelay } from 'node:perf_hooks';

export const LOOP_DELAY_MESSAGE = 'event loop delay';

export interface LoopDelayWindow {
  max_ms: number;
  p99_ms: number;
  mean_ms: number;
}

/** Logs the loop delay of each windowMs; returns a stop function. The timer does not hold the process open. */
export function logLoopDelay(log: (window: LoopDelayWindow, msg: string) => void, windowMs = 10_000): () => void {
  // 10 ms resolution: a stall shorter than that is not what this is for.
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  const ms = (ns: number): number => Math.round(ns / 1e4) / 100;
  const timer = setInterval(() => {
    if (h.count === 0) return;
    log({ max_ms: ms(h.max), p99_ms: ms(h.percentile(99)), mean_ms: ms(h.mean) }, LOOP_DELAY_MESSAGE);
    h.reset();
  }, windowMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    h.disable();
  };
}
