// One run of a job at a time, and every call made while one runs shares the next: however many
// requests ask meanwhile, the job takes one place in the PostgreSQL pool's queue (at fleet scale
// each round trip there holds a connection for a turn of the event loop: README, Scaling). A call
// is answered by a run that starts after the call, so the run sees whatever the caller wrote
// before calling.

export class Coalesced<T> {
  /** The run the next callers join (not started yet). */
  private next: Promise<T> | undefined;
  /** The latest run, its failure caught: the next one starts after it settles. */
  private last: Promise<unknown> = Promise.resolve();

  /**
   * job runs once per batch of calls; gather is waited for before it starts (by default the rest
   * of this turn of the event loop, so the requests handled in one turn share a run).
   */
  constructor(
    private readonly job: () => Promise<T>,
    private readonly gather: () => Promise<void> = () => new Promise((resolve) => setImmediate(resolve)),
  ) {}

  /** Runs asked for and not settled yet. */
  private pending = 0;

  run(): Promise<T> {
    if (this.next) return this.next;
    const run = this.last.then(this.gather).then(() => {
      // From here on, new calls are not seen by this run: they make the next.
      this.next = undefined;
      return this.job();
    });
    this.next = run;
    this.pending++;
    this.last = run.then(
      () => void this.pending--,
      () => void this.pending--,
    );
    return run;
  }

  /** No run waiting to start or running. */
  get idle(): boolean {
    return this.pending === 0;
  }

  /** Settles when every run asked for so far has settled. */
  settled(): Promise<void> {
    return this.last.then(() => {});
  }
}
