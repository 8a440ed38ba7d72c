import test from 'ava';
import { startTestServer, acceptedDevice, type TestServer } from '../testing/fixtures.js';
import { SimDevice, injectTransport } from '../testing/device-sim.js';

let s: TestServer;
test.before(async () => {
  s = await startTestServer();
});
test.after.always(async () => s?.close());

const DA = '/api/management/v2/devauth';
const req = (method: string, url: string, payload?: unknown) => s.app.inject({ method: method as 'GET', url, headers: s.auth, payload: payload as object });

test.serial('list and count by status, paging, 400 on unknown status', async (t) => {
  const a = await acceptedDevice(s);
  const p = new SimDevice(injectTransport(s.app), { keyKind: 'ecdsa' });
  await p.authenticate();
  const pending = (await req('GET', `${DA}/devices?status=pending`)).json<Array<{ identity_data: Record<string, string>; auth_sets: Array<{ pubkey: string }> }>>();
  t.is(pending.length, 1);
  t.deepEqual(pending[0]!.identity_data, p.identity);
  t.regex(pending[0]!.auth_sets[0]!.pubkey, /BEGIN PUBLIC KEY/);
  t.is((await req('GET', `${DA}/devices/count?status=accepted`)).json<{ count: number }>().count, 1);
  t.is((await req('GET', `${DA}/devices/count`)).json<{ count: number }>().count, 2);
  const page = await req('GET', `${DA}/devices?per_page=1&page=2`);
  t.is(page.json<unknown[]>().length, 1);
  t.is(page.headers['x-total-count'], '2');
  t.is((await req('GET', `${DA}/devices?status=bogus`)).statusCode, 400);
  t.is((await req('GET', `${DA}/devices/${a.deviceId}`)).json<{ status: string }>().status, 'accepted');
  t.is((await req('GET', `${DA}/devices/nope`)).statusCode, 404);
});

test.serial('search pages by status, by several statuses and by id', async (t) => {
  await acceptedDevice(s);
  await acceptedDevice(s);
  await new SimDevice(injectTransport(s.app), { keyKind: 'ed25519' }).authenticate();
  const count = async (status?: string) => (await req('GET', `${DA}/devices/count${status ? `?status=${status}` : ''}`)).json<{ count: number }>().count;
  const accepted = await count('accepted');
  const pending = await count('pending');
  t.true(accepted >= 2 && pending >= 1);

  const one = await req('POST', `${DA}/devices/search?per_page=1&page=2`, { status: 'accepted' });
  t.is(one.headers['x-total-count'], String(accepted));
  t.regex(String(one.headers.link), /rel="next"/);
  const page = one.json<Array<{ status: string; id: string }>>();
  t.is(page.length, 1);
  t.is(page[0]!.status, 'accepted');
  // The same order as the GET list, so a script may page either.
  t.is(page[0]!.id, (await req('GET', `${DA}/devices?status=accepted&per_page=1&page=2`)).json<Array<{ id: string }>>()[0]!.id);

  const every = await req('POST', `${DA}/devices/search?per_page=500`, {});
  t.is(every.headers['x-total-count'], String(await count()));
  const both = await req('POST', `${DA}/devices/search?per_page=500`, { status: ['accepted', 'pending'] });
  t.is(both.headers['x-total-count'], String(accepted + pending));
  t.true(both.json<Array<{ status: string }>>().every((d) => d.status === 'accepted' || d.status === 'pending'));

  const id = page[0]!.id;
  const byId = await req('POST', `${DA}/devices/search`, { id: [id, 'nope'], status: 'accepted' });
  t.deepEqual(byId.json<Array<{ id: string }>>().map((d) => d.id), [id]);
  t.is((await req('POST', `${DA}/devices/search`, { id, status: 'pending' })).json<unknown[]>().length, 0);
});

