import test from 'ava';
import { startTestServer, acceptedDevice, uploadArtifact, conformanceArtifact, createDeployment, type TestServer } from '../testing/fixtures.js';
import { SimDevice, injectTransport, type KeyKind } from '../testing/device-sim.js';

let t0: TestServer;
test.before(async () => {
  t0 = await startTestServer();
  const up = await uploadArtifact(t0, conformanceArtifact('rootfs-gzip'));
  if (up.statusCode !== 201) throw new Error(`upload failed ${up.statusCode} ${up.body}`);
});
test.after.always(async () => t0?.close());

for (const kind of ['rsa', 'ecdsa', 'ed25519'] as KeyKind[]) {
  test.serial(`${kind}: unknown device pending (401), accepted (200 JWT), full update`, async (t) => {
    const d = new SimDevice(injectTransport(t0.app), { keyKind: kind });
    const first = await d.authenticate();
    t.is(first.status, 401);
    t.deepEqual(Object.keys(first.json<object>()).sort(), ['error', 'request_id']);
    const { acceptDevice } = await import('../testing/fixtures.js');
    await acceptDevice(t0, d.identity);
    const ok = await d.authenticate();
    t.is(ok.status, 200);
    t.regex(String(ok.headers['content-type']), /^application\/jwt/);
    const claims = JSON.parse(Buffer.from(d.token!.split('.')[1]!, 'base64url').toString());
    t.is(claims['mender.device'], true);
    t.is(typeof claims.exp, 'number');
    t.is(claims.sub, d.deviceId);

    t.is((await d.sendInventory([{ name: 'os', value: 'test' }])).status, 200);
    t.is((await d.checkUpdate()).response.status, 204);
    const depId = await createDeployment(t0, { artifact_name: 'release-1', devices: [d.deviceId] });
    const { response, update } = await d.checkUpdate({ get: kind === 'rsa' });
    t.is(response.status, 200);
    t.is(update!.id, depId);
    t.is(update!.artifact.artifact_name, 'release-1');
    t.deepEqual(update!.artifact.device_types_compatible, ['qemux86-64']);
    for (const s of ['downloading', 'pause_before_installing', 'installing', 'pause_before_rebooting', 'rebooting', 'pause_before_committing', 'success']) {
      t.is((await d.reportStatus(depId, s)).status, 204, s);
    }
    const stats = await t0.app.inject({ method: 'GET', url: `/api/management/v1/deployments/deployments/${depId}/statistics`, headers: t0.auth });
    t.is(stats.json<Record<string, number>>().success, 1);
    const dep = await t0.app.inject({ method: 'GET', url: `/api/management/v1/deployments/deployments/${depId}`, headers: t0.auth });
    t.is(dep.json<{ status: string }>().status, 'finished');
  });
}

test.serial('same identity with a new key is a new pending auth set of the same device', async (t) => {
  const d = await acceptedDevice(t0, { keyKind: 'ed25519' });
  const again = new SimDevice(injectTransport(t0.app), { keyKind: 'ecdsa', identity: d.identity });
  t.is((await again.authenticate()).status, 401);
  const dev = await t0.app.inject({ method: 'GET', url: `/api/management/v2/devauth/devices/${d.deviceId}`, headers: t0.auth });
  const sets = dev.json<{ auth_sets: Array<{ status: string }> }>().auth_sets.map((s) => s.status).sort();
  t.deepEqual(sets, ['accepted', 'pending']);
  // The old key still works.
  t.is((await d.authenticate()).status, 200);
});

test.serial('preauthorized identity+key is accepted on first contact', async (t) => {
  const d = new SimDevice(injectTransport(t0.app), { keyKind: 'rsa' });
  const pre = await t0.app.inject({
    method: 'POST',
    url: '/api/management/v2/devauth/devices',
    headers: t0.auth,
    payload: { identity_data: d.identity, pubkey: d.publicKeyPem },
  });
  t.is(pre.statusCode, 201);
  const dup = await t0.app.inject({ method: 'POST', url: '/api/management/v2/devauth/devices', headers: t0.auth, payload: { identity_data: d.identity, pubkey: d.publicKeyPem } });
  t.is(dup.statusCode, 409);
  t.is((await d.authenticate()).status, 200);
});

