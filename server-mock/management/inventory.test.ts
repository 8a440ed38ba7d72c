import test from 'ava';
import { startTestServer, acceptedDevice, type TestServer } from '../testing/fixtures.js';
import { SimDevice, injectTransport } from '../testing/device-sim.js';

let s: TestServer;
test.before(async () => {
  s = await startTestServer();
});
test.after.always(async () => s?.close());

const req = (method: string, url: string, payload?: unknown) => s.app.inject({ method: method as 'GET', url, headers: s.auth, payload: payload as object });
const INV = '/api/management/v1/inventory';

test.serial('devices, attributes, static groups', async (t) => {
  const a = await acceptedDevice(s);
  const b = await acceptedDevice(s);
  const pending = new SimDevice(injectTransport(s.app));
  await pending.authenticate();
  await a.sendInventory([{ name: 'cpu', value: 'arm64' }]);
  const list = await req('GET', `${INV}/devices?per_page=100`);
  const ids = list.json<Array<{ id: string }>>().map((d) => d.id);
  t.true(ids.includes(a.deviceId!));
  t.is(ids.length, 2, 'pending devices are not in inventory');
  const one = (await req('GET', `${INV}/devices/${a.deviceId}`)).json<{ attributes: Array<{ name: string; value: unknown; scope: string }> }>();
  t.true(one.attributes.some((x) => x.name === 'cpu' && x.value === 'arm64' && x.scope === 'inventory'));
  t.true(one.attributes.some((x) => x.scope === 'identity' && x.name === 'mac'));
  t.is((await req('GET', `${INV}/devices/nope`)).statusCode, 404);

  t.is((await req('PUT', `${INV}/devices/${a.deviceId}/group`, { group: 'lab' })).statusCode, 204);
  t.is((await req('PUT', `${INV}/devices/${a.deviceId}/group`, { group: 'bad name!' })).statusCode, 400);
  t.is((await req('PUT', `${INV}/devices/nope/group`, { group: 'lab' })).statusCode, 404);
  t.deepEqual((await req('GET', `${INV}/groups`)).json(), ['lab']);
  t.is((await req('PATCH', `${INV}/groups/lab/devices`, [b.deviceId, 'nope'])).json<{ updated_count: number }>().updated_count, 1);
  t.deepEqual((await req('GET', `${INV}/groups/lab/devices`)).json<string[]>().sort(), [a.deviceId, b.deviceId].sort());
  t.is((await req('GET', `${INV}/devices?group=lab`)).json<unknown[]>().length, 2);
  t.is((await req('GET', `${INV}/devices/${a.deviceId}/group`)).json<{ group: string }>().group, 'lab');
  t.is((await req('DELETE', `${INV}/devices/${a.deviceId}/group/lab`)).statusCode, 204);
  t.is((await req('DELETE', `${INV}/devices/${a.deviceId}/group/lab`)).statusCode, 404);
  t.is((await req('DELETE', `${INV}/groups/lab/devices`, [b.deviceId])).json<{ updated_count: number }>().updated_count, 1);
  t.is((await req('GET', `${INV}/groups/lab/devices`)).statusCode, 404);
  await req('PUT', `${INV}/devices/${a.deviceId}/group`, { group: 'gone' });
  const dropped = await req('DELETE', `${INV}/groups/gone`);
  t.is(dropped.statusCode, 200);
  t.deepEqual(dropped.json(), { updated_count: 1 });
  t.is((await req('DELETE', `${INV}/groups/gone`)).statusCode, 404);
});

