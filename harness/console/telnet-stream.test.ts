import test from 'ava';
import { escapeIac } from './telnet-stream.js';
import { createServer, type Socket } from 'node:net';
import { StreamConsole } from './stream-console.js';
import { TcpTransport } from './tcp-transport.js';

const IAC = 0xff;

test('escapeIac doubles 0xFF and leaves other bytes alone', (t) => {
  t.deepEqual([...escapeIac(Buffer.from([1, IAC, 2]))], [1, IAC, IAC, 2]);
  const plain = Buffer.from('abc');
  t.is(escapeIac(plain), plain);
});

test('telnet mode removes negotiation from the data, answers it, and escapes writes', async (t) => {
  let peer!: Socket;
  const received: number[] = [];
  const server = createServer((s) => {
    peer = s;
    s.on('data', (d: Buffer) => received.push(...d));
    // DO ECHO, WILL ECHO, WILL SGA, DO COM-PORT (RFC 2217), a subnegotiation split mid-way, data with an escaped 0xFF.
    s.write(Buffer.from([IAC, 0xfd, 1, IAC, 0xfb, 1, IAC, 0xfb, 3, IAC, 0xfd, 44, 0x68, 0x69, IAC, 0xfa, 44, 1]));
    setTimeout(() => s.write(Buffer.concat([Buffer.from([0, 0, IAC, 0xf0, 0x20, IAC, IAC]), Buffer.from(' there\n')])), 10);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const con = new StreamConsole(new TcpTransport('127.0.0.1', port, 'telnet'));
  await con.open();
  const m = await con.expect(/hi (.) there\n/, 2000);
  t.is(m[1], '\ufffd', 'the lone 0xFF arrives as one data byte (invalid UTF-8 on its own)');
  await con.write('\xff');
  await new Promise((r) => setTimeout(r, 50));
  t.teardown(() => peer.destroy());
  // WONT ECHO, DO ECHO, DO SGA, WONT COM-PORT, then ÿ as UTF-8 (C3 BF, no 0xFF to escape).
  t.deepEqual(received.slice(0, 12), [IAC, 0xfc, 1, IAC, 0xfd, 1, IAC, 0xfd, 3, IAC, 0xfc, 44]);
  t.deepEqual(received.slice(12), [0xc3, 0xbf]);
  peer.end();
  await con.close();
});

test('raw mode passes bytes through untouched', async (t) => {
  const server = createServer((s) => s.end(Buffer.from([0x61, IAC, 0xfd, 0x62, 0x0a])));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const con = new StreamConsole(new TcpTransport('127.0.0.1', (server.address() as { port: number }).port, 'raw'));
  await con.open();
  await new Promise((r) => setTimeout(r, 50));
  t.deepEqual(con.transcript().map((l) => [...Buffer.from(l.text)]), [[0x61, 0xef, 0xbf, 0xbd, 0xef, 0xbf, 0xbd, 0x62]]);
  await con.close();
});

test('outgoing 0xFF bytes are doubled on the wire', async (t) => {
  const received: number[] = [];
  const server = createServer((s) => s.on('data', (d: Buffer) => received.push(...d)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const link = await new TcpTransport('127.0.0.1', (server.address() as { port: number }).port, 'telnet').connect();
  await new Promise<void>((r) => link.stream.write(Buffer.from([1, IAC, 2]), () => r()));
  await link.close();
  await new Promise((r) => setTimeout(r, 30));
  t.deepEqual(received, [1, IAC, IAC, 2]);
});
