// When the daemon talks to the server next. Two periodic tasks, each due once at start (Mender
// polls inventory and deployments right away): the update check every UpdatePollIntervalSeconds,
// the inventory every InventoryPollIntervalSeconds. A failed task is retried sooner, with
// Mender's backoff (backoffDelayMs); success resets it. Pure: time comes from an injected clock.
import { RetryLater } from './deployments.js';

export const DEFAULT_UPDATE_POLL_SECONDS = 1800;
export const DEFAULT_INVENTORY_POLL_SECONDS = 28800;
export const DEFAULT_RETRY_POLL_SECONDS = 300;
const MINUTE_MS = 60_000;

/**
 * Mender's GetExponentialBackoffTime: one unit (a minute) for three tries, then twice that for
 * three more, doubling until the cap maxIntervalMs, which is kept for three tries; after that
 * (or after maxAttempts tries when maxAttempts > 0) null: give up retrying. Never below one unit.
 */
export function backoffDelayMs(tried: number, maxIntervalMs: number, maxAttempts = 0, unitMs = MINUTE_MS): number | null {
  const perInterval = 3;
  if (maxAttempts > 0 && tried >= maxAttempts) return null;
  let interval = unitMs;
  let next = unitMs;
  for (let c = 0; c <= tried; c += perInterval) {
    interval = next;
    next *= 2;
    if (interval >= maxIntervalMs) {
      if (maxAttempts <= 0 && tried - c >= perInterval) return null;
      return Math.max(maxIntervalMs, unitMs);
    }
  }
  return interval;
}

export interface PollConfig {
  updatePollSeconds?: number;
  inventoryPollSeconds?: number;
  /** The backoff cap (RetryPollIntervalSeconds). */
  retryPollSeconds?: number;
  /** RetryPollCount: retries before falling back to the regular interval; 0 = Mender's default. */
  retryPollCount?: number;
  /** Backoff unit; a minute as in Mender, smaller in tests. */
  backoffUnitMs?: number;
}

export type PollTask = 'update' | 'inventory';

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

interface TaskState {
  intervalMs: number;
  dueAt: number;
  failures: number;
}

export class PollSchedule {
  private readonly tasks: Record<PollTask, TaskState>;
  private readonly retryMaxMs: number;

  constructor(
    private readonly cfg: PollConfig = {},
    private readonly clock: Clock = systemClock,
  ) {
    const now = clock.now();
    this.tasks = {
      update: { intervalMs: (cfg.updatePollSeconds ?? DEFAULT_UPDATE_POLL_SECONDS) * 1000, dueAt: now, failures: 0 },
      inventory: { intervalMs: (cfg.inventoryPollSeconds ?? DEFAULT_INVENTORY_POLL_SECONDS) * 1000, dueAt: now, failures: 0 },
    };
    this.retryMaxMs = (cfg.retryPollSeconds ?? DEFAULT_RETRY_POLL_SECONDS) * 1000;
  }

  /** The task due first (inventory before update on a tie, as Mender sends inventory first). */
  next(): { task: PollTask; at: number; waitMs: number } {
    const { update, inventory } = this.tasks;
    const task: PollTask = inventory.dueAt <= update.dueAt ? 'inventory' : 'update';
    const at = this.tasks[task].dueAt;
    return { task, at, waitMs: Math.max(0, at - this.clock.now()) };
  }

  dueAt(task: PollTask): number {
    return this.tasks[task].dueAt;
  }

  failures(task: PollTask): number {
    return this.tasks[task].failures;
  }

  succeeded(task: PollTask): void {
    const t = this.tasks[task];
    t.failures = 0;
    t.dueAt = this.clock.now() + t.intervalMs;
  }

  /**
   * A failed attempt: retry after the backoff delay; once the backoff gives up, back to the
   * regular interval with a fresh count. A RetryLater with Retry-After sets the wait itself.
   */
  failed(task: PollTask, error?: unknown): number {
    const t = this.tasks[task];
    const now = this.clock.now();
    if (error instanceof RetryLater && error.retryAfterMs !== null) {
      t.failures++;
      t.dueAt = now + error.retryAfterMs;
      return error.retryAfterMs;
    }
    const delay = backoffDelayMs(t.failures, this.retryMaxMs, this.cfg.retryPollCount ?? 0, this.cfg.backoffUnitMs ?? MINUTE_MS);
    if (delay === null) {
      t.failures = 0;
      t.dueAt = now + t.intervalMs;
      return t.intervalMs;
    }
    t.failures++;
    t.dueAt = now + delay;
    return delay;
  }

  /** Makes a task due now (e.g. `flipside check-update` poking the daemon, or after an update). */
  trigger(task: PollTask): void {
    this.tasks[task].dueAt = this.clock.now();
  }
}
