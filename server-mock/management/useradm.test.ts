import test from 'ava';
import { startTestServer, login, ADMIN, type TestServer } from '../testing/fixtures.js';

let s: TestServer;
test.before(async () => {
  s = await startTestServer();
});
test.after.always(async () => s?.close());

const UA = '/api/management/v1/useradm';

test.serial('login: 200 JWT, 401 on wrong password, unknown user, no basic auth', async (t) => {
  const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
  t.is((await s.app.inject({ method: 'POST', url: `${UA}/auth/login`, headers: basic(ADMIN.email, 'wrong') })).statusCode, 401);
  t.is((await s.app.inject({ method: 'POST', url: `${UA}/auth/login`, headers: basic('who@x.y', ADMIN.password) })).statusCode, 401);
  t.is((await s.app.inject({ method: 'POST', url: `${UA}/auth/login` })).statusCode, 401);
  const ok = await s.app.inject({ method: 'POST', url: `${UA}/auth/login`, headers: basic(ADMIN.email, ADMIN.password) });
  t.is(ok.statusCode, 200);
  const claims = JSON.parse(Buffer.from(ok.body.split('.')[1]!, 'base64url').toString());
  t.is(claims['mender.user'], true);
  t.is((await s.app.inject({ method: 'GET', url: `${UA}/users/me`, headers: { authorization: `Bearer ${ok.body}` } })).json<{ email: string }>().email, ADMIN.email);
});

test.serial('users: create, duplicate 409, bad 400, delete; deleted user token stops working', async (t) => {
  const mk = (payload: object) => s.app.inject({ method: 'POST', url: `${UA}/users`, headers: s.auth, payload });
  t.is((await mk({ email: 'ops@example.com', password: 'longenough' })).statusCode, 201);
  t.is((await mk({ email: 'ops@example.com', password: 'longenough' })).statusCode, 409);
  t.is((await mk({ email: 'not-an-email', password: 'longenough' })).statusCode, 400);
  t.is((await mk({ email: 'x@y.z', password: 'short' })).statusCode, 400);
  const token = await login(s.app, 'ops@example.com', 'longenough');
  const users = (await s.app.inject({ method: 'GET', url: `${UA}/users`, headers: s.auth })).json<Array<{ id: string; email: string; password_hash?: string }>>();
  const ops = users.find((u) => u.email === 'ops@example.com')!;
  t.is(ops.password_hash, undefined);
  t.is((await s.app.inject({ method: 'DELETE', url: `${UA}/users/${ops.id}`, headers: s.auth })).statusCode, 204);
  t.is((await s.app.inject({ method: 'GET', url: `${UA}/users/me`, headers: { authorization: `Bearer ${token}` } })).statusCode, 401);
});

test.serial('personal access tokens: create, use, list, revoke', async (t) => {
  const r = await s.app.inject({ method: 'POST', url: `${UA}/settings/tokens`, headers: s.auth, payload: { name: 'ci', expires_in: 3600 } });
  t.is(r.statusCode, 200);
  const pat = r.body;
  t.is((await s.app.inject({ method: 'POST', url: `${UA}/settings/tokens`, headers: s.auth, payload: { name: 'ci' } })).statusCode, 409);
  t.is((await s.app.inject({ method: 'POST', url: `${UA}/settings/tokens`, headers: s.auth, payload: { name: '' } })).statusCode, 400);
  t.is((await s.app.inject({ method: 'GET', url: '/api/management/v2/devauth/devices', headers: { authorization: `Bearer ${pat}` } })).statusCode, 200);
  const list = (await s.app.inject({ method: 'GET', url: `${UA}/settings/tokens`, headers: s.auth })).json<Array<{ id: string; name: string }>>();
  const ci = list.find((x) => x.name === 'ci')!;
  t.is((await s.app.inject({ method: 'DELETE', url: `${UA}/settings/tokens/${ci.id}`, headers: s.auth })).statusCode, 204);
  t.is((await s.app.inject({ method: 'DELETE', url: `${UA}/settings/tokens/${ci.id}`, headers: s.auth })).statusCode, 404);
  t.is((await s.app.inject({ method: 'GET', url: '/api/management/v2/devauth/devices', headers: { authorization: `Bearer ${pat}` } })).statusCode, 401);
});

