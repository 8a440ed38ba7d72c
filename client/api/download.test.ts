import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import type { ServerResponse, IncomingMessage } from 'node:http';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { downloadWithResume, type DownloadOptions } from './download.js';
import { DownloadError } from './errors.js';
import { startServer, type RecordedRequest } from './server.fake.js';

const DATA = randomBytes(300 * 1024 + 17);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const FAST: DownloadOptions = { backoffBaseMs: 5, backoffMaxMs: 20, stallTimeoutMs: 2000 };

interface Behaviour {
  /** Destroy the socket once this absolute offset was written. */
  cutAt?: number;
  /** Stop writing (keep the socket) at this absolute offset. */
  stallAt?: number;
  status?: number;
  contentRange?: string;
  ignoreRange?: boolean;
  noLength?: boolean;
}

function requestedStart(req: RecordedRequest): number | null {
  const m = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
  return m ? Number(m[1]) : null;
}

async function writeRange(res: ServerResponse, raw: IncomingMessage, data: Buffer, from: number, b: Behaviour): Promise<void> {
  const stop = Math.min(b.cutAt ?? Infinity, b.stallAt ?? Infinity, data.length);
  let pos = from;
  while (pos < stop) {
    const end = Math.min(pos + 16 * 1024, stop);
    const ok = res.write(data.subarray(pos, end));
    pos = end;
    if (!ok) await new Promise((r) => res.once('drain', r));
    if (res.destroyed) return;
  }
  if (b.cutAt !== undefined && b.cutAt < data.length) {
    await new Promise<void>((r) => res.write(Buffer.alloc(0), () => r()));
    raw.socket.destroy();
    return;
  }
  if (b.stallAt !== undefined) return; // hold the connection open, send nothing more
  res.end();
}

/** Serves DATA with Range support; `plan(n)` says how connection n misbehaves. */
async function artifactServer(plan: (n: number, req: RecordedRequest) => Behaviour, data = DATA) {
  let n = 0;
  return startServer(async (req, res, raw) => {
    const b = plan(n++, req);
    const start = b.ignoreRange ? null : requestedStart(req);
    if (b.status) {
      res.writeHead(b.status, { 'Content-Length': '0' });
      res.end();
      return;
    }
    if (start === null) {
      res.writeHead(200, b.noLength ? {} : { 'Content-Length': String(data.length) });
      await writeRange(res, raw, data, 0, b);
    } else {
      res.writeHead(206, {
        'Content-Length': String(data.length - start),
        'Content-Range': b.contentRange ?? `bytes ${start}-${data.length - 1}/${data.length}`,
      });
      await writeRange(res, raw, data, start, b);
    }
  });
}

