// What the real Mender tools send and expect, from their traffic: mender-cli 1.9.0's login (Basic
// auth, JSON content type, empty body), its artifact listing (`meta_data` decoded into a Go slice,
// `artifacts/list` paged), and the 3.x client's v2 deployments/next (one request per poll).
import test from 'ava';
import { startTestServer, uploadArtifact, makeArtifact, createDeployment, acceptedDevice, ADMIN, type TestServer } from './testing/fixtures.js';
import { writeToBuffer } from '../artifact/testing/support.js';

let s: TestServer;
test.before(async () => {
  s = await startTestServer();
});
test.after.always(async () => s?.close());

const basic = `Basic ${Buffer.from(`${ADMIN.email}:${ADMIN.password}`).toString('base64')}`;

test.serial('login as mender-cli sends it: Basic auth, Content-Type application/json, empty body → 200 JWT', async (t) => {
  const r = await s.app.inject({ method: 'POST', url: '/api/management/v1/useradm/auth/login', headers: { authorization: basic, 'content-type': 'application/json' }, payload: '' });
  t.is(r.statusCode, 200, r.body);
  t.is(r.body.split('.').length, 3);
  // An empty JSON body is no body: a route that needs one still refuses it through its schema.
  const noBody = await s.app.inject({ method: 'POST', url: '/api/management/v1/useradm/users', headers: { ...s.auth, 'content-type': 'application/json' }, payload: '' });
  t.is(noBody.statusCode, 400);
  // And a malformed non-empty one is still a 400 from Fastify's parser.
  const bad = await s.app.inject({ method: 'POST', url: '/api/management/v1/useradm/users', headers: { ...s.auth, 'content-type': 'application/json' }, payload: '{"email":' });
  t.is(bad.statusCode, 400);
  const poisoned = await s.app.inject({ method: 'POST', url: '/api/management/v1/useradm/users', headers: { ...s.auth, 'content-type': 'application/json' }, payload: '{"__proto__":{"x":1},"email":"a@b.c","password":"longenough"}' });
  t.is(poisoned.statusCode, 400);
});

type Update = { type_info: { type: string | null }; files: unknown[]; metadata: Record<string, unknown>; meta_data: unknown };

test.serial('updates[]: meta_data is an array and metadata an object, in every artifact and release listing', async (t) => {
  const meta = { color: 'blue', n: 3 };
  const withMeta = await writeToBuffer({ type: 'single-file', kind: 'module-image', name: 'meta-1', deviceTypes: ['qemux86-64'], metaData: meta, files: [{ name: 'f', content: Buffer.from('x') }] });
  t.is((await uploadArtifact(s, withMeta)).statusCode, 201);
  t.is((await uploadArtifact(s, await makeArtifact('plain-1', ['qemux86-64']))).statusCode, 201);
  const get = async (url: string) => {
    const r = await s.app.inject({ method: 'GET', url, headers: s.auth });
    t.is(r.statusCode, 200, `${url}: ${r.body}`);
    return r.json<unknown>();
  };
  const check = (updates: Update[], name: string) => {
    for (const u of updates) {
      t.true(Array.isArray(u.meta_data), `${name}: meta_data ${JSON.stringify(u.meta_data)}`);
      t.is(typeof u.metadata, 'object');
      t.false(Array.isArray(u.metadata));
    }
    if (name === 'meta-1') {
      t.deepEqual(updates[0]!.metadata, meta);
      t.deepEqual(updates[0]!.meta_data, [meta]);
    } else {
      t.deepEqual(updates[0]!.metadata, {});
      t.deepEqual(updates[0]!.meta_data, []);
    }
  };
  type Art = { id: string; name: string; updates: Update[] };
  const v1 = (await get('/api/management/v1/deployments/artifacts')) as Art[];
  for (const a of v1) check(a.updates, a.name);
  const one = (await get(`/api/management/v1/deployments/artifacts/${v1.find((a) => a.name === 'meta-1')!.id}`)) as Art;
  check(one.updates, one.name);
  const rel1 = (await get('/api/management/v1/deployments/deployments/releases')) as Array<{ Name: string; Artifacts: Art[] }>;
  for (const r of rel1) for (const a of r.Artifacts) check(a.updates, a.name);
  const rel2 = (await get('/api/management/v2/deployments/deployments/releases')) as Array<{ name: string; artifacts: Art[] }>;
  for (const r of rel2) for (const a of r.artifacts) check(a.updates, a.name);
  t.true(rel1.length >= 2 && rel2.length >= 2);
});

