// Arms each planned fault against the event source its trigger names and calls the action exactly
// once, synchronously inside the event that crossed the trigger (a power cut must land while the
// client is in the state, not a tick later). Every firing goes on the timeline; dispose() (or the
// last fault firing) removes every listener and timer.
import { parseStateLine } from '../run/state-line.js';
import type { Timeline } from '../run/timeline.js';
import type { BoardState, Fault } from '../types.js';
import { describeFault } from './describe.js';
import { realTimers, type ByteCounter, type LineSource, type StageSource, type StatusSource, type Timers, type Unsubscribe } from './sources.js';

export interface FaultSources {
  console?: LineSource;
  serverStatus?: StatusSource;
  bytesWritten?: ByteCounter;
  bytesSent?: ByteCounter;
  bootStage?: StageSource;
  /** For time triggers, counted from arm(). */
  timers?: Timers;
}

/** Injects one fault; may be async (the scheduler tracks it), must not be called twice for one fault. */
export type FaultAction = (fault: Fault, index: number) => void | Promise<void>;

export interface FiredFault {
  index: number;
  fault: Fault;
  /** ms since the timeline's origin when known, else since arm(). */
  t: number;
}

export interface FaultSchedulerOptions {
  faults: readonly Fault[];
  sources: FaultSources;
  action: FaultAction;
  timeline?: Timeline;
  /** Called when an action throws or rejects (also recorded on the timeline). */
  onError?: (err: unknown, fault: Fault, index: number) => void;
  now?: () => number;
}

export class FaultScheduler {
  private readonly faults: readonly Fault[];
  private readonly done: boolean[];
  private readonly firedList: FiredFault[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly unsubscribers: Unsubscribe[] = [];
  private readonly counts = new Map<string, number>();
  private armedAt = 0;
  private state: 'idle' | 'armed' | 'disposed' = 'idle';

  constructor(private readonly opts: FaultSchedulerOptions) {
    this.faults = [...opts.faults];
    this.done = this.faults.map(() => false);
  }

  /** Subscribes to the sources the faults need. Throws if a trigger's source is missing. */
  arm(): void {
    if (this.state !== 'idle') throw new Error(`cannot arm a scheduler that is ${this.state}`);
    const { sources } = this.opts;
    const need = new Set(this.faults.map((f) => f.at.on));
    const missing = (on: string, has: unknown) => need.has(on as never) && !has;
    for (const [on, has] of [
      ['state', sources.console],
      ['server-status', sources.serverStatus],
      ['bytes-written', sources.bytesWritten],
      ['bytes-sent', sources.bytesSent],
      ['boot-stage', sources.bootStage],
    ] as const) {
      if (missing(on, has)) throw new Error(`a fault triggers on '${on}' but no source for it was given`);
    }
    this.state = 'armed';
    this.armedAt = this.now();
    if (need.has('state')) this.unsubscribers.push(sources.console!.onLine((l) => this.onConsoleLine(l.text)));
    if (need.has('server-status')) this.unsubscribers.push(sources.serverStatus!.onStatus((s) => this.onCounted('server-status', s)));
    if (need.has('boot-stage')) this.unsubscribers.push(sources.bootStage!.onStage((s: BoardState) => this.onCounted('boot-stage', s)));
    if (need.has('bytes-written')) this.unsubscribers.push(sources.bytesWritten!.onBytes((n) => this.onBytes('bytes-written', n)));
    if (need.has('bytes-sent')) this.unsubscribers.push(sources.bytesSent!.onBytes((n) => this.onBytes('bytes-sent', n)));
    const timers = sources.timers ?? realTimers;
    this.faults.forEach((f, i) => {
      if (f.at.on !== 'time') return;
      const handle = timers.setTimeout(() => this.fire(i), Math.max(0, f.at.ms));
      this.unsubscribers.push(() => timers.clearTimeout(handle));
    });
    if (this.faults.length === 0) this.release();
  }

  fired(): readonly FiredFault[] {
    return this.firedList;
  }

  pending(): Fault[] {
    return this.faults.filter((_, i) => !this.done[i]);
  }

  /** Resolves when every action started so far has finished (errors go to onError, not here). */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  /** Stops listening; faults not yet fired never will. Safe to call twice. */
  dispose(): void {
    this.release();
    this.state = 'disposed';
  }

  private onConsoleLine(text: string): void {
    const s = parseStateLine(text);
    if (s) this.onCounted('state', s.state);
  }

  /** States, statuses and stages can repeat; `nth` picks which entry fires. */
  private onCounted(on: 'state' | 'server-status' | 'boot-stage', value: string): void {
    const key = `${on}\0${value}`;
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    this.faults.forEach((f, i) => {
      const at = f.at;
      const name = at.on === 'state' ? at.state : at.on === 'server-status' ? at.status : at.on === 'boot-stage' ? at.stage : null;
      if (at.on === on && name === value && (('nth' in at && at.nth) || 1) === n) this.fire(i);
    });
  }

  private onBytes(on: 'bytes-written' | 'bytes-sent', total: number): void {
    this.faults.forEach((f, i) => {
      if (f.at.on === on && total >= f.at.bytes) this.fire(i);
    });
  }

  private fire(i: number): void {
    if (this.state !== 'armed' || this.done[i]) return;
    this.done[i] = true;
    const fault = this.faults[i]!;
    const tl = this.opts.timeline;
    const t = tl ? tl.elapsed() : this.now() - this.armedAt;
    this.firedList.push({ index: i, fault, t });
    tl?.append({ source: 'fault', kind: fault.kind, text: describeFault(fault), data: { index: i, fault } });
    try {
      const r = this.opts.action(fault, i);
      if (r && typeof r.then === 'function') {
        const p: Promise<void> = r.then(
          () => undefined,
          (err: unknown) => this.failed(err, fault, i),
        );
        this.inFlight.add(p);
        void p.finally(() => this.inFlight.delete(p));
      }
    } catch (err) {
      this.failed(err, fault, i);
    }
    if (this.done.every(Boolean)) this.release();
  }

  private failed(err: unknown, fault: Fault, i: number): void {
    const message = err instanceof Error ? err.message : String(err);
    this.opts.timeline?.append({ source: 'harness', kind: 'fault-error', text: `injecting ${describeFault(fault)} failed: ${message}`, data: { index: i } });
    this.opts.onError?.(err, fault, i);
  }

  private release(): void {
    for (const u of this.unsubscribers.splice(0)) u();
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }
}