async function collect(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test('delivers the artifact unchanged when nothing goes wrong', async (t) => {
  const srv = await artifactServer(() => ({}));
  t.teardown(srv.close);
  const progress: number[] = [];
  const d = downloadWithResume(`${srv.url}/a.mender`, { ...FAST, onData: (n) => progress.push(n) });
  t.is(sha(await collect(d)), sha(DATA));
  t.is(d.size, DATA.length);
  t.is(d.resumes, 0);
  t.is(progress.at(-1), DATA.length);
  t.is(srv.requests[0]!.headers.range, undefined);
});

for (const cuts of [[1], [4096], [65536, 65537], [100_000, 200_000, 300_000], [DATA.length - 1]]) {
  test(`resumes after the connection is cut at ${cuts.join(', ')}`, async (t) => {
    const srv = await artifactServer((n) => (n < cuts.length ? { cutAt: cuts[n] } : {}));
    t.teardown(srv.close);
    const resumed: Array<{ offset: number }> = [];
    const d = downloadWithResume(`${srv.url}/a.mender`, { ...FAST, onResume: (i) => resumed.push(i) });
    t.is(sha(await collect(d)), sha(DATA));
    t.is(d.resumes, cuts.length);
    // Every reconnect asked for exactly what had been delivered so far.
    srv.requests.slice(1).forEach((r, i) => t.is(r.headers.range, `bytes=${resumed[i]!.offset}-`));
    t.true(resumed.every((r) => r.offset > 0));
  });
}

test('a stalled connection is dropped and resumed', async (t) => {
  const srv = await artifactServer((n) => (n === 0 ? { stallAt: 50_000 } : {}));
  t.teardown(srv.close);
  const reasons: string[] = [];
  const d = downloadWithResume(`${srv.url}/a.mender`, { ...FAST, stallTimeoutMs: 150, onResume: (i) => reasons.push(i.reason) });
  t.is(sha(await collect(d)), sha(DATA));
  // At least the one stall; a busy test machine may add another, which changes nothing.
  t.true(d.resumes >= 1);
  t.regex(reasons[0]!, /no data for 150 ms/);
});

test('a Content-Range that does not start at the received offset is an error', async (t) => {
  const srv = await artifactServer((n) => (n === 0 ? { cutAt: 10_000 } : { contentRange: `bytes 0-${DATA.length - 1}/${DATA.length}` }));
  t.teardown(srv.close);
  const e = await t.throwsAsync(collect(downloadWithResume(`${srv.url}/a.mender`, FAST)), { instanceOf: DownloadError });
  t.is(e!.code, 'BAD_RANGE');
  t.true(e!.received > 0);
});

test('a Content-Range with another total size is an error', async (t) => {
  const srv = await artifactServer((n, req) =>
    n === 0 ? { cutAt: 10_000 } : { contentRange: `bytes ${requestedStart(req)}-${DATA.length}/${DATA.length + 1}` },
  );
  t.teardown(srv.close);
  const e = await t.throwsAsync(collect(downloadWithResume(`${srv.url}/a.mender`, FAST)), { instanceOf: DownloadError });
  t.is(e!.code, 'SIZE_CHANGED');
});

test('a server that ignores Range: the re-sent prefix is discarded, bytes still match', async (t) => {
  const srv = await artifactServer((n) => (n === 0 ? { cutAt: 123_457 } : n === 1 ? { ignoreRange: true, cutAt: 200_001 } : { ignoreRange: true }));
  t.teardown(srv.close);
  const d = downloadWithResume(`${srv.url}/a.mender`, FAST);
  t.is(sha(await collect(d)), sha(DATA));
  t.is(d.resumes, 2);
  t.regex(String(srv.requests[1]!.headers.range), /^bytes=\d+-$/);
});

test('gives up after maxResumes with a typed error', async (t) => {
  const srv = await artifactServer((n) => ({ cutAt: 1000 * (n + 1) }));
  t.teardown(srv.close);
  const waits: number[] = [];
  const d = downloadWithResume(`${srv.url}/a.mender`, { ...FAST, maxResumes: 3, onResume: (i) => waits.push(i.waitMs) });
  const e = await t.throwsAsync(collect(d), { instanceOf: DownloadError });
  t.is(e!.code, 'TOO_MANY_RESUMES');
  t.is(srv.requests.length, 4);
  // Exponential backoff, capped at backoffMaxMs.
  t.deepEqual(waits, [5, 10, 20]);
});

test('a server that accepts but never answers is a stall too', async (t) => {
  let n = 0;
  const srv = await startServer((_req, res) => {
    if (n++ === 0) return; // no headers, ever
    res.writeHead(200, { 'Content-Length': String(DATA.length) });
    res.end(DATA);
  });
  t.teardown(srv.close);
  const d = downloadWithResume(`${srv.url}/a.mender`, { ...FAST, stallTimeoutMs: 150 });
  t.is(sha(await collect(d)), sha(DATA));
  t.true(d.resumes >= 1);
});

test('a 5xx on resume counts as a retry; a 403 (expired link) is fatal', async (t) => {
  const srv = await artifactServer((n) => (n === 0 ? { cutAt: 5000 } : n === 1 ? { status: 503 } : {}));
  t.teardown(srv.close);
  t.is(sha(await collect(downloadWithResume(`${srv.url}/a.mender`, FAST))), sha(DATA));

  const srv2 = await artifactServer((n) => (n === 0 ? { cutAt: 5000 } : { status: 403 }));
  t.teardown(srv2.close);
  const e = await t.throwsAsync(collect(downloadWithResume(`${srv2.url}/a.mender`, FAST)), { instanceOf: DownloadError });
  t.is(e!.code, 'HTTP_STATUS');
  t.is(srv2.requests.length, 2);
});

test('refuses a download of unknown size', async (t) => {
  const srv = await artifactServer(() => ({ noLength: true }));
  t.teardown(srv.close);
  const e = await t.throwsAsync(collect(downloadWithResume(`${srv.url}/a.mender`, FAST)), { instanceOf: DownloadError });
  t.is(e!.code, 'NO_LENGTH');
});

test('connection refused at first is retried, then fails typed', async (t) => {
  const e = await t.throwsAsync(collect(downloadWithResume('http://127.0.0.1:1/a.mender', { ...FAST, maxResumes: 2 })), { instanceOf: DownloadError });
  t.is(e!.code, 'TOO_MANY_RESUMES');
});

test('abort through the signal', async (t) => {
  const srv = await artifactServer(() => ({ stallAt: 20_000 }));
  t.teardown(srv.close);
  const ac = new AbortController();
  const d = downloadWithResume(`${srv.url}/a.mender`, { ...FAST, signal: ac.signal, onData: (n) => n >= 16_384 && ac.abort() });
  const e = await t.throwsAsync(collect(d), { instanceOf: DownloadError });
  t.is(e!.code, 'ABORTED');
});

test('backpressure: a slow consumer pauses the socket, which is not taken for a stall', async (t) => {
  const big = randomBytes(4 * 1024 * 1024);
  let backpressure: () => void = () => undefined;
  const sawBackpressure = new Promise<void>((r) => (backpressure = r));
  const srv = await startServer(async (_req, res) => {
    res.writeHead(200, { 'Content-Length': String(big.length) });
    for (let pos = 0; pos < big.length; pos += 64 * 1024) {
      if (!res.write(big.subarray(pos, pos + 64 * 1024))) {
        backpressure();
        await new Promise((r) => res.once('drain', r));
      }
    }
    res.end();
  });
  t.teardown(srv.close);
  const d = downloadWithResume(`${srv.url}/a.mender`, FAST);
  const hash = createHash('sha256');
  let first = true;
  let armedWhileHeld = null as boolean | null;
  await pipeline(
    d,
    new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        if (!first) return cb();
        first = false;
        // Hold the first chunk until the server is blocked on a full socket: the download's
        // buffer is full and its socket paused, and then no stall timeout may be counting.
        void sawBackpressure.then(() => {
          const check = (): void => {
            if (d.readableLength < d.readableHighWaterMark) return void setImmediate(check);
            armedWhileHeld = d.stallTimerArmed;
            cb();
          };
          check();
        });
      },
    }),
  );
  t.is(hash.digest('hex'), sha(big));
  t.is(armedWhileHeld, false);
  t.is(d.resumes, 0);
});
