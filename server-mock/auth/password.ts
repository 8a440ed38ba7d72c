// Passwords are stored as scrypt hashes: "scrypt$N$r$p$salt$hash", all hex but the numbers.
// scrypt runs on libuv's thread pool (async), never on the request thread, and at most
// MAX_PARALLEL at once so logins cannot take the whole pool from file reads and writes.
import { scrypt as scryptCb, randomBytes, timingSafeEqual, createHash, type ScryptOptions } from 'node:crypto';

const N = 16384;
const R = 8;
const P = 1;
/** The pool has four threads by default; two stay free for the blob store's fs calls. */
const MAX_PARALLEL = 2;

function scrypt(password: string, salt: Buffer, len: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, len, { ...opts, maxmem: 64 * 1024 * 1024 }, (e, key) => (e ? reject(e) : resolve(key))));
}

/**
 * A short digest of the stored hash, carried in session tokens: a password change makes every
 * session token issued before it stop working, whichever route changed it.
 */
export function passwordFingerprint(storedHash: string): string {
  return createHash('sha256').update(storedHash).digest('base64url').slice(0, 16);
}

/** Hashes and checks passwords, counting the work done (the login tests read the count). */
export class PasswordHasher {
  /** scrypt runs finished, for hashing and for checking alike. */
  runs = 0;
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  /** A hash of nothing anyone knows, checked when the e-mail is unknown so both cost the same. */
  private decoy?: Promise<string>;

  async hash(password: string): Promise<string> {
    const salt = randomBytes(16);
    const hash = await this.run(password, salt, 32, { N, r: R, p: P });
    return `scrypt$${N}$${R}$${P}$${salt.toString('hex')}$${hash.toString('hex')}`;
  }

  /** True when the password matches; `stored` undefined (no such user) costs one full check too. */
  async check(password: string, stored: string | undefined): Promise<boolean> {
    const real = stored !== undefined;
    if (!real) stored = await (this.decoy ??= this.hash(randomBytes(16).toString('hex')));
    const [kind, n, r, p, salt, hash] = stored!.split('$');
    if (kind !== 'scrypt' || !salt || !hash) return false;
    const want = Buffer.from(hash, 'hex');
    const got = await this.run(password, Buffer.from(salt, 'hex'), want.length, { N: Number(n), r: Number(r), p: Number(p) });
    return timingSafeEqual(want, got) && real;
  }

  private async run(password: string, salt: Buffer, len: number, opts: ScryptOptions): Promise<Buffer> {
    // A finished run hands its slot straight to the next waiter.
    if (this.active >= MAX_PARALLEL) await new Promise<void>((go) => this.waiting.push(go));
    else this.active++;
    try {
      return await scrypt(password, salt, len, opts);
    } finally {
      this.runs++;
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