test.serial('rejected and decommissioned devices get 401, their tokens stop working', async (t) => {
  const d = await acceptedDevice(t0);
  const depId = await createDeployment(t0, { artifact_name: 'release-1', devices: [d.deviceId] });
  t.is((await d.reportStatus(depId, 'downloading')).status, 204);
  const dev = await t0.app.inject({ method: 'GET', url: `/api/management/v2/devauth/devices/${d.deviceId}`, headers: t0.auth });
  const aid = dev.json<{ auth_sets: Array<{ id: string }> }>().auth_sets[0]!.id;
  t.is((await t0.app.inject({ method: 'PUT', url: `/api/management/v2/devauth/devices/${d.deviceId}/auth/${aid}/status`, headers: t0.auth, payload: { status: 'rejected' } })).statusCode, 204);
  t.is((await d.checkUpdate()).response.status, 401);
  t.is((await d.reportStatus(depId, 'success')).status, 401, 'a status report on the revoked token');
  const stats = await t0.app.inject({ method: 'GET', url: `/api/management/v1/deployments/deployments/${depId}/statistics`, headers: t0.auth });
  t.is(stats.json<Record<string, number>>().success, 0, 'and it changed nothing');
  t.is((await d.authenticate()).status, 401);

  const e = await acceptedDevice(t0);
  t.is((await t0.app.inject({ method: 'DELETE', url: `/api/management/v2/devauth/devices/${e.deviceId}`, headers: t0.auth })).statusCode, 204);
  t.is((await e.sendInventory()).status, 401);
  t.is((await e.authenticate()).status, 401); // comes back as a new pending device
  t.is((await t0.app.inject({ method: 'DELETE', url: `/api/management/v2/devauth/devices/${e.deviceId}`, headers: t0.auth })).statusCode, 404);
});

test.serial('auth request errors: no signature 400, bad signature 401, bad id_data / pubkey / JSON 400', async (t) => {
  const d = new SimDevice(injectTransport(t0.app), { keyKind: 'ecdsa' });
  const { body, signature } = d.authRequest();
  const post = (headers: Record<string, string>, payload: Buffer | string) =>
    t0.app.inject({ method: 'POST', url: '/api/devices/v1/authentication/auth_requests', headers: { 'content-type': 'application/json', ...headers }, payload });
  const before = await t0.app.flipside.store.countDevices();
  t.is((await post({}, body)).statusCode, 400);
  t.is((await post({ 'x-men-signature': signature }, Buffer.concat([body, Buffer.from(' ')]))).statusCode, 401);
  const other = new SimDevice(injectTransport(t0.app), { keyKind: 'ecdsa' });
  t.is((await post({ 'x-men-signature': other.authRequest().signature }, body)).statusCode, 401);
  t.is((await post({ 'x-men-signature': 'bm90LWEtc2ln' }, body)).statusCode, 401);
  const badId = Buffer.from(JSON.stringify({ id_data: 'not json', pubkey: d.publicKeyPem }));
  t.is((await post({ 'x-men-signature': 'eA==' }, badId)).statusCode, 400);
  const badKey = Buffer.from(JSON.stringify({ id_data: '{"a":"b"}', pubkey: 'nope' }));
  t.is((await post({ 'x-men-signature': 'eA==' }, badKey)).statusCode, 400);
  t.is((await post({ 'x-men-signature': 'eA==' }, '{oops')).statusCode, 400);
  t.is((await post({ 'x-men-signature': 'eA==' }, '{}')).statusCode, 400);
  t.is(await t0.app.flipside.store.countDevices(), before, 'nothing stored for refused requests');
});

test.serial('oversized auth and inventory bodies are refused with 413 and store nothing', async (t) => {
  const before = await t0.app.flipside.store.countDevices();
  const big = Buffer.from(JSON.stringify({ id_data: JSON.stringify({ x: 'a'.repeat(70_000) }), pubkey: 'x' }));
  const r = await t0.app.inject({ method: 'POST', url: '/api/devices/v1/authentication/auth_requests', headers: { 'content-type': 'application/json', 'x-men-signature': 'eA==' }, payload: big });
  t.is(r.statusCode, 413);
  t.is(await t0.app.flipside.store.countDevices(), before);
  const d = await acceptedDevice(t0);
  const huge = [{ name: 'blob', value: 'x'.repeat(2 * 1024 * 1024) }];
  t.is((await d.sendInventory(huge)).status, 413);
  t.false((await t0.app.flipside.store.inventory(d.deviceId!)).some((a) => a.name === 'blob'));
});

