import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { FakeBoard, SHELL_PROMPT, type FakeBoardOptions } from '../console/board.fake.js';
import { openConsole } from '../console/open-console.js';
import { PtyPair } from '../console/pty-pair.fake.js';
import type { StreamConsole } from '../console/stream-console.js';
import { ConsoleShell, ShellTimeoutError } from './console-shell.js';

type Teardown = { teardown(fn: () => Promise<void> | void): void };

/** A console on a unix socket with the fake board on the far end. */
async function socketBoard(t: Teardown, opts: FakeBoardOptions): Promise<{ con: StreamConsole; board: FakeBoard }> {
  const dir = mkdtempSync(join(tmpdir(), 'shell-'));
  const path = join(dir, 'console.sock');
  let board!: FakeBoard;
  let peer!: Socket;
  const connected = new Promise<void>((resolve) => {
    const server = createServer((s) => {
      peer = s;
      board = new FakeBoard(s, opts);
      resolve();
    });
    server.listen(path);
    t.teardown(() => {
      peer?.destroy();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    });
  });
  const con = await openConsole({ type: 'unix', path, name: 'fake' });
  t.teardown(() => con.close());
  await connected;
  return { con, board };
}

test('over a real serial port: login, then commands with kernel messages cutting into their output', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shell-serial-'));
  const pair = new PtyPair(dir);
  await pair.start();
  const boardPort = new SerialPort({ path: pair.boardPath, baudRate: 115200 });
  t.teardown(async () => {
    if (boardPort.isOpen) await new Promise((r) => boardPort.close(r));
    await pair.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await new Promise((r) => boardPort.once('open', r));
  const con = await openConsole({ type: 'serial', path: pair.hostPath, baud: 115200 });
  t.teardown(() => con.close());
  const board = new FakeBoard(boardPort, { start: 'login', password: 'secret', kernelNoise: true, ansiPrompt: true });
  const shell = new ConsoleShell(con, { prompt: 'root@fake:~# ', timeoutMs: 5000 });
  board.banner();
  await shell.login('root', 'secret');

  const seq = await shell.run('seq 20');
  t.deepEqual(seq, { stdout: Array.from({ length: 20 }, (_, i) => String(i + 1)).join('\n'), code: 0 });
  t.deepEqual(await shell.run('false'), { stdout: '', code: 1 });
  t.deepEqual(await shell.run('nosuch'), { stdout: 'sh: nosuch: not found', code: 127 });
  t.deepEqual(await shell.run('exit-with 42; echo $?'), { stdout: '42', code: 0 });
  // The kernel messages are still in the console's record, just not in stdout.
  t.true(con.transcript().some((l) => l.text.includes('usb 1-1: new high-speed USB device')));
});

test('a kernel message arriving between commands does not disturb the next one', async (t) => {
  const { con, board } = await socketBoard(t, { start: 'shell' });
  const shell = new ConsoleShell(con, { prompt: SHELL_PROMPT, timeoutMs: 3000 });
  await shell.waitForPrompt();
  board.kernelMessage('random noise');
  t.deepEqual(await shell.run("echo 'one two'"), { stdout: 'one two', code: 0 });
  t.deepEqual(await shell.run('printf abc'), { stdout: 'abc', code: 0 });
  t.deepEqual(await shell.run('seq 3'), { stdout: '1\n2\n3', code: 0 });
});

test('kernel-looking lines can be kept for commands like dmesg', async (t) => {
  const { con } = await socketBoard(t, { start: 'shell' });
  const shell = new ConsoleShell(con, { prompt: SHELL_PROMPT });
  await shell.waitForPrompt();
  t.is((await shell.run("echo '[    1.000000] x'", { keepKernelMessages: true })).stdout, '[    1.000000] x');
  t.is((await shell.run("echo '[    1.000000] x'")).stdout, '');
});

test('timeouts name the command and the step that hung', async (t) => {
  const { con } = await socketBoard(t, { start: 'shell' });
  const shell = new ConsoleShell(con, { prompt: SHELL_PROMPT });
  await shell.waitForPrompt();
  const e = await t.throwsAsync(shell.run('sleep 1', { timeoutMs: 200 }), { instanceOf: ShellTimeoutError });
  t.regex(e!.message, /^shell on fake: `sleep 1` did not finish \(no end marker\) within 200 ms; last output: ""/);
});

test('a command that never starts is reported as such', async (t) => {
  const { con } = await socketBoard(t, { start: 'uboot' });
  const shell = new ConsoleShell(con, { prompt: SHELL_PROMPT });
  const e = await t.throwsAsync(shell.run('true', { timeoutMs: 200 }), { instanceOf: ShellTimeoutError });
  t.regex(e!.message, /`true` did not start \(no start marker\) within 200 ms; last output: .*=> "$/);
});

test('login without a password, and login when already at the prompt', async (t) => {
  const { con, board } = await socketBoard(t, { start: 'login' });
  const shell = new ConsoleShell(con, { prompt: SHELL_PROMPT, timeoutMs: 3000, loginWaitMs: 100 });
  board.banner();
  await shell.login('root');
  await shell.login('root');
  t.deepEqual(await shell.run('true'), { stdout: '', code: 0 });
});

test('a refused login and a missing password fail clearly', async (t) => {
  const { con, board } = await socketBoard(t, { start: 'login', password: 'right' });
  const shell = new ConsoleShell(con, { prompt: SHELL_PROMPT, timeoutMs: 3000 });
  board.banner();
  await t.throwsAsync(shell.login('root', 'wrong'), { message: /shell on fake: login as root refused: Login incorrect/ });
  await t.throwsAsync(shell.login('root'), { message: /root needs a password and none was configured/ });
});

test('waitForPrompt times out naming the prompt; concurrent use and bad options are refused', async (t) => {
  const { con } = await socketBoard(t, { start: 'uboot' });
  const shell = new ConsoleShell(con, { prompt: SHELL_PROMPT });
  await t.throwsAsync(shell.waitForPrompt({ timeoutMs: 100 }), { message: /no shell prompt \(\/root@fake:~# \/\) within 100 ms/ });
  const slow = shell.waitForPrompt({ timeoutMs: 100 });
  await t.throwsAsync(shell.run('true'), { message: /while another command is running/ });
  await t.throwsAsync(slow);
  t.throws(() => new ConsoleShell(con, { prompt: '' }), { message: /prompt is required/ });
  t.throws(() => new ConsoleShell(con, { prompt: '#', timeoutMs: 0 }), { message: /timeoutMs must be positive/ });
});