test.serial('tags with ETag and If-Match; pending devices searchable by status; system attributes; matched_count', async (t) => {
  const a = await acceptedDevice(s);
  const first = await req('GET', `${INV}/devices/${a.deviceId}`);
  const etag = String(first.headers.etag);
  t.truthy(etag);
  const sys = first.json<{ attributes: Array<{ name: string; scope: string; value: unknown }> }>().attributes.filter((x) => x.scope === 'system').map((x) => x.name);
  t.true(['created_ts', 'updated_ts', 'check_in_time'].every((n) => sys.includes(n)), sys.join(','));
  const put = (method: 'PUT' | 'PATCH', body: unknown, ifMatch?: string) =>
    s.app.inject({ method, url: `${INV}/devices/${a.deviceId}/tags`, headers: { ...s.auth, ...(ifMatch ? { 'if-match': ifMatch } : {}) }, payload: body as object });
  t.is((await put('PUT', [{ name: 'location', value: 'lab-1' }], etag)).statusCode, 200);
  t.is((await put('PATCH', [{ name: 'owner', value: 'qa' }], etag)).statusCode, 412, 'the ETag moved on with the first change');
  t.is((await put('PATCH', [{ name: 'owner', value: 'qa' }])).statusCode, 200);
  const tagsNow = (await req('GET', `${INV}/devices/${a.deviceId}`)).json<{ attributes: Array<{ name: string; scope: string; value: unknown }> }>().attributes.filter((x) => x.scope === 'tags');
  t.deepEqual(tagsNow.map((x) => [x.name, x.value]), [['location', 'lab-1'], ['owner', 'qa']]);
  t.is((await put('PUT', [{ name: 'owner', value: 'ops' }])).statusCode, 200);
  t.is((await req('GET', `${INV}/devices/${a.deviceId}`)).json<{ attributes: Array<{ scope: string }> }>().attributes.filter((x) => x.scope === 'tags').length, 1);

  const p = new SimDevice(injectTransport(s.app));
  await p.authenticate();
  const pending = await req('POST', '/api/management/v2/inventory/filters/search', { filters: [{ scope: 'identity', attribute: 'status', type: '$eq', value: 'pending' }], per_page: 500 });
  const pendingIds = pending.json<Array<{ id: string }>>().map((d) => d.id);
  t.true(pendingIds.length >= 1);
  t.is((await req('GET', `${INV}/devices/${pendingIds[0]}`)).statusCode, 200, "a pending device's inventory is readable");
  t.deepEqual((await req('PATCH', `${INV}/groups/tagged/devices`, [a.deviceId, a.deviceId, pendingIds[0]])).json(), { updated_count: 1, matched_count: 1 });
  t.deepEqual((await req('PATCH', `${INV}/groups/tagged/devices`, [a.deviceId])).json(), { updated_count: 0, matched_count: 1 });
});

test.serial('v2 search, attributes and saved filters', async (t) => {
  const a = await acceptedDevice(s);
  await a.sendInventory([{ name: 'mem', value: 512 }, { name: 'tags', value: ['x', 'y'] }]);
  const search = (filters: unknown) => req('POST', '/api/management/v2/inventory/filters/search', { filters, per_page: 100 });
  const found = (await search([{ scope: 'inventory', attribute: 'mem', type: '$gte', value: 500 }])).json<Array<{ id: string }>>();
  t.deepEqual(found.map((d) => d.id), [a.deviceId]);
  t.is((await search([{ scope: 'inventory', attribute: 'tags', type: '$in', value: ['y'] }])).json<unknown[]>().length, 1);
  t.is((await search([{ scope: 'inventory', attribute: 'mem', type: '$lt', value: 500 }])).json<unknown[]>().length, 0);
  t.is((await search([{ scope: 'inventory', attribute: 'mem', type: '$bogus', value: 1 }])).statusCode, 400);
  t.is((await search([{ scope: 'inventory', attribute: 'mem', type: '$in', value: 1 }])).statusCode, 400);
  t.is((await search([{ scope: 'inventory', attribute: 'mem', type: '$regex', value: '(' }])).statusCode, 400);
  const attrs = (await req('GET', '/api/management/v2/inventory/filters/attributes')).json<Array<{ name: string }>>();
  t.true(attrs.some((x) => x.name === 'mem'));
  const f = await req('POST', '/api/management/v2/inventory/filters', { name: 'big', terms: [{ scope: 'inventory', attribute: 'mem', type: '$gt', value: 256 }] });
  t.is(f.statusCode, 201);
  t.is((await req('POST', '/api/management/v2/inventory/filters', { name: 'big', terms: [{ scope: 'inventory', attribute: 'mem', type: '$gt', value: 1 }] })).statusCode, 409);
  t.is((await req('POST', '/api/management/v2/inventory/filters', { name: 'empty', terms: [] })).statusCode, 400);
  const fid = String(f.headers.location).split('/').pop()!;
  t.is((await req('GET', `/api/management/v2/inventory/filters/${fid}`)).json<{ name: string }>().name, 'big');
  t.is((await req('GET', '/api/management/v2/inventory/filters')).json<unknown[]>().length, 1);
  t.is((await req('DELETE', `/api/management/v2/inventory/filters/${fid}`)).statusCode, 204);
  t.is((await req('GET', `/api/management/v2/inventory/filters/${fid}`)).statusCode, 404);
});
