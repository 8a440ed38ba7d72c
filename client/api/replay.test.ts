// Replays the Mender 3.5.3 client's recorded sessions: a fake server answers each request with
// the recorded status (bodies the recording lacks are synthesised: the deployment, the artifact,
// the JWT it printed), and checks that our client functions, driven in the order the 3.5.3
// client ran, send the same requests: method, path, key headers and body shapes.
import test from 'ava';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createPublicKey, verify } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDeviceKey, type DeviceKey } from '../identity/device-key.js';
import { identityJson, readIdentity } from '../identity/identity.js';
import { collectInventory } from '../inventory/collect.js';
import { InventorySender } from '../inventory/send.js';
import { ApiClient } from './client.js';
import { checkUpdate, reportStatus, uploadLog, type UpdateInfo } from './deployments.js';
import { downloadWithResume } from './download.js';
import { NotAuthorized } from './errors.js';
import { startServer, type RecordedRequest } from './server.fake.js';
import { loadTraffic, type RecordedExchange } from '../../test-support/mender-traffic.js';

type Recorded = RecordedExchange;
const load = loadTraffic;

const ARTIFACT = Buffer.alloc(5120, 7);

/** Serves the recording in order; `skip` lists indexes our client deliberately does not send. */
async function replayServer(records: Recorded[], skip: number[] = []) {
  const queue = records.map((r, i) => ({ r, i })).filter(({ i }) => !skip.includes(i));
  const pairs: Array<{ rec: Recorded; index: number; got: RecordedRequest }> = [];
  const srv = await startServer((got, res) => {
    const next = queue.shift();
    if (!next) {
      res.writeHead(599).end('unexpected extra request');
      return;
    }
    pairs.push({ rec: next.r, index: next.i, got });
    const { r } = next;
    const token = (records.find((x) => x.headers.Authorization?.startsWith('Bearer ey'))?.headers.Authorization ?? '').slice(7);
    if (r.path.endsWith('/auth_requests') && r.response === 200) {
      res.writeHead(200, { 'Content-Type': 'application/jwt' }).end(token);
    } else if (r.path.endsWith('/next') && r.response === 200) {
      const id = records.map((x) => /\/deployments\/([0-9a-f-]{36})\/status$/.exec(x.path)?.[1]).find(Boolean)!;
      const body = { id, artifact: { artifact_name: 'sf-release-3', source: { uri: `${srv.url}/download/artifact.mender`, expire: '2030-01-01T00:00:00Z' }, device_types_compatible: ['fake-device'] } };
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    } else if (r.path.startsWith('/download/')) {
      res.writeHead(200, { 'Content-Length': String(ARTIFACT.length), 'Content-Type': 'application/vnd.mender-artifact' }).end(ARTIFACT);
    } else {
      res.writeHead(r.response).end(r.response === 401 ? '{"error":"unauthorized"}' : undefined);
    }
  });
  return { srv, pairs, left: () => queue.map((q) => q.i) };
}

