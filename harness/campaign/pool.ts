// The campaign's worker processes (--jobs): each takes a batch of crash states at a time and
// reports every result as it finishes, so progress is live and a mutant can stop at its first catch.
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CheckItem, FromWorker, ToWorker, WorkerSetup } from './worker.js';
import type { BootScriptBug } from '../host-sim/boot-script.js';

const ENTRY = join(dirname(fileURLToPath(import.meta.url)), 'worker-entry.mjs');

type Result = Extract<FromWorker, { type: 'result' }>;

interface Slot {
  child: ChildProcess;
  busy: number;
  stderr: string;
}

export class Pool {
  private slots: Slot[] = [];
  private queue: CheckItem[][] = [];
  private onResult: (r: Result) => void = () => undefined;
  private recordWaiters = new Map<number, { res: (m: Extract<FromWorker, { type: 'recorded' }>) => void; rej: (e: Error) => void }>();
  private idleWaiters: (() => void)[] = [];
  private failure: Error | null = null;
  private nextId = 0;
  private prefetch = 0;

  static async start(jobs: number, setup: WorkerSetup): Promise<Pool> {
    const p = new Pool();
    const scratch = existsSync('/dev/shm') ? '/dev/shm' : undefined;
    await Promise.all(
      Array.from({ length: jobs }, async () => {
        const child = fork(ENTRY, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...process.env, ...(scratch ? { TMPDIR: scratch } : {}) } });
        const slot: Slot = { child, busy: 0, stderr: '' };
        child.stderr!.setEncoding('utf8').on('data', (d: string) => (slot.stderr = (slot.stderr + d).slice(-4000)));
        if (process.env.FLIPSIDE_CAMPAIGN_TIMING) child.stderr!.on('data', (d: string) => d.includes('stage ms') && process.stderr.write(d));
        child.on('message', (m: FromWorker) => p.message(slot, m));
        child.on('exit', (code, signal) => {
          if (!p.closing) p.fail(new Error(`campaign worker ${child.pid} exited (${code ?? signal}): ${slot.stderr.trim().split('\n').slice(-5).join(' | ')}`));
        });
        const ready = new Promise<void>((res) => child.once('message', () => res()));
        child.send({ type: 'init', setup } satisfies ToWorker);
        await ready;
        p.slots.push(slot);
      }),
    );
    return p;
  }

  private closing = false;

  private fail(e: Error): void {
    this.failure ??= e;
    for (const w of this.idleWaiters.splice(0)) w();
    // A recording that fails (a worker error or exit) must not leave its caller waiting.
    for (const w of this.recordWaiters.values()) w.rej(this.failure);
    this.recordWaiters.clear();
  }

  private message(slot: Slot, m: FromWorker): void {
    if (m.type === 'result') {
      slot.busy--;
      this.onResult(m);
      // A second batch waits in the worker while it checks the first: no idle round trip between.
      if (slot.busy <= this.prefetch) this.feed(slot);
    } else if (m.type === 'recorded') {
      slot.busy--;
      this.recordWaiters.get(m.id)?.res(m);
      this.recordWaiters.delete(m.id);
      this.feed(slot);
    } else if (m.type === 'error') this.fail(new Error(`campaign worker: ${m.message}`));
  }

  private feed(slot: Slot): void {
    const batch = this.queue.shift();
    if (batch) {
      slot.busy += batch.length;
      slot.child.send({ type: 'check', items: batch } satisfies ToWorker);
    } else if (this.slots.every((s) => s.busy === 0)) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Records one flow on the least busy worker. */
  record(flow: string, clientVariant: string, bootBug: BootScriptBug | null, file: string): Promise<Extract<FromWorker, { type: 'recorded' }>> {
    const slot = [...this.slots].sort((a, b) => a.busy - b.busy)[0]!;
    const id = this.nextId++;
    slot.busy++;
    return new Promise((res, rej) => {
      this.recordWaiters.set(id, { res, rej });
      if (this.failure) rej(this.failure);
      slot.child.send({ type: 'record', id, flow, clientVariant, bootBug, file } satisfies ToWorker);
    });
  }

  /** Checks every item; `onResult` may call `drop` to take queued batches back (a mutant caught). */
  async run(items: CheckItem[], batchSize: number, onResult: (r: Result) => void): Promise<void> {
    this.onResult = onResult;
    this.prefetch = batchSize;
    for (let i = 0; i < items.length; i += batchSize) this.queue.push(items.slice(i, i + batchSize));
    const done = new Promise<void>((res) => this.idleWaiters.push(res));
    for (const s of this.slots) if (s.busy === 0) {
      this.feed(s);
      this.feed(s);
    }
    await done;
    if (this.failure) throw this.failure;
  }

  /** Removes queued (not yet sent) items for which `pred` holds. */
  drop(pred: (it: CheckItem) => boolean): void {
    this.queue = this.queue.map((b) => b.filter((it) => !pred(it))).filter((b) => b.length > 0);
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.slots.map(
        (s) =>
          new Promise<void>((res) => {
            if (s.child.exitCode !== null || s.child.signalCode !== null) return res();
            s.child.once('exit', () => res());
            s.child.send({ type: 'exit' } satisfies ToWorker);
          }),
      ),
    );
  }
}
