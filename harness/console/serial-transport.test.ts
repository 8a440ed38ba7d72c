// The serial path for real: serialport at 115200 on one end of a socat pty pair, a scripted fake
// board on the other.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { ExpectTimeoutError } from './expect-buffer.js';
import { FakeBoard } from './board.fake.js';
import { openConsole } from './open-console.js';
import { PtyPair } from './pty-pair.fake.js';
import { SerialTransport } from './serial-transport.js';

async function openBoardSide(path: string): Promise<SerialPort> {
  const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  return port;
}

async function setup(t: { teardown(fn: () => Promise<void> | void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'serial-'));
  const pair = new PtyPair(dir);
  await pair.start();
  const boardPorts: SerialPort[] = [await openBoardSide(pair.boardPath)];
  t.teardown(async () => {
    for (const p of boardPorts) if (p.isOpen) await new Promise((r) => p.close(r));
    await pair.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, pair, boardPorts };
}

test('U-Boot prompt, boot, kernel messages and login over a real serial port', async (t) => {
  const { dir, pair, boardPorts } = await setup(t);
  const con = await openConsole({ type: 'serial', path: pair.hostPath, baud: 115200, transcriptPath: join(dir, 'console.log') });
  t.teardown(() => con.close());
  const board = new FakeBoard(boardPorts[0]!, { start: 'uboot', ansiPrompt: true });
  board.banner();
  await con.expect(/=> $/, 3000);
  await con.write('boot\n');
  await con.expect(/login: $/, 3000);
  t.true(con.transcript().some((l) => /^\[\s*\d+\.\d+\] Booting Linux/.test(l.text)));
  await con.write('root\n');
  await con.expect(/root@fake:~# $/, 3000);
});

test('closing the console closes the device: the port is unlocked and no longer read', async (t) => {
  const { pair, boardPorts } = await setup(t);
  const transport = new SerialTransport(pair.hostPath);
  const link = await transport.connect();
  link.stream.on('data', () => {});
  await link.close();
  t.false((link.stream as SerialPort).isOpen);
  // serialport locks the device while it is open: a port left open would refuse this.
  const again = await transport.connect();
  t.teardown(() => again.close());
  const heard = new Promise<string>((resolve) => again.stream.once('data', (d: Buffer) => resolve(d.toString())));
  boardPorts[0]!.write('=> ');
  t.is(await heard, '=> ');
});

test('typed characters arrive at the board with the configured pacing', async (t) => {
  const { pair, boardPorts } = await setup(t);
  const con = await openConsole({ type: 'serial', path: pair.hostPath, charDelayMs: 20 });
  t.teardown(() => con.close());
  const board = new FakeBoard(boardPorts[0]!, { start: 'uboot' });
  await con.write('echo paced\n');
  await con.expect(/^paced$/m, 3000);
  const bytes = board.received.flatMap((r) => [...r.bytes].map(() => r.t));
  t.is(bytes.length, 'echo paced\n'.length);
  t.true(bytes.at(-1)! - bytes[0]! >= 10 * 20 * 0.8, `span ${bytes.at(-1)! - bytes[0]!} ms`);
});

test('an expect timeout over serial names the console and shows the last output', async (t) => {
  const { pair, boardPorts } = await setup(t);
  const con = await openConsole({ type: 'serial', path: pair.hostPath, name: 'bbb' });
  t.teardown(() => con.close());
  boardPorts[0]!.write('Starting kernel ...\r\n\x1b[?25l');
  const e = await t.throwsAsync(con.expect(/login:/, 300), { instanceOf: ExpectTimeoutError });
  t.regex(e!.message, /^console bbb: \/login:\/ not seen within 300 ms; last output: "Starting kernel \.\.\.\\n"$/);
});

test('the USB serial device vanishes and comes back: the console reconnects, the transcript stays continuous', async (t) => {
  const { dir, pair, boardPorts } = await setup(t);
  const transcriptPath = join(dir, 'console.log');
  const con = await openConsole({ type: 'serial', path: pair.hostPath, transcriptPath, reconnectIntervalMs: 50 });
  t.teardown(() => con.close());
  const board = new FakeBoard(boardPorts[0]!, { start: 'shell' });
  await con.write('echo before\n');
  await con.expect(/^before$/m, 3000);

  await new Promise((r) => boardPorts[0]!.close(r));
  await pair.stop();
  // Give the console time to see the loss and fail a few re-opens on the missing device node.
  await new Promise((r) => setTimeout(r, 300));
  t.false(con.connected);
  await pair.start();
  const port = await openBoardSide(pair.boardPath);
  boardPorts.push(port);
  board.reattach(port);

  // write() waits for the link to come back; the board answers once it hears us.
  await con.write('echo after\n');
  await con.expect(/^after$/m, 5000);
  t.true(con.connected);
  await con.close();
  const file = readFileSync(transcriptPath, 'utf8');
  t.regex(
    file,
    /echo before\n.*  before\n(.*\n)*.* -- console serial .*: link lost \(.*\)\n.* -- console serial .*: link back after \d+ ms \(\d+ attempts\)\n(.*\n)*.*  after\n/,
  );
});

test('power cycle at 115200 with paced typing: the device node vanishes mid-command, a new pty appears at the same path, the transcript continues', async (t) => {
  const { dir, pair, boardPorts } = await setup(t);
  const transcriptPath = join(dir, 'console.log');
  const con = await openConsole({ type: 'serial', path: pair.hostPath, baud: 115200, charDelayMs: 5, transcriptPath, reconnectIntervalMs: 50 });
  t.teardown(() => con.close());
  new FakeBoard(boardPorts[0]!, { start: 'shell' });
  await con.write('echo before\n');
  await con.expect(/^before$/m, 3000);

  // ~90 characters at 5 ms each: the cut lands in the middle of typing.
  const typing = con.write(`echo ${'x'.repeat(80)}\n`);
  await new Promise((r) => setTimeout(r, 120));
  await new Promise((r) => boardPorts[0]!.close(r));
  await pair.stop();
  const e = await t.throwsAsync(typing);
  t.regex(e!.message, /link lost while typing; \d+ of 86 characters sent, the rest dropped/);
  t.false(con.connected);
  await new Promise((r) => setTimeout(r, 200));

  await pair.start();
  const port = await openBoardSide(pair.boardPath);
  boardPorts.push(port);
  // A fresh board: it rebooted, so nothing typed before the cut is in its line buffer.
  const rebooted = new FakeBoard(port, { start: 'shell' });
  await con.write('echo after\n');
  await con.expect(/^after$/m, 5000);
  t.true(con.connected);
  t.true(Buffer.concat(rebooted.received.map((r) => r.bytes)).toString().startsWith('echo after'), 'the rest of the interrupted command was not typed into the next boot');

  const lines = con.transcript();
  t.true(lines.some((l) => l.text.includes('before')) && lines.some((l) => l.text === 'after'));
  for (let i = 1; i < lines.length; i++) t.true(lines[i]!.t >= lines[i - 1]!.t, 'line timestamps never go back');
  await con.close();
  const file = readFileSync(transcriptPath, 'utf8').trimEnd().split('\n');
  for (const l of file) t.regex(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (  |--) /, 'every line is timestamped');
  const at = (re: RegExp) => file.findIndex((l) => re.test(l));
  const lost = at(/-- .*link lost/);
  const back = at(/-- .*link back after \d+ ms/);
  t.true(at(/  before$/) < lost && lost < back && back < at(/  after$/), file.join('\n'));
  const stamps = file.map((l) => Date.parse(l.slice(0, 24)));
  t.deepEqual(stamps, [...stamps].sort((a, b) => a - b), 'the file is one continuous, ordered story');
});
