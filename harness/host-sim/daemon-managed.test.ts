// `flipside daemon` end to end: the reference server (server-mock) listening on 127.0.0.1, host-sim
// boards running the daemon as real child processes (1 s polls), deployments created through the
// management API. Between device and server: a FaultProxy (network faults) and a small recording
// HTTP forwarder (the per-device status history the server itself does not keep).
import test, { type ExecutionContext } from 'ava';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WriteSpec } from '../../artifact/writer.js';
import { FaultProxy } from '../network/fault-proxy.js';
import { startTestServer, acceptDevice, uploadArtifact, createDeployment, type TestServer } from '../../server-mock/testing/fixtures.js';
import { HostSimBoard } from './board.js';
import { rootfsImage, writeRootfsArtifact, payloadOf } from './artifacts.js';
import { configureDaemon, DaemonRunner } from './daemon.js';

interface Seen {
  /** The device id from the request's JWT (sub), when it carried one. */
  device: string | null;
  method: string;
  path: string;
  status: number;
  body: string;
}

function jwtSub(auth: string | undefined): string | null {
  const m = /^Bearer ([^.]+)\.([^.]+)\./.exec(auth ?? '');
  if (!m) return null;
  try {
    return (JSON.parse(Buffer.from(m[2]!, 'base64url').toString()) as { sub?: string }).sub ?? null;
  } catch {
    return null;
  }
}