/** The parts of a request that must match the recording. */
function checkPair(t: import('ava').ExecutionContext, rec: Recorded, got: RecordedRequest, index: number): void {
  const where = `request #${index} ${rec.method} ${rec.path}`;
  t.is(`${got.method} ${got.path}`, `${rec.method} ${rec.path}`, where);
  const h = got.headers;
  if (rec.path.endsWith('/auth_requests')) {
    t.is(h.authorization, rec.headers.Authorization, `${where}: Authorization`);
    t.is(h['content-type'], 'application/json', `${where}: Content-Type`);
    const body = JSON.parse(got.body.toString()) as { id_data: string; tenant_token: string; pubkey: string };
    t.deepEqual(Object.keys(body), Object.keys(rec.body as object), `${where}: body field order`);
    const want = rec.body as { id_data: string; tenant_token: string };
    t.is(body.id_data, want.id_data, `${where}: id_data`);
    t.is(body.tenant_token, want.tenant_token, `${where}: tenant_token`);
    const key = createPublicKey(body.pubkey);
    t.true(verify(null, got.body, key, Buffer.from(String(h['x-men-signature']), 'base64')), `${where}: X-MEN-Signature`);
    t.true(got.body.toString().endsWith('}\n'), `${where}: trailing newline as Go's json.Encoder`);
    return;
  }
  if (rec.path.startsWith('/download/')) {
    t.is(h.authorization, undefined, `${where}: no Authorization on the signed link`);
    return;
  }
  t.is(h.authorization, rec.headers.Authorization, `${where}: Authorization`);
  t.is(h['content-type'], rec.headers['Content-Type'], `${where}: Content-Type`);
  const body: unknown = JSON.parse(got.body.toString());
  if (rec.path.endsWith('/inventory/device/attributes')) {
    // 3.5.3 sends Go map order (random); we sort by name. Same attributes either way, except
    // that we also send the artifact's provides (rootfs-image.*), as 4.x's
    // mender-inventory-provides does and 3.5.3 did not.
    const byName = (a: Array<{ name: string }>) => [...a].sort((x, y) => x.name.localeCompare(y.name));
    const ours = (body as Array<{ name: string }>).filter((a) => !a.name.startsWith('rootfs-image.'));
    t.deepEqual(byName(ours), byName(rec.body as Array<{ name: string }>), `${where}: attributes`);
  } else if (rec.path.endsWith('/log')) {
    const msgs = (body as { messages: Array<Record<string, string>> }).messages;
    t.true(msgs.length > 0);
    for (const m of msgs) t.deepEqual(Object.keys(m), ['level', 'message', 'timestamp'], `${where}: log line fields`);
    t.regex(msgs[0]!.timestamp!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  } else {
    t.deepEqual(body, rec.body, `${where}: body`);
    t.is(got.body.toString(), JSON.stringify(rec.body), `${where}: body bytes and key order`);
  }
}

interface Device {
  dir: string;
  key: DeviceKey;
  inventoryDir: string;
  identityScript: string;
}

async function device(t: import('ava').ExecutionContext): Promise<Device> {
  const dir = await mkdtemp(join(tmpdir(), 'flipside-replay-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const identityScript = join(dir, 'mender-device-identity');
  await writeFile(identityScript, '#!/bin/sh\necho mac=02:00:00:00:00:01\necho serial=fake-0001\n');
  const inventoryDir = join(dir, 'inventory');
  await mkdir(inventoryDir);
  const inv = join(inventoryDir, 'mender-inventory-fake');
  await writeFile(inv, "#!/bin/sh\necho fake_attr=hello\necho fake_multi=a\necho fake_multi=b\necho 'os=Debian GNU/Linux 12 (bookworm)'\necho update_modules=\n");
  await Promise.all([chmod(identityScript, 0o755), chmod(inv, 0o755)]);
  return { dir, key: await createDeviceKey(dir, 'ed25519'), inventoryDir, identityScript };
}

function apiFor(d: Device, url: string): ApiClient {
  return new ApiClient({ servers: [url], key: d.key, identity: async () => identityJson(await readIdentity(d.identityScript)), timeoutMs: 5000 });
}

async function inventory(d: Device, api: ApiClient, provides: Record<string, string>) {
  const attrs = await collectInventory({ dir: d.inventoryDir, deviceType: 'fake-device', provides, clientVersion: '3.5.3' });
  return new InventorySender(api, d.dir).send(attrs);
}

async function downloadAll(u: UpdateInfo): Promise<number> {
  let n = 0;
  for await (const c of downloadWithResume(u.uri, { stallTimeoutMs: 5000 })) n += (c as Buffer).length;
  return n;
}

test('deployment success: auth (pending, accepted), inventory, check v2→v1, statuses, restart, success', async (t) => {
  const records = load('requests-deployment-success.jsonl');
  // #16: 3.5.3 resends an unchanged inventory every poll; we skip it (Mender 4.x behaviour).
  const stopAt = 16;
  const { srv, pairs, left } = await replayServer(records.slice(0, stopAt + 1), [stopAt]);
  t.teardown(srv.close);
  const d = await device(t);
  let api = apiFor(d, srv.url);

  await t.throwsAsync(api.authenticate(), { instanceOf: NotAuthorized });
  await api.authenticate();
  t.is(await inventory(d, api, { artifact_name: 'unknown' }), 'sent');
  const u = await checkUpdate(api, { artifact_name: 'unknown', device_type: 'fake-device' });
  t.truthy(u);
  await reportStatus(api, u!.id, 'downloading');
  t.is(await downloadAll(u!), ARTIFACT.length);
  await reportStatus(api, u!.id, 'downloading');
  await reportStatus(api, u!.id, 'downloading');
  await reportStatus(api, u!.id, 'installing');
  // The device rebooted: a new process authenticates before its first call.
  api = apiFor(d, srv.url);
  await reportStatus(api, u!.id, 'installing');
  await reportStatus(api, u!.id, 'success');
  const after = { artifact_name: 'sf-release-3', device_type: 'fake-device', 'rootfs-image.single-file.version': 'sf-release-3' };
  t.is(await inventory(d, api, { artifact_name: 'sf-release-3', 'rootfs-image.single-file.version': 'sf-release-3' }), 'sent');
  t.is(await checkUpdate(api, after), null);
  t.is(await inventory(d, api, { artifact_name: 'sf-release-3', 'rootfs-image.single-file.version': 'sf-release-3' }), 'unchanged');

  t.deepEqual(left(), []);
  t.is(pairs.length, stopAt);
  for (const p of pairs) checkPair(t, p.rec, p.got, p.index);
});

test('deployment failure: statuses, then the log upload in Mender format', async (t) => {
  const records = load('requests-deployment-failure.jsonl');
  // #9: the unchanged inventory resend of 3.5.3, skipped by us.
  const { srv, pairs, left } = await replayServer(records.slice(0, 12), [9]);
  t.teardown(srv.close);
  const d = await device(t);
  const api = apiFor(d, srv.url);
  const provides = { artifact_name: 'unknown', device_type: 'fake-device' };

  t.is(await inventory(d, api, { artifact_name: 'unknown' }), 'sent');
  const u = await checkUpdate(api, provides);
  await reportStatus(api, u!.id, 'downloading');
  await downloadAll(u!);
  await reportStatus(api, u!.id, 'downloading');
  await reportStatus(api, u!.id, 'failure');
  await uploadLog(api, u!.id, [
    { timestamp: new Date(), level: 'info', message: 'Running Flipside client' },
    { timestamp: new Date(), level: 'error', message: 'installing failed' },
  ]);
  t.is(await inventory(d, api, { artifact_name: 'unknown' }), 'unchanged');
  t.is(await checkUpdate(api, provides), null);

  t.deepEqual(left(), []);
  for (const p of pairs) checkPair(t, p.rec, p.got, p.index);
});
