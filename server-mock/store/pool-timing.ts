// Where a PostgreSQL query's time goes, per window: a transaction's wait for a connection of its
// own, a query's time from asking to answered (the driver's queue when no connection can take it
// in its pipeline, the wire, PostgreSQL's work and the turn the event loop takes to read the
// answer), and how long transactions hold their connection. The
// server logs a window with its event-loop delay (loop-delay.ts): when status writes take
// seconds while PostgreSQL's backends sit idle, these say whether the wait is the pool's queue,
// the query, or a transaction holding connections across event-loop turns.

export const POOL_TIMING_MESSAGE = 'database pool';

export interface PoolTimingWindow {
  queries: number;
  /** A transaction waiting for a connection of its own. */
  wait_mean_ms: number;
  wait_max_ms: number;
  /** Asked to answered (queued in the driver included). */
  query_mean_ms: number;
  query_max_ms: number;
  transactions: number;
  /** The transaction's work, from BEGIN's answer to its last statement's: the connection is no one else's meanwhile. */
  tx_hold_mean_ms: number;
  tx_hold_max_ms: number;
  /** Most queries queued in the driver (no connection's pipeline could take them) or transactions waiting for a connection at once. */
  waiting_max: number;
}

class Sum {
  n = 0;
  total = 0;
  max = 0;
  add(ms: number): void {
    this.n++;
    this.total += ms;
    if (ms > this.max) this.max = ms;
  }
  get mean(): number {
    return this.n ? this.total / this.n : 0;
  }
}

const round = (ms: number): number => Math.round(ms * 100) / 100;

export class PoolTiming {
  private wait = new Sum();
  private query = new Sum();
  private hold = new Sum();
  private waiting = 0;
  private waitingMax = 0;

  /** Starts a wait for a connection; call the result when one came. */
  waitStarted(): () => void {
    const t0 = performance.now();
    this.waiting++;
    if (this.waiting > this.waitingMax) this.waitingMax = this.waiting;
    return () => {
      this.waiting--;
      this.wait.add(performance.now() - t0);
    };
  }
  /** The driver's queue length as a query is asked. */
  waitingNow(n: number): void {
    if (this.waiting + n > this.waitingMax) this.waitingMax = this.waiting + n;
  }
  queried(ms: number): void {
    this.query.add(ms);
  }
  held(ms: number): void {
    this.hold.add(ms);
  }

  /** The window since the last call, or undefined when no query ran in it; starts the next. */
  take(): PoolTimingWindow | undefined {
    if (this.query.n === 0 && this.wait.n === 0) return undefined;
    const w: PoolTimingWindow = {
      queries: this.query.n,
      wait_mean_ms: round(this.wait.mean),
      wait_max_ms: round(this.wait.max),
      query_mean_ms: round(this.query.mean),
      query_max_ms: round(this.query.max),
      transactions: this.hold.n,
      tx_hold_mean_ms: round(this.hold.mean),
      tx_hold_max_ms: round(this.hold.max),
      waiting_max: this.waitingMax,
    };
    this.wait = new Sum();
    this.query = new Sum();
    this.hold = new Sum();
    this.waitingMax = this.waiting;
    return w;
  }
}
