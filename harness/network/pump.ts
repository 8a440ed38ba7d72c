// One direction of one proxied connection. A reader stage takes data from the source only while
// fewer than `maxQueuedBytes` wait in the emulated link (so a slow side stops the fast side through
// TCP flow control, never through memory), stamps each segment with its due time (latency), and a
// writer stage releases segments when due, at the link's rate, through loss stalls and the cut
// check, waiting for the destination to drain. Like a TCP window, the bound also caps throughput
// under latency at maxQueuedBytes per latency period (256 KiB / 100 ms ≈ 2.6 MB/s).
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LinkShaper } from './link-shaper.js';

export type Direction = 'up' | 'down';

export interface PumpHooks {
  /** How many of `bytes` may still pass before a cut (Infinity when no cut is armed). */
  allowance(direction: Direction): number;
  delivered(direction: Direction, bytes: number): void;
  /** The cut point was reached after the bytes just delivered. */
  cut(direction: Direction): void;
  /** The connection must be reset (source error, write failure, too many losses). */
  reset(reason: string): void;
}

interface Segment {
  data: Buffer | null; // null: the source ended (forward the FIN)
  due: number;
}

export class Pump {
  private readonly queue: Segment[] = [];
  private queued = 0;
  private wakeWriter: (() => void) | null = null;
  private wakeReader: (() => void) | null = null;
  private stopped = false;

  constructor(
    private readonly src: Socket,
    private readonly dst: Socket,
    readonly direction: Direction,
    private readonly link: LinkShaper,
    private readonly hooks: PumpHooks,
    private readonly maxQueuedBytes = 256 * 1024,
  ) {}

  /** Bytes read from the source and not yet written on (bounded by maxQueuedBytes plus one read). */
  get queuedBytes(): number {
    return this.queued;
  }

  /** Resolves when this direction is finished (forwarded its FIN, or stopped). */
  run(): Promise<void> {
    return Promise.all([this.read(), this.write()]).then(() => undefined);
  }

  stop(): void {
    this.stopped = true;
    this.wakeReader?.();
    this.wakeWriter?.();
  }

  private async read(): Promise<void> {
    try {
      // destroyOnReturn: false, so the source's end (a half-close) leaves its writable side, which
      // carries the other direction, open.
      for await (const chunk of this.src.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
        if (this.stopped) return;
        const due = performance.now() + this.link.latencyMs;
        const size = this.link.segmentBytes;
        for (let i = 0; i < chunk.length; i += size) this.enqueue({ data: chunk.subarray(i, i + size), due });
        while (this.queued > this.maxQueuedBytes && !this.stopped) await new Promise<void>((r) => (this.wakeReader = r));
      }
      this.enqueue({ data: null, due: performance.now() + this.link.latencyMs });
    } catch (e) {
      if (!this.stopped) this.hooks.reset(`${this.direction === 'up' ? 'client' : 'server'} side: ${(e as Error).message}`);
    }
  }

  private enqueue(s: Segment): void {
    this.queue.push(s);
    if (s.data) this.queued += s.data.length;
    this.wakeWriter?.();
  }

  private async write(): Promise<void> {
    let lossStreak = 0;
    while (!this.stopped) {
      const seg = this.queue[0];
      if (!seg) {
        await new Promise<void>((r) => (this.wakeWriter = r));
        this.wakeWriter = null;
        continue;
      }
      const wait = seg.due - performance.now();
      if (wait > 0) await sleep(wait);
      if (seg.data === null) {
        this.queue.shift();
        if (!this.dst.destroyed) this.dst.end();
        return;
      }
      if (this.link.lost()) {
        if (++lossStreak > this.link.loss.maxRetries) {
          this.hooks.reset(`${this.direction}: ${this.link.loss.maxRetries} retransmissions lost`);
          return;
        }
        await sleep(this.link.loss.rtoMs * 2 ** (lossStreak - 1));
        continue;
      }
      lossStreak = 0;
      const delay = this.link.reserve(seg.data.length, performance.now());
      if (delay > 0) await sleep(delay);
      if (this.stopped) return;
      this.queue.shift();
      this.queued -= seg.data.length;
      this.wakeReader?.();
      this.wakeReader = null;
      const allowed = this.hooks.allowance(this.direction);
      const data = allowed < seg.data.length ? seg.data.subarray(0, allowed) : seg.data;
      if (data.length > 0) {
        const ok = this.dst.write(data);
        this.hooks.delivered(this.direction, data.length);
        if (!ok && !(await drained(this.dst))) return;
      }
      if (allowed <= seg.data.length) {
        this.hooks.cut(this.direction);
        return;
      }
    }
  }
}

/** Waits for 'drain'; false when the socket closed instead. */
function drained(s: Socket): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      s.off('drain', onDrain);
      s.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    s.on('drain', onDrain);
    s.on('close', onClose);
  });
}
