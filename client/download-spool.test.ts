import test, { type ExecutionContext } from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RecordedRequest } from './api/server.fake.js';
import { checkpointSpacing, openSpooled, spoolDir, type Checkpoint } from './download-spool.js';

const A = randomBytes(700 * 1024 + 5);
const B = randomBytes(A.length);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface Serve {
  data: Buffer;
  etag?: string;
  ignoreRange?: boolean;
  status?: number;
}

/** Serves `plan(n)` to request n with Range support; counts body bytes sent. */
async function server(t: ExecutionContext, plan: (n: number, req: RecordedRequest) => Serve) {
  let n = 0;
  const sent = { bytes: 0 };
  const srv = await startServer((req, res) => {
    const p = plan(n++, req);
    if (p.status) {
      res.writeHead(p.status, { 'Content-Length': '0' });
      res.end();
      return;
    }
    const m = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
    const start = m && !p.ignoreRange ? Number(m[1]) : 0;
    const headers: Record<string, string> = { 'Content-Length': String(p.data.length - start) };
    if (p.etag) headers.ETag = p.etag;
    if (m && !p.ignoreRange) headers['Content-Range'] = `bytes ${start}-${p.data.length - 1}/${p.data.length}`;
    res.writeHead(m && !p.ignoreRange ? 206 : 200, headers);
    sent.bytes += p.data.length - start;
    res.end(p.data.subarray(start));
  });
  t.teardown(srv.close);
  return { ...srv, sent };
}

async function dataDir(t: ExecutionContext): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'flipside-spool-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  return d;
}

