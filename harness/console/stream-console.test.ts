import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsoleClosedError } from './expect-buffer.js';
import { FakeBoard, UBOOT_PROMPT } from './board.fake.js';
import { StreamConsole } from './stream-console.js';
import { UnixSocketTransport } from './unix-transport.js';

interface Rig {
  dir: string;
  path: string;
  server: Server;
  sockets: Socket[];
  next(): Promise<Socket>;
}

async function rig(t: { teardown(fn: () => void): void }): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'stream-console-'));
  const path = join(dir, 'console.sock');
  const sockets: Socket[] = [];
  let waiting: ((s: Socket) => void) | null = null;
  const server = createServer((s) => {
    sockets.push(s);
    waiting?.(s);
    waiting = null;
  });
  await new Promise<void>((r) => server.listen(path, r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const next = () =>
    sockets.length > 0 && !sockets.at(-1)!.destroyed && !(sockets.at(-1) as Socket & { taken?: boolean }).taken
      ? Promise.resolve(take(sockets.at(-1)!))
      : new Promise<Socket>((r) => (waiting = (s) => r(take(s))));
  return { dir, path, server, sockets, next };
}

function take(s: Socket): Socket {
  (s as Socket & { taken?: boolean }).taken = true;
  return s;
}

test('reads lines with timestamps, matches prompts through ANSI junk, writes the transcript file', async (t) => {
  const r = await rig(t);
  const transcriptPath = join(r.dir, 'console.log');
  const con = new StreamConsole(new UnixSocketTransport(r.path), { name: 'dut', transcriptPath });
  const seen: string[] = [];
  con.onLine((l) => seen.push(l.text));
  await con.open();
  const board = new FakeBoard(await r.next(), { start: 'shell', ansiPrompt: true });
  const before = Date.now();
  board.kernelMessage('hello from the kernel');
  board.banner();
  await con.expect(/root@fake:~# $/, 2000);
  await con.write('echo hi\n');
  await con.expect(/^hi$/m, 2000);
  await con.close();
  t.true(seen.some((l) => /\] hello from the kernel$/.test(l)));
  const lines = con.transcript();
  t.true(lines.every((l) => l.t >= before && l.t <= Date.now()));
  t.true(lines.some((l) => l.text === 'root@fake:~# echo hi'), JSON.stringify(lines));
  const file = readFileSync(transcriptPath, 'utf8');
  t.regex(file, /^\d{4}-\d\d-\d\dT[\d:.]+Z -- console dut: opened unix /m);
  t.true(file.includes('\x1b[6n'), 'the file keeps the raw escapes');
  t.regex(file, /-- console dut: closed\n$/);
});

test('a link that ends without reconnect closes the console and fails a pending expect', async (t) => {
  const r = await rig(t);
  const con = new StreamConsole(new UnixSocketTransport(r.path));
  await con.open();
  const s = await r.next();
  const pending = con.expect(/never/, 5000);
  s.end('last words\n');
  await t.throwsAsync(pending, { instanceOf: ConsoleClosedError });
  t.deepEqual(con.transcript().map((l) => l.text), ['last words']);
  await t.throwsAsync(con.write('x'), { message: /closed/ });
  await con.close();
});

test('a vanished link is re-opened, writes wait for it, and the transcript notes the gap', async (t) => {
  const r = await rig(t);
  const transcriptPath = join(r.dir, 'console.log');
  const con = new StreamConsole(new UnixSocketTransport(r.path, 20), { transcriptPath, reconnectWaitMs: 3000 });
  await con.open();
  (await r.next()).end('before\n');
  // A write racing the disconnect would go to the dying link, as on real hardware; wait for the loss.
  for (let waited = 0; con.connected && waited < 2000; waited += 5) await new Promise((res) => setTimeout(res, 5));
  t.false(con.connected);
  const writing = con.write('after\n');
  const second = await r.next();
  await writing;
  let got = '';
  second.on('data', (d: Buffer) => (got += d.toString()));
  for (let waited = 0; got !== 'after\n' && waited < 2000; waited += 10) await new Promise((res) => setTimeout(res, 10));
  t.is(got, 'after\n', JSON.stringify({ sockets: r.sockets.map((s) => ({ read: s.bytesRead, destroyed: s.destroyed, isSecond: s === second })), transcript: con.transcript() }));
  second.write('back\n');
  await con.expect(/back/, 2000);
  await con.close();
  const file = readFileSync(transcriptPath, 'utf8');
  t.regex(file, /before\n.* -- console .*: link lost \(end of stream\)\n.* -- console .*: link back after \d+ ms \(\d+ attempts\)\n.*back\n/);
});

test('pacing spaces typed characters by charDelayMs', async (t) => {
  const r = await rig(t);
  const con = new StreamConsole(new UnixSocketTransport(r.path), { charDelayMs: 15 });
  await con.open();
  const s = await r.next();
  const arrivals: number[] = [];
  s.on('data', (d: Buffer) => {
    for (let i = 0; i < d.length; i++) arrivals.push(performance.now());
  });
  await con.write('abcdef');
  await new Promise((res) => setTimeout(res, 20));
  t.is(arrivals.length, 6);
  // Lower bound only: a loaded machine may be slower, never faster.
  t.true(arrivals.at(-1)! - arrivals[0]! >= 5 * 15 * 0.8, `span ${arrivals.at(-1)! - arrivals[0]!} ms`);
  await con.close();
});

test('memory stays bounded while the console spews', async (t) => {
  const r = await rig(t);
  const con = new StreamConsole(new UnixSocketTransport(r.path), { maxTranscriptLines: 100, maxExpectChars: 4096 });
  await con.open();
  const s = await r.next();
  const block = 'noise '.repeat(10) + '\r\n';
  for (let i = 0; i < 20_000; i++) s.write(block);
  s.write(UBOOT_PROMPT);
  await con.expect(/=> $/, 5000);
  t.is(con.transcript().length, 100);
  await con.close();
});

test('rejects a negative character delay', (t) => {
  t.throws(() => new StreamConsole(new UnixSocketTransport('/nonexistent'), { charDelayMs: -1 }), { message: /charDelayMs/ });
});

test('a failed open can be retried and leaves no transcript handle open', async (t) => {
  const r = await rig(t);
  const con = new StreamConsole(new UnixSocketTransport(r.path + '.missing'), { transcriptPath: join(r.dir, 'x.log') });
  await t.throwsAsync(con.open(), { message: /cannot connect to console socket .*\.missing: .*ENOENT/ });
  await t.throwsAsync(con.open(), { message: /cannot connect/ });
  await con.close();
});

test('a write stuck on a device that vanished fails with what was typed instead of hanging', async (t) => {
  const { Duplex } = await import('node:stream');
  // A link whose writes never complete, as a USB serial port can leave them when unplugged.
  const stream = new Duplex({ read() {}, write() {} });
  let connects = 0;
  const con = new StreamConsole(
    {
      description: 'stuck',
      reconnectIntervalMs: 20,
      connect: async () => {
        if (++connects > 1) throw new Error('ENOENT: the device node is gone');
        return { stream, close: async () => void stream.destroy() };
      },
    },
    { charDelayMs: 1 },
  );
  await con.open();
  t.teardown(() => con.close());
  const typing = con.write('abc');
  setTimeout(() => stream.emit('close'), 50);
  const e = await t.throwsAsync(typing);
  t.is(e!.message, 'console stuck: link lost while typing; 0 of 3 characters sent, the rest dropped ("abc")');
  t.true(connects >= 1);
});

test('a plain transcript file: escapes and CRs reach neither expect(), transcript() nor the file, and every line is stamped', async (t) => {
  const r = await rig(t);
  const transcriptPath = join(r.dir, 'console.log');
  const con = new StreamConsole(new UnixSocketTransport(r.path), { name: 'vm', transcriptPath, plainTranscriptFile: true });
  await con.open();
  const s = await r.next();
  // busybox ash asks for the cursor position before its prompt; the guest's tty ends lines with \r\n.
  s.write('U-Boot 2023.01\r\nflipside-shell# \x1b[6nls\r\nbin\r\n');
  t.is((await con.expect(/flipside-shell# ls\n(\w+)\n/, 2000))[1], 'bin');
  await con.close();
  t.deepEqual(con.transcript().map((l) => l.text), ['U-Boot 2023.01', 'flipside-shell# ls', 'bin']);
  const file = readFileSync(transcriptPath, 'utf8');
  t.false(/[\x1b\r]/.test(file), JSON.stringify(file));
  const stamp = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`;
  t.regex(file, new RegExp(`^${stamp}    U-Boot 2023\\.01\\n${stamp}    flipside-shell# ls\\n${stamp}    bin\\n`, 'm'));
});

test('openWaitMs: open() waits for a socket that appears later, and close() ends the wait', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stream-console-late-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'console.sock');
  const late = new StreamConsole(new UnixSocketTransport(path), { openWaitMs: 5000 });
  const opening = late.open();
  const server = createServer((s) => s.end('hello\n'));
  t.teardown(() => void server.close());
  await new Promise((res) => setTimeout(res, 100));
  await new Promise<void>((res) => server.listen(path, res));
  await opening;
  await late.expect(/hello/, 2000);
  await late.close();

  const never = new StreamConsole(new UnixSocketTransport(join(dir, 'never.sock')), { openWaitMs: 60_000 });
  const waiting = never.open();
  const started = Date.now();
  await never.close();
  await t.throwsAsync(waiting, { message: /closed while opening/ });
  t.true(Date.now() - started < 1000);
});
