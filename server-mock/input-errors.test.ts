// Bad input and a full disk against a listening server: each is a 4xx (or 507) with a message a
// person understands, never a 500, and the keep-alive connection it came on still works.
import test from 'ava';
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import { startTestServer, makeArtifact, multipartBody, type TestServer } from './testing/fixtures.js';
import { buildTar, splitTar } from '../artifact/testing/support.js';
import type { SqliteStore } from './store/api.js';

let s: TestServer;
let port: number;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
test.before(async () => {
  s = await startTestServer();
  await s.app.listen({ port: 0, host: '127.0.0.1' });
  port = (s.app.server.address() as { port: number }).port;
});
test.after.always(async () => {
  agent.destroy();
  await s?.close();
});

interface Answer {
  status: number;
  body: string;
  reused: boolean;
  close: boolean;
}
function send(method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers: body ? { ...headers, 'content-length': String(body.length) } : headers }, (res) => {
      let b = '';
      res.on('data', (c) => (b += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b, reused: req.reusedSocket, close: res.headers.connection === 'close' }));
    });
    // A hang fails the test here instead of at ava's timeout.
    req.setTimeout(20_000, () => req.destroy(new Error(`no answer in 20 s to ${method} ${path}`)));
    req.on('error', reject);
    req.end(body);
  });
}
const upload = (contentType: string, body: Buffer) => send('POST', '/api/management/v1/deployments/artifacts', { ...s.auth, 'content-type': contentType }, body);
/**
 * The next request answers: on the same connection if the server kept it open, on a new one if
 * it said `Connection: close` (it does when it answered before reading the whole body).
 */
async function nextRequestAnswers(t: import('ava').ExecutionContext, previous: Answer): Promise<void> {
  const next = await send('GET', '/api/management/v1/useradm/users/me', s.auth);
  t.is(next.status, 200);
  t.is(next.reused, !previous.close, 'a connection kept open is reused');
}

test.serial('multipart without a boundary: 400 saying so', async (t) => {
  const r = await upload('multipart/form-data', Buffer.from('--x\r\nContent-Disposition: form-data; name="size"\r\n\r\n1\r\n--x--\r\n'));
  t.is(r.status, 400, r.body);
  t.regex(JSON.parse(r.body).error, /boundary/i);
  await nextRequestAnswers(t, r);
});

test.serial('multipart without its closing boundary: 400 saying the body ended early', async (t) => {
  const art = await makeArtifact('unclosed', ['qemux86-64']);
  const { body, contentType } = multipartBody({ description: 'x' }, { content: art });
  const cut = body.subarray(0, body.length - 80);
  const r = await upload(contentType, cut);
  t.is(r.status, 400, r.body);
  t.regex(JSON.parse(r.body).error, /multipart|ended|boundary/i);
  await nextRequestAnswers(t, r);
});

test.serial('gzip bomb in header.tar.gz: 400 naming the limit', async (t) => {
  const art = await makeArtifact('bomb', ['qemux86-64']);
  const members = splitTar(art).map((m) => (m.name === 'header.tar.gz' ? { ...m, body: gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 }) } : m));
  const { body, contentType } = multipartBody({}, { content: buildTar(members) });
  const r = await upload(contentType, body);
  t.is(r.status, 400, r.body);
  t.regex(JSON.parse(r.body).error, /invalid artifact/);
  await nextRequestAnswers(t, r);
});

test.serial('refused early while a large upload is still arriving: the answer comes, and the connection serves the next request', async (t) => {
  const { body, contentType } = multipartBody({ color: 'blue' }, { content: Buffer.alloc(8 * 1024 * 1024, 1) });
  const r = await upload(contentType, body);
  t.is(r.status, 400, r.body);
  t.regex(JSON.parse(r.body).error, /unexpected field color/);
  await nextRequestAnswers(t, r);
});

test.serial('SQLite full (SQLITE_FULL): 507 saying the disk is full, nothing half stored; the server goes on', async (t) => {
  const full = await startTestServer();
  try {
    // The database may not grow past its current size: the next new row needs a page it cannot get.
    const db = (full.app.flipside.store as SqliteStore).sync.db;
    db.pragma(`max_page_count = ${Number(db.pragma('page_count', { simple: true }))}`);
    let r;
    for (let i = 0; i < 200; i++) {
      const pubkey = (await import('node:crypto')).generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' });
      r = await full.app.inject({ method: 'POST', url: '/api/management/v2/devauth/devices', headers: full.auth, payload: { identity_data: { serial: `${i}-${'x'.repeat(2000)}` }, pubkey } });
      if (r.statusCode !== 201) break;
    }
    t.is(r!.statusCode, 507, r!.body);
    t.regex(r!.json<{ error: string }>().error, /disk is full/);
    t.is((await full.app.inject({ method: 'GET', url: '/api/management/v1/useradm/users/me', headers: full.auth })).statusCode, 200);
  } finally {
    await full.close();
  }
});

// A real full file system needs a small tmpfs, which needs root (the lab machine and CI run as root).
const asRoot = process.getuid?.() === 0 ? test.serial : test.serial.skip;
asRoot('file system full (ENOSPC) during an upload: 507 saying the disk is full; no temp file left', async (t) => {
  const { mkdtempSync, readdirSync, rmSync } = await import('node:fs');
  const { execFileSync } = await import('node:child_process');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const mnt = mkdtempSync(join(tmpdir(), 'flipside-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
  try {
    const small = await startTestServer({ dataDir: mnt });
    try {
      const art = await makeArtifact('too-big-for-the-disk', ['qemux86-64'], { content: (await import('node:crypto')).randomBytes(3 * 1024 * 1024) });
      const { body, contentType } = multipartBody({}, { content: art });
      const r = await small.app.inject({ method: 'POST', url: '/api/management/v1/deployments/artifacts', headers: { ...small.auth, 'content-type': contentType }, payload: body });
      t.is(r.statusCode, 507, r.body);
      t.regex(r.json<{ error: string }>().error, /disk is full/);
      t.deepEqual(readdirSync(join(mnt, 'tmp')), []);
    } finally {
      await small.close();
    }
  } finally {
    execFileSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
});
