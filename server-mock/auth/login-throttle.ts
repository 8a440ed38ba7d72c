// Login throttling, per account (the e-mail typed, known or not, so a lockout says nothing about
// who exists) and per source address. An attempt holds a slot from before the password check
// until it ends, so a hundred parallel guesses get at most `limit` checks; a failure keeps its
// slot for the window. When an account or a source reaches its limit of failures it is locked
// out; each further lockout in a row doubles, up to an hour. State is in memory and bounded
// (a restart forgets it, as it forgets the attacker's connections). Under `--workers N` one
// LoginThrottle lives in the supervisor and the workers reach it through a LoginGate
// (cluster-shared.ts), so N processes count as one.

export interface LoginThrottleOptions {
  /** Failed logins per e-mail within the window before a lockout (default 5). */
  perAccount: number;
  /** Failed logins per source address within the window before a lockout (default 20). */
  perSource: number;
  windowSeconds: number;
  /** First lockout; doubles with each lockout in a row (default 300 s, at most 3600 s). */
  lockoutSeconds: number;
}

export const DEFAULT_LOGIN_THROTTLE: LoginThrottleOptions = { perAccount: 5, perSource: 20, windowSeconds: 900, lockoutSeconds: 300 };

const MAX_LOCKOUT_MS = 3600_000;
/** Keys kept at most; the oldest are dropped first. */
const MAX_KEYS = 20_000;

interface Counter {
  failures: number[];
  inflight: number;
  lockedUntil: number;
  lockouts: number;
}

/** A refused attempt: locked out, or as many checks running as the limit allows. */
export type Refusal = { ok: false; retryAfterSeconds: number; reason: 'locked' | 'busy'; scope: 'account' | 'source' };

export type Admission =
  | {
      ok: true;
      end(success: boolean): Lockout[];
      /** Frees the slot without an outcome: the process checking the password died. */
      release(): void;
    }
  | Refusal;

/** What a login asks: the throttle in this process, or the supervisor's under --workers N. */
export interface LoginGate {
  begin(account: string, source: string): Promise<{ ok: true; end(success: boolean): Promise<Lockout[]> } | Refusal>;
}

/** The LoginGate of a single server process. */
export function inProcessGate(throttle: LoginThrottle): LoginGate {
  return {
    async begin(account, source) {
      const a = throttle.begin(account, source);
      return a.ok ? { ok: true, end: async (success) => a.end(success) } : a;
    },
  };
}

/** A lockout that began when an attempt failed: what the audit log records. */
export interface Lockout {
  scope: 'account' | 'source';
  key: string;
  failures: number;
  seconds: number;
}

export class LoginThrottle {
  private readonly counters = new Map<string, Counter>();

  constructor(
    private readonly opts: LoginThrottleOptions = DEFAULT_LOGIN_THROTTLE,
    private readonly now: () => number = Date.now,
  ) {}

  /** Asks to check a password; when admitted, call end() with the outcome. */
  begin(account: string, source: string): Admission {
    const t = this.now();
    const scopes = [
      { scope: 'account' as const, key: account.toLowerCase(), limit: this.opts.perAccount },
      { scope: 'source' as const, key: source, limit: this.opts.perSource },
    ];
    const counters = scopes.map((s) => this.counter(`${s.scope}:${s.key}`, t));
    for (const [i, s] of scopes.entries()) {
      const c = counters[i]!;
      if (c.lockedUntil > t) return { ok: false, retryAfterSeconds: Math.ceil((c.lockedUntil - t) / 1000), reason: 'locked', scope: s.scope };
      if (c.failures.length + c.inflight >= s.limit) {
        // Slots held by running checks free up within a second; failures when the window passes.
        const oldest = c.failures[0];
        const wait = c.inflight > 0 || oldest === undefined ? 1000 : oldest + this.opts.windowSeconds * 1000 - t;
        return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(wait / 1000)), reason: 'busy', scope: s.scope };
      }
    }
    for (const c of counters) c.inflight++;
    let ended = false;
    return {
      ok: true,
      release: () => {
        if (ended) return;
        ended = true;
        for (const c of counters) c.inflight--;
      },
      end: (success) => {
        if (ended) return [];
        ended = true;
        const te = this.now();
        const locks: Lockout[] = [];
        for (const [i, s] of scopes.entries()) {
          const c = counters[i]!;
          c.inflight--;
          if (success) {
            // A success clears the account's record, not the source's: one known password must
            // not reset the count of guesses at others.
            if (s.scope === 'account') Object.assign(c, { failures: [], lockouts: 0 });
            continue;
          }
          c.failures.push(te);
          if (c.failures.length >= s.limit && c.lockedUntil <= te) {
            const ms = Math.min(MAX_LOCKOUT_MS, this.opts.lockoutSeconds * 1000 * 2 ** c.lockouts);
            c.lockedUntil = te + ms;
            c.lockouts++;
            locks.push({ scope: s.scope, key: s.key, failures: c.failures.length, seconds: ms / 1000 });
            c.failures = [];
          }
        }
        return locks;
      },
    };
  }

  private counter(id: string, t: number): Counter {
    let c = this.counters.get(id);
    if (!c) {
      if (this.counters.size >= MAX_KEYS) this.evict(t);
      c = { failures: [], inflight: 0, lockedUntil: 0, lockouts: 0 };
      this.counters.set(id, c);
    }
    const from = t - this.opts.windowSeconds * 1000;
    while (c.failures.length && c.failures[0]! <= from) c.failures.shift();
    return c;
  }

  /** Drops idle counters (no lockout, no attempt running), oldest first, down to 90 %. */
  private evict(t: number): void {
    for (const [id, c] of this.counters) {
      if (this.counters.size < MAX_KEYS * 0.9) return;
      if (c.inflight === 0 && c.lockedUntil <= t) this.counters.delete(id);
    }
  }
}
