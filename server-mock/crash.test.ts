// Crash safety with the real server process: SIGKILL during an artifact upload and during a
// burst of status reports, restart on the same data dir, and check that every acknowledged
// write is there and no half upload is listed.
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import { main } from './cli.js';
import { SimDevice, httpTransport, type Transport } from './testing/device-sim.js';
import { multipartBody, conformanceArtifact, ADMIN } from './testing/fixtures.js';

const ROOT = new URL('..', import.meta.url).pathname;

interface Running {
  child: ChildProcess;
  url: string;
}

function startServer(dataDir: string): Promise<Running> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server-mock/cli.ts', '--data-dir', dataDir, '--http', '--port', '0', '--host', '127.0.0.1', '--log-level', 'warn'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 30_000);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1]! });
      }
    });
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
}

function kill(r: Running): Promise<void> {
  return new Promise((resolve) => {
    if (r.child.exitCode !== null || r.child.signalCode !== null) return resolve();
    r.child.once('exit', () => resolve());
    r.child.kill('SIGKILL');
  });
}

async function api(url: string, method: string, path: string, opts: { token?: string; json?: unknown; basic?: string } = {}) {
  const t = httpTransport(url);
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.basic) headers.authorization = `Basic ${Buffer.from(opts.basic).toString('base64')}`;
  let body: Buffer | undefined;
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = Buffer.from(JSON.stringify(opts.json));
  }
  return t({ method, url: path, headers, body });
}

test('SIGKILL during upload and status updates loses no acknowledged write', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'flipside-crash-'));
  let srv: Running | undefined;
  try {
    t.is(await main(['init', '--data-dir', dataDir, '--admin-email', ADMIN.email, '--admin-password', ADMIN.password]), 0);
    srv = await startServer(dataDir);
    const token = (await api(srv.url, 'POST', '/api/management/v1/useradm/auth/login', { basic: `${ADMIN.email}:${ADMIN.password}` })).text();

    // One acknowledged upload.
    const good = multipartBody({ description: 'kept' }, { content: conformanceArtifact('rootfs-gzip') });
    const up = await httpTransport(srv.url)({ method: 'POST', url: '/api/management/v1/deployments/artifacts', headers: { authorization: `Bearer ${token}`, 'content-type': good.contentType }, body: good.body });
    t.is(up.status, 201);
    const keptId = String(up.headers.location).split('/').pop()!;

    // A big upload, killed half way.
    const big = multipartBody({ description: 'half' }, { content: conformanceArtifact('rootfs-none') });
    const half = http.request(`${srv.url}/api/management/v1/deployments/artifacts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': big.contentType, 'content-length': String(big.body.length) },
    });
    half.on('error', () => undefined);
    half.write(big.body.subarray(0, big.body.length / 2));
    const tmp = join(dataDir, 'tmp');
    while (readdirSync(tmp).length === 0) await new Promise((r) => setTimeout(r, 25));
    t.is(readdirSync(tmp).length, 1, 'the upload is being written to a temp blob');
    await kill(srv);
    half.destroy();

    // A blob renamed into place whose row never got written (a crash between the two).
    writeFileSync(join(dataDir, 'blobs', '11111111-2222-4333-8444-555555555555'), 'orphan');

    srv = await startServer(dataDir);
    let list = (await api(srv.url, 'GET', '/api/management/v1/deployments/artifacts', { token })).json<Array<{ id: string; description: string }>>();
    t.deepEqual(list.map((a) => a.id), [keptId]);
    t.deepEqual(readdirSync(tmp), []);
    t.deepEqual(readdirSync(join(dataDir, 'blobs')), [keptId]);

    // Devices, a deployment, then a burst of status reports killed in the middle.
    // Ports change across restarts: devices follow the current server.
    const transport: Transport = (req) => httpTransport(srv!.url)(req);
    const devices: SimDevice[] = [];
    for (let i = 0; i < 8; i++) {
      const d = new SimDevice(transport, { keyKind: 'ed25519' });
      const pre = await api(srv.url, 'POST', '/api/management/v2/devauth/devices', { token, json: { identity_data: d.identity, pubkey: d.publicKeyPem } });
      t.is(pre.status, 201);
      t.is((await d.authenticate()).status, 200);
      devices.push(d);
    }
    const dep = await api(srv.url, 'POST', '/api/management/v1/deployments/deployments', { token, json: { name: 'crash', artifact_name: 'release-1', devices: devices.map((d) => d.deviceId) } });
    t.is(dep.status, 201);
    const depId = String(dep.headers.location).split('/').pop()!;
    const sequence = ['downloading', 'pause_before_installing', 'installing', 'pause_before_rebooting', 'rebooting', 'pause_before_committing', 'success'];
    const acked = new Map<string, number>();
    const sent = new Map<string, number>();
    const running = srv;
    const bursts = devices.map(async (d) => {
      for (let i = 0; i < sequence.length; i++) {
        sent.set(d.deviceId!, i);
        try {
          const r = await d.reportStatus(depId, sequence[i]!);
          if (r.status !== 204) return;
          acked.set(d.deviceId!, i);
        } catch {
          return; // connection died with the server
        }
      }
    });
    // Kill once some reports were acknowledged but (most likely) not all.
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && [...acked.values()].reduce((a, b) => a + b + 1, 0) < 12) await new Promise((r) => setTimeout(r, 2));
    await kill(running);
    await Promise.all(bursts);
    t.true(acked.size > 0, 'some reports were acknowledged before the kill');
    t.true(devices.some((d) => (acked.get(d.deviceId!) ?? -1) < sequence.length - 1), 'the kill came mid-burst');
    t.log('acknowledged per device', [...acked.values()]);

    srv = await startServer(dataDir);
    const rows = (await api(srv.url, 'GET', `/api/management/v1/deployments/deployments/${depId}/devices`, { token })).json<Array<{ id: string; status: string }>>();
    for (const d of devices) {
      const row = rows.find((r) => r.id === d.deviceId)!;
      const stored = row.status === 'pending' ? -1 : sequence.indexOf(row.status);
      const a = acked.get(d.deviceId!) ?? -1;
      t.true(stored >= a, `device ${d.deviceId}: stored ${row.status} is behind acknowledged ${sequence[a]}`);
      t.true(stored <= (sent.get(d.deviceId!) ?? -1), 'nothing was stored that was never sent');
    }
    // The server keeps working on the same data: tokens issued before the crash still valid.
    t.not((await devices[0]!.checkUpdate()).response.status, 401);
    list = (await api(srv.url, 'GET', '/api/management/v1/deployments/artifacts', { token })).json();
    t.is(list.length, 1);
  } finally {
    if (srv) await kill(srv);
    rmSync(dataDir, { recursive: true, force: true });
  }
});
