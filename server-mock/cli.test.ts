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

test('set-password: a forgotten password is set from the command line; unknown user or short password exit 1', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'flipside-cli-'));
  try {
    t.is(await main(['init', '--data-dir', dataDir, '--admin-email', 'root@example.com', '--admin-password', 'first-password']), 0);
    t.is(await main(['set-password', '--data-dir', dataDir, '--email', 'nobody@example.com', '--password', 'second-password']), 1);
    t.is(await main(['set-password', '--data-dir', dataDir, '--email', 'root@example.com', '--password', 'short']), 1);
    t.is(await main(['set-password', '--data-dir', dataDir, '--email', 'root@example.com', '--password', 'second-password']), 0);
    const { buildServer } = await import('./app.js');
    const app = await buildServer({ dataDir });
    try {
      t.like(app.flipside.store.auditLog({ limit: 10, offset: 0 })[0], { action: 'user.update', actor: 'cli' });
      const login = (pw: string) =>
        app.inject({ method: 'POST', url: '/api/management/v1/useradm/auth/login', headers: { authorization: `Basic ${Buffer.from(`root@example.com:${pw}`).toString('base64')}` } });
      t.is((await login('second-password')).statusCode, 200);
      t.is((await login('first-password')).statusCode, 401);
    } finally {
      await app.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
