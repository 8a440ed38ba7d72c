// The real Mender client (Debian's mender 3.4.0 daemon) on the host against flipside-server on
// loopback: it authenticates, is accepted, sends inventory, installs a module deployment to success
// and a failing one to failure with its log. Debian's 3.4.0 reads /etc/mender, /usr/share/mender
// and /var/lib/mender at fixed paths, so it runs in a mount namespace of its own (`unshare -m`)
// with bind mounts over those three: the machine's /etc is never touched. Skipped, not passed,
// where mender, unshare or root (for the namespace) are missing.
import test, { type ExecutionContext } from 'ava';
import { execa, type ResultPromise } from 'execa';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { startTestServer, uploadArtifact, createDeployment, acceptDevice, type TestServer } from './testing/fixtures.js';
import { writeToBuffer } from '../artifact/test-support.js';
import { findPeer } from '../test-support/mender-peers.js';

const MENDER = findPeer('mender');
const UNSHARE = findPeer('unshare');
const isRoot = process.getuid?.() === 0;
const why = !MENDER ? 'mender not installed' : !UNSHARE ? 'unshare not installed' : !isRoot ? 'not root (a mount namespace needs it)' : '';
const run = why ? test.skip : test.serial;
const suffix = why ? ` (skipped: ${why})` : '';

const IDENTITY = { mac: '52:54:00:f1:19:5d' };
const DEVICE_TYPE = 'mender-host';

interface Daemon {
  s: TestServer;
  root: string;
  proc: ResultPromise;
  log(): string;
  deviceId: string;
}

