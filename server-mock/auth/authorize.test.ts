// Every management route called with each role's token and with none: 401 without a token, 403
// for a role the table does not allow, neither for a role it allows. The table is the one the
// code generates, and AUTHORIZATION.md must be that table.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestServer, type TestServer } from '../testing/fixtures.js';
import { createUser, issueUserToken } from '../management/useradm.js';
import { ROLES } from './roles.js';
import { authorizationMarkdown, sortedTable } from './authorization-table.js';

const here = dirname(fileURLToPath(import.meta.url));
let s: TestServer;
const users: Record<string, string> = {};
test.before(async () => {
  s = await startTestServer();
  for (const role of Object.keys(ROLES)) users[role] = (await createUser(s.app.flipside, `${role.toLowerCase()}@example.com`, 'role-password', [role])).id;
});
test.after.always(async () => s?.close());

/** A fresh token per call: a logout call must not spoil the next one. */
const tokenOf = async (role: string) => issueUserToken(s.app.flipside, (await s.app.flipside.store.userById(users[role]!))!);
const fill = (url: string) => url.replace(/:[a-z_]+/g, '00000000-0000-4000-8000-000000000000');
// The change stream never ends; it is checked without a token and by its table row only.
const STREAMS = new Set(['/ui/api/events']);

test.serial('AUTHORIZATION.md is the table the code generates', (t) => {
  t.is(readFileSync(join(here, '..', 'AUTHORIZATION.md'), 'utf8'), authorizationMarkdown(sortedTable(s.app.authorizationTable)), 'run: node --import tsx server-mock/cli.ts routes > server-mock/AUTHORIZATION.md');
});

test.serial('every management route: 401 without a token, 403 for roles not allowed, served for roles allowed', async (t) => {
  const table = sortedTable(s.app.authorizationTable);
  t.true(table.length >= 50);
  for (const route of table) {
    const call = (authorization?: string) =>
      s.app.inject({ method: route.method as 'GET', url: fill(route.url), headers: { ...(authorization ? { authorization } : {}), 'content-type': 'application/json' }, payload: route.method === 'GET' || route.method === 'DELETE' ? undefined : '{}' });
    const anon = await call();
    if (route.permission === 'public') t.not(anon.statusCode, 403, `${route.method} ${route.url}`);
    else t.is(anon.statusCode, 401, `${route.method} ${route.url} without a token`);
    if (STREAMS.has(route.url)) continue;
    for (const role of Object.keys(ROLES)) {
      const r = await call(`Bearer ${(await tokenOf(role))}`);
      const where = `${route.method} ${route.url} as ${role}: ${r.statusCode} ${r.body.slice(0, 120)}`;
      if (route.roles.includes(role) || route.permission === 'public') t.false(r.statusCode === 403 || (r.statusCode === 401 && route.permission !== 'public'), where);
      else {
        t.is(r.statusCode, 403, where);
        t.regex(r.json<{ error: string }>().error, new RegExp(`needs ${route.permission}`));
      }
    }
  }
});

test.serial('a read-only user cannot delete the admin; roles and permission sets are listed; the last admin keeps the role', async (t) => {
  const admin = (await s.app.flipside.store.userByEmail('admin@example.com'))!;
  const ro = `Bearer ${(await tokenOf('RBAC_ROLE_OBSERVER'))}`;
  t.is((await s.app.inject({ method: 'DELETE', url: `/api/management/v1/useradm/users/${admin.id}`, headers: { authorization: ro } })).statusCode, 403);
  t.truthy(await s.app.flipside.store.userById(admin.id));
  const roles = (await s.app.inject({ method: 'GET', url: '/api/management/v2/useradm/roles', headers: s.auth })).json<Array<{ name: string }>>();
  t.deepEqual(roles.map((r) => r.name), Object.keys(ROLES));
  t.true((await s.app.inject({ method: 'GET', url: '/api/management/v2/useradm/permission_sets', headers: s.auth })).json<unknown[]>().length > 5);
  const me = (await s.app.inject({ method: 'GET', url: '/api/management/v1/useradm/users/me', headers: { authorization: ro } })).json<{ roles: string[] }>();
  t.deepEqual(me.roles, ['RBAC_ROLE_OBSERVER']);
  const setRoles = (id: string, roles: string[]) => s.app.inject({ method: 'PUT', url: `/api/management/v1/useradm/users/${id}/roles`, headers: s.auth, payload: { roles } });
  t.is((await setRoles(users.RBAC_ROLE_PERMIT_ALL!, ['RBAC_ROLE_OBSERVER'])).statusCode, 204);
  t.is((await setRoles(admin.id, ['RBAC_ROLE_OBSERVER'])).statusCode, 409);
  t.is((await setRoles(admin.id, ['NO_SUCH_ROLE'])).statusCode, 400);
  // A personal access token carries its user's roles.
  const pat = (await s.app.inject({ method: 'POST', url: '/api/management/v1/useradm/settings/tokens', headers: { authorization: ro }, payload: { name: 'ro-pat' } })).body;
  t.is((await s.app.inject({ method: 'GET', url: '/api/management/v2/devauth/devices', headers: { authorization: `Bearer ${pat}` } })).statusCode, 200);
  t.is((await s.app.inject({ method: 'POST', url: '/api/management/v2/devauth/devices', headers: { authorization: `Bearer ${pat}` }, payload: {} })).statusCode, 403);
});
