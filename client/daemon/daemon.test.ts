// The daemon in-process: its first requests against the recorded Mender 3.5.3 session (auth
// pending → accepted, inventory, update check v2 → v1 in that order), the reporter's
// exactly-once bookkeeping, and the control commands' pid file handling.
import test from 'ava';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../api/client.js';
import { parseConfig } from '../config.js';
import { ClientError } from '../errors.js';
import { createDeviceKey } from '../identity/device-key.js';
import { DeploymentAbortedByServer } from '../state/types.js';
import { startServer, send, type RecordedRequest } from '../api/server.fake.js';
import { loadTraffic } from '../../test-support/mender-traffic.js';
import { readPid, signalDaemon } from './control.js';
import { Daemon } from './daemon.js';
import { ServerReporter } from './reporter.js';

async function tmp(t: import('ava').ExecutionContext): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'flipside-daemon-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  return d;
}

/** The client configuration of a fake device in `dir`: its identity script and device_type file written there. */
async function fakeDeviceConfig(dir: string, serverURL: string, identityLines: string, extra: Record<string, unknown>) {
  const identity = join(dir, 'identity');
  await writeFile(identity, `#!/bin/sh\n${identityLines}`);
  await chmod(identity, 0o755);
  await writeFile(join(dir, 'device_type'), 'device_type=fake-device\n');
  return parseConfig({ RootfsPartA: join(dir, 'a'), RootfsPartB: join(dir, 'b'), DataDir: dir, ServerURL: serverURL, IdentityScript: identity, ...extra }, join(dir, 'flipside.conf'));
}