test.serial('audit log records management actions; OpenAPI document lists the routes', async (t) => {
  const audit = (await s.app.inject({ method: 'GET', url: '/api/management/v1/auditlogs/logs?per_page=100', headers: s.auth })).json<Array<{ action: string; actor: { email: string } }>>();
  t.true(audit.some((a) => a.action === 'user.create' && a.actor.email === ADMIN.email));
  t.true(audit.some((a) => a.action === 'token.delete'));
  t.is((await s.app.inject({ method: 'GET', url: '/api/management/v1/auditlogs/logs' })).statusCode, 401);
  const doc = (await s.app.inject({ method: 'GET', url: '/api/docs' })).json<{ openapi: string; paths: Record<string, unknown> }>();
  t.regex(doc.openapi, /^3\./);
  for (const p of [
    '/api/devices/v1/authentication/auth_requests',
    '/api/devices/v1/deployments/device/deployments/next',
    '/api/devices/v1/deployments/device/deployments/{id}/status',
    '/api/management/v1/deployments/artifacts',
    '/api/management/v2/devauth/devices/{id}/auth/{aid}/status',
    '/api/management/v1/inventory/groups/{name}/devices',
  ]) {
    t.truthy(doc.paths[p], p);
  }
});

test.serial('unknown routes: 404 with Mender error body and request id header', async (t) => {
  const r = await s.app.inject({ method: 'GET', url: '/api/management/v9/nothing' });
  t.is(r.statusCode, 404);
  t.is(r.json<{ request_id: string }>().request_id, String(r.headers['x-men-requestid']));
});

test.serial('users/{id} and users/me: read, edit e-mail and password; own changes need the current password', async (t) => {
  const mk = await s.app.inject({ method: 'POST', url: `${UA}/users`, headers: s.auth, payload: { email: 'edit@example.com', password: 'first-password' } });
  const id = String(mk.headers.location).split('/').pop()!;
  t.like((await s.app.inject({ method: 'GET', url: `${UA}/users/${id}`, headers: s.auth })).json<{ email: string }>(), { email: 'edit@example.com', roles: ['RBAC_ROLE_PERMIT_ALL'] });
  t.is((await s.app.inject({ method: 'GET', url: `${UA}/users/nobody`, headers: s.auth })).statusCode, 404);
  const put = (url: string, headers: object, payload: object) => s.app.inject({ method: 'PUT', url, headers: headers as Record<string, string>, payload });
  // An admin edits another user without their password; a taken e-mail is 422.
  t.is((await put(`${UA}/users/${id}`, s.auth, { email: 'edited@example.com' })).statusCode, 204);
  t.is((await put(`${UA}/users/${id}`, s.auth, { email: ADMIN.email })).statusCode, 422);
  t.is((await put(`${UA}/users/${id}`, s.auth, {})).statusCode, 400);
  const theirs = await put(`${UA}/users/${id}`, s.auth, { password: 'set-by-admin' });
  t.is(theirs.statusCode, 422);
  t.regex(theirs.json<{ error: string }>().error, /changed by that user only/);
  const own = { authorization: `Bearer ${await login(s.app, 'edited@example.com', 'first-password')}` };
  const otherSession = { authorization: `Bearer ${await login(s.app, 'edited@example.com', 'first-password')}` };
  t.is((await put(`${UA}/users/me`, own, { password: 'short', current_password: 'first-password' })).statusCode, 422);
  t.is((await put(`${UA}/users/me`, own, { password: 'second-password' })).statusCode, 401);
  t.is((await put(`${UA}/users/me`, own, { password: 'second-password', current_password: 'wrong-one' })).statusCode, 401);
  t.is((await put('/api/management/v2/useradm/users/me', own, { password: 'second-password', current_password: 'first-password' })).statusCode, 204);
  // The new password ends the other sessions opened with the old one, not the one that set it.
  t.regex((await s.app.inject({ method: 'GET', url: `${UA}/users/me`, headers: otherSession })).json<{ error: string }>().error, /password changed/);
  t.is((await s.app.inject({ method: 'GET', url: `${UA}/users/me`, headers: own })).statusCode, 200);
  await t.throwsAsync(login(s.app, 'edited@example.com', 'first-password'));
  t.truthy(await login(s.app, 'edited@example.com', 'second-password'));
  // Kept for the password it set only: a later change elsewhere (the command line) ends it too.
  const { setPassword } = await import('./useradm.js');
  await setPassword(s.app.flipside, 'edited@example.com', 'third-password');
  t.is((await s.app.inject({ method: 'GET', url: `${UA}/users/me`, headers: own })).statusCode, 401);
});