async function collect(s: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** A spool as an interrupted attempt left it: `have` bytes of `data`, a checkpoint at `offset`. */
async function leftBehind(dir: string, data: Buffer, have: number, cp: Partial<Checkpoint> & { url: string }): Promise<void> {
  const d = spoolDir(dir, 'dep-1');
  await mkdir(d, { recursive: true });
  await writeFile(join(d, 'artifact.part'), data.subarray(0, have));
  const offset = cp.offset ?? have;
  const full: Checkpoint = {
    version: 1,
    deployment: 'dep-1',
    expiresAt: null,
    size: data.length,
    etag: '"a"',
    lastModified: null,
    offset,
    headSha256: sha(data.subarray(0, Math.min(offset, 64 * 1024))),
    ...cp,
  };
  await writeFile(join(d, 'checkpoint.json'), JSON.stringify(full));
}

function open(dir: string, url: string | null, extra: { freshLink?: () => Promise<string | null> } = {}) {
  const log: string[] = [];
  const s = openSpooled({ dataDir: dir, deployment: 'dep-1', url, download: { backoffBaseMs: 5, stallTimeoutMs: 10_000 }, checkpointBytes: 256 * 1024, log: (l) => log.push(l), ...extra }, new AbortController().signal);
  return { s, log };
}

test('a fresh download is spooled and checkpointed to its end', async (t) => {
  const srv = await server(t, () => ({ data: A, etag: '"a"' }));
  const dir = await dataDir(t);
  const { s } = open(dir, `${srv.url}/a`);
  t.is(sha(await collect(await s)), sha(A));
  const cp = JSON.parse(await readFile(join(spoolDir(dir, 'dep-1'), 'checkpoint.json'), 'utf8')) as Checkpoint;
  t.like(cp, { offset: A.length, size: A.length, etag: '"a"', deployment: 'dep-1' });
  t.deepEqual(await readFile(join(spoolDir(dir, 'dep-1'), 'artifact.part')), A);
});

test('a checkpoint resumes with Range: the prefix comes from the spool, only the rest from the network', async (t) => {
  const srv = await server(t, () => ({ data: A, etag: '"a"' }));
  const dir = await dataDir(t);
  // Unsynced bytes past the checkpoint are in the spool too: they are cut off, not trusted.
  await leftBehind(dir, A, 400_000, { url: `${srv.url}/a`, offset: 300_000 });
  const { s, log } = open(dir, `${srv.url}/a`);
  t.is(sha(await collect(await s)), sha(A));
  t.is(srv.requests[0]!.headers.range, 'bytes=300000-');
  t.is(srv.sent.bytes, A.length - 300_000);
  t.true(log.some((l) => /resuming the download of deployment dep-1 at byte 300000/.test(l)));
});

// Found by the managed power-cut campaign: a cut after the last checkpoint (the whole artifact
// spooled) and before the install was stored resumed with `Range: bytes=<size>-`, which the
// server answers 416, and the deployment failed instead of installing from the spool.
test('a spool that holds the whole artifact: replayed from the spool, no request at all', async (t) => {
  const srv = await server(t, () => ({ data: A, etag: '"a"' }));
  const dir = await dataDir(t);
  await leftBehind(dir, A, A.length, { url: `${srv.url}/a` });
  const { s, log } = open(dir, `${srv.url}/a`);
  t.is(sha(await collect(await s)), sha(A));
  t.is(srv.requests.length, 0);
  t.true(log.some((l) => new RegExp(`resuming the download of deployment dep-1 at byte ${A.length} of ${A.length}`).test(l)));
});

test('the artifact replaced on the server (another ETag): the spool is dropped, the download starts over', async (t) => {
  const srv = await server(t, () => ({ data: B, etag: '"b"' }));
  const dir = await dataDir(t);
  await leftBehind(dir, A, 300_000, { url: `${srv.url}/a` });
  const { s, log } = open(dir, `${srv.url}/a`);
  t.is(sha(await collect(await s)), sha(B));
  t.is(srv.requests.length, 2);
  t.is(srv.requests[1]!.headers.range, undefined);
  t.true(log.some((l) => /artifact changed on the server.*starting the download over/.test(l)));
});

test('the artifact replaced by one of another size (no ETag): starts over', async (t) => {
  const C = randomBytes(A.length + 100);
  const srv = await server(t, () => ({ data: C }));
  const dir = await dataDir(t);
  await leftBehind(dir, A, 300_000, { url: `${srv.url}/a`, etag: null });
  const { s } = open(dir, `${srv.url}/a`);
  t.is(sha(await collect(await s)), sha(C));
});

test('a torn checkpoint: starts over from byte 0', async (t) => {
  const srv = await server(t, () => ({ data: A, etag: '"a"' }));
  const dir = await dataDir(t);
  await leftBehind(dir, A, 300_000, { url: `${srv.url}/a` });
  await writeFile(join(spoolDir(dir, 'dep-1'), 'checkpoint.json'), '{"version":1,"deploym');
  const { s, log } = open(dir, `${srv.url}/a`);
  t.is(sha(await collect(await s)), sha(A));
  t.is(srv.requests[0]!.headers.range, undefined);
  t.true(log.some((l) => /checkpoint unusable/.test(l)));
});

test('a checkpoint that claims more than the spool holds: starts over', async (t) => {
  const srv = await server(t, () => ({ data: A, etag: '"a"' }));
  const dir = await dataDir(t);
  await leftBehind(dir, A, 100_000, { url: `${srv.url}/a`, offset: 300_000 });
  const { s, log } = open(dir, `${srv.url}/a`);
  t.is(sha(await collect(await s)), sha(A));
  t.is(srv.requests[0]!.headers.range, undefined);
  t.true(log.some((l) => /claims 300000 bytes but the spool holds 100000/.test(l)));
});

test('a spool whose head no longer matches its checkpoint: starts over', async (t) => {
  const srv = await server(t, () => ({ data: A, etag: '"a"' }));
  const dir = await dataDir(t);
  await leftBehind(dir, A, 300_000, { url: `${srv.url}/a` });
  const spool = join(spoolDir(dir, 'dep-1'), 'artifact.part');
  const bytes = await readFile(spool);
  bytes[10] ^= 0xff;
  await writeFile(spool, bytes);
  const { s } = open(dir, `${srv.url}/a`);
  t.is(sha(await collect(await s)), sha(A));
  t.is(srv.requests[0]!.headers.range, undefined);
});

test('an expired link (x-men-expire passed, or 403): a fresh link for the same deployment, resumed there', async (t) => {
  const srv = await server(t, (_n, req) => (req.path.startsWith('/old') ? { data: A, status: 403 } : { data: A, etag: '"a"' }));
  const dir = await dataDir(t);
  const links: string[] = [];
  const freshLink = async (): Promise<string> => {
    links.push('asked');
    return `${srv.url}/new`;
  };
  await leftBehind(dir, A, 300_000, { url: `${srv.url}/old?x-men-expire=2000-01-01T00:00:00Z` });
  const first = open(dir, null, { freshLink });
  t.is(sha(await collect(await first.s)), sha(A));
  t.is(links.length, 1);
  t.is(srv.requests.length, 1, 'the expired link was not even tried');
  t.is(srv.requests[0]!.headers.range, 'bytes=300000-');

  await rm(spoolDir(dir, 'dep-1'), { recursive: true });
  await leftBehind(dir, A, 300_000, { url: `${srv.url}/old` });
  const second = open(dir, null, { freshLink });
  t.is(sha(await collect(await second.s)), sha(A));
  t.is(links.length, 2);
  t.deepEqual(srv.requests.slice(1).map((r) => r.path), ['/old', '/new']);
});

test('an expired link and a server that no longer offers the deployment: a clear error', async (t) => {
  const srv = await server(t, () => ({ data: A, status: 403 }));
  const dir = await dataDir(t);
  await leftBehind(dir, A, 300_000, { url: `${srv.url}/old` });
  const { s } = open(dir, null, { freshLink: async () => null });
  await t.throwsAsync(s, { message: /no longer offers deployment dep-1/ });
});

test('a server that ignores Range (200): the re-sent prefix is dropped, the bytes are still exact', async (t) => {
  const srv = await server(t, () => ({ data: A, etag: '"a"', ignoreRange: true }));
  const dir = await dataDir(t);
  await leftBehind(dir, A, 300_000, { url: `${srv.url}/a` });
  const { s } = open(dir, `${srv.url}/a`);
  t.is(sha(await collect(await s)), sha(A));
  t.deepEqual(await readFile(join(spoolDir(dir, 'dep-1'), 'artifact.part')), A);
});

test('checkpoint spacing: at most 1/32 of the artifact, 64 KiB to 4 MiB', (t) => {
  t.is(checkpointSpacing(1 << 20), 64 * 1024);
  t.is(checkpointSpacing(64 << 20), 2 << 20);
  t.is(checkpointSpacing(1 << 30), 4 << 20);
});
