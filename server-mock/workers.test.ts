// `flipside-server --workers 2` on PostgreSQL, as users run it (the built CLI, real processes,
// loopback): a phased rollout survives a SIGKILL of one worker with every device's status right;
// the UI's change stream and deviceconnect work when the two ends are in different workers.
// Needs FLIPSIDE_TEST_DATABASE_URL (ci/postgres.sh starts one); each test gets its own database.
// Nothing here waits on a clock: each step waits for the event it needs (a line, a message, a
// status), bounded only by ava's timeout.
import test, { type ExecutionContext } from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import { FreshDatabase } from '../harness/fleet/database.js';
import { runFleet } from '../harness/fleet/fleet.js';
import { SimDevice, httpTransport } from './testing/device-sim.js';
import { UserSocket } from './testing/connect-fixtures.js';
import { DeviceConnect } from '../client/connect/device-connect.js';
import { PROTO, SHELL } from '../connect-protocol/protocol.js';

const PG_URL = process.env.FLIPSIDE_TEST_DATABASE_URL;
const SERVER_BIN = fileURLToPath(new URL('../bin/flipside-server.js', import.meta.url));
const ADMIN = { email: 'workers@example.com', password: 'workers-test-password' };

/** A fresh database on the test cluster, dropped at the test's end. */
async function scratchDatabase(t: ExecutionContext): Promise<string> {
  const db = await FreshDatabase.create(PG_URL!, `w_${randomBytes(6).toString('hex')}`);
  t.teardown(() => db.drop());
  return db.url;
}

interface Workers {
  url: string;
  child: ChildProcess;
  token: string;
}

