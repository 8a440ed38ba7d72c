import test from 'ava';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { LinkShaper } from './link-shaper.js';
import { Pump, type PumpHooks } from './pump.js';

/** Two connected loopback sockets. */
async function socketPair(t: { teardown(fn: () => void): void }): Promise<[Socket, Socket]> {
  const server = createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const a = connect({ port: (server.address() as { port: number }).port, host: '127.0.0.1', allowHalfOpen: true });
  const [b] = await accepted;
  t.teardown(() => {
    a.destroy();
    b.destroy();
    server.close();
  });
  return [a, b];
}

const hooks = (over: Partial<PumpHooks> = {}): PumpHooks => ({
  allowance: () => Infinity,
  delivered: () => {},
  cut: () => {},
  reset: () => {},
  ...over,
});

test('the queue between source and destination stays bounded while the link holds data back', async (t) => {
  const [srcPeer, src] = await socketPair(t);
  const [dst, dstPeer] = await socketPair(t);
  const link = new LinkShaper(1, { rtoMs: 200, maxRetries: 6 });
  link.set({ latencyMs: 20 });
  const pump = new Pump(src, dst, 'down', link, hooks(), 64 * 1024);
  const done = pump.run();
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, pump.queuedBytes)), 2);
  const payload = Buffer.alloc(2 * 1024 * 1024, 7);
  srcPeer.end(payload);
  let received = 0;
  dstPeer.on('data', (d: Buffer) => (received += d.length));
  await once(dstPeer, 'end');
  clearInterval(sampler);
  await done;
  t.is(received, payload.length);
  // One read (up to 64 KiB here on loopback) may land on top of the window.
  t.true(peak <= 64 * 1024 + 256 * 1024, `peak queue ${peak}`);
  t.true(peak > 0);
});

test('the allowance splits a chunk at exactly the cut byte', async (t) => {
  const [srcPeer, src] = await socketPair(t);
  const [dst, dstPeer] = await socketPair(t);
  let left = 1000;
  let cutAt = -1;
  let delivered = 0;
  const pump = new Pump(src, dst, 'up', new LinkShaper(1, { rtoMs: 1, maxRetries: 1 }), hooks({
    allowance: () => left,
    delivered: (_d, n) => {
      left -= n;
      delivered += n;
    },
    cut: () => {
      cutAt = delivered;
      dst.end();
    },
  }));
  const done = pump.run();
  srcPeer.write(Buffer.alloc(5000, 1));
  let received = 0;
  dstPeer.on('data', (d: Buffer) => (received += d.length));
  await once(dstPeer, 'end');
  pump.stop();
  src.destroy();
  await done;
  t.is(cutAt, 1000);
  t.is(received, 1000);
});