/** HTTP forwarder that records each request and its answer's status. */
async function recorder(targetPort: number): Promise<{ port: number; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    const up = http.request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      const entry = { device: jwtSub(req.headers.authorization), method: req.method ?? '', path: req.url ?? '', status: ur.statusCode ?? 0, body: Buffer.concat(chunks).toString() };
      seen.push(entry);
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.on('data', (c: Buffer) => chunks.push(c));
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

interface Lab {
  s: TestServer;
  proxy: FaultProxy;
  rec: Awaited<ReturnType<typeof recorder>>;
  url: string;
}

async function lab(t: ExecutionContext): Promise<Lab> {
  const s = await startTestServer();
  t.teardown(s.close);
  await s.app.listen({ port: 0, host: '127.0.0.1' });
  const rec = await recorder((s.app.server.address() as AddressInfo).port);
  t.teardown(rec.close);
  const proxy = new FaultProxy({ target: { host: '127.0.0.1', port: rec.port }, cutGraceMs: 200 });
  const addr = await proxy.listen();
  t.teardown(() => proxy.close());
  return { s, proxy, rec, url: `http://127.0.0.1:${addr.port}` };
}

interface Device {
  b: HostSimBoard;
  d: DaemonRunner;
  identity: Record<string, string>;
  id: string;
}

async function device(t: ExecutionContext, l: Lab, n: number, config: Record<string, unknown> = {}): Promise<Device> {
  const b = await HostSimBoard.create({ partitionSize: 2 << 20 });
  await b.boot();
  const identity = { mac: `02:00:00:00:01:${String(n).padStart(2, '0')}`, serial: `hs-${n}` };
  await configureDaemon(b, { serverUrl: l.url, identity, config });
  const d = new DaemonRunner(b);
  t.teardown(async () => {
    await d.stop();
    await b.destroy();
  });
  await d.start();
  // Pending until accepted: the daemon keeps asking; accept it once the server saw it.
  let id = '';
  await d.until(async () => {
    try {
      id = await acceptDevice(l.s, identity);
      return true;
    } catch {
      return false;
    }
  }, 20_000, `device ${n} to ask for authentication`);
  return { b, d, identity, id };
}

async function release(t: ExecutionContext, l: Lab, b: HostSimBoard, name: string, spec: Partial<WriteSpec> = {}): Promise<{ path: string; payload: Buffer }> {
  const path = await writeRootfsArtifact(b.dir, name, rootfsImage(name, 1 << 20), spec);
  const r = await uploadArtifact(l.s, await readFile(path));
  t.is(r.statusCode, 201, r.body);
  return { path, payload: await payloadOf(path) };
}

async function stats(l: Lab, dep: string): Promise<Record<string, number>> {
  const r = await l.s.app.inject({ method: 'GET', url: `/api/management/v1/deployments/deployments/${dep}/statistics`, headers: l.s.auth });
  return r.json<Record<string, number>>();
}

async function deviceStatus(l: Lab, dep: string, deviceId: string): Promise<string | undefined> {
  const r = await l.s.app.inject({ method: 'GET', url: `/api/management/v1/deployments/deployments/${dep}/devices`, headers: l.s.auth });
  return r.json<Array<{ id: string; status: string }>>().find((x) => x.id === deviceId)?.status;
}

/** Statuses the server accepted (2xx) for a deployment (from one device when given), in order. */
function history(l: Lab, dep: string, deviceId?: string): string[] {
  return l.rec.seen
    .filter((x) => x.method === 'PUT' && x.path.endsWith(`/deployments/${dep}/status`) && x.status < 300 && (!deviceId || x.device === deviceId))
    .map((x) => (JSON.parse(x.body) as { status: string }).status);
}

const FULL = ['downloading', 'installing', 'rebooting', 'installing', 'success'];
const dedupe = (xs: string[]): string[] => xs.filter((x, i) => i === 0 || xs[i - 1] !== x);

async function partitionHead(path: string, n: number): Promise<Buffer> {
  return (await readFile(path)).subarray(0, n);
}

test('two host-sim devices run the daemon: accepted, updated, rebooted, committed; the server says success for both', async (t) => {
  const l = await lab(t);
  const devs = [await device(t, l, 1), await device(t, l, 2)];
  const art = await release(t, l, devs[0]!.b, 'release-1');
  const dep = await createDeployment(l.s, { artifact_name: 'release-1', devices: devs.map((x) => x.id) });
  await devs[0]!.d.until(async () => (await stats(l, dep)).success === 2, 60_000, 'both devices to succeed');
  for (const x of devs) {
    t.is(x.b.running, 'B');
    t.is(x.d.reboots, 1);
    t.is((await x.b.provides()).artifact_name, 'release-1');
    t.deepEqual(await partitionHead(x.b.partB, art.payload.length), art.payload);
    const env = await x.b.readEnv();
    t.is(env.upgrade_available, '0');
    t.is(await deviceStatus(l, dep, x.id), 'success');
  }
  // Per device the server saw Mender's sequence once (keep-alive `downloading` repeats collapse).
  for (const x of devs) t.deepEqual(dedupe(history(l, dep, x.id)), FULL);
  // Inventory reached the server with the new artifact name afterwards (check-update loop continues).
  const inv = l.rec.seen.filter((x) => x.method === 'PUT' && x.path.endsWith('/inventory/device/attributes'));
  t.true(inv.length >= 2);
  await devs[0]!.d.until(() => l.rec.seen.some((x) => x.method === 'PUT' && x.path.endsWith('/inventory/device/attributes') && x.body.includes('release-1')), 10_000, 'inventory with release-1');
});

/** Waits for a state line of the daemon (any start). */
const reached = (d: DaemonRunner, state: string, timeoutMs = 30_000): Promise<void> => d.until(() => d.states.includes(state), timeoutMs, `state ${state}`);

test('download cut at three byte offsets: resumed with Range each time, checksum verified, success', async (t) => {
  const l = await lab(t);
  const x = await device(t, l, 3);
  const art = await release(t, l, x.b, 'release-cut');
  const cuts = [150_000, 300_000, 250_000];
  // Arm the first cut once the download starts, the next one after each cut fired.
  const arm = (async () => {
    await reached(x.d, 'Download');
    for (const n of cuts) {
      const before = l.proxy.stats().cuts;
      l.proxy.cutAtByte(n);
      await x.d.until(() => l.proxy.stats().cuts > before, 20_000, `cut at ${n}`);
    }
  })();
  const dep = await createDeployment(l.s, { artifact_name: 'release-cut', devices: [x.id] });
  await arm;
  await x.d.until(async () => (await stats(l, dep)).success === 1, 60_000, 'success');
  t.is((x.d.stderr.match(/download interrupted at byte/g) ?? []).length, cuts.length);
  t.is(l.rec.seen.filter((r) => r.method === 'GET' && r.path.includes('/download')).length, 1 + cuts.length);
  // The server saw it too, from its download route alone: every cut resumed, none started over.
  const devs = await l.s.app.inject({ method: 'GET', url: `/api/management/v1/deployments/deployments/${dep}/devices`, headers: l.s.auth });
  const dl = devs.json<Array<{ id: string; download?: { bytes: number; total: number; served: number; requests: number; resumes: number; restarts: number } }>>().find((r) => r.id === x.id)?.download;
  t.like(dl, { requests: 1 + cuts.length, resumes: cuts.length, restarts: 0 });
  t.true(dl !== undefined && dl.bytes === dl.total && dl.served >= dl.total, JSON.stringify(dl));
  t.log(`server counted ${dl?.served} bytes served for a ${dl?.total}-byte artifact (${((dl?.served ?? 0) / (dl?.total ?? 1)).toFixed(2)}x)`);
  t.deepEqual(await partitionHead(x.b.partB, art.payload.length), art.payload);
  t.is((await x.b.provides()).artifact_name, 'release-cut');
  t.deepEqual(dedupe(history(l, dep, x.id)), FULL);
});

test('server down while the final status is due, and a power cut meanwhile: the status arrives later, once', async (t) => {
  const l = await lab(t);
  const x = await device(t, l, 4);
  // The artifact's ArtifactCommit_Leave script holds the client in AfterCommit (committed, success
  // not yet sent) until the test took the link down (a file it creates; bounded at 60 s).
  const go = join(x.b.dir, 'link-is-down');
  const hold = `#!/bin/sh\ni=0\nwhile [ ! -e '${go}' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n`;
  await release(t, l, x.b, 'release-late', { scripts: [{ name: 'ArtifactCommit_Leave_50_hold', content: Buffer.from(hold), mode: 0o755 }] });
  const dep = await createDeployment(l.s, { artifact_name: 'release-late', devices: [x.id] });
  await reached(x.d, 'AfterCommit');
  await l.proxy.drop('refuse');
  await writeFile(go, '');
  await x.d.until(() => /queued for the next cycle/.test(x.d.stderr), 20_000, 'the success status to be queued');
  t.is(await deviceStatus(l, dep, x.id), 'installing');
  // Power cut of the client while the outcome waits in its queue.
  await x.d.kill();
  await x.d.start();
  await new Promise((r) => setTimeout(r, 1000));
  await l.proxy.restore();
  await x.d.until(async () => (await deviceStatus(l, dep, x.id)) === 'success', 20_000, 'success to arrive');
  await new Promise((r) => setTimeout(r, 1500));
  t.deepEqual(dedupe(history(l, dep, x.id)), FULL);
  t.is(history(l, dep, x.id).filter((s) => s === 'success').length, 1);
  t.is(x.b.running, 'B');
});

test('server unreachable after the reboot: the commit waits, then rolls back; failure reported once the link returns', async (t) => {
  const l = await lab(t);
  const x = await device(t, l, 5);
  await release(t, l, x.b, 'release-offline');
  const dep = await createDeployment(l.s, { artifact_name: 'release-offline', devices: [x.id] });
  await reached(x.d, 'ArtifactReboot');
  await l.proxy.drop('refuse');
  await reached(x.d, 'ArtifactRollback', 30_000);
  await reached(x.d, 'Cleanup', 30_000);
  await x.d.until(() => /queued for the next cycle/.test(x.d.stderr), 20_000, 'the failure to be queued');
  t.is(x.b.running, 'A');
  t.is(x.d.reboots, 2, 'into the update, and back');
  await l.proxy.restore();
  await x.d.until(async () => (await deviceStatus(l, dep, x.id)) === 'failure', 20_000, 'failure to arrive');
  await new Promise((r) => setTimeout(r, 1000));
  t.is(history(l, dep, x.id).filter((s) => s === 'failure').length, 1);
  t.false(history(l, dep, x.id).includes('success'));
  t.is((await x.b.provides()).artifact_name, 'release-0');
  const env = await x.b.readEnv();
  t.is(env.boot_part, '2');
  t.is(env.upgrade_available, '0');
  // The deployment log went up with the failure.
  const logs = l.rec.seen.filter((r) => r.method === 'PUT' && r.path.endsWith(`/deployments/${dep}/log`) && r.status < 300);
  t.is(logs.length, 1);
  t.regex(logs[0]!.body, /did not confirm the update before the commit/);
});

test('abort during the download: the device stops, cleans up, stays on the old version, nothing flipped', async (t) => {
  const l = await lab(t);
  const x = await device(t, l, 6);
  await release(t, l, x.b, 'release-aborted');
  // A slow link so the download is still running when the abort comes.
  await l.proxy.shape({ rateKbps: 1200 });
  const envBefore = await x.b.readEnv();
  const dep = await createDeployment(l.s, { artifact_name: 'release-aborted', devices: [x.id] });
  await reached(x.d, 'Download');
  const r = await l.s.app.inject({ method: 'PUT', url: `/api/management/v1/deployments/deployments/${dep}/status`, headers: l.s.auth, payload: { status: 'aborted' } });
  t.is(r.statusCode, 204, r.body);
  await reached(x.d, 'Cleanup', 20_000);
  await x.d.until(() => /finished: failure/.test(x.d.stderr), 20_000, 'the deployment to end');
  t.regex(x.d.stderr, /aborted by the server/);
  t.false(x.d.states.includes('ArtifactInstall'));
  t.deepEqual(await x.b.readEnv(), envBefore);
  t.is(x.b.running, 'A');
  t.is(x.d.reboots, 0);
  t.is((await x.b.provides()).artifact_name, 'release-0');
  t.is(await deviceStatus(l, dep, x.id), 'aborted');
  t.false(history(l, dep, x.id).includes('failure'));
});

for (const row of [
  // Killed in Download: the download resumes from its spool after the restart (issue #17).
  { at: 'Download', powerCut: false, outcome: 'success' as const },
  { at: 'ArtifactReboot', powerCut: true, outcome: 'success' as const },
  { at: 'ArtifactCommit', powerCut: false, outcome: 'success' as const },
]) {
  test(`daemon SIGKILLed in ${row.at}${row.powerCut ? ' (power cut)' : ''}: restarted, the server sees exactly one final status (${row.outcome})`, async (t) => {
    const l = await lab(t);
    const x = await device(t, l, 10 + row.at.length);
    await release(t, l, x.b, `release-kill-${row.at}`);
    const kill = { FLIPSIDE_TEST_KILL_AT: row.at };
    // The kill point must apply to the daemon that reaches the state: ArtifactCommit is reached by
    // the daemon started after the reboot, the others by the one running now (restarted armed).
    await x.d.kill();
    if (row.at === 'ArtifactCommit') {
      await x.d.start();
      x.d.armNextStart(kill); // taken by the start after the reboot
    } else {
      await x.d.start(kill);
    }
    const dep = await createDeployment(l.s, { artifact_name: `release-kill-${row.at}`, devices: [x.id] });
    await x.d.until(() => x.d.selfKills === 1, 30_000, `the kill in ${row.at}`);
    t.true(x.d.exited);
    t.is(x.d.states.at(-1), row.at, 'killed right after the state was stored');
    if (row.powerCut) await x.b.boot();
    await x.d.start();
    await x.d.until(async () => (await stats(l, dep))[row.outcome] === 1, 40_000, row.outcome);
    await new Promise((r) => setTimeout(r, 1500));
    const finals = history(l, dep, x.id).filter((s) => s === 'success' || s === 'failure');
    t.deepEqual(finals, [row.outcome]);
    t.is(x.b.running, row.outcome === 'success' ? 'B' : 'A');
    t.is((await x.b.provides()).artifact_name, row.outcome === 'success' ? `release-kill-${row.at}` : 'release-0');
  });
}

test('`flipside check-update` makes a daemon with an hour-long poll interval pick up a new deployment now (SIGUSR1)', async (t) => {
  const l = await lab(t);
  const x = await device(t, l, 7, { UpdatePollIntervalSeconds: 3600, InventoryPollIntervalSeconds: 3600 });
  await release(t, l, x.b, 'release-poked');
  // Wait for the first check after authorization, then deploy: without a poke the next is an hour away.
  // (The recorder logs a request when its answer came: a "next" entry that was not the v2 404 of
  // a server without v2 means that check is over; the bundled server answers v2 itself.)
  const checked = (r: { path: string; status: number }) => /^\/api\/devices\/v[12]\/deployments\/device\/deployments\/next/.test(r.path) && r.status !== 404;
  await x.d.until(() => l.rec.seen.some((r) => r.device === x.id && checked(r)), 20_000, 'the first update check');
  const dep = await createDeployment(l.s, { artifact_name: 'release-poked', devices: [x.id] });
  await new Promise((r) => setTimeout(r, 1500));
  t.is(await deviceStatus(l, dep, x.id), 'pending');
  const poke = await x.b.runClient(['check-update']);
  t.is(poke.code, 0, poke.stderr);
  await x.d.until(async () => (await stats(l, dep)).success === 1, 30_000, 'success after the poke');
  const inv = await x.b.runClient(['send-inventory']);
  t.is(inv.code, 0, inv.stderr);
  await x.d.until(() => /inventory update requested/.test(x.d.stderr), 10_000, 'the inventory poke');
});
