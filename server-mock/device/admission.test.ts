import test from 'ava';
import { startTestServer, type TestServer } from '../testing/fixtures.js';
import { generateDeviceKey, signBody } from '../testing/device-sim.js';

const AUTH = '/api/devices/v1/authentication/auth_requests';
let clock = Date.now();
let s: TestServer;
test.before(async () => {
  s = await startTestServer({ deviceAdmission: { newPerSourcePerMinute: 5, maxPending: 8, now: () => clock } });
});
test.after.always(async () => s?.close());

/** A signed auth request with any id_data (a string, as Mender sends it). */
function authRequest(idData: string, from: string, key = generateDeviceKey('ed25519')) {
  const body = Buffer.from(JSON.stringify({ id_data: idData, pubkey: key.publicKeyPem }));
  return s.app.inject({ method: 'POST', url: AUTH, remoteAddress: from, headers: { 'content-type': 'application/json', 'x-men-signature': signBody(key.privateKey, body) }, payload: body });
}
const admission = async () => (await s.app.inject({ method: 'GET', url: '/api/management/v2/devauth/admission', headers: s.auth })).json<Record<string, number>>();

test.serial('id_data over 4 KiB and a huge public key: 413 naming the sizes; nothing stored', async (t) => {
  const big = await authRequest(JSON.stringify({ mac: 'x'.repeat(30_000) }), '10.9.0.1');
  t.is(big.statusCode, 413);
  t.regex(big.json<{ error: string }>().error, /id_data is 30010 bytes; at most 4096/);
  const key = generateDeviceKey('ed25519');
  const padded = { ...key, publicKeyPem: key.publicKeyPem + '\n'.repeat(9000) };
  const bigKey = await authRequest(JSON.stringify({ mac: 'a' }), '10.9.0.1', padded);
  t.is(bigKey.statusCode, 413);
  t.regex(bigKey.json<{ error: string }>().error, /pubkey is \d+ bytes; at most 8192/);
  t.is(await s.app.flipside.store.countDevices(), 0);
  t.is((await admission()).refused_too_large, 2);
});

test.serial('id_data nested 5,000 deep: 400 (was a stack overflow and a 500); preauthorize too', async (t) => {
  const deep = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000);
  const r = await s.app.inject({ method: 'POST', url: AUTH, remoteAddress: '10.9.0.2', headers: { 'content-type': 'application/json', 'x-men-signature': 'AA==' }, payload: JSON.stringify({ id_data: deep, pubkey: 'x' }) });
  t.is(r.statusCode, 413);
  const shallowButDeep = '{"a":'.repeat(100) + '1' + '}'.repeat(100);
  const r2 = await authRequest(shallowButDeep, '10.9.0.2');
  t.is(r2.statusCode, 400);
  t.regex(r2.json<{ error: string }>().error, /nested deeper than 16 levels/);
  const payload = `{"identity_data":${deep},"pubkey":${JSON.stringify(generateDeviceKey('ed25519').publicKeyPem)}}`;
  const pre = await s.app.inject({ method: 'POST', url: '/api/management/v2/devauth/devices', headers: { ...s.auth, 'content-type': 'application/json' }, payload });
  t.is(pre.statusCode, 400);
  t.regex(pre.json<{ error: string }>().error, /nested deeper/);
});

test.serial('new identities per source: the sixth in a minute is 429 with Retry-After; known devices and other sources pass; the queue cap refuses with 503', async (t) => {
  const keys = Array.from({ length: 6 }, () => generateDeviceKey('ed25519'));
  for (let i = 0; i < 5; i++) t.is((await authRequest(JSON.stringify({ serial: `flood-${i}` }), '10.9.1.1', keys[i])).statusCode, 401);
  const sixth = await authRequest(JSON.stringify({ serial: 'flood-5' }), '10.9.1.1', keys[5]);
  t.is(sixth.statusCode, 429);
  t.true(Number(sixth.headers['retry-after']) >= 1);
  t.regex(sixth.json<{ error: string }>().error, /too many new devices from this address/);
  // A device already pending asks again (as clients do): not new, not counted.
  t.is((await authRequest(JSON.stringify({ serial: 'flood-0' }), '10.9.1.1', keys[0])).statusCode, 401);
  // Another address still gets in, up to the queue cap of 8 pending.
  for (let i = 0; i < 3; i++) t.is((await authRequest(JSON.stringify({ serial: `other-${i}` }), '10.9.1.2')).statusCode, 401);
  const full = await authRequest(JSON.stringify({ serial: 'other-3' }), '10.9.1.2');
  t.is(full.statusCode, 503);
  t.regex(full.json<{ error: string }>().error, /pending device queue is full \(8 of 8\)/);
  clock += 61_000;
  t.is((await authRequest(JSON.stringify({ serial: 'flood-5' }), '10.9.1.1', keys[5])).statusCode, 503);
  t.like(await admission(), { pending_auth_sets: 8, max_pending: 8, queue_policy: 'refuse', admitted: 8, refused_rate_limited: 1, refused_queue_full: 2 });
  t.is(await s.app.flipside.store.countDevices('pending'), 8);
});