test.serial('PUT users/{id} sets roles as Mender Enterprise does; a bad role or the last admin changes nothing; users/me cannot', async (t) => {
  const mk = await s.app.inject({ method: 'POST', url: `${UA}/users`, headers: s.auth, payload: { email: 'roles@example.com', password: 'roles-password' } });
  const id = String(mk.headers.location).split('/').pop()!;
  const put = (url: string, payload: object, headers: object = s.auth) => s.app.inject({ method: 'PUT', url, headers: headers as Record<string, string>, payload });
  const user = async () => (await s.app.inject({ method: 'GET', url: `${UA}/users/${id}`, headers: s.auth })).json<{ email: string; roles: string[] }>();
  t.is((await put(`${UA}/users/${id}`, { roles: ['RBAC_ROLE_OBSERVER'] })).statusCode, 204);
  t.deepEqual((await user()).roles, ['RBAC_ROLE_OBSERVER']);
  const bad = await put(`${UA}/users/${id}`, { email: 'renamed-roles@example.com', roles: ['NO_SUCH_ROLE'] });
  t.is(bad.statusCode, 400);
  t.regex(bad.json<{ error: string }>().error, /unknown role NO_SUCH_ROLE/);
  t.like(await user(), { email: 'roles@example.com', roles: ['RBAC_ROLE_OBSERVER'] });
  // The observer may edit their own password, not their roles.
  const own = { authorization: `Bearer ${await login(s.app, 'roles@example.com', 'roles-password')}` };
  t.is((await put(`${UA}/users/${id}`, { roles: ['RBAC_ROLE_PERMIT_ALL'] }, own)).statusCode, 403);
  await put(`${UA}/users/me`, { roles: ['RBAC_ROLE_PERMIT_ALL'], password: 'roles-password-2', current_password: 'roles-password' }, own);
  t.deepEqual((await user()).roles, ['RBAC_ROLE_OBSERVER']);
  // Every other user loses the admin role: the last administrator keeps it.
  const admin = (await s.app.flipside.store.userByEmail(ADMIN.email))!;
  for (const u of await s.app.flipside.store.listUsers()) if (u.id !== admin.id) await s.app.flipside.store.setUserRoles(u.id, ['RBAC_ROLE_OBSERVER']);
  const last = await put(`${UA}/users/${admin.id}`, { roles: ['RBAC_ROLE_OBSERVER'] });
  t.is(last.statusCode, 409);
  t.deepEqual((await s.app.inject({ method: 'GET', url: `${UA}/users/me`, headers: s.auth })).json<{ roles: string[] }>().roles, ['RBAC_ROLE_PERMIT_ALL']);
});

test.serial('settings and settings/me: free-form JSON with an ETag; a stale If-Match is 412', async (t) => {
  for (const url of [`${UA}/settings`, `${UA}/settings/me`]) {
    const first = await s.app.inject({ method: 'GET', url, headers: s.auth });
    t.is(first.statusCode, 200);
    t.deepEqual(first.json(), {});
    const saved = await s.app.inject({ method: 'POST', url, headers: s.auth, payload: { theme: 'dark', columns: [1, 2] } });
    t.is(saved.statusCode, 201);
    const read = await s.app.inject({ method: 'GET', url, headers: s.auth });
    t.deepEqual(read.json(), { theme: 'dark', columns: [1, 2] });
    const etag = String(read.headers.etag);
    t.is((await s.app.inject({ method: 'POST', url, headers: { ...s.auth, 'if-match': 'stale' }, payload: { theme: 'light' } })).statusCode, 412);
    t.is((await s.app.inject({ method: 'POST', url, headers: { ...s.auth, 'if-match': `"${etag}"` }, payload: { theme: 'light' } })).statusCode, 201);
    t.deepEqual((await s.app.inject({ method: 'GET', url, headers: s.auth })).json(), { theme: 'light' });
  }
});

test.serial('settings/tokens: last_used appears once the token is used', async (t) => {
  const created = await s.app.inject({ method: 'POST', url: `${UA}/settings/tokens`, headers: s.auth, payload: { name: 'used-token' } });
  const list = async () => (await s.app.inject({ method: 'GET', url: `${UA}/settings/tokens`, headers: s.auth })).json<Array<{ name: string; last_used?: string }>>().find((x) => x.name === 'used-token')!;
  t.is((await list()).last_used, undefined);
  t.is((await s.app.inject({ method: 'GET', url: `${UA}/users/me`, headers: { authorization: `Bearer ${created.body}` } })).statusCode, 200);
  t.true(Date.parse((await list()).last_used!) > 0);
});

test.serial("what Mender's UI reads on start-up: tenant, plan, deployments config, audit entries with their object's name", async (t) => {
  const get = async (url: string) => (await s.app.inject({ method: 'GET', url, headers: s.auth })).json<Record<string, unknown>>();
  t.like(await get('/api/management/v1/tenantadm/user/tenant'), { status: 'active', tenant_token: '' });
  t.like(await get(`${UA}/plan_binding`), { plan: { name: 'flipside' }, limits: { devices: 0 } });
  t.deepEqual(await get('/api/management/v1/deployments/config'), { delta: { enabled: false } });
  await s.app.inject({ method: 'POST', url: `${UA}/users`, headers: s.auth, payload: { email: 'audited@example.com', password: 'long-enough-1' } });
  const log = (await s.app.inject({ method: 'GET', url: '/api/management/v1/auditlogs/logs?object_type=user', headers: s.auth })).json<Array<{ action: string; object: { user?: { email: string } } }>>();
  t.is(log.find((e) => e.action === 'user.create')?.object.user?.email, 'audited@example.com');
});
