import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from './cli.js';
import { Store } from './store/store.js';

test('init creates the admin once; bad input exits non-zero and stores nothing', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'flipside-cli-'));
  try {
    t.is(await main(['init', '--data-dir', dataDir, '--admin-email', 'root@example.com', '--admin-password', 'short']), 1);
    t.is(await main(['init', '--data-dir', dataDir, '--admin-email', 'not-an-email', '--admin-password', 'long-enough']), 1);
    t.is(await main(['init', '--data-dir', dataDir, '--admin-password', 'long-enough']), 1, 'missing --admin-email');
    t.is(await main(['init', '--data-dir', dataDir, '--admin-email', 'root@example.com', '--admin-password', 'long-enough']), 0);
    t.is(await main(['init', '--data-dir', dataDir, '--admin-email', 'root@example.com', '--admin-password', 'long-enough']), 1, 'already exists');
    const store = new Store(dataDir);
    t.deepEqual(store.listUsers().map((u) => u.email), ['root@example.com']);
    t.is(store.auditLog({ limit: 10, offset: 0 })[0]!.action, 'user.create');
    store.close();
    t.is(await main(['--port', 'abc', '--data-dir', dataDir]), 2);
    t.is(await main(['--help']), 0);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
