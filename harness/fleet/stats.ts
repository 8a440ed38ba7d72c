// Latency samples in milliseconds, kept whole (10,000 devices × a few dozen requests fits easily)
// so percentiles are exact and samples from several processes merge by concatenation. Each
// sample also keeps when it started, so the part of it the measuring process itself was stalled
// can be taken out afterwards (own-stalls.ts).
import type { OwnStalls } from './own-stalls.js';

export class Latencies {
  readonly samples: number[] = [];
  private readonly starts: number[] = [];

  add(ms: number, startedAt = NaN): void {
    this.samples.push(ms);
    this.starts.push(startedAt);
  }

  /** A request that started at t0 (performance.now()) and ended now. */
  since(t0: number): void {
    this.add(performance.now() - t0, t0);
  }

  /**
   * Each sample less the time its own process was stalled while it ran (samples without a
   * start are kept as they are).
   */
  withoutOwnStalls(stalls: OwnStalls): number[] {
    return this.samples.map((ms, i) => {
      const t0 = this.starts[i]!;
      return Number.isNaN(t0) ? ms : ms - stalls.overlap(t0, t0 + ms);
    });
  }

  /** Samples over minMs as "epoch-ms-at-start latency net" lines, for lining tails up with server logs. */
  slowLines(stalls: OwnStalls, minMs: number, kind: string): string[] {
    const net = this.withoutOwnStalls(stalls);
    const out: string[] = [];
    this.samples.forEach((ms, i) => {
      const t0 = this.starts[i]!;
      if (ms >= minMs && !Number.isNaN(t0)) out.push(`${Math.round(performance.timeOrigin + t0)} ${ms.toFixed(1)} ${net[i]!.toFixed(1)} ${kind}\n`);
    });
    return out;
  }

  static merge(lists: number[][]): number[] {
    return lists.flat().sort((a, b) => a - b);
  }
}

/** Nearest-rank percentile of sorted samples; 0 when there are none. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
