import test from 'ava';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDeviceKey, KEY_TYPES, type DeviceKey, type KeyType } from '../identity/device-key.js';
import { authRequestBody, requestToken } from './auth.js';
import { ApiClient } from './client.js';
import { ApiError, NetworkError, NotAuthorized } from './errors.js';
import { startServer, send, deadUrl, TRAFFIC_DIR, type RecordedRequest } from './server.fake.js';

const TRAFFIC = join(TRAFFIC_DIR, 'requests-deployment-success.jsonl');
const JWT = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJmYWtlLWRldmljZSJ9.';

const keys = new Map<KeyType, DeviceKey>();
test.before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'flipside-auth-'));
  try {
    for (const type of KEY_TYPES) keys.set(type, await createDeviceKey(dir, type));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** What a Mender server checks: the signature over the raw body with the body's own pubkey. */
function signatureValid(req: RecordedRequest): boolean {
  const { pubkey } = JSON.parse(req.body.toString('utf8')) as { pubkey: string };
  const key = createPublicKey(pubkey);
  const sig = Buffer.from(String(req.headers['x-men-signature']), 'base64');
  return verify(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', req.body, key, sig);
}

test('the auth body is byte for byte the one Mender 3.5.3 signed (the recorded signature verifies)', (t) => {
  const rec = JSON.parse(readFileSync(TRAFFIC, 'utf8').split('\n')[0]!) as {
    headers: Record<string, string>;
    body: { id_data: string; tenant_token: string; pubkey: string };
  };
  const body = authRequestBody({ idData: rec.body.id_data, publicKeyPem: rec.body.pubkey, tenantToken: rec.body.tenant_token });
  t.is(body.length, Number(rec.headers['Content-Length']));
  const ok = verify('sha256', body, createPublicKey(rec.body.pubkey), Buffer.from(rec.headers['X-Men-Signature']!, 'base64'));
  t.true(ok);
});

for (const type of KEY_TYPES) {
  test(`signed auth request with a ${type} key: pending (401) then accepted`, async (t) => {
    let accepted = false;
    const srv = await startServer((req, res) => {
      if (!signatureValid(req)) return send(res, 400, '{"error":"bad signature"}');
      return accepted ? send(res, 200, JWT, { 'Content-Type': 'application/jwt' }) : send(res, 401, '{"error":"unauthorized"}');
    });
    t.teardown(srv.close);
    const key = keys.get(type)!;
    const e = await t.throwsAsync(requestToken(srv.url, key, { idData: '{"mac":"02:00:00:00:00:01"}', tenantToken: 'tt' }), { instanceOf: NotAuthorized });
    t.is(e!.status, 401);
    accepted = true;
    t.is(await requestToken(srv.url, key, { idData: '{"mac":"02:00:00:00:00:01"}', tenantToken: 'tt' }), JWT);
    const r = srv.requests[1]!;
    t.is(r.method, 'POST');
    t.is(r.path, '/api/devices/v1/authentication/auth_requests');
    t.is(r.headers['content-type'], 'application/json');
    t.deepEqual(JSON.parse(r.body.toString()), { id_data: '{"mac":"02:00:00:00:00:01"}', tenant_token: 'tt', pubkey: key.publicKeyPem });
  });
}

test('a 200 without a JWT is a protocol error, a 500 an ApiError with a body snippet', async (t) => {
  let status = 200;
  const srv = await startServer((_req, res) => send(res, status, status === 200 ? '<html>captive portal</html>' : '{"error":"db down"}'));
  t.teardown(srv.close);
  const key = keys.get('ed25519')!;
  const e1 = await t.throwsAsync(requestToken(srv.url, key, { idData: '{}' }), { instanceOf: ApiError });
  t.is(e1!.name, 'ProtocolError');
  status = 500;
  const e2 = await t.throwsAsync(requestToken(srv.url, key, { idData: '{}' }), { instanceOf: ApiError });
  t.is(e2!.status, 500);
  t.is(e2!.bodySnippet, '{"error":"db down"}');
  t.is(e2!.url, `${srv.url}/api/devices/v1/authentication/auth_requests`);
});

function client(servers: string[], extra: Partial<ConstructorParameters<typeof ApiClient>[0]> = {}): ApiClient {
  return new ApiClient({ servers, key: keys.get('ed25519')!, identity: async () => '{"mac":"x"}', timeoutMs: 2000, ...extra });
}

test('ApiClient authenticates first, sends the bearer token, re-authenticates once on 401', async (t) => {
  let tokenNo = 0;
  let rejectNext = 0;
  const srv = await startServer((req, res) => {
    if (req.path.endsWith('/auth_requests')) return send(res, 200, `a.b${++tokenNo}.c`);
    if (rejectNext > 0) {
      rejectNext--;
      return send(res, 401, '{"error":"expired"}');
    }
    return send(res, 200, JSON.stringify({ auth: req.headers.authorization }));
  });
  t.teardown(srv.close);
  let authed = 0;
  const api = client([srv.url], { onAuthenticated: () => authed++ });
  const r1 = await api.request({ method: 'GET', path: '/x' });
  t.deepEqual(JSON.parse(r1.body.toString()), { auth: 'Bearer a.b1.c' });
  rejectNext = 1;
  const r2 = await api.request({ method: 'GET', path: '/x' });
  t.deepEqual(JSON.parse(r2.body.toString()), { auth: 'Bearer a.b2.c' });
  t.is(authed, 2);
  // A second 401 in a row is returned, not retried forever.
  rejectNext = 5;
  const r3 = await api.request({ method: 'GET', path: '/x' });
  t.is(r3.status, 401);
  t.is(srv.requests.filter((r) => r.path === '/x').length, 5);
});

test('ApiClient fails over to the next server when one cannot be reached', async (t) => {
  const srv = await startServer((req, res) => (req.path.endsWith('/auth_requests') ? send(res, 200, 'a.b.c') : send(res, 204)));
  t.teardown(srv.close);
  const dead = await deadUrl();
  const api = client([dead, `${srv.url}/`]);
  t.is((await api.request({ method: 'PUT', path: '/api/devices/v1/x', json: '{}' })).status, 204);
  t.is(api.server, `${srv.url}/`);
  t.is(srv.requests[1]!.path, '/api/devices/v1/x');
});

test('ApiClient reports a pending device as NotAuthorized even if another server is down', async (t) => {
  const srv = await startServer((_req, res) => send(res, 401, '{"error":"unauthorized"}'));
  t.teardown(srv.close);
  const api = client([srv.url, await deadUrl()]);
  await t.throwsAsync(api.authenticate(), { instanceOf: NotAuthorized });
  t.is(api.token, null);
});

test('all servers down: NetworkError; a silent server: timeout', async (t) => {
  const api = client([await deadUrl(), await deadUrl()]);
  const e = await t.throwsAsync(api.request({ method: 'GET', path: '/x' }), { instanceOf: NetworkError });
  t.is(e!.code, 'ECONNREFUSED');
  const srv = await startServer(() => undefined);
  t.teardown(srv.close);
  const slow = client([srv.url], { timeoutMs: 100 });
  const e2 = await t.throwsAsync(slow.authenticate(), { instanceOf: NetworkError });
  t.is(e2!.code, 'TIMEOUT');
});
