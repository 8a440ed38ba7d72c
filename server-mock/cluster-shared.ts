// What the supervisor of `flipside-server --workers N` keeps for all its workers, besides the
// deviceconnect relay (deviceconnect/cluster-relay.ts): the login throttle and the rate of new
// devices per source address, so N workers let a guesser have exactly what one process would;
// and the word that a worker died, so the others take over its webhook deliveries at once
// (integrations/webhooks.ts) rather than when its leases run out.
//
//   worker ──{shared:'login-begin' | 'login-end' | 'new-device', id, …}──▶ supervisor
//   worker ◀──{shared:'answer', id, value}── supervisor
//   workers ◀──{shared:'worker-gone', owner}── supervisor, when a worker exits
//
// A login holds a slot in the supervisor's LoginThrottle from 'login-begin' until its
// 'login-end'; a worker that dies between the two has its slots released on its exit (nothing
// is counted for them: the password check never ended). The state is the supervisor's memory,
// as one process's would be: a restart of the whole server forgets it.
import type { Cluster, Worker } from 'node:cluster';
import { LoginThrottle, type LoginGate, type LoginThrottleOptions, type Lockout, type Refusal } from './auth/login-throttle.js';
import { NewDeviceRate, type NewDeviceRateGate } from './device/admission.js';

type Question =
  | { q: 'login-begin'; account: string; source: string }
  | { q: 'login-end'; attempt: number; success: boolean }
  | { q: 'new-device'; source: string };

/** What a worker sends to the supervisor. */
export type SharedToPrimary = { shared: 'ask'; id: number } & Question;
/** What the supervisor sends to a worker. */
export type SharedToWorker = { shared: 'answer'; id: number; value: unknown } | { shared: 'worker-gone'; owner: string };

type BeginAnswer = { ok: true; attempt: number } | Refusal;

const isShared = (m: unknown): m is { shared: string } => typeof m === 'object' && m !== null && typeof (m as { shared?: unknown }).shared === 'string';

export interface SharedPrimaryOptions {
  loginThrottle: LoginThrottleOptions;
  newDevicesPerSourcePerMinute: number;
  /** The webhook lease owner a worker was started with (workers.ts), told to the others when it exits. */
  leaseOwnerOf: (w: Worker) => string | undefined;
  now?: () => number;
}

/** The supervisor's side: the one LoginThrottle and NewDeviceRate, and the exit notices. */
export function sharedPrimary(cluster: Pick<Cluster, 'on' | 'workers'>, o: SharedPrimaryOptions): void {
  const throttle = new LoginThrottle(o.loginThrottle, o.now);
  const rate = new NewDeviceRate(o.newDevicesPerSourcePerMinute, o.now);
  /** Logins admitted and not yet ended, with the worker checking each. */
  const attempts = new Map<number, { worker: number; end(success: boolean): Lockout[]; release(): void }>();
  let nextAttempt = 1;
  const answer = (w: Worker, q: Question): unknown => {
    switch (q.q) {
      case 'login-begin': {
        const a = throttle.begin(q.account, q.source);
        if (!a.ok) return a;
        const attempt = nextAttempt++;
        attempts.set(attempt, { worker: w.id, end: a.end, release: a.release });
        return { ok: true, attempt } satisfies BeginAnswer;
      }
      case 'login-end': {
        const a = attempts.get(q.attempt);
        if (!a || a.worker !== w.id) return [];
        attempts.delete(q.attempt);
        return a.end(q.success);
      }
      case 'new-device':
        return rate.take(q.source);
    }
  };
  cluster.on('message', (w: Worker, m: unknown) => {
    if (!isShared(m) || (m as SharedToPrimary).shared !== 'ask') return;
    const { id, shared: _s, ...q } = m as SharedToPrimary;
    send(w, { shared: 'answer', id, value: answer(w, q as Question) });
  });
  cluster.on('exit', (w: Worker) => {
    for (const [id, a] of attempts) {
      if (a.worker !== w.id) continue;
      a.release();
      attempts.delete(id);
    }
    const owner = o.leaseOwnerOf(w);
    if (owner === undefined) return;
    for (const other of Object.values(cluster.workers ?? {})) if (other && other !== w) send(other, { shared: 'worker-gone', owner });
  });
}

function send(w: Worker, m: SharedToWorker): void {
  if (w.isDead() || !w.isConnected()) return;
  // The callback keeps a channel closed meanwhile from becoming an 'error' event.
  w.send(m, undefined, () => {});
}

/** The worker's IPC channel to the supervisor (`process` in a worker). */
export interface SharedChannel {
  send(m: SharedToPrimary, handle: undefined, options: undefined, callback: (err: Error | null) => void): unknown;
  on(event: 'message', fn: (m: unknown) => void): unknown;
  off(event: 'message', fn: (m: unknown) => void): unknown;
}

/** The worker's side: the LoginGate and NewDeviceRateGate of the server, and the exit notices. */
export class SharedLimits implements LoginGate, NewDeviceRateGate {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private readonly goneHandlers: Array<(owner: string) => void> = [];

  constructor(private readonly channel: SharedChannel) {
    channel.on('message', this.onMessage);
  }

  private readonly onMessage = (m: unknown): void => {
    if (!isShared(m)) return;
    const msg = m as SharedToWorker;
    if (msg.shared === 'worker-gone') {
      for (const fn of this.goneHandlers) fn(msg.owner);
      return;
    }
    if (msg.shared !== 'answer') return;
    this.waiting.get(msg.id)?.resolve(msg.value);
    this.waiting.delete(msg.id);
  };

  /** Called with a dead worker's webhook lease owner. */
  onWorkerGone(fn: (owner: string) => void): void {
    this.goneHandlers.push(fn);
  }

  private ask<T>(q: Question): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.channel.send({ shared: 'ask', id, ...q }, undefined, undefined, (err) => {
        if (!err) return;
        this.waiting.delete(id);
        reject(new Error(`the supervisor cannot be asked (${err.message}): this worker is stopping`));
      });
    });
  }

  async begin(account: string, source: string): Promise<{ ok: true; end(success: boolean): Promise<Lockout[]> } | Refusal> {
    const a = await this.ask<BeginAnswer>({ q: 'login-begin', account, source });
    if (!a.ok) return a;
    let ended = false;
    return {
      ok: true,
      end: async (success) => {
        if (ended) return [];
        ended = true;
        return this.ask<Lockout[]>({ q: 'login-end', attempt: a.attempt, success });
      },
    };
  }

  take(source: string): Promise<number> {
    return this.ask<number>({ q: 'new-device', source });
  }

  /** Questions still waiting fail: the worker is stopping. */
  close(): void {
    this.channel.off('message', this.onMessage);
    for (const w of this.waiting.values()) w.reject(new Error('this worker is stopping'));
    this.waiting.clear();
  }
}