test.serial('JWT checks: missing, garbage, alg none, expired, user token on device routes', async (t) => {
  const d = await acceptedDevice(t0);
  const url = '/api/devices/v1/deployments/device/deployments/next?artifact_name=a&device_type=b';
  const get = (authorization?: string) => t0.app.inject({ method: 'GET', url, headers: authorization ? { authorization } : {} });
  t.is((await get()).statusCode, 401);
  t.is((await get('Bearer garbage')).statusCode, 401);
  const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: d.deviceId, 'mender.device': true, exp: 9e9, jti: 'x' })).toString('base64url')}.`;
  t.is((await get(`Bearer ${none}`)).statusCode, 401);
  t.is((await get(t0.auth.authorization)).statusCode, 401);
  t.is((await get(`Bearer ${d.token}`)).statusCode, 204);
  // A token whose signature is fine but that has expired.
  const { signJwt } = await import('../auth/jwt.js');
  const expired = signJwt(t0.app.flipside.secrets.jwtPrivateKey, { sub: d.deviceId!, exp: Math.floor(Date.now() / 1000) - 1, 'mender.device': true }).token;
  t.is((await get(`Bearer ${expired}`)).statusCode, 401);
  // Device token on management routes.
  t.is((await t0.app.inject({ method: 'GET', url: '/api/management/v2/devauth/devices', headers: { authorization: `Bearer ${d.token}` } })).statusCode, 401);
  t.is((await t0.app.inject({ method: 'GET', url: '/api/management/v1/deployments/artifacts', headers: { authorization: `Bearer ${d.token}` } })).statusCode, 401);
});

test.serial('short-lived device JWTs expire', async (t) => {
  const short = await startTestServer({ jwtTtlSeconds: 1 });
  try {
    const d = await acceptedDevice(short);
    const exp = (JSON.parse(Buffer.from(d.token!.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp * 1000;
    const sentAt = Date.now();
    t.true(exp - sentAt <= 2000, 'a 1 s token expires within 2 s of its issue');
    // Accepted until its exp: a busy box may reach the exp before this check, and only then is a 401 right.
    const first = (await d.checkUpdate()).response.status;
    t.true(first === 204 || (first === 401 && Date.now() >= exp), `the token got ${first} before its exp`);
    // Refused once its exp has passed: waits for that moment, not for a margin.
    await new Promise((r) => setTimeout(r, Math.max(0, exp - Date.now()) + 1));
    t.is((await d.checkUpdate()).response.status, 401);
  } finally {
    await short.close();
  }
});

test.serial("another device's JWT cannot touch a deployment it is not in", async (t) => {
  const a = await acceptedDevice(t0);
  const b = await acceptedDevice(t0);
  const depId = await createDeployment(t0, { artifact_name: 'release-1', devices: [a.deviceId] });
  t.is((await b.reportStatus(depId, 'success')).status, 404);
  t.is((await b.uploadLog(depId, [{ level: 'info', message: 'x' }])).status, 404);
  t.is((await b.checkUpdate()).response.status, 204);
  const dd = await t0.app.flipside.store.deploymentDevice(depId, a.deviceId!);
  t.is(dd?.status, 'pending');
  t.is(await t0.app.flipside.store.deploymentDevice(depId, b.deviceId!), undefined);
});

test.serial('status: 400 on unknown status, 409 after abort, already-installed, log upload', async (t) => {
  const d = await acceptedDevice(t0);
  const depId = await createDeployment(t0, { artifact_name: 'release-1', devices: [d.deviceId] });
  const { update } = await d.checkUpdate();
  t.is(update?.id, depId);
  t.is((await d.reportStatus(depId, 'exploded')).status, 400);
  t.is((await d.reportStatus(depId, 'downloading')).status, 204);
  t.is((await t0.app.inject({ method: 'PUT', url: `/api/management/v1/deployments/deployments/${depId}/status`, headers: t0.auth, payload: { status: 'aborted' } })).statusCode, 204);
  t.is((await d.reportStatus(depId, 'installing')).status, 409);
  t.is((await d.checkUpdate()).response.status, 204);
  t.is((await t0.app.inject({ method: 'PUT', url: `/api/management/v1/deployments/deployments/${depId}/status`, headers: t0.auth, payload: { status: 'aborted' } })).statusCode, 422);

  const e = await acceptedDevice(t0, { artifactName: 'release-1' });
  const dep2 = await createDeployment(t0, { artifact_name: 'release-1', devices: [e.deviceId] });
  t.is((await e.checkUpdate()).response.status, 204);
  t.is((await t0.app.flipside.store.deploymentDevice(dep2, e.deviceId!))?.status, 'already-installed');

  const f = await acceptedDevice(t0);
  const dep3 = await createDeployment(t0, { artifact_name: 'release-1', devices: [f.deviceId] });
  await f.runUpdate({ fail: true });
  t.is((await f.uploadLog(dep3, [])).status, 400);
  const log = await t0.app.inject({ method: 'GET', url: `/api/management/v1/deployments/deployments/${dep3}/devices/${f.deviceId}/log`, headers: t0.auth });
  t.is(log.statusCode, 200);
  t.regex(log.body, /error simulated failure/);
  t.is((await f.reportStatus(dep3, 'success')).status, 409);
  t.is((await f.reportStatus(dep3, 'failure')).status, 204, 'a repeated final status is idempotent');
  t.is((await f.reportStatus('no-such-deployment', 'success')).status, 404);
});

test.serial('a device may itself report already-installed: final, 409 for anything else after', async (t) => {
  const d = await acceptedDevice(t0);
  const depId = await createDeployment(t0, { artifact_name: 'release-1', devices: [d.deviceId] });
  t.is((await d.checkUpdate()).update?.id, depId);
  t.is((await d.reportStatus(depId, 'already-installed')).status, 204);
  t.is((await t0.app.flipside.store.deploymentDevice(depId, d.deviceId!))?.status, 'already-installed');
  t.is((await d.reportStatus(depId, 'installing')).status, 409);
  t.is((await d.checkUpdate()).response.status, 204);
});

test.serial('device type mismatch gives noartifact and 204', async (t) => {
  const d = await acceptedDevice(t0, { deviceType: 'raspberrypi4' });
  const depId = await createDeployment(t0, { artifact_name: 'release-1', devices: [d.deviceId] });
  t.is((await d.checkUpdate()).response.status, 204);
  t.is((await t0.app.flipside.store.deploymentDevice(depId, d.deviceId!))?.status, 'noartifact');
});

test.serial('inventory PUT replaces, PATCH merges, bad bodies 400', async (t) => {
  const d = await acceptedDevice(t0);
  t.is((await d.sendInventory([{ name: 'a', value: '1' }, { name: 'list', value: ['x', 'y'] }])).status, 200);
  t.is((await d.sendInventory([{ name: 'b', value: 2 }], 'PATCH')).status, 200);
  let attrs = (await t0.app.flipside.store.inventory(d.deviceId!)).filter((a) => a.scope === 'inventory');
  t.deepEqual(attrs.map((a) => a.name).sort(), ['a', 'artifact_name', 'b', 'device_type', 'list']);
  t.is((await d.sendInventory([{ name: 'c', value: '3' }])).status, 200);
  attrs = (await t0.app.flipside.store.inventory(d.deviceId!)).filter((a) => a.scope === 'inventory');
  t.deepEqual(attrs.map((a) => a.name).sort(), ['artifact_name', 'c', 'device_type']);
  const bad = await t0.app.inject({ method: 'PUT', url: '/api/devices/v1/inventory/device/attributes', headers: { authorization: `Bearer ${d.token}` }, payload: [{ value: 'x' }] });
  t.is(bad.statusCode, 400);
  const dup = await t0.app.inject({ method: 'PATCH', url: '/api/devices/v1/inventory/device/attributes', headers: { authorization: `Bearer ${d.token}` }, payload: [{ name: 'x', value: '1' }, { name: 'x', value: '2' }] });
  t.is(dup.statusCode, 400);
  const obj = await t0.app.inject({ method: 'PUT', url: '/api/devices/v1/inventory/device/attributes', headers: { authorization: `Bearer ${d.token}` }, payload: [{ name: 'x', value: { nested: 1 } }] });
  t.is(obj.statusCode, 400);
  t.true((await t0.app.flipside.store.inventory(d.deviceId!)).some((a) => a.name === 'c'), 'a refused PUT changed nothing');
  // Numbers stay numbers (the server's ajv coerces types elsewhere).
  t.is((await d.sendInventory([{ name: 'mem', value: 512 }])).status, 200);
  t.is((await t0.app.flipside.store.inventory(d.deviceId!)).find((a) => a.name === 'mem')?.value, 512);
});

test.serial('download: signed link without auth, Range 206, 416, tampered or expired link 403', async (t) => {
  const d = await acceptedDevice(t0);
  await createDeployment(t0, { artifact_name: 'release-1', devices: [d.deviceId] });
  const { update } = await d.checkUpdate();
  const uri = update!.artifact.source.uri;
  const full = await d.download(uri);
  t.is(full.status, 200);
  t.deepEqual(full.body, conformanceArtifact('rootfs-gzip'));
  const part = await d.download(uri, 'bytes=10-19');
  t.is(part.status, 206);
  t.is(part.headers['content-range'], `bytes 10-19/${full.body.length}`);
  // The same strong ETag on every answer: what a resuming client compares.
  t.regex(String(full.headers.etag), /^"[0-9a-f]{64}"$/);
  t.is(part.headers.etag, full.headers.etag);
  t.truthy(full.headers['last-modified']);
  t.deepEqual(part.body, full.body.subarray(10, 20));
  const tail = await d.download(uri, 'bytes=-5');
  t.is(tail.status, 206);
  t.deepEqual(tail.body, full.body.subarray(full.body.length - 5));
  const open = await d.download(uri, `bytes=${full.body.length - 3}-`);
  t.deepEqual(open.body, full.body.subarray(full.body.length - 3));
  const bad = await d.download(uri, `bytes=${full.body.length}-`);
  t.is(bad.status, 416);
  t.is(bad.headers['content-range'], `bytes */${full.body.length}`);
  const u = new URL(uri);
  u.searchParams.set('x-men-expire', new Date(Date.now() + 9e9).toISOString());
  t.is((await d.download(u.toString())).status, 403);
  const other = new URL(uri);
  other.pathname = other.pathname.replace(/[^/]+$/, '00000000-0000-4000-8000-000000000000');
  t.is((await d.download(other.toString())).status, 403);
  const trav = await t0.app.inject({ method: 'GET', url: `/api/devices/v1/deployments/download/artifacts/..%2F..%2Fflipside.db?x-men-expire=x&x-men-signature=y` });
  t.is(trav.statusCode, 400);
  const expired = await startTestServer({ linkTtlSeconds: -1 });
  try {
    await uploadArtifact(expired, conformanceArtifact('rootfs-gzip'));
    const e = await acceptedDevice(expired);
    await createDeployment(expired, { artifact_name: 'release-1', devices: [e.deviceId] });
    const r = await e.checkUpdate();
    t.is((await e.download(r.update!.artifact.source.uri)).status, 403);
  } finally {
    await expired.close();
  }
});

test.serial('POST next: flat or wrapped in device_provides; 400 without device_type or artifact_name', async (t) => {
  const d = await acceptedDevice(t0);
  const depId = await createDeployment(t0, { artifact_name: 'release-1', devices: [d.deviceId] });
  const post = (payload: object) => t0.app.inject({ method: 'POST', url: '/api/devices/v1/deployments/device/deployments/next', headers: { authorization: `Bearer ${d.token}` }, payload });
  const wrapped = await post({ device_provides: { artifact_name: 'release-0', device_type: 'qemux86-64' }, update_control_map: true });
  t.is(wrapped.statusCode, 200);
  t.is(wrapped.json<{ id: string }>().id, depId);
  t.is((await post({ artifact_name: 'release-0' })).statusCode, 400);
  t.is((await post({ device_provides: { device_type: 'qemux86-64' } })).statusCode, 400);
  t.is((await post({ artifact_name: 'a', device_type: 'b', nested: { x: 1 } })).statusCode, 400);
  const get = await t0.app.inject({ method: 'GET', url: '/api/devices/v1/deployments/device/deployments/next?artifact_name=release-0', headers: { authorization: `Bearer ${d.token}` } });
  t.is(get.statusCode, 400);
});