/** `flipside-server --workers 2 --http` on a fresh database, with its admin logged in. */
async function startWorkers(t: ExecutionContext): Promise<Workers> {
  const database = await scratchDatabase(t);
  const dataDir = mkdtempSync(join(tmpdir(), 'flipside-workers-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const init = spawnSync(process.execPath, [SERVER_BIN, 'init', '--data-dir', dataDir, '--database', database, '--admin-email', ADMIN.email, '--admin-password', ADMIN.password], { encoding: 'utf8' });
  t.is(init.status, 0, init.stderr);
  const child = spawn(process.execPath, [SERVER_BIN, '--data-dir', dataDir, '--database', database, '--workers', '2', '--http', '--host', '127.0.0.1', '--port', '0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /flipside-server listening on (\S+) \(2 workers\)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`flipside-server exited (${code}) before listening: ${stderr}`)));
  });
  const login = await call(url, 'POST', '/api/management/v1/useradm/auth/login', undefined, { authorization: `Basic ${Buffer.from(`${ADMIN.email}:${ADMIN.password}`).toString('base64')}` });
  t.is(login.status, 200, login.body);
  return { url, child, token: login.body };
}

/** One request on a fresh connection (so the supervisor hands it to the next worker in turn). */
function call(base: string, method: string, path: string, json?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: string; worker: string }> {
  return new Promise((resolve, reject) => {
    const body = json === undefined ? undefined : Buffer.from(JSON.stringify(json));
    const req = http.request(new URL(path, base), { method, agent: false, headers: { ...headers, ...(body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}) } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, worker: String(res.headers['x-flipside-worker']) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

if (!PG_URL) {
  test('--workers: skipped (FLIPSIDE_TEST_DATABASE_URL unset; ci/postgres.sh starts one)', (t) => t.pass());
} else {
  test('a phased rollout on 2 workers loses no status when one worker is SIGKILLed mid-rollout', async (t) => {
    t.timeout(10 * 60_000);
    const database = await scratchDatabase(t);
    let killed: number | null = null;
    let restarted = false;
    const r = await runFleet({
      devices: 20,
      workers: 0,
      serverWorkers: 2,
      database,
      pollSeconds: 1,
      jitter: 0.5,
      installSeconds: 0.2,
      rebootSeconds: 0.2,
      artifactBytes: 64 * 1024,
      // No planned failures: every device must end at success however many attempts a dead
      // worker cost it (a cut download is attempted again on the next poll).
      failureRate: 0,
      retries: 1,
      errorThreshold: null,
      phases: { batchPercents: [25], gapSeconds: 1 },
      timeoutSeconds: 8 * 60,
      seed: 11,
      // Killed at the first success the server acknowledges, while the rollout still needs 19:
      // decided at that event, not at a once-a-second look at the deployment, which a busy box
      // can make so late that the whole rollout has finished in between.
      onDeviceStatus: ({ status, server }) => {
        if (killed !== null || status !== 'success') return;
        const pids = server.workerPids();
        if (pids.length === 2) {
          killed = pids[0]!;
          process.kill(killed, 'SIGKILL');
        }
      },
      onRollout: ({ server }) => {
        if (killed !== null && !server.workerPids().includes(killed) && server.workerPids().length === 2) restarted = true;
      },
    });
    t.not(killed, null, 'a worker was killed mid-rollout');
    t.true(r.rolloutComplete, JSON.stringify(r));
    t.deepEqual(r.wrongStatuses, []);
    t.deepEqual(r.final, { success: 20 });
    t.is(r.store, 'postgres');
    t.log(`restarted before the end: ${restarted}; errors the devices saw (and retried): ${JSON.stringify(r.errors)}; status retries ${r.counters['status retries'] ?? 0}`);
  });

  test('the UI change stream hears a write served by the other worker', async (t) => {
    t.timeout(3 * 60_000);
    const w = await startWorkers(t);
    const auth = { authorization: `Bearer ${w.token}` };
    // The stream on one worker…
    const stream = await new Promise<{ worker: string; res: http.IncomingMessage }>((resolve, reject) => {
      http.get(new URL('/ui/api/events', w.url), { agent: false, headers: auth }, (res) => resolve({ worker: String(res.headers['x-flipside-worker']), res })).on('error', reject);
    });
    t.teardown(() => stream.res.destroy());
    t.true(['1', '2'].includes(stream.worker), stream.worker);
    let text = '';
    const waitFor = (re: RegExp) =>
      new Promise<void>((resolve, reject) => {
        const look = () => {
          if (!re.test(text)) return;
          stream.res.off('data', onData);
          resolve();
        };
        const onData = (c: Buffer) => {
          text += c.toString();
          look();
        };
        stream.res.on('data', onData);
        stream.res.once('close', () => reject(new Error(`stream closed; got: ${text}`)));
        look();
      });
    await waitFor(/event: hello/);
    text = '';
    // …a write on the other: fresh connections go to the workers in turn.
    let served = stream.worker;
    for (let i = 0; i < 8 && served === stream.worker; i++) {
      const r = await call(w.url, 'POST', '/api/management/v2/devauth/devices', { identity_data: { mac: `02:00:00:00:00:${String(i).padStart(2, '0')}` }, pubkey: new SimDevice(httpTransport(w.url)).publicKeyPem }, auth);
      t.is(r.status, 201, r.body);
      served = r.worker;
    }
    t.not(served, stream.worker, 'a write landed on the other worker');
    await waitFor(/event: change/);
    t.pass();
  });

  test('deviceconnect: a device on one worker, users and check-update on either', async (t) => {
    t.timeout(3 * 60_000);
    const w = await startWorkers(t);
    const auth = { authorization: `Bearer ${w.token}` };
    const device = new SimDevice(httpTransport(w.url));
    t.is((await call(w.url, 'POST', '/api/management/v2/devauth/devices', { identity_data: device.identity, pubkey: device.publicKeyPem }, auth)).status, 201);
    t.is((await device.authenticate()).status, 200);
    const deviceId = JSON.parse(Buffer.from(device.token!.split('.')[1]!, 'base64url').toString()).sub as string;
    const checkUpdates: Array<() => void> = [];
    let asked = 0;
    const client = new DeviceConnect({
      server: () => w.url,
      token: () => device.token ?? null,
      tokenRefused: () => undefined,
      log: () => {},
      reconnectMs: { min: 50, max: 500 },
      shell: { command: '/bin/sh', pty: 'pipe' },
      menderClient: {
        checkUpdate: () => {
          asked++;
          checkUpdates.shift()?.();
        },
        sendInventory: () => {},
      },
    });
    t.teardown(() => client.stop());
    client.start();
    await client.connected();
    // The connection state is the same whichever worker answers.
    for (let i = 0; i < 2; i++) t.is(JSON.parse((await call(w.url, 'GET', `/api/management/v1/deviceconnect/devices/${deviceId}`, undefined, auth)).body).status, 'connected');

    // check-update through each worker: one of them holds the device, the other relays.
    const servedBy = new Set<string>();
    for (let i = 0; i < 8 && servedBy.size < 2; i++) {
      const heard = new Promise<void>((r) => checkUpdates.push(r));
      const r = await call(w.url, 'POST', `/api/management/v1/deviceconnect/devices/${deviceId}/check-update`, undefined, auth);
      t.is(r.status, 202, r.body);
      servedBy.add(r.worker);
      await heard;
    }
    t.deepEqual([...servedBy].sort(), ['1', '2']);

    // Terminals: user connections alternate between the workers, so of two in a row one crosses.
    for (let n = 0; n < 2; n++) {
      const u = await UserSocket.open(w.url, deviceId, w.token);
      if (!(u instanceof UserSocket)) return t.fail(`connect refused: ${u.status} ${u.body}`);
      u.send({ hdr: { proto: PROTO.shell, typ: SHELL.new, props: { terminal_width: 80, terminal_height: 24 } } });
      const started = await u.next();
      t.is(started?.hdr.props?.status, 1);
      const sessions = JSON.parse((await call(w.url, 'GET', '/api/management/v1/deviceconnect/sessions', undefined, auth)).body) as Array<{ id: string }>;
      t.deepEqual(sessions.map((s) => s.id), [started!.hdr.sid], 'the session is listed by either worker');
      u.send({ hdr: { proto: PROTO.shell, typ: SHELL.data, sid: started!.hdr.sid }, body: Buffer.from(`echo "answer-$((6*${n + 7}))"\nexit\n`) });
      const out = await u.until((m) => m.hdr.typ === SHELL.stop);
      t.regex(Buffer.concat(out.filter((m) => m.hdr.typ === SHELL.data).map((m) => Buffer.from(m.body ?? []))).toString(), new RegExp(`answer-${6 * (n + 7)}`));
      u.ws.close();
      await u.closed;
    }
    t.true(asked >= 2);
  });
}
