import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsoleClosedError } from '../../console/expect-buffer.js';
import { StreamConsole } from '../../console/stream-console.js';
import { UnixSocketTransport } from '../../console/unix-transport.js';
import { VmConsole } from './vm-console.js';

/** A stand-in for one QEMU process: its console socket, and a way to "power it off". */
async function fakeQemu(dir: string, n: number): Promise<{ path: string; peer: Promise<Socket>; server: Server }> {
  const path = join(dir, `console-${n}.sock`);
  let connected!: (s: Socket) => void;
  const peer = new Promise<Socket>((r) => (connected = r));
  const server = createServer(connected);
  await new Promise<void>((r) => server.listen(path, r));
  return { path, peer, server };
}

test('lines and the transcript file carry on across power cycles; an expect a power cut interrupted fails at its deadline or the next power-on, not at once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vm-console-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const transcriptPath = join(dir, 'console.log');
  const vmc = new VmConsole('vm');
  const heard: string[] = [];
  vmc.onLine((l) => heard.push(l.text));

  const first = await fakeQemu(dir, 1);
  const c1 = new StreamConsole(new UnixSocketTransport(first.path), { transcriptPath, plainTranscriptFile: true });
  vmc.use(c1);
  await c1.open();
  const s1 = await first.peer;
  s1.write('U-Boot 2023.01\r\n');
  await vmc.expect(/U-Boot/, 2000);
  const started = Date.now();
  const interrupted = vmc.expect(/never/, 400);
  s1.destroy(); // SIGKILL: the socket ends
  first.server.close();
  // The deferred failure holds nothing open by itself; in a run the scenario keeps the process up.
  const keepAlive = setTimeout(() => {}, 5000);
  await t.throwsAsync(interrupted, { instanceOf: ConsoleClosedError });
  clearTimeout(keepAlive);
  t.true(Date.now() - started >= 350, `failed after ${Date.now() - started} ms`);
  // Already off: nothing to wait for.
  await t.throwsAsync(vmc.expect(/x/, 5000), { instanceOf: ConsoleClosedError });

  const second = await fakeQemu(dir, 2);
  const c2 = new StreamConsole(new UnixSocketTransport(second.path), { transcriptPath, plainTranscriptFile: true });
  vmc.use(c2);
  await c2.open();
  const s2 = await second.peer;
  const untilPowerOn = vmc.expect(/never/, 60_000);
  s2.destroy();
  second.server.close();
  await new Promise((r) => setTimeout(r, 50));

  const third = await fakeQemu(dir, 3);
  const c3 = new StreamConsole(new UnixSocketTransport(third.path), { transcriptPath, plainTranscriptFile: true });
  vmc.use(c3);
  await t.throwsAsync(untilPowerOn, { instanceOf: ConsoleClosedError });
  await c3.open();
  const s3 = await third.peer;
  s3.write('U-Boot again\r\n');
  await vmc.expect(/again/, 2000);
  await c3.close();
  s3.destroy();
  third.server.close();
  t.deepEqual(heard, ['U-Boot 2023.01', 'U-Boot again']);
  t.deepEqual(vmc.transcript().map((l) => l.text), heard);
  const file = readFileSync(transcriptPath, 'utf8');
  t.regex(file, /U-Boot 2023\.01\n.*link lost.*\n.*opened unix .*console-2\.sock\n.*link lost.*\n.*opened unix .*console-3\.sock\n.*U-Boot again\n/);
});
