// The store's contract: every database access of the server, each method a Promise, so a store
// may live in this process (SQLite, the default) or across the network (PostgreSQL, for several
// server processes). The methods and row types are the SQLite store's (store.ts), which stays
// synchronous inside; adding a method there adds it here, and every other store must follow.
import { Store } from './store.js';

type Promisified<T> = { [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never };

/** The SQLite store's own plumbing, which no caller outside a store needs. */
type Plumbing = 'db' | 'tx' | 'commitGroup' | 'durable' | 'close' | 'changeCounter';

export interface FlipsideStore extends Promisified<Omit<Store, Plumbing>> {
  /**
   * Resolves once every write made so far is durable; undefined when none is waiting (a store
   * whose writes are durable when their Promise resolves always returns undefined).
   */
  durable(): Promise<void> | undefined;
  /**
   * A number that changes whenever anything was written (by any server process sharing the
   * database), for the UI's live updates; it may also change without a visible change.
   */
  changeCounter(): Promise<number | string>;
  close(): Promise<void>;
}

/**
 * The SQLite store behind the async contract: each method runs synchronously as before and its
 * result (or error) comes back as a settled Promise, so the group commit sees the same writes in
 * the same event-loop turn and nothing waits longer than a microtask.
 */
export class SqliteStore {
  constructor(readonly sync: Store) {}
  durable(): Promise<void> | undefined {
    return this.sync.durable();
  }
  async close(): Promise<void> {
    this.sync.close();
  }
}
const plumbing = new Set(['constructor', 'durable', 'close']);
for (const name of Object.getOwnPropertyNames(Store.prototype)) {
  if (plumbing.has(name)) continue;
  Object.defineProperty(SqliteStore.prototype, name, {
    value(this: SqliteStore, ...args: unknown[]): Promise<unknown> {
      try {
        return Promise.resolve((this.sync as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!(...args));
      } catch (e) {
        return Promise.reject(e);
      }
    },
  });
}
export interface SqliteStore extends FlipsideStore {}

export function openSqliteStore(dataDir: string): SqliteStore {
  return new SqliteStore(new Store(dataDir));
}
