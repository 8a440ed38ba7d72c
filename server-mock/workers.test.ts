// `flipside-server --workers 2` on PostgreSQL, as users run it (the built CLI, real processes,
// loopback): a phased rollout survives a SIGKILL of one worker with every device's status right;
// the UI's change stream and deviceconnect work when the two ends are in different workers; wrong
// logins spread over both workers lock an account at one process's limit; a webhook delivery
// whose worker is SIGKILLed mid-retry is made by the other.
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
import { EventEmitter, once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_LOGIN_THROTTLE } from './auth/login-throttle.js';
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
  /** The pid of the worker in a slot, from the supervisor's "worker N (pid P) listening" line. */
  pidOf(slot: string): Promise<number>;
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
  const stderrGrew = new EventEmitter();
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
    stderrGrew.emit('data');
  });
  const pidOf = async (slot: string): Promise<number> => {
    const re = new RegExp(`worker ${slot} \\(pid (\\d+)\\) listening`, 'g');
    for (;;) {
      const all = [...stderr.matchAll(re)];
      if (all.length) return Number(all.at(-1)![1]);
      await once(stderrGrew, 'data');
    }
  };
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
  return { url, child, token: login.body, pidOf };
}

/** One request on a fresh connection (so the supervisor hands it to the next worker in turn). */
function call(base: string, method: string, path: string, json?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: string; worker: string; location?: string }> {
  return new Promise((resolve, reject) => {
    const body = json === undefined ? undefined : Buffer.from(JSON.stringify(json));
    const req = http.request(new URL(path, base), { method, agent: false, headers: { ...headers, ...(body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}) } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, worker: String(res.headers['x-flipside-worker']), location: res.headers.location }));
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

  // CI cost: the two tests below start one more 2-worker server each, and cost about what the UI
  // change-stream test above does: run one at a time, 19.1 s and 16.5 s against its 16.8 s at
  // load average 12-17 (mostly the server's start); ava runs them beside the others.
  test('wrong logins spread over both workers lock the account at the single-process limit', async (t) => {
    t.timeout(3 * 60_000);
    const w = await startWorkers(t);
    const basic = (password: string) => ({ authorization: `Basic ${Buffer.from(`${ADMIN.email}:${password}`).toString('base64')}` });
    const served = new Set<string>();
    for (let i = 0; i < DEFAULT_LOGIN_THROTTLE.perAccount; i++) {
      const r = await call(w.url, 'POST', '/api/management/v1/useradm/auth/login', undefined, basic(`wrong-${i}`));
      t.is(r.status, 401, r.body);
      served.add(r.worker);
    }
    t.deepEqual([...served].sort(), ['1', '2'], 'the failures were spread over both workers');
    // Counted per worker, neither would have reached the limit, and the right password would pass.
    for (let i = 0; i < 2; i++) {
      const r = await call(w.url, 'POST', '/api/management/v1/useradm/auth/login', undefined, basic(ADMIN.password));
      t.is(r.status, 429, r.body);
      t.regex(r.body, /too many failed logins from this account/);
    }
    const audit = JSON.parse((await call(w.url, 'GET', '/api/management/v1/auditlogs/logs?per_page=100', undefined, { authorization: `Bearer ${w.token}` })).body) as Array<{ action: string }>;
    t.is(audit.filter((e) => e.action === 'user.login_locked').length, 1, 'one lockout, told by the supervisor to the worker that ended the fifth failure');
  });

  test('a webhook delivery whose worker is SIGKILLed mid-retry is made by the other worker', async (t) => {
    t.timeout(3 * 60_000);
    const w = await startWorkers(t);
    const auth = { authorization: `Bearer ${w.token}` };
    // The receiver: the first attempt fails (503), the retry is held until its worker is dead,
    // the next attempt is accepted.
    const requests: Array<{ body: string; res: http.ServerResponse }> = [];
    const arrived = new EventEmitter();
    const hook = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        requests.push({ body, res });
        arrived.emit('request');
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    t.teardown(() => {
      hook.closeAllConnections();
      hook.close();
    });
    const nth = async (n: number) => {
      while (requests.length < n) await once(arrived, 'request');
      return requests[n - 1]!;
    };
    const url = `http://127.0.0.1:${(hook.address() as { port: number }).port}/events`;
    t.is((await call(w.url, 'POST', '/api/management/v1/iot-manager/integrations', { provider: 'webhook', credentials: { type: 'http', http: { url } } }, auth)).status, 201);
    const pre = await call(w.url, 'POST', '/api/management/v2/devauth/devices', { identity_data: { mac: '02:00:00:00:01:01' }, pubkey: new SimDevice(httpTransport(w.url)).publicKeyPem }, auth);
    t.is(pre.status, 201, pre.body);
    // Decommissioning emits one event, in the worker that serves the request, which holds its delivery.
    const gone = await call(w.url, 'DELETE', pre.location!, undefined, auth);
    t.is(gone.status, 204, gone.body);

    (await nth(1)).res.writeHead(503).end();
    const retry = await nth(2);
    const eventId = (JSON.parse(retry.body) as { id: string }).id;
    const pid = await w.pidOf(gone.worker);
    process.kill(pid, 'SIGKILL');
    const third = await nth(3);
    t.is((JSON.parse(third.body) as { id: string }).id, eventId);
    third.res.writeHead(204).end();

    // The outcome is recorded once, by the worker that made the delivery, just after the 204.
    for (;;) {
      const events = JSON.parse((await call(w.url, 'GET', '/api/management/v1/iot-manager/events', undefined, auth)).body) as Array<{ id: string; delivery_statuses: unknown[] }>;
      const statuses = events.find((e) => e.id === eventId)?.delivery_statuses ?? [];
      if (statuses.length) {
        t.like(statuses, [{ success: true, status_code: 204 }]);
        t.is(statuses.length, 1);
        break;
      }
      await sleep(50);
    }
    t.is(requests.length, 3, 'no attempt beyond the one that succeeded');
  });
}