test.serial('auth set status: get, bad status 400, wrong device 404, delete, token revoke', async (t) => {
  const a = await acceptedDevice(s);
  const b = await acceptedDevice(s);
  const dev = (await req('GET', `${DA}/devices/${a.deviceId}`)).json<{ auth_sets: Array<{ id: string }> }>();
  const aid = dev.auth_sets[0]!.id;
  t.is((await req('GET', `${DA}/devices/${a.deviceId}/auth/${aid}/status`)).json<{ status: string }>().status, 'accepted');
  t.is((await req('PUT', `${DA}/devices/${a.deviceId}/auth/${aid}/status`, { status: 'bogus' })).statusCode, 400);
  t.is((await req('PUT', `${DA}/devices/${b.deviceId}/auth/${aid}/status`, { status: 'rejected' })).statusCode, 404);
  t.is((await req('GET', `${DA}/devices/${b.deviceId}/auth/${aid}/status`)).statusCode, 404);

  // Revoking the device's token: that token stops working, a new auth request gets a new one.
  const jti = JSON.parse(Buffer.from(b.token!.split('.')[1]!, 'base64url').toString()).jti;
  t.is((await req('DELETE', `${DA}/tokens/${jti}`)).statusCode, 204);
  t.is((await req('DELETE', `${DA}/tokens/${jti}`)).statusCode, 404);
  t.is((await b.checkUpdate()).response.status, 401);
  t.is((await b.authenticate()).status, 200);
  t.is((await b.checkUpdate()).response.status, 204);

  // Deleting the only auth set removes the device.
  t.is((await req('DELETE', `${DA}/devices/${a.deviceId}/auth/${aid}`)).statusCode, 204);
  t.is((await req('GET', `${DA}/devices/${a.deviceId}`)).statusCode, 404);
  t.is((await req('DELETE', `${DA}/devices/${a.deviceId}/auth/${aid}`)).statusCode, 404);
  t.is((await a.checkUpdate()).response.status, 401);
});

test.serial('accepting a second key rejects the first; reset to pending', async (t) => {
  const a = await acceptedDevice(s, { keyKind: 'rsa' });
  const a2 = new SimDevice(injectTransport(s.app), { keyKind: 'ed25519', identity: a.identity });
  t.is((await a2.authenticate()).status, 401);
  const sets = (await req('GET', `${DA}/devices/${a.deviceId}`)).json<{ auth_sets: Array<{ id: string; status: string }> }>().auth_sets;
  const newSet = sets.find((x) => x.status === 'pending')!;
  t.is((await req('PUT', `${DA}/devices/${a.deviceId}/auth/${newSet.id}/status`, { status: 'accepted' })).statusCode, 204);
  t.is((await a2.authenticate()).status, 200);
  t.is((await a.authenticate()).status, 401, 'the old key was rejected');
  t.is((await a.checkUpdate()).response.status, 401, "the old key's token was revoked");
  t.is((await req('PUT', `${DA}/devices/${a.deviceId}/auth/${newSet.id}/status`, { status: 'pending' })).statusCode, 204);
  t.is((await req('GET', `${DA}/devices/${a.deviceId}`)).json<{ status: string }>().status, 'pending');
  t.is((await a2.checkUpdate()).response.status, 401);
});

test.serial('preauthorize: bad key 400, bad identity 400, needs a user token', async (t) => {
  const d = new SimDevice(injectTransport(s.app));
  t.is((await req('POST', `${DA}/devices`, { identity_data: d.identity, pubkey: 'not a key' })).statusCode, 400);
  t.is((await req('POST', `${DA}/devices`, { identity_data: {}, pubkey: d.publicKeyPem })).statusCode, 400);
  t.is((await req('POST', `${DA}/devices`, { identity_data: 'x', pubkey: d.publicKeyPem })).statusCode, 400);
  t.is((await s.app.inject({ method: 'POST', url: `${DA}/devices`, payload: { identity_data: d.identity, pubkey: d.publicKeyPem } })).statusCode, 401);
  t.is(await s.app.flipside.store.deviceByIdData(JSON.stringify(Object.fromEntries(Object.entries(d.identity).sort()))), undefined);
});
