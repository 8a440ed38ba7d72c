// The real mender-cli 1.9.0 (Debian) against flipside-server on loopback with a Flipside device
// connected (client/connect): `terminal` runs a command, `cp` copies both ways, `port-forward`
// forwards a TCP port. Skipped, not passed, where mender-cli is not installed.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { ADMIN } from './testing/fixtures.js';
import { connectedDevice } from './testing/connect-fixtures.js';
import { findPeer, runToolAsync, testWithPeers } from '../test-support/mender-peers.js';

const { test, missing } = testWithPeers('mender-cli');
const suffix = missing.length ? ' (skipped: mender-cli not installed)' : '';
const CLI = findPeer('mender-cli') ?? 'mender-cli';

async function setup(t: import('ava').ExecutionContext) {
  const c = await connectedDevice(t);
  const home = mkdtempSync(join(tmpdir(), 'flipside-mender-cli-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home };
  const cli = (...args: string[]) => runToolAsync(CLI, [...args, '--server', c.url], { env, cwd: home });
  const login = await cli('login', '--username', ADMIN.email, '--password', ADMIN.password);
  if (login.code !== 0) throw new Error(`mender-cli login: ${login.out}${login.err}`);
  return { c, home, env, cli };
}

test(`mender-cli 1.9.0 terminal: a command runs on the Flipside device and its output comes back${suffix}`, async (t) => {
  const { c, home, env } = await setup(t);
  const r = await execa(CLI, ['terminal', c.deviceId, '--server', c.url], { env, cwd: home, extendEnv: false, reject: false, input: 'echo "flipside-$((6*7))"; uname -s\nexit\n', timeout: 60_000 });
  t.log(`mender-cli terminal: exit ${r.exitCode}; stdout ${JSON.stringify(String(r.stdout).slice(0, 300))}`);
  t.is(r.exitCode, 0, String(r.stderr));
  t.regex(String(r.stdout), /flipside-42/);
  t.regex(String(r.stdout), /Linux/);
  t.regex(String(r.stdout) + String(r.stderr), /Connecting to the device/);
  const actions = (await c.s.app.flipside.store.auditLog({ limit: 10, offset: 0, objectType: 'device' })).map((e) => e.action);
  t.true(actions.includes('deviceconnect.session_start'));
});

test(`mender-cli 1.9.0 terminal: refused for a device that is not connected${suffix}`, async (t) => {
  const { c, cli } = await setup(t);
  c.client.stop();
  while (c.s.app.flipside.connect.link(c.deviceId)) await new Promise((r) => setTimeout(r, 5));
  const r = await cli('terminal', c.deviceId);
  t.not(r.code, 0);
  t.regex(r.out + r.err, /not connected/);
});

async function copyBothWays(t: import('ava').ExecutionContext, s: Awaited<ReturnType<typeof setup>>, size: number) {
  const dir = mkdtempSync(join(tmpdir(), 'flipside-cp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const content = randomBytes(size);
  const local = join(s.home, 'local.bin');
  writeFileSync(local, content);
  const onDevice = join(dir, 'on-device.bin');
  const up = await s.cli('cp', local, `${s.c.deviceId}:${onDevice}`);
  t.is(up.code, 0, up.out + up.err);
  t.true(readFileSync(onDevice).equals(content), 'uploaded file equals the local one');
  const back = join(s.home, 'back.bin');
  const down = await s.cli('cp', `${s.c.deviceId}:${onDevice}`, back);
  t.is(down.code, 0, down.out + down.err);
  t.true(readFileSync(back).equals(content), 'downloaded file equals the device one');
  return { dir, onDevice };
}

test(`mender-cli 1.9.0 cp: a file to the device and back, and a missing file is an error${suffix}`, async (t) => {
  const s = await setup(t);
  const { dir } = await copyBothWays(t, s, 5 * 1024 * 1024 + 3);
  const missingFile = await s.cli('cp', `${s.c.deviceId}:${join(dir, 'absent')}`, join(s.home, 'x'));
  t.not(missingFile.code, 0);
  t.regex(missingFile.out + missingFile.err, /not found|ENOENT/i);
  t.false(existsSync(join(s.home, 'x')) && readFileSync(join(s.home, 'x')).length > 0);
});

test(`mender-cli 1.9.0 port-forward: a local TCP port reaches a server on the device${suffix}`, async (t) => {
  const s = await setup(t);
  const echo = createServer((sock) => sock.on('data', (d) => sock.write(`echo:${d.toString()}`)));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  t.teardown(() => echo.close());
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const localPort = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const pf = execa(CLI, ['port-forward', s.c.deviceId, `${localPort}:${(echo.address() as AddressInfo).port}`, '--server', s.c.url], { env: s.env, cwd: s.home, extendEnv: false, reject: false });
  t.teardown(() => void pf.kill('SIGKILL'));
  await new Promise<void>((resolve) => pf.stdout!.on('data', (d: Buffer) => d.toString().includes('Forwarding from') && resolve()));
  const reply = await new Promise<string>((resolve, reject) => {
    const sock = connect(localPort, '127.0.0.1', () => sock.write('hello device'));
    let got = '';
    sock.on('data', (d) => {
      got += d.toString();
      if (got.includes('hello device')) {
        sock.end();
        resolve(got);
      }
    });
    sock.on('error', reject);
  });
  t.is(reply, 'echo:hello device');
  pf.kill('SIGTERM');
  const r = await pf;
  t.log(`mender-cli port-forward output: ${String(r.stdout).trim().split('\n').join(' | ')}`);
});


