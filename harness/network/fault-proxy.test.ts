import test from 'ava';
import { createHash, randomFillSync } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpServer, get, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { FaultProxy, type CutEvent } from './fault-proxy.js';

const SIZE = 20 * 1024 * 1024;
const BODY = randomFillSync(Buffer.alloc(SIZE));
const BODY_SHA = createHash('sha256').update(BODY).digest('hex');

/** A server for BODY with Range support, written in 64 KiB pieces with backpressure. */
async function bodyServer(t: { teardown(fn: () => void): void }, body = BODY): Promise<Server> {
  const server = createHttpServer((req, res) => {
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      res.statusCode = 206;
      res.setHeader('content-range', `bytes ${start}-${body.length - 1}/${body.length}`);
    }
    res.setHeader('content-length', body.length - start);
    let at = start;
    const pump = () => {
      while (at < body.length) {
        const piece = body.subarray(at, at + 65536);
        at += piece.length;
        if (!res.write(piece)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return server;
}

async function proxyFor(t: { teardown(fn: () => Promise<void>): void }, server: Server, extra: Partial<ConstructorParameters<typeof FaultProxy>[0]> = {}) {
  const proxy = new FaultProxy({ target: { host: '127.0.0.1', port: (server.address() as AddressInfo).port }, ...extra });
  await proxy.listen();
  t.teardown(() => proxy.close());
  return proxy;
}

interface Download {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  error?: string;
}

/** GETs through the proxy; resolves (never rejects) with what arrived and how it ended. */
function download(port: number, headers: Record<string, string> = {}): Promise<Download> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/blob', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      const done = (error?: string) => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), error });
      res.on('end', () => done(res.complete ? undefined : 'incomplete'));
      res.on('error', (e) => done(e.message));
      res.on('aborted', () => done('aborted'));
    });
    req.on('error', (e) => resolve({ status: 0, headers: {}, body: Buffer.alloc(0), error: (e as NodeJS.ErrnoException).code ?? e.message }));
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('20 MiB pass intact without faults, and the counters add up', async (t) => {
  const proxy = await proxyFor(t, await bodyServer(t));
  let lastTotal = 0;
  proxy.onBytes((total) => (lastTotal = total));
  const d = await download(proxy.port);
  t.is(d.error, undefined);
  t.is(d.body.length, SIZE);
  t.is(sha(d.body), BODY_SHA);
  const s = proxy.stats();
  t.true(s.bytesDown > SIZE && s.bytesDown < SIZE + 1024, `down ${s.bytesDown}`);
  t.is(lastTotal, s.bytesDown);
  t.true(s.bytesUp > 20 && s.bytesUp < 1024);
  t.is(s.connections, 1);
});

test('cutAtByte: the client receives exactly N bytes, then the connection ends', async (t) => {
  const proxy = await proxyFor(t, await bodyServer(t));
  const N = 5_000_123;
  proxy.cutAtByte(N);
  const cut = once(proxy, 'cut') as Promise<[CutEvent]>;
  const sock = connect(proxy.port, '127.0.0.1');
  sock.write('GET /blob HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  let received = 0;
  sock.on('data', (d: Buffer) => (received += d.length));
  const how = await new Promise<string>((resolve) => {
    sock.on('error', (e) => resolve((e as NodeJS.ErrnoException).code ?? e.message));
    sock.on('close', () => resolve('closed'));
  });
  t.is(received, N);
  t.true(['closed', 'ECONNRESET'].includes(how), how);
  const [e] = await cut;
  t.deepEqual(e, { direction: 'down', connection: 1, bytes: N });
  t.is(proxy.stats().cuts, 1);
});

test('an HTTP client sees the cut as an error, and a Range request resumes to an intact body', async (t) => {
  const proxy = await proxyFor(t, await bodyServer(t));
  proxy.cutAtByte(7_777_777);
  const first = await download(proxy.port);
  t.truthy(first.error, 'the cut must be visible to the client');
  t.true(first.body.length > 7_000_000 && first.body.length < 7_777_777, `${first.body.length}`);
  const rest = await download(proxy.port, { range: `bytes=${first.body.length}-` });
  t.is(rest.status, 206);
  t.is(rest.error, undefined);
  t.is(sha(Buffer.concat([first.body, rest.body])), BODY_SHA);
});

test('shape limits the rate (lower bound on duration only)', async (t) => {
  const small = BODY.subarray(0, 512 * 1024);
  const proxy = await proxyFor(t, await bodyServer(t, small));
  await proxy.shape({ rateKbps: 8000 }); // 1 MB/s
  const started = performance.now();
  const d = await download(proxy.port);
  const took = performance.now() - started;
  t.is(sha(d.body), sha(small));
  const expected = (small.length * 8) / 8000; // ms
  t.true(took >= expected * 0.5, `took ${took.toFixed(0)} ms, expected about ${expected.toFixed(0)} ms`);
});

test('latency delays the response by at least the one-way delay each way', async (t) => {
  const proxy = await proxyFor(t, await bodyServer(t, Buffer.from('x')));
  await proxy.shape({ latencyMs: 100 });
  const started = performance.now();
  const d = await download(proxy.port);
  t.is(d.body.toString(), 'x');
  t.true(performance.now() - started >= 200 * 0.9);
});

test('loss stalls segments and finally resets the connection; moderate loss still completes', async (t) => {
  const server = await bodyServer(t, BODY.subarray(0, 64 * 1024));
  const proxy = await proxyFor(t, server, { lossRtoMs: 5, lossMaxRetries: 3 });
  await proxy.shape({ lossPct: 100 });
  const started = performance.now();
  const d = await download(proxy.port);
  t.truthy(d.error);
  // 5 + 10 + 20 ms of stalls before giving up.
  t.true(performance.now() - started >= 35 * 0.9);
  t.is(proxy.stats().resets, 1);
  await proxy.shape({ lossPct: 30 });
  const ok = await download(proxy.port);
  t.is(ok.body.length, 64 * 1024);
});

test('drop resets open connections and holds new ones until restore', async (t) => {
  const proxy = await proxyFor(t, await bodyServer(t));
  await proxy.shape({ rateKbps: 16000 });
  const running = download(proxy.port);
  await once(proxy, 'bytes');
  await proxy.drop();
  const broken = await running;
  t.truthy(broken.error);
  t.true(broken.body.length < SIZE);

  await proxy.shape({});
  let settled = false;
  const held = download(proxy.port).then((d) => ((settled = true), d));
  await new Promise((r) => setTimeout(r, 150));
  t.false(settled, 'a held connection gets no answer while dropped');
  t.is(proxy.stats().held, 1);
  await proxy.restore();
  const d = await held;
  t.is(sha(d.body), BODY_SHA);
});

test('dropFor restores by itself; drop in refuse mode and refuse() reset new connections', async (t) => {
  const server = await bodyServer(t, Buffer.from('small'));
  const proxy = await proxyFor(t, server);
  await proxy.dropFor(100);
  const started = performance.now();
  const d = await download(proxy.port);
  t.is(d.body.toString(), 'small');
  t.true(performance.now() - started >= 80);

  await proxy.drop('refuse');
  t.is((await download(proxy.port)).error, 'ECONNRESET');
  await proxy.restore();
  await proxy.refuse();
  t.is((await download(proxy.port)).error, 'ECONNRESET');
  await proxy.restore();
  t.is((await download(proxy.port)).body.toString(), 'small');
  t.is(proxy.stats().refused, 2);
});

test('a server that is not there resets the client; bad arguments are refused', async (t) => {
  const server = await bodyServer(t, Buffer.from('x'));
  const port = (server.address() as AddressInfo).port;
  server.close();
  server.closeAllConnections();
  await new Promise((r) => setTimeout(r, 10));
  const proxy = new FaultProxy({ target: { host: '127.0.0.1', port } });
  await proxy.listen();
  t.teardown(() => proxy.close());
  t.truthy((await download(proxy.port)).error);
  t.throws(() => new FaultProxy({ target: { host: '127.0.0.1', port: 0 } }), { message: /target must be/ });
  t.throws(() => proxy.cutAtByte(-1), { message: /byte count >= 0/ });
  await t.throwsAsync(proxy.shape({ lossPct: 120 }), { message: /lossPct must be 0–100/ });
  await t.throwsAsync(proxy.shape({ rateKbps: 0 }), { message: /rateKbps must be a positive number/ });
  await t.throwsAsync(proxy.dropFor(-5), { message: /ms >= 0/ });
});

test('a half-close is forwarded and the other direction keeps flowing', async (t) => {
  const { createServer } = await import('node:net');
  const echoAfterEnd = createServer({ allowHalfOpen: true }, (s) => {
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    s.on('end', () => s.end(Buffer.concat(got).toString().toUpperCase()));
  });
  await new Promise<void>((r) => echoAfterEnd.listen(0, '127.0.0.1', r));
  t.teardown(() => echoAfterEnd.close());
  const proxy = await proxyFor(t, echoAfterEnd as unknown as Server);
  const sock = connect({ port: proxy.port, host: '127.0.0.1', allowHalfOpen: true });
  sock.end('hello');
  let back = '';
  sock.on('data', (d) => (back += d));
  await once(sock, 'end');
  t.is(back, 'HELLO');
  sock.destroy();
});
