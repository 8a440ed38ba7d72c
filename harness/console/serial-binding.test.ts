// A serial device that hangs up while nobody waits on it must close the port, not spin: the pty
// pair's far end goes away first, and only then is the port read, as happens when a board's power
// cut lands while a read is already under way.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPortStream } from '@serialport/stream';
import { unixRead } from '@serialport/bindings-cpp/dist/unix-read.js';
import { HangUpAwareLinuxBinding } from './serial-binding.js';
import { PtyPair } from './pty-pair.fake.js';

/** A socat pty pair in a scratch folder, gone with the test. */
async function startPair(t: { teardown(fn: () => Promise<void>): void }): Promise<PtyPair> {
  const dir = mkdtempSync(join(tmpdir(), 'serial-hup-'));
  const pair = new PtyPair(dir);
  await pair.start();
  t.teardown(async () => {
    await pair.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return pair;
}

test('a port read after its device hung up closes as disconnected', async (t) => {
  const pair = await startPair(t);
  const port = new SerialPortStream({ binding: HangUpAwareLinuxBinding, path: pair.hostPath, baudRate: 115200, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  t.teardown(() => (port.isOpen ? new Promise<void>((r) => port.close(() => r())) : undefined));

  await pair.stop();
  const closed = new Promise<Error & { disconnected?: boolean }>((resolve) => port.once('close', resolve));
  port.on('data', () => t.fail('a hung-up device has nothing to say'));
  const e = await closed;
  t.true(e?.disconnected, `closed with ${String(e)}`);
  t.regex(e.message, /hung up/);
  t.false(port.isOpen);
});

test('bytes written at the far end arrive through the binding', async (t) => {
  const pair = await startPair(t);
  const open = (path: string) =>
    new Promise<SerialPortStream>((resolve, reject) => {
      const p = new SerialPortStream({ binding: HangUpAwareLinuxBinding, path, baudRate: 115200 }, (e) => (e ? reject(e) : resolve(p)));
    });
  const [host, board] = [await open(pair.hostPath), await open(pair.boardPath)];
  t.teardown(() => Promise.all([host, board].map((p) => new Promise((r) => p.close(r)))));
  const received: Buffer[] = [];
  const got = new Promise<void>((resolve) =>
    host.on('data', (d: Buffer) => {
      received.push(d);
      if (Buffer.concat(received).toString() === 'U-Boot 2024.01\r\n') resolve();
    }),
  );
  board.write('U-Boot 2024.01\r\n');
  await got;
  t.pass();
});

// The binding leans on two things bindings-cpp's unixRead does; a version that changes either
// fails here rather than in a lab.
test("unixRead's contract: an injected read is used, 0 bytes is read again, ENXIO is a disconnect", async (t) => {
  const binding = { isOpen: true, fd: 99 } as unknown as Parameters<typeof unixRead>[0]['binding'];
  const buffer = Buffer.alloc(8);
  const answers = [0, 0, 3];
  const calls: number[] = [];
  const counting = (async (fd: number) => {
    calls.push(fd);
    return { bytesRead: answers.shift()!, buffer };
  }) as unknown as Parameters<typeof unixRead>[0]['fsReadAsync'];
  t.deepEqual(await unixRead({ binding, buffer, offset: 0, length: 8, fsReadAsync: counting }), { bytesRead: 3, buffer });
  t.deepEqual(calls, [99, 99, 99], 'a 0-byte read is retried: the spin serial-binding.ts stops');

  const hungUp = (async () => {
    throw Object.assign(new Error('hung up'), { code: 'ENXIO' });
  }) as unknown as Parameters<typeof unixRead>[0]['fsReadAsync'];
  const e = await t.throwsAsync(unixRead({ binding, buffer, offset: 0, length: 8, fsReadAsync: hungUp }));
  t.is((e as Error & { disconnect?: boolean }).disconnect, true);
});
