// The store's group commit: the writes of one event-loop turn share a transaction and one fsync,
// durable() says when they are on disk, and a write SQLite rolls back (SQLITE_FULL) fails every
// write of its group plainly instead of letting their replies claim them.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GROUP_ROLLED_BACK, Store } from './store.js';

function scratch(t: { teardown(fn: () => void): void }): { store: Store; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'flipside-store-'));
  const store = new Store(dir);
  t.teardown(() => {
    try {
      store.close();
    } catch {
      // closed by the test already
    }
    rmSync(dir, { recursive: true, force: true });
  });
  return { store, dir };
}

/** Lets the database grow no further: the next write that needs a new page fails with SQLITE_FULL. */
function fillDisk(store: Store): void {
  store.db.pragma(`max_page_count = ${Number(store.db.pragma('page_count', { simple: true }))}`);
}

/** Adds large users until one fails; returns what it threw (better-sqlite3's SqliteError). */
function writeUntilFull(store: Store): { code?: string } | undefined {
  for (let i = 0; i < 50; i++) {
    try {
      store.createUser(`${i}-${'x'.repeat(6000)}@example.com`, 'hash');
    } catch (e) {
      return e as { code?: string };
    }
  }
  return undefined;
}

test('writes of one turn share one group; durable() resolves once they are on disk, then is idle', async (t) => {
  const { store, dir } = scratch(t);
  t.is(store.durable(), undefined, 'nothing written, nothing to wait for');
  store.createUser('a@example.com', 'hash-a');
  const first = store.durable();
  store.createUser('b@example.com', 'hash-b');
  t.truthy(first);
  t.is(store.durable(), first, 'the second write joined the first one’s group');
  t.true(store.db.inTransaction, 'the group stays open until the turn ends');
  await first;
  t.false(store.db.inTransaction);
  t.is(store.durable(), undefined);
  store.close();
  const again = new Store(dir);
  t.truthy(again.userByEmail('a@example.com'));
  t.truthy(again.userByEmail('b@example.com'));
  again.close();
});

test('SQLITE_FULL mid-group: the failing write throws, its group-mates fail plainly, the next write starts afresh', async (t) => {
  const { store } = scratch(t);
  store.createUser('before@example.com', 'hash');
  await store.durable();
  fillDisk(store);
  store.createUser('small@example.com', 'hash'); // fits in a page already there
  const mate = store.durable()!;
  t.truthy(mate);
  t.is(writeUntilFull(store)?.code, 'SQLITE_FULL');
  t.false(store.db.inTransaction, 'SQLite rolled the whole group back');
  const err = await t.throwsAsync(mate);
  t.is((err as Error & { code?: string }).code, GROUP_ROLLED_BACK);
  t.regex(err!.message, /nothing of this request was stored/);
  t.falsy(store.userByEmail('small@example.com'), 'the rolled-back write is gone, as its error says');

  // The next write opens a new group (not an autocommit outside any), and it reaches the disk.
  store.db.pragma('max_page_count = 1073741823');
  store.createUser('after@example.com', 'hash');
  t.true(store.db.inTransaction);
  await store.durable();
  t.truthy(store.userByEmail('after@example.com'));
  t.truthy(store.userByEmail('before@example.com'));
});

test('after a rolled-back group, durable() still waits for an earlier group whose fsync is running', async (t) => {
  const { store } = scratch(t);
  store.createUser('synced-later@example.com', 'hash');
  const earlier = store.durable()!;
  store.commitGroup(); // committed now, its fsync runs on the thread pool and cannot end before we yield
  fillDisk(store);
  t.is(writeUntilFull(store)?.code, 'SQLITE_FULL');
  t.is(store.durable(), earlier, 'a reply now must still wait for the earlier group');
  await earlier;
  t.is(store.durable(), undefined);
});