test('replay: the daemon opens with the recorded 3.5.3 order (auth 401, auth 200, inventory, v2 next, v1 next)', async (t) => {
  const dir = await tmp(t);
  const records = loadTraffic('requests-deployment-success.jsonl').slice(0, 5);
  t.deepEqual(
    records.map((r) => r.path.split('/').slice(3, 5).join('/')),
    ['v1/authentication', 'v1/authentication', 'v1/inventory', 'v2/deployments', 'v1/deployments'],
    'the recording starts as this test assumes',
  );
  let daemon: Daemon | null = null;
  const queue = [...records];
  const srv = await startServer((got: RecordedRequest, res) => {
    const r = queue.shift();
    if (!r) return send(res, 599, 'unexpected extra request');
    if (r.path.endsWith('/auth_requests') && r.response === 200) return send(res, 200, 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJmYWtlLWRldmljZSJ9.', { 'Content-Type': 'application/jwt' });
    if (r.path.endsWith('/deployments/next') && r.response === 200) {
      // Nothing to deploy: the session under test ends with the update check.
      send(res, 204);
      daemon?.stop();
      return;
    }
    return send(res, r.response, r.response === 401 ? '{"error":"unauthorized"}' : r.response === 404 ? '{"error":"not found"}' : undefined);
  });
  t.teardown(srv.close);
  const config = await fakeDeviceConfig(dir, srv.url, "echo 'mac=02:00:00:00:00:01'\necho 'serial=fake-0001'\n", {
    InventoryScriptsDir: join(dir, 'no-inventory'),
    ArtifactInfoFile: join(dir, 'no-artifact-info'),
    RetryPollIntervalSeconds: 1,
  });
  const lines: string[] = [];
  daemon = new Daemon(config, { log: (l) => lines.push(l), backoffUnitMs: 20 });
  const guard = setTimeout(() => daemon?.stop(), 15_000);
  t.is(await daemon.run(), 'stopped');
  clearTimeout(guard);
  t.deepEqual(
    srv.requests.map((r) => `${r.method} ${r.path}`),
    records.map((r) => `${r.method} ${r.path}`),
    lines.join('\n'),
  );
  // The inventory carries what the recording's did for a never-updated device.
  const inv = JSON.parse(srv.requests[2]!.body.toString()) as Array<{ name: string; value: unknown }>;
  t.like(Object.fromEntries(inv.map((a) => [a.name, a.value])), { device_type: 'fake-device', artifact_name: 'unknown' });
  t.true(lines.some((l) => /generated a new ed25519 device key/.test(l)));
});

async function reporterRig(t: import('ava').ExecutionContext, answer: (r: RecordedRequest) => number) {
  const dir = await tmp(t);
  const srv = await startServer((got, res) => {
    if (got.path.endsWith('/auth_requests')) return send(res, 200, 'eyJhbGciOiJub25lIn0.e30.', { 'Content-Type': 'application/jwt' });
    send(res, answer(got));
  });
  t.teardown(srv.close);
  const key = await createDeviceKey(dir, 'ed25519');
  const mk = (): ServerReporter =>
    new ServerReporter({
      api: new ApiClient({ servers: [srv.url], key, identity: async () => '{"mac":"x"}' }),
      dataDir: dir,
      log: () => undefined,
      retry: { attempts: 1 },
      confirmTimeoutMs: 200,
      confirmIntervalMs: 20,
    });
  const statuses = (): string[] =>
    srv.requests.filter((r) => r.path.endsWith('/status')).map((r) => (JSON.parse(r.body.toString()) as { status: string }).status);
  return { dir, srv, mk, statuses };
}

test('reporter: a status accepted before a restart is not sent again; one that failed in between is', async (t) => {
  let down = false;
  const { mk, statuses } = await reporterRig(t, () => (down ? 503 : 204));
  let r = mk();
  await r.status('dep-1', 'downloading');
  await r.status('dep-1', 'installing');
  r = mk(); // restart: the machine re-enters its state and reports again
  await r.status('dep-1', 'installing');
  t.deepEqual(statuses(), ['downloading', 'installing']);
  down = true;
  await t.throwsAsync(r.status('dep-1', 'rebooting'));
  down = false;
  // `installing` after a failed `rebooting` is news (the commit's confirmation): sent.
  await r.confirm('dep-1', 'installing');
  t.deepEqual(statuses(), ['downloading', 'installing', 'rebooting', 'installing']);
});

test('reporter: a final status that cannot be delivered is queued, survives a restart, and is sent once', async (t) => {
  let down = true;
  const { mk, statuses, srv } = await reporterRig(t, () => (down ? 503 : 204));
  await mk().status('dep-2', 'failure');
  t.is(srv.requests.filter((r) => r.path.endsWith('/dep-2/log')).length, 1, 'the log went first, and failed');
  t.deepEqual(statuses(), [], 'the status waits with its log');
  const r = mk();
  t.deepEqual(await r.pending(), [{ id: 'dep-2', status: 'failure' }]);
  t.false(await r.flush());
  down = false;
  t.true(await r.flush());
  t.true(await mk().flush());
  await mk().status('dep-2', 'failure');
  t.deepEqual(statuses(), ['failure'], 'sent once, after its log');
  t.is(srv.requests.filter((r) => r.path.endsWith('/dep-2/log')).length, 3);
  t.deepEqual(await r.pending(), []);
});

test('reporter: 409 is an abort (typed error, callback), never queued; confirm gives up at its deadline', async (t) => {
  let code = 409;
  const { mk } = await reporterRig(t, () => code);
  const aborted: string[] = [];
  const r = mk();
  (r as unknown as { o: { onAborted: (id: string) => void } }).o.onAborted = (id) => aborted.push(id);
  await t.throwsAsync(r.status('dep-3', 'installing'), { instanceOf: DeploymentAbortedByServer });
  await t.throwsAsync(r.status('dep-3', 'failure'), { instanceOf: DeploymentAbortedByServer });
  t.deepEqual(aborted, ['dep-3', 'dep-3']);
  t.deepEqual(await r.pending(), []);
  code = 503;
  const t0 = Date.now();
  await t.throwsAsync(r.confirm('dep-4', 'installing'));
  t.true(Date.now() - t0 >= 150);
});

test('control: check-update / send-inventory signal the pid in the pid file; missing or bad pid files are typed errors', async (t) => {
  const dir = await tmp(t);
  const pidFile = join(dir, 'flipside.pid');
  await t.throwsAsync(readPid(pidFile), { instanceOf: ClientError, message: /not running/ });
  await writeFile(pidFile, 'garbage\n');
  await t.throwsAsync(readPid(pidFile), { instanceOf: ClientError, message: /does not hold a process id/ });
  await writeFile(pidFile, '4242\n');
  const sent: Array<[number, string]> = [];
  t.is(await signalDaemon(pidFile, 'check-update', (p, s) => void sent.push([p, s])), 4242);
  await signalDaemon(pidFile, 'send-inventory', (p, s) => void sent.push([p, s]));
  t.deepEqual(sent, [
    [4242, 'SIGUSR1'],
    [4242, 'SIGUSR2'],
  ]);
  await t.throwsAsync(
    signalDaemon(pidFile, 'check-update', () => {
      throw Object.assign(new Error('kill ESRCH'), { code: 'ESRCH' });
    }),
    { instanceOf: ClientError, message: /is not running/ },
  );
});

test('429 with Retry-After on the update check: the daemon waits what the server asked, not its poll interval', async (t) => {
  const dir = await tmp(t);
  let daemon: Daemon | null = null;
  const checks: number[] = [];
  const srv = await startServer((got, res) => {
    if (got.path.endsWith('/auth_requests')) return send(res, 200, 'eyJhbGciOiJub25lIn0.e30.', { 'Content-Type': 'application/jwt' });
    if (got.path.endsWith('/inventory/device/attributes')) return send(res, 200);
    if (got.path.includes('/deployments/next')) {
      checks.push(Date.now());
      if (checks.length === 1) return send(res, 429, '{"error":"slow down"}', { 'Retry-After': '1' });
      send(res, 204);
      daemon?.stop();
      return;
    }
    send(res, 404);
  });
  t.teardown(srv.close);
  const config = await fakeDeviceConfig(dir, srv.url, "echo 'mac=02:00:00:00:00:09'\n", { InventoryScriptsDir: join(dir, 'none'), UpdatePollIntervalSeconds: 3600 });
  const lines: string[] = [];
  daemon = new Daemon(config, { log: (l) => lines.push(l), backoffUnitMs: 20 });
  const guard = setTimeout(() => daemon?.stop(), 10_000);
  t.is(await daemon.run(), 'stopped');
  clearTimeout(guard);
  t.is(checks.length, 2, lines.join('\n'));
  const gap = checks[1]! - checks[0]!;
  t.true(gap >= 950 && gap < 3000, `second check after ${gap} ms`);
  t.true(lines.some((l) => /server asked to retry later; next try in 1000 ms/.test(l)));
});

test('a deployment offered again while its final status is queued: the queued status goes first, the offer is not run twice', async (t) => {
  const dir = await tmp(t);
  // The server answers 503 to the first three status attempts (busy) and offers the deployment
  // until it has taken a final status for it, as the bundled server does.
  let statusAttempts = 0;
  let accepted = false;
  let checks = 0;
  let daemon: Daemon | null = null;
  const offer = {
    id: 'dep-q',
    artifact: { artifact_name: 'release-2', device_types_compatible: ['fake-device'], source: { uri: 'http://127.0.0.1:9/release-2.mender', expire: '2099-01-01T00:00:00Z' } },
  };
  const srv = await startServer((got, res) => {
    if (got.path.endsWith('/auth_requests')) return send(res, 200, 'eyJhbGciOiJub25lIn0.e30.', { 'Content-Type': 'application/jwt' });
    if (got.path.endsWith('/inventory/device/attributes')) return send(res, 200);
    if (got.path.endsWith('/log')) return send(res, 204);
    if (got.path.endsWith('/status')) {
      if (++statusAttempts <= 3) return send(res, 503);
      accepted = true;
      return send(res, 204);
    }
    if (got.path.includes('/deployments/next')) {
      checks++;
      if (!accepted) return send(res, 200, JSON.stringify(offer), { 'Content-Type': 'application/json' });
      send(res, 204);
      daemon?.stop();
      return;
    }
    send(res, 404);
  });
  t.teardown(srv.close);
  // The state a power cut after Cleanup leaves: the deployment is done on the device and its
  // `success` is queued (the server was busy).
  const key = await createDeviceKey(dir, 'ed25519');
  const queued = new ServerReporter({ api: new ApiClient({ servers: [srv.url], key, identity: async () => '{"mac":"x"}' }), dataDir: dir, log: () => undefined, retry: { attempts: 1 }, confirmTimeoutMs: 200, confirmIntervalMs: 20 });
  await queued.status('dep-q', 'success');
  t.deepEqual(await queued.pending(), [{ id: 'dep-q', status: 'success' }]);
  const config = await fakeDeviceConfig(dir, srv.url, "echo 'mac=02:00:00:00:00:0a'\n", { InventoryScriptsDir: join(dir, 'none'), UpdatePollIntervalSeconds: 3600 });
  const lines: string[] = [];
  daemon = new Daemon(config, { log: (l) => lines.push(l), backoffUnitMs: 20 });
  t.is(await daemon.run(), 'stopped');
  const statuses = srv.requests.filter((r) => r.path.endsWith('/status')).map((r) => (JSON.parse(r.body.toString()) as { status: string }).status);
  t.true(accepted, lines.join('\n'));
  t.deepEqual(new Set(statuses), new Set(['success']), `only the queued status was sent, never the offer's own\n${lines.join('\n')}`);
  t.false(lines.some((l) => /release-2\.mender/.test(l)), 'the offer was not downloaded');
});
