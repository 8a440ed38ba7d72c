import test from 'ava';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDeviceKey, type DeviceKey } from '../identity/device-key.js';
import { ApiClient } from './client.js';
import { checkUpdate, reportStatus, uploadLog, logBody, RetryLater, TRUNCATED_MARKER } from './deployments.js';
import { ApiError, DeploymentAborted, ProtocolError } from './errors.js';
import { startServer, send, type RecordedRequest } from './server.fake.js';
import type { ServerResponse } from 'node:http';

let key: DeviceKey;
test.before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'flipside-dep-'));
  key = await createDeviceKey(dir, 'ed25519');
  await rm(dir, { recursive: true, force: true });
});

const NEXT = {
  id: 'd1',
  artifact: { id: 'a1', artifact_name: 'release-2', source: { uri: 'https://s/dl/a1?x=1', expire: '2030-01-01T00:00:00Z' }, device_types_compatible: ['qemux86-64'] },
};

/** A server that accepts auth and hands the rest to `h`. */
async function server(h: (req: RecordedRequest, res: ServerResponse) => void) {
  const srv = await startServer((req, res) => (req.path.endsWith('/auth_requests') ? send(res, 200, 'a.b.c') : h(req, res)));
  const api = new ApiClient({ servers: [srv.url], key, identity: async () => '{"mac":"x"}', timeoutMs: 2000 });
  return { srv, api, calls: () => srv.requests.filter((r) => !r.path.endsWith('/auth_requests')) };
}

const provides = { device_type: 'qemux86-64', artifact_name: 'release-1', 'rootfs-image.version': 'release-1' };

test('check update: v2 POST, then v1 POST, then v1 GET, as Mender 3.5.3 walks them', async (t) => {
  const { srv, api, calls } = await server((req, res) => (req.method === 'GET' ? send(res, 200, JSON.stringify(NEXT)) : send(res, 404, '{"error":"no route"}')));
  t.teardown(srv.close);
  const u = await checkUpdate(api, provides);
  t.deepEqual(u, { id: 'd1', artifactName: 'release-2', uri: 'https://s/dl/a1?x=1', expire: '2030-01-01T00:00:00Z', deviceTypes: ['qemux86-64'] });
  const c = calls();
  t.deepEqual(
    c.map((r) => `${r.method} ${r.path}`),
    [
      'POST /api/devices/v2/deployments/device/deployments/next',
      'POST /api/devices/v1/deployments/device/deployments/next',
      'GET /api/devices/v1/deployments/device/deployments/next?artifact_name=release-1&device_type=qemux86-64',
    ],
  );
  t.is(c[0]!.body.toString(), '{"device_provides":{"artifact_name":"release-1","device_type":"qemux86-64","rootfs-image.version":"release-1"},"update_control_map":true}');
  t.is(c[1]!.body.toString(), '{"artifact_name":"release-1","device_type":"qemux86-64","rootfs-image.version":"release-1"}');
  t.is(c[2]!.body.length, 0);
});

test('check update: 204 is null; v1 POST answering stops the walk', async (t) => {
  const { srv, api, calls } = await server((req, res) => (req.path.includes('/v2/') ? send(res, 404) : send(res, 204)));
  t.teardown(srv.close);
  t.is(await checkUpdate(api, provides), null);
  t.is(calls().length, 2);
});

test('check update: 429 and 409 are RetryLater with Retry-After', async (t) => {
  let status = 429;
  const { srv, api } = await server((_req, res) => send(res, status, '{"error":"slow down"}', { 'Retry-After': '120' }));
  t.teardown(srv.close);
  const e = await t.throwsAsync(checkUpdate(api, provides), { instanceOf: RetryLater });
  t.is(e!.retryAfterMs, 120_000);
  t.is(e!.status, 429);
  status = 409;
  const e2 = await t.throwsAsync(checkUpdate(api, provides), { instanceOf: RetryLater });
  t.is(e2!.status, 409);
});

