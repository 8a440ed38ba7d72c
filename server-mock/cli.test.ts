import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LISTEN_BACKLOG, databaseOf, main, poolSizeOf, startupNotes } from './cli.js';
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

test('--database-pool / FLIPSIDE_DATABASE_POOL: a positive whole number reaches the store options; anything else exits 2', async (t) => {
  t.deepEqual(databaseOf('postgres://u@127.0.0.1:5432/db', poolSizeOf('25')), { url: 'postgres://u@127.0.0.1:5432/db', poolSize: 25 });
  t.deepEqual(databaseOf('postgres://u@127.0.0.1:5432/db', poolSizeOf(undefined)), { url: 'postgres://u@127.0.0.1:5432/db' }, 'the store keeps its default');
  t.is(poolSizeOf(7), 7);
  for (const bad of ['0', '-3', '2.5', 'ten']) t.throws(() => poolSizeOf(bad), undefined, bad);
  // Refused before anything opens: the URL is never connected to.
  t.is(await main(['--database', 'postgres://u@127.0.0.1:1/db', '--database-pool', '0', '--data-dir', '/nonexistent']), 2);
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
      t.like((await app.flipside.store.auditLog({ limit: 10, offset: 0 }))[0], { action: 'user.update', actor: 'cli' });
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

test.serial('a busy port is said in words, not as an EADDRINUSE stack; the server stops cleanly', async (t) => {
  const net = await import('node:net');
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as { port: number }).port;
  const dataDir = mkdtempSync(join(tmpdir(), 'flipside-cli-busy-'));
  const err: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
  try {
    const code = await main(['--http', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir, '--log-level', 'silent']);
    t.is(code, 1);
  } finally {
    process.stderr.write = write;
    blocker.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  t.is(err.join(''), `flipside-server: port ${port} on 127.0.0.1 is already in use (another flipside-server?). Stop that one, or pick another port: --port <n> or FLIPSIDE_SERVER_PORT.\n`);
});

test('startup notes: the web UI address, an all-interfaces bind announced, the CA to trust', (t) => {
  const notes = startupNotes({ host: '0.0.0.0', port: 8443, caPath: '/srv/flipside-data/tls/ca.pem' });
  t.regex(notes, /web UI: https:\/\/localhost:8443\//);
  t.regex(notes, /bound to every network interface \(0\.0\.0\.0\)/);
  t.regex(notes, /must trust \/srv\/flipside-data\/tls\/ca\.pem/);
  t.notRegex(startupNotes({ host: '127.0.0.1', port: 80 }), /every network interface|trust/);
});

// ss shows a listening socket's backlog as its Send-Q.
const ss = spawnSync('ss', ['-V']).status === 0;
(ss ? test : test.skip)(`the server listens with a backlog of ${LISTEN_BACKLOG} (Linux caps it at somaxconn), not Node's 511${ss ? '' : ' (skipped: no ss)'}`, async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'flipside-cli-backlog-'));
  const bin = fileURLToPath(new URL('../bin/flipside-server.js', import.meta.url));
  const child = spawn(process.execPath, [bin, '--http', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--log-level', 'silent'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  t.teardown(async () => {
    child.kill('SIGTERM');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  });
  const port = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`flipside-server exited (${code}) before listening: ${out}`)));
  });
  const line = spawnSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' }).stdout.trim();
  const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
  t.is(Number(line.split(/\s+/)[2]), Math.min(LISTEN_BACKLOG, somaxconn), line);
});
