// The text a console has shown since the last successful expect(), pexpect-style: a match consumes
// everything up to its end, so the next expect() only sees what came after. The buffer keeps about
// `maxChars` (oldest text dropped first, in batches of a quarter so trimming is not a copy per
// chunk) so a console spewing for hours stays bounded.

export class ExpectTimeoutError extends Error {
  constructor(
    readonly consoleName: string,
    readonly pattern: RegExp,
    readonly timeoutMs: number,
    readonly tail: string,
  ) {
    super(
      `console ${consoleName}: ${pattern} not seen within ${timeoutMs} ms; last output: ${JSON.stringify(tail)}`,
    );
    this.name = 'ExpectTimeoutError';
  }
}

export class ConsoleClosedError extends Error {
  constructor(consoleName: string, pattern: RegExp, reason?: string) {
    super(`console ${consoleName}: closed while waiting for ${pattern}${reason ? ` (${reason})` : ''}`);
    this.name = 'ConsoleClosedError';
  }
}

/** A pending expect given up because what it waited for can no longer come (the power was cut). */
export class ExpectAbandonedError extends Error {
  constructor(consoleName: string, pattern: RegExp, reason: string) {
    super(`console ${consoleName}: gave up waiting for ${pattern}: ${reason}`);
    this.name = 'ExpectAbandonedError';
  }
}

interface Waiter {
  re: RegExp;
  resolve(m: RegExpMatchArray): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export class ExpectBuffer {
  private text = '';
  private waiter: Waiter | null = null;
  private closed = false;
  private closedReason: string | undefined;

  constructor(
    private readonly consoleName: string,
    private readonly maxChars = 256 * 1024,
  ) {
    if (!Number.isInteger(maxChars) || maxChars < 1024) {
      throw new Error(`expect buffer of console ${consoleName}: maxChars must be an integer >= 1024, got ${maxChars}`);
    }
  }

  /** What is unmatched so far (for error messages and debugging). */
  get pending(): string {
    return this.text;
  }

  append(text: string): void {
    if (text === '') return;
    this.text += text;
    if (this.text.length > this.maxChars + (this.maxChars >> 2)) this.text = this.text.slice(this.text.length - this.maxChars);
    this.tryMatch();
  }

  /** Drops unmatched text, e.g. before typing a command whose output alone should be matched. */
  clear(): void {
    this.text = '';
  }

  expect(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    if (!(re instanceof RegExp)) throw new TypeError(`console ${this.consoleName}: expect needs a RegExp, got ${typeof re}`);
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
      throw new RangeError(`console ${this.consoleName}: expect timeout must be a non-negative number of ms, got ${timeoutMs}`);
    }
    if (this.waiter) {
      return Promise.reject(
        new Error(`console ${this.consoleName}: expect(${re}) while expect(${this.waiter.re}) is still waiting`),
      );
    }
    // A global or sticky regex carries lastIndex between calls; matching must not depend on history.
    const pattern = re.global || re.sticky ? new RegExp(re.source, re.flags.replace(/[gy]/g, '')) : re;
    if (this.closed) return Promise.reject(new ConsoleClosedError(this.consoleName, re, this.closedReason));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new ExpectTimeoutError(this.consoleName, re, timeoutMs, this.text.slice(-400)));
      }, timeoutMs);
      this.waiter = { re: pattern, resolve, reject, timer };
      this.tryMatch();
    });
  }

  /** Fails a pending expect, if any; the console stays usable (a board whose power was cut boots again). */
  abandon(reason: string): void {
    const w = this.waiter;
    if (!w) return;
    this.waiter = null;
    clearTimeout(w.timer);
    w.reject(new ExpectAbandonedError(this.consoleName, w.re, reason));
  }

  /** Fails a pending expect: nothing more will arrive (`reason` says why, e.g. the link was lost). */
  close(reason?: string): void {
    this.closed = true;
    this.closedReason ??= reason;
    const w = this.waiter;
    if (!w) return;
    this.waiter = null;
    clearTimeout(w.timer);
    w.reject(new ConsoleClosedError(this.consoleName, w.re, reason));
  }

  private tryMatch(): void {
    const w = this.waiter;
    if (!w) return;
    const m = w.re.exec(this.text);
    if (!m) return;
    this.text = this.text.slice(m.index! + m[0].length);
    this.waiter = null;
    clearTimeout(w.timer);
    w.resolve(m);
  }
}
