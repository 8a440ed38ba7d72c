// Latency samples in milliseconds, kept whole (10,000 devices × a few dozen requests fits easily)
// so percentiles are exact and samples from several processes merge by concatenation.

export class Latencies {
  readonly samples: number[] = [];

  add(ms: number): void {
    this.samples.push(ms);
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
