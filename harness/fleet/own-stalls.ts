// The load generator's own event-loop stalls, kept as time intervals, so that each request's
// latency can be split: the part during which the simulator's own process could not run (its GC,
// other devices' callbacks, or no core for it on a loaded box) and the rest, which is the server,
// the network and the kernel. A real device has its own CPU: only the rest is what it would see.
//
// How: a timer ticks every tickMs; a tick that comes later than due means the loop was blocked
// from when it was due until it ran, and that interval is kept (those over minMs: shorter delays
// stay in the rest, which keeps the rest an over- rather than an under-estimate of those).
// A response that arrived inside a stall is seen at its end, so raw − overlap can be less than
// the server's true time by up to the stall's length: the true latency lies between the two, and
// the report gives both (fleet.ts).
export class OwnStalls {
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private timer: NodeJS.Timeout | null = null;
  private due = 0;

  constructor(private readonly tickMs = 5, private readonly minMs = 2) {}

  start(): void {
    this.due = performance.now() + this.tickMs;
    this.timer = setInterval(() => {
      const now = performance.now();
      if (now - this.due > this.minMs) this.add(this.due, now);
      this.due = now + this.tickMs;
    }, this.tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Records a stall [from, to] (performance.now() ms); stalls come in time order. */
  add(from: number, to: number): void {
    this.starts.push(from);
    this.ends.push(to);
  }

  /** Milliseconds of [t0, t1] during which this process's loop was stalled. */
  overlap(t0: number, t1: number): number {
    // The first stall that ends after t0 (ends are increasing: stalls do not overlap).
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ends[mid]! <= t0) lo = mid + 1;
      else hi = mid;
    }
    let ms = 0;
    for (let i = lo; i < this.starts.length && this.starts[i]! < t1; i++) ms += Math.min(t1, this.ends[i]!) - Math.max(t0, this.starts[i]!);
    return ms;
  }

  /** Total stalled milliseconds recorded. */
  get totalMs(): number {
    let ms = 0;
    for (let i = 0; i < this.starts.length; i++) ms += this.ends[i]! - this.starts[i]!;
    return ms;
  }
}
