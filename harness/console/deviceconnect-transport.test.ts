// The deviceconnect console against a real flipside-server on loopback with a Flipside daemon as
// the device: a shell through the server driven by expect(), a device that goes away failing the
// wait at once with the reason, and the session coming back after the device restarts.
import test from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { parse, stringify } from 'yaml';
import { BOARDS_DIR } from '../../paths.js';
import { loadBoardFile } from '../../boards/load.js';
import { consoleCommand } from '../cli.js';
import { ConsoleClosedError } from './expect-buffer.js';
import { createConsole, openConsole } from './open-console.js';
import { DeviceConnectTransport, resolveToken } from './deviceconnect-transport.js';
import { connectedDaemon } from '../../server-mock/testing/daemon-fixture.js';

test('bad specs and missing tokens fail with what to fix', (t) => {
  t.throws(() => createConsole({ type: 'deviceconnect', device: 'd1', token: 'x' }), { message: /server: Required/ });
  t.throws(() => createConsole({ type: 'deviceconnect', server: 'ftp://lab', device: 'd1', token: 'x' }), { message: /server: must be an http/ });
  t.throws(() => createConsole({ type: 'deviceconnect', server: 'http://lab', device: 'd1', tokenEnv: 'FLIPSIDE_TEST_NO_SUCH_TOKEN' }), {
    message: /no management API token: set FLIPSIDE_TEST_NO_SUCH_TOKEN/,
  });
  t.throws(() => resolveToken({ tokenFile: '/nonexistent/token' }, 'console x'), { message: /console x: cannot read the token file \/nonexistent\/token/ });
  const tr = new DeviceConnectTransport({ server: 'https://lab:8443/', device: 'd1', token: 't' });
  t.is(tr.description, 'deviceconnect lab:8443 device d1');
  t.is(tr.reconnectIntervalMs, undefined);
});

test('a shell on the device through the server; the device going away fails expect() with why', async (t) => {
  const d = await connectedDaemon(t, '02:00:00:00:00:61');
  const bad = new DeviceConnectTransport({ server: d.url, device: d.deviceId, token: 'not-a-token' });
  await t.throwsAsync(bad.connect(), { message: /cannot open console deviceconnect .*: the server answered 401/ });
  const missing = new DeviceConnectTransport({ server: d.url, device: 'no-such-device', token: d.s.adminToken });
  await t.throwsAsync(missing.connect(), { message: /the server answered 404: device no-such-device not found/ });

  const con = await openConsole({ type: 'deviceconnect', server: d.url, device: d.deviceId, token: d.s.adminToken, name: 'dc' });
  t.teardown(() => con.close());
  await con.write('echo "dc-$((6*7))"\n');
  await con.expect(/dc-42\n/, 20_000);

  const pending = con.expect(/never printed/, 120_000);
  await d.stop();
  const e = await t.throwsAsync(pending, { instanceOf: ConsoleClosedError });
  t.regex(e!.message, /closed while waiting for \/never printed\/ \(link lost: .*the device's connection ended/);
  await t.throwsAsync(con.write('echo late\n'), { message: /console dc: closed/ });
  // A device that is not connected: the server says so, the console does not wait.
  await t.throwsAsync(openConsole({ type: 'deviceconnect', server: d.url, device: d.deviceId, token: d.s.adminToken }), { message: /409: device .* is not connected/ });
});

test('with reconnectIntervalMs the console comes back after the device restarts', async (t) => {
  const d = await connectedDaemon(t, '02:00:00:00:00:62');
  const con = await openConsole({ type: 'deviceconnect', server: d.url, device: d.deviceId, token: d.s.adminToken, name: 'dc', reconnectIntervalMs: 50 });
  t.teardown(() => con.close());
  await con.write('echo "before-$((1+1))"\n');
  await con.expect(/before-2\n/, 20_000);
  await d.stop();
  // The console hears of the loss through the server's side of the session, after the device is
  // down: wait for that (a loss never noticed fails by ava's timeout).
  while (con.connected) await new Promise((r) => setTimeout(r, 10));
  t.false(con.connected);
  await d.start();
  // The write waits for the session to be re-opened on the device's new connection.
  await con.write('echo "after-$((2+1))"\n');
  await con.expect(/after-3\n/, 20_000);
  t.true(con.connected);
});

test('a board file names a deviceconnect console: `flipside-lab console` attaches to it', async (t) => {
  const d = await connectedDaemon(t, '02:00:00:00:00:63');
  const dir = await mkdtemp(join(tmpdir(), 'flipside-dc-board-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const board = parse(await readFile(join(BOARDS_DIR, 'beaglebone-black.yaml'), 'utf8')) as { lab: { console: unknown } };
  board.lab.console = { type: 'deviceconnect', server: d.url, device: d.deviceId, tokenEnv: 'FLIPSIDE_TEST_DC_TOKEN' };
  const path = join(dir, 'beaglebone-black.yaml');
  await writeFile(path, stringify(board));
  process.env.FLIPSIDE_TEST_DC_TOKEN = d.s.adminToken;
  t.teardown(() => delete process.env.FLIPSIDE_TEST_DC_TOKEN);
  const file = await loadBoardFile(path);
  t.is(file.lab?.console.type, 'deviceconnect');

  const input = new PassThrough();
  const output = new PassThrough();
  let shown = '';
  output.on('data', (d: Buffer) => (shown += d.toString('utf8')));
  const saw = (re: RegExp) =>
    new Promise<void>((resolve) => {
      const check = () => re.test(shown) && (output.off('data', check), resolve());
      output.on('data', check);
      check();
    });
  const exit = consoleCommand(path, { input, output });
  input.write('echo "board-$((3*3))"\r');
  await saw(/board-9$/m);
  input.write(Buffer.from([0x1d]));
  t.is(await exit, 0);
});
