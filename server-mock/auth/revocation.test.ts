import test from 'ava';
import { statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startTestServer, login, ADMIN, uploadArtifact, makeArtifact, acceptedDevice, createDeployment, type TestServer } from '../testing/fixtures.js';

const UA = '/api/management/v1/useradm';
let s: TestServer;
test.before(async () => {
  s = await startTestServer({ linkHosts: ['ota.example.com'] });
});
test.after.always(async () => s?.close());

const me = (token: string) => s.app.inject({ method: 'GET', url: `${UA}/users/me`, headers: { authorization: `Bearer ${token}` } });

test.serial('logout revokes the token it was sent with; other sessions go on', async (t) => {
  const a = await login(s.app, ADMIN.email, ADMIN.password);
  const b = await login(s.app, ADMIN.email, ADMIN.password);
  t.is((await s.app.inject({ method: 'POST', url: `${UA}/auth/logout`, headers: { authorization: `Bearer ${a}` } })).statusCode, 202);
  const after = await me(a);
  t.is(after.statusCode, 401);
  t.regex(after.json<{ error: string }>().error, /logged out/);
  t.is((await me(b)).statusCode, 200);
});

test.serial('a password change revokes every session token issued before it; personal access tokens stay', async (t) => {
  const session = await login(s.app, ADMIN.email, ADMIN.password);
  const pat = (await s.app.inject({ method: 'POST', url: `${UA}/settings/tokens`, headers: { authorization: `Bearer ${session}` }, payload: { name: 'ci-before-change' } })).body;
  const { store } = s.app.flipside;
  // Whatever route changes the password, it changes the stored hash: that is what the tokens check.
  await store.updateUser((await store.userByEmail(ADMIN.email))!.id, { passwordHash: await s.app.flipside.passwords.hash('a-new-password') });
  const r = await me(session);
  t.is(r.statusCode, 401);
  t.regex(r.json<{ error: string }>().error, /password changed/);
  t.is((await me(s.adminToken)).statusCode, 401);
  t.is((await me(pat)).statusCode, 200);
  const fresh = await login(s.app, ADMIN.email, 'a-new-password');
  t.is((await me(fresh)).statusCode, 200);
  s.auth.authorization = `Bearer ${fresh}`;
});

test.serial('download links: an unknown Host never shapes them; a configured or local name does', async (t) => {
  t.is((await uploadArtifact(s, await makeArtifact('links-1', ['qemux86-64']))).statusCode, 201);
  const d = await acceptedDevice(s);
  await createDeployment(s, { artifact_name: 'links-1', devices: [d.deviceId] });
  const poll = (host: string) =>
    s.app.inject({ method: 'GET', url: '/api/devices/v1/deployments/device/deployments/next?artifact_name=release-0&device_type=qemux86-64', headers: { host, authorization: `Bearer ${d.token}` } });
  const evil = await poll('evil.example');
  t.is(evil.statusCode, 200);
  const evilUri = evil.json<{ artifact: { source: { uri: string } } }>().artifact.source.uri;
  t.false(evilUri.includes('evil.example'), evilUri);
  t.regex(evilUri, /^http:\/\/(127\.0\.0\.1:\d+|localhost)\/api\/devices\/v1\/deployments\/download\/artifacts\//);
  t.regex((await poll('ota.example.com:8443')).json<{ artifact: { source: { uri: string } } }>().artifact.source.uri, /^http:\/\/ota\.example\.com:8443\//);
  t.regex((await poll('localhost:8080')).json<{ artifact: { source: { uri: string } } }>().artifact.source.uri, /^http:\/\/localhost:8080\//);
  const art = (await s.app.inject({ method: 'GET', url: '/api/management/v1/deployments/artifacts', headers: s.auth })).json<Array<{ id: string }>>()[0]!;
  const link = await s.app.inject({ method: 'GET', url: `/api/management/v1/deployments/artifacts/${art.id}/download`, headers: { ...s.auth, host: 'evil.example' } });
  t.false(link.json<{ uri: string }>().uri.includes('evil.example'));
});

test.serial('data files are owner-only: the database and its WAL, blobs, the data dir', (t) => {
  const mode = (p: string) => statSync(p).mode & 0o777;
  t.is(mode(s.dataDir) & 0o077, 0);
  for (const f of ['flipside.db', 'flipside.db-wal', 'flipside.db-shm']) t.is(mode(join(s.dataDir, f)), 0o600, f);
  const blobs = readdirSync(join(s.dataDir, 'blobs'));
  t.true(blobs.length > 0);
  for (const b of blobs) t.is(mode(join(s.dataDir, 'blobs', b)), 0o600, b);
  t.is(mode(join(s.dataDir, 'blobs')), 0o700);
});