test('check update: every endpoint failing is an ApiError; a malformed 200 a ProtocolError', async (t) => {
  let body = '';
  const { srv, api, calls } = await server((_req, res) => (body ? send(res, 200, body) : send(res, 500, '{"error":"boom"}')));
  t.teardown(srv.close);
  const e = await t.throwsAsync(checkUpdate(api, provides), { instanceOf: ApiError });
  t.is(e!.status, 500);
  t.is(calls().length, 3);
  body = JSON.stringify({ id: 'd1', artifact: { artifact_name: 'x', source: {} } });
  const e2 = await t.throwsAsync(checkUpdate(api, provides), { instanceOf: ProtocolError });
  t.regex(e2!.message, /artifact\.source\.uri/);
  await t.throwsAsync(checkUpdate(api, { device_type: 'x' } as never), { instanceOf: TypeError });
});

test('status: body shape, substate only when given, 409 is DeploymentAborted', async (t) => {
  let status = 204;
  const { srv, api, calls } = await server((_req, res) => send(res, status));
  t.teardown(srv.close);
  await reportStatus(api, 'd1', 'downloading');
  await reportStatus(api, 'd1', 'installing', 'ArtifactInstall_Enter;script:foo');
  t.is(calls()[0]!.path, '/api/devices/v1/deployments/device/deployments/d1/status');
  t.is(calls()[0]!.method, 'PUT');
  t.is(calls()[0]!.body.toString(), '{"status":"downloading"}');
  t.is(calls()[1]!.body.toString(), '{"status":"installing","substate":"ArtifactInstall_Enter;script:foo"}');
  status = 409;
  const e = await t.throwsAsync(reportStatus(api, 'd1', 'installing', undefined, { sleep: async () => undefined }), { instanceOf: DeploymentAborted });
  t.is(e!.deploymentId, 'd1');
  t.is(calls().length, 3);
});

test('status: transient failures are retried with growing waits, 4xx is not', async (t) => {
  const answers = [503, 502, 204];
  const { srv, api, calls } = await server((_req, res) => send(res, answers.shift() ?? 400));
  t.teardown(srv.close);
  const waits: number[] = [];
  await reportStatus(api, 'd1', 'success', undefined, { baseDelayMs: 10, sleep: async (ms) => void waits.push(ms) });
  t.deepEqual(waits, [10, 20]);
  t.is(calls().length, 3);
  const e = await t.throwsAsync(reportStatus(api, 'd1', 'success', undefined, { sleep: async (ms) => void waits.push(ms) }), { instanceOf: ApiError });
  t.is(e!.status, 400);
  t.is(calls().length, 4);
  const answers2 = [500, 500];
  const { srv: s2, api: a2 } = await server((_req, res) => send(res, answers2.shift() ?? 500));
  t.teardown(s2.close);
  await t.throwsAsync(reportStatus(a2, 'd1', 'success', undefined, { attempts: 2, sleep: async () => undefined }), { instanceOf: ApiError });
});

test('log upload: Mender 3.5.3 field order and timestamp format', async (t) => {
  const { srv, api, calls } = await server((_req, res) => send(res, 204));
  t.teardown(srv.close);
  await uploadLog(api, 'd1', [
    { timestamp: new Date('2026-11-23T18:15:53.123Z'), level: 'info', message: 'Running <client> & "more"' },
    { timestamp: '2026-11-23T18:15:54Z', level: 'error', message: 'failed' },
  ]);
  const c = calls()[0]!;
  t.is(c.path, '/api/devices/v1/deployments/device/deployments/d1/log');
  t.is(
    c.body.toString(),
    '{"messages":[{"level":"info","message":"Running \\u003cclient\\u003e \\u0026 \\"more\\"","timestamp":"2026-11-23T18:15:53Z"},{"level":"error","message":"failed","timestamp":"2026-11-23T18:15:54Z"}]}',
  );
});

test('log body too big: oldest lines dropped behind a marker, newest kept', (t) => {
  const msgs = Array.from({ length: 100 }, (_, i) => ({ timestamp: '2026-01-01T00:00:00Z', level: 'info', message: `line ${i} ${'x'.repeat(50)}` }));
  const body = logBody(msgs, 2000);
  t.true(Buffer.byteLength(body) <= 2000);
  const parsed = JSON.parse(body) as { messages: Array<{ message: string }> };
  t.is(parsed.messages[0]!.message, TRUNCATED_MARKER);
  t.regex(parsed.messages.at(-1)!.message, /^line 99 /);
  t.throws(() => logBody([]), { instanceOf: TypeError });
});