/** Polls `check` until it returns a value; fails with `what` and the daemon's last log lines. */
async function until<T>(d: { log(): string }, what: string, check: () => Promise<T | undefined | false>, limitMs = 90_000): Promise<T> {
  const end = Date.now() + limitMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; mender's log ends:\n${d.log().split('\n').slice(-25).join('\n')}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** A tree for the daemon: its /etc/mender, /var/lib, /usr/share/mender, and a PATH with a reboot stub. */
function makeTree(url: string): string {
  const root = mkdtempSync(join(tmpdir(), 'flipside-mender-daemon-'));
  const d = (p: string) => {
    mkdirSync(join(root, p), { recursive: true });
    return join(root, p);
  };
  const etc = d('etc-mender');
  const data = d('var-lib/mender');
  const share = d('share-mender');
  const bin = d('bin');
  writeFileSync(
    join(etc, 'mender.conf'),
    JSON.stringify({ ServerURL: url, UpdatePollIntervalSeconds: 2, InventoryPollIntervalSeconds: 2, RetryPollIntervalSeconds: 1, DeviceTypeFile: '/var/lib/mender/device_type' }),
  );
  writeFileSync(join(etc, 'artifact_info'), 'artifact_name=release-0\n');
  writeFileSync(join(data, 'device_type'), `device_type=${DEVICE_TYPE}\n`);
  // A key made here: 3.4.0 would make a 3072-bit RSA key itself, seconds on a busy machine.
  const key = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  writeFileSync(join(data, 'mender-agent.pem'), key.privateKey, { mode: 0o600 });
  const script = (p: string, body: string) => {
    writeFileSync(p, `#!/bin/sh\n${body}\n`);
    chmodSync(p, 0o755);
  };
  script(join(d('share-mender/identity'), 'mender-device-identity'), `echo mac=${IDENTITY.mac}`);
  script(join(d('share-mender/inventory'), 'mender-inventory-flipside'), 'echo flipside_test=yes\necho hostname=mender-host-test');
  const modules = d('share-mender/modules/v3');
  for (const m of readdirSync('/usr/share/mender/modules/v3')) copyFileSync(join('/usr/share/mender/modules/v3', m), join(modules, m));
  // The reboot command is a stub: it records the request (the module deployments here need none).
  script(join(bin, 'reboot'), `echo reboot >> ${join(root, 'reboot-requests')}`);
  void share;
  return root;
}

async function startDaemon(t: ExecutionContext): Promise<Daemon> {
  const s = await startTestServer();
  await s.app.listen({ port: 0, host: '127.0.0.1' });
  const url = `http://127.0.0.1:${(s.app.server.address() as AddressInfo).port}`;
  const root = makeTree(url);
  const logFile = join(root, 'mender.log');
  const mounts = [
    `mount --bind ${join(root, 'etc-mender')} /etc/mender`,
    `mount --bind ${join(root, 'var-lib')} /var/lib`,
    `mount --bind ${join(root, 'share-mender')} /usr/share/mender`,
  ].join(' && ');
  const proc = execa(UNSHARE!, ['-m', '--propagation', 'private', 'sh', '-c', `${mounts} && exec ${MENDER} --no-syslog --log-file ${logFile} --log-level info daemon`], {
    env: { PATH: `${join(root, 'bin')}:/usr/sbin:/usr/bin:/sbin:/bin`, HOME: root },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
  });
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  t.teardown(async () => {
    proc.kill('SIGTERM');
    await proc;
    await s.close();
    if (t.passed) rmSync(root, { recursive: true, force: true });
    else t.log(`mender's tree kept at ${root}`);
  });
  const d = { s, root, proc, log, deviceId: '' };
  // First auth request: pending until accepted, as Mender's server answers.
  await until(d, 'the auth request (a pending device)', async () => {
    const r = await s.app.inject({ method: 'GET', url: '/api/management/v2/devauth/devices?status=pending', headers: s.auth });
    return r.json<Array<{ identity_data: Record<string, string> }>>().some((x) => x.identity_data.mac === IDENTITY.mac);
  });
  d.deviceId = await acceptDevice(s, IDENTITY);
  return d;
}

type InventoryAttr = { name: string; value: unknown };
async function inventory(d: Daemon): Promise<Record<string, unknown>> {
  const r = await d.s.app.inject({ method: 'GET', url: `/api/management/v1/inventory/devices/${d.deviceId}`, headers: d.s.auth });
  if (r.statusCode !== 200) return {};
  return Object.fromEntries(r.json<{ attributes: InventoryAttr[] }>().attributes.map((a) => [a.name, a.value]));
}

async function deviceDeployment(d: Daemon, dep: string): Promise<{ status: string; log: boolean } | undefined> {
  const r = await d.s.app.inject({ method: 'GET', url: `/api/management/v1/deployments/deployments/${dep}/devices`, headers: d.s.auth });
  return r.json<Array<{ id: string; status: string; log: boolean }>>().find((x) => x.id === d.deviceId);
}

/** A module-image for the Debian `script` module: the payload runs at ArtifactInstall. */
async function scriptArtifact(d: Daemon, name: string, body: string): Promise<void> {
  const buf = await writeToBuffer({ type: 'script', kind: 'module-image', name, deviceTypes: [DEVICE_TYPE], files: [{ name: 'run.sh', content: Buffer.from(`#!/bin/sh\n${body}\n`), mode: 0o755 }] });
  const up = await uploadArtifact(d.s, buf);
  if (up.statusCode !== 201) throw new Error(`upload ${name}: ${up.statusCode} ${up.body}`);
}

run(`mender 3.4.0 daemon: authenticated, accepted, inventory, a module deployment to success and a failing one to failure with its log${suffix}`, async (t) => {
  t.timeout(300_000);
  const d = await startDaemon(t);
  t.regex(d.deviceId, /^[0-9a-f-]{36}$/);

  // Inventory: the script's attributes and what the client adds itself.
  const inv = await until(d, 'inventory from the daemon', async () => {
    const i = await inventory(d);
    return i.flipside_test === 'yes' && i.artifact_name ? i : undefined;
  });
  t.is(inv.artifact_name, 'release-0');
  t.is(inv.device_type, DEVICE_TYPE);
  t.is(inv.hostname, 'mender-host-test');
  t.regex(String(inv.mender_client_version), /^3\.4\.0/);

  // Success: the payload runs, the status walks to success, the provides follow.
  const marker = join(d.root, 'installed-marker');
  await scriptArtifact(d, 'module-ok-1', `echo installed > ${marker}`);
  const ok = await createDeployment(d.s, { artifact_name: 'module-ok-1', devices: [d.deviceId] });
  const okEnd = await until(d, 'the deployment to end', async () => {
    const x = await deviceDeployment(d, ok);
    return x && ['success', 'failure'].includes(x.status) ? x : undefined;
  });
  t.is(okEnd.status, 'success', d.log().split('\n').slice(-20).join('\n'));
  t.is(readFileSync(marker, 'utf8'), 'installed\n');
  await until(d, 'inventory with the new artifact name', async () => (await inventory(d)).artifact_name === 'module-ok-1');

  // Failure: the payload exits 1; the deployment fails and the device uploads its log.
  await scriptArtifact(d, 'module-fail-1', 'echo "flipside-payload-refuses" >&2\nexit 1');
  const bad = await createDeployment(d.s, { artifact_name: 'module-fail-1', devices: [d.deviceId] });
  const badEnd = await until(d, 'the failing deployment to end', async () => {
    const x = await deviceDeployment(d, bad);
    return x && ['success', 'failure'].includes(x.status) && x.log ? x : undefined;
  });
  t.is(badEnd.status, 'failure');
  const log = await d.s.app.inject({ method: 'GET', url: `/api/management/v1/deployments/deployments/${bad}/devices/${d.deviceId}/log`, headers: d.s.auth });
  t.is(log.statusCode, 200);
  t.regex(log.body, /Running Mender client version: 3\.4\.0/);
  t.regex(log.body, /flipside-payload-refuses/);
  // The script module cannot roll back, so Mender reports the half-installed state as it always
  // does: the failed artifact's name with _INCONSISTENT (not the old name, not the new one).
  let last: unknown;
  await until(d, 'inventory after the failure', async () => {
    last = (await inventory(d)).artifact_name;
    return last === 'module-fail-1_INCONSISTENT';
  }, 30_000).catch((e: Error) => {
    throw new Error(`${e.message}\nlast artifact_name in inventory: ${JSON.stringify(last)}`);
  });
  t.false(existsSync(join(d.root, 'reboot-requests')), 'no module here asked for a reboot');
});
