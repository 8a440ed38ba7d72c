import test from 'ava';
import { createServer } from 'node:net';
import { TcpTransport } from './tcp-transport.js';

test('rejects bad ports and names the endpoint when nothing listens', async (t) => {
  t.throws(() => new TcpTransport('127.0.0.1', 0), { message: /port must be 1–65535/ });
  t.throws(() => new TcpTransport('', 22), { message: /host is required/ });
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  const tr = new TcpTransport('127.0.0.1', port, 'telnet');
  t.is(tr.description, `telnet 127.0.0.1:${port}`);
  await t.throwsAsync(tr.connect(), { message: new RegExp(`cannot connect to console telnet 127.0.0.1:${port}: .*ECONNREFUSED`) });
});

test('connects and carries bytes both ways', async (t) => {
  const server = createServer((s) => s.pipe(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const link = await new TcpTransport('127.0.0.1', (server.address() as { port: number }).port).connect();
  link.stream.write('ping');
  const back = await new Promise<string>((r) => link.stream.once('data', (d) => r(d.toString())));
  t.is(back, 'ping');
  await link.close();
  await link.close();
});
