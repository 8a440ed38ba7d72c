// The emulated link of one direction, shared by every connection through the proxy like a real
// uplink: a rate (serialisation delay per byte), a one-way latency, and loss.
//
// What loss means here: the proxy terminates TCP on both sides, so it cannot drop packets the way
// a lossy wire does (and on loopback the kernel would simply retransmit). What a TCP endpoint
// observes from loss is delay: a lost segment arrives one retransmission timeout (RTO) later, the
// RTO doubling for each consecutive loss, and a connection that keeps losing is eventually given
// up on. So each forwarded segment is "lost" with probability lossPct: it stalls for the current
// RTO (starting at `rtoMs`, doubled per consecutive loss of that connection) and after
// `maxRetries` consecutive losses the connection is reset. Draws come from a seeded generator, so
// a run's seed replays the same stalls.
import { createRng, type Rng } from '../faults/prng.js';
import type { NetworkShape } from '../types.js';

export interface LossPolicy {
  rtoMs: number;
  maxRetries: number;
}

export function checkShape(shape: NetworkShape, who: string): void {
  const bad = (what: string, v: unknown) => new RangeError(`${who}: ${what}, got ${v}`);
  if (shape.rateKbps !== undefined && !(Number.isFinite(shape.rateKbps) && shape.rateKbps > 0)) throw bad('rateKbps must be a positive number', shape.rateKbps);
  if (shape.latencyMs !== undefined && !(Number.isFinite(shape.latencyMs) && shape.latencyMs >= 0)) throw bad('latencyMs must be >= 0', shape.latencyMs);
  if (shape.lossPct !== undefined && !(Number.isFinite(shape.lossPct) && shape.lossPct >= 0 && shape.lossPct <= 100)) throw bad('lossPct must be 0–100', shape.lossPct);
}

export class LinkShaper {
  private shape: NetworkShape = {};
  /** When the emulated wire finishes sending what has been reserved so far. */
  private busyUntil = 0;
  private readonly rng: Rng;

  constructor(
    seed: number,
    readonly loss: LossPolicy,
  ) {
    this.rng = createRng(seed);
  }

  set(shape: NetworkShape): void {
    this.shape = { ...shape };
    this.busyUntil = 0;
  }

  get latencyMs(): number {
    return this.shape.latencyMs ?? 0;
  }

  /** Largest piece to forward at once: about 20 ms of wire time, so rate limiting stays smooth. */
  get segmentBytes(): number {
    const rate = this.shape.rateKbps;
    if (rate === undefined) return 64 * 1024;
    return Math.min(16 * 1024, Math.max(512, Math.floor((rate * 1000) / 8 / 50)));
  }

  /** How long to wait before `bytes` may go on the wire (0 when unlimited). */
  reserve(bytes: number, now: number): number {
    const rate = this.shape.rateKbps;
    if (rate === undefined) return 0;
    const start = Math.max(now, this.busyUntil);
    this.busyUntil = start + (bytes * 8) / rate; // kbit/s = bits per ms
    return start - now;
  }

  /** True when the next segment is lost. */
  lost(): boolean {
    const pct = this.shape.lossPct ?? 0;
    return pct > 0 && this.rng.next() * 100 < pct;
  }
}