test.serial('artifacts/list: paged, sorted, filtered, X-Total-Count', async (t) => {
  for (const n of ['list-b', 'list-a', 'list-c']) t.is((await uploadArtifact(s, await makeArtifact(n, ['board-l']))).statusCode, 201);
  const page = async (q: string) => {
    const r = await s.app.inject({ method: 'GET', url: `/api/management/v1/deployments/artifacts/list?device_type=board-l&${q}`, headers: s.auth });
    t.is(r.statusCode, 200, r.body);
    return { names: r.json<Array<{ name: string }>>().map((a) => a.name), total: r.headers['x-total-count'] };
  };
  t.deepEqual(await page(''), { names: ['list-a', 'list-b', 'list-c'], total: '3' });
  t.deepEqual(await page('sort=name:desc&per_page=2'), { names: ['list-c', 'list-b'], total: '3' });
  t.deepEqual(await page('sort=name:desc&per_page=2&page=2'), { names: ['list-a'], total: '3' });
  t.deepEqual((await page('name=list-b')).names, ['list-b']);
  t.is((await s.app.inject({ method: 'GET', url: '/api/management/v1/deployments/artifacts/list?sort=size:asc', headers: s.auth })).statusCode, 400);
  t.is((await s.app.inject({ method: 'GET', url: '/api/management/v1/deployments/artifacts/list' })).statusCode, 401);
});

test.serial('v2 deployments/next: device_provides in, the same instructions as v1 out; 204 when none; 400 without device_provides', async (t) => {
  const d = await acceptedDevice(s, { deviceType: 'board-v2', artifactName: 'v2-old' });
  const url = '/api/devices/v2/deployments/device/deployments/next';
  const post = (payload: unknown) =>
    s.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
  const provides = { artifact_name: 'v2-old', device_type: 'board-v2', 'rootfs-image.version': 'v2-old' };
  t.is((await post({ device_provides: provides, update_control_map: true })).statusCode, 204);
  t.is((await uploadArtifact(s, await makeArtifact('v2-new', ['board-v2']))).statusCode, 201);
  const depId = await createDeployment(s, { artifact_name: 'v2-new', devices: [d.deviceId] });
  const r = await post({ device_provides: provides, update_control_map: true });
  t.is(r.statusCode, 200, r.body);
  const body = r.json<{ id: string; artifact: { artifact_name: string; source: { uri: string }; device_types_compatible: string[] } }>();
  t.is(body.id, depId);
  t.is(body.artifact.artifact_name, 'v2-new');
  t.deepEqual(body.artifact.device_types_compatible, ['board-v2']);
  t.true(body.artifact.source.uri.includes('/download'));
  const v1 = await d.checkUpdate();
  t.is(v1.update?.id, depId, 'v1 answers the same deployment');
  t.is((await post({ artifact_name: 'v2-old', device_type: 'board-v2' })).statusCode, 400);
  t.is((await post({ device_provides: { artifact_name: 'v2-old' } })).statusCode, 400);
  t.is((await s.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ device_provides: provides }) })).statusCode, 401);
});

test.serial('artifacts/list: a Link header with first and next as Mender pages', async (t) => {
  const r = await s.app.inject({ method: 'GET', url: '/api/management/v1/deployments/artifacts/list?device_type=board-l&per_page=1', headers: s.auth });
  const link = String(r.headers.link);
  t.regex(link, /<\/api\/management\/v1\/deployments\/artifacts\/list\?[^>]*page=1[^>]*>; rel="first"/);
  t.regex(link, /page=2[^>]*>; rel="next"/);
});
