// Mender's own web UI as a peer: the calls its front end makes at start-up and on each view, made
// against flipside-server with seeded data, and the fields and headers those views read checked for
// presence and type. The UI cannot be built here (no internet), so its calls are taken from its
// source, the mender-server repository's v4 front end (paths below are in
// github.com/mendersoftware/mender-server, frontend/src/js/...; "store/x/thunks" is
// frontend/src/js/store/x/thunks.ts(x)). Each call names the file it comes from.
//
// The contract test (contract.test.ts) checks every operation against the OpenAPI spec; this one
// checks what the spec does not say: the exact query strings, the headers the UI reads (X-Total-Count,
// ETag, Location), the `system` scope inventory attributes, the audit log's object details, and the
// private-but-called routes (tenantadm, useradm settings, roles, deployments config).
import test, { type ExecutionContext } from 'ava';
import { startTestServer, makeArtifact, uploadArtifact, acceptedDevice, createDeployment, multipartBody, type TestServer } from '../testing/fixtures.js';
import { SimDevice, injectTransport } from '../testing/device-sim.js';

const M = '/api/management';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
  json: any;
}

let t0: TestServer;
let seeded: {
  accepted: SimDevice;
  second: SimDevice;
  pending: SimDevice;
  rejected: SimDevice;
  preauthId: string;
  releaseName: string;
  artifactId: string;
  deploymentId: string;
  userId: string;
};

async function call(method: string, url: string, opts: { body?: unknown; headers?: Record<string, string>; raw?: { payload: Buffer; contentType: string }; token?: string | null } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers };
  const token = opts.token === undefined ? t0.adminToken : opts.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let payload: string | Buffer | undefined;
  if (opts.raw) {
    headers['content-type'] = opts.raw.contentType;
    payload = opts.raw.payload;
  } else if (opts.body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(opts.body);
  }
  const r = await t0.app.inject({ method: method as 'GET', url, headers, payload });
  let json: unknown;
  try {
    json = r.body ? JSON.parse(r.body) : undefined;
  } catch {
    json = undefined;
  }
  return { status: r.statusCode, headers: r.headers as Answer['headers'], body: r.body, json };
}

type Kind = 'string' | 'number' | 'boolean' | 'object' | 'array' | 'iso-date';

/** Asserts each `path` (dots; `[]` for every element of an array) holds a value of its kind. */
function fields(t: ExecutionContext, value: unknown, want: Record<string, Kind>, where: string): void {
  for (const [path, kind] of Object.entries(want)) {
    const found = walk(value, path.split('.'));
    if (found.length === 0) t.fail(`${where}: ${path} is missing`);
    for (const v of found) t.true(isKind(v, kind), `${where}: ${path} is ${JSON.stringify(v)?.slice(0, 80)}, the UI reads it as ${kind}`);
  }
}

function walk(v: unknown, parts: string[]): unknown[] {
  if (parts.length === 0) return v === undefined ? [] : [v];
  const [head, ...rest] = parts as [string, ...string[]];
  if (head === '[]') return Array.isArray(v) ? v.flatMap((x) => walk(x, rest)) : [];
  if (v === null || typeof v !== 'object') return [];
  // Attribute names have dots of their own (rootfs-image.version): the longest key that exists wins.
  const o = v as Record<string, unknown>;
  for (let n = parts.length; n > 1; n--) {
    const key = parts.slice(0, n).join('.');
    if (key in o) return walk(o[key], parts.slice(n));
  }
  return walk(o[head], rest);
}

function isKind(v: unknown, kind: Kind): boolean {
  switch (kind) {
    case 'array':
      return Array.isArray(v);
    case 'object':
      return v !== null && typeof v === 'object' && !Array.isArray(v);
    case 'iso-date':
      return typeof v === 'string' && !Number.isNaN(Date.parse(v));
    default:
      return typeof v === kind;
  }
}

/** The count the UI reads from X-Total-Count (headerNames.total), as a number. */
function total(t: ExecutionContext, a: Answer, where: string): number {
  const v = a.headers['x-total-count'];
  t.regex(String(v), /^\d+$/, `${where}: X-Total-Count is ${String(v)}`);
  return Number(v);
}

function ok(t: ExecutionContext, a: Answer, status: number, where: string): void {
  t.is(a.status, status, `${where}: ${a.body.slice(0, 300)}`);
}

/** An inventory device's attributes as the UI maps them (store/utils mapDeviceAttributes): by scope, then name. */
function byScope(device: { attributes?: Array<{ name: string; scope: string; value: unknown }> }): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const a of device.attributes ?? []) (out[a.scope] ??= {})[a.name] = a.value;
  return out;
}

// store/devicesSlice/thunks: defaultAttributes, asked for on every device list request.
const DEFAULT_ATTRIBUTES = [
  { scope: 'identity', attribute: 'status' },
  { scope: 'inventory', attribute: 'artifact_name' },
  { scope: 'inventory', attribute: 'device_type' },
  { scope: 'inventory', attribute: 'mender_is_gateway' },
  { scope: 'inventory', attribute: 'mender_gateway_system_id' },
  { scope: 'inventory', attribute: 'rootfs-image.version' },
  { scope: 'monitor', attribute: 'alerts' },
  { scope: 'system', attribute: 'created_ts' },
  { scope: 'system', attribute: 'updated_ts' },
  { scope: 'system', attribute: 'check_in_time' },
  { scope: 'system', attribute: 'group' },
  { scope: 'tags', attribute: 'name' },
];

/** store/devicesSlice/thunks getDevicesByStatus / getDeviceCount: the search the device lists make. */
function searchByStatus(status: string | undefined, page = 1, perPage = 20, extra: object[] = []) {
  const filters = [...(status ? [{ scope: 'identity', attribute: 'status', type: '$eq', value: status }] : []), ...extra];
  return call('POST', `${M}/v2/inventory/filters/search`, { body: { page, per_page: perPage, filters, sort: [], attributes: DEFAULT_ATTRIBUTES } });
}

test.before(async () => {
  t0 = await startTestServer({ publicUrl: 'https://ota.example.com' });
  const releaseName = 'release-1';
  const up = await uploadArtifact(t0, await makeArtifact(releaseName, ['qemux86-64']));
  if (up.statusCode !== 201) throw new Error(`upload: ${up.statusCode} ${up.body}`);
  const accepted = await acceptedDevice(t0, { deviceType: 'qemux86-64' });
  const second = await acceptedDevice(t0, { deviceType: 'qemux86-64' });
  await second.sendInventory([{ name: 'device_type', value: 'qemux86-64' }, { name: 'artifact_name', value: 'release-0' }]);
  await t0.app.inject({ method: 'PUT', url: `${M}/v1/inventory/devices/${accepted.deviceId}/group`, headers: t0.auth, payload: { group: 'lab' } });
  const deploymentId = await createDeployment(t0, { name: 'to the lab', artifact_name: releaseName, devices: [accepted.deviceId] });
  await accepted.runUpdate({ fail: true });
  // After the update: the client sends its whole inventory again, as a Mender client does.
  await accepted.sendInventory([
    { name: 'device_type', value: 'qemux86-64' },
    { name: 'artifact_name', value: 'release-0' },
    { name: 'rootfs-image.version', value: 'release-0' },
    { name: 'ipv4_eth0', value: '10.0.0.2/24' },
  ]);
  const pending = new SimDevice(injectTransport(t0.app));
  await pending.authenticate();
  const rejected = new SimDevice(injectTransport(t0.app));
  await rejected.authenticate();
  const rid = (await t0.app.flipside.store.deviceByIdData(JSON.stringify(Object.fromEntries(Object.entries(rejected.identity).sort()))))!.id;
  const rauth = (await t0.app.inject({ method: 'GET', url: `${M}/v2/devauth/devices/${rid}`, headers: t0.auth })).json<{ auth_sets: Array<{ id: string }> }>();
  await t0.app.inject({ method: 'PUT', url: `${M}/v2/devauth/devices/${rid}/auth/${rauth.auth_sets[0]!.id}/status`, headers: t0.auth, payload: { status: 'rejected' } });
  const pre = new SimDevice(injectTransport(t0.app));
  const preauth = await t0.app.inject({ method: 'POST', url: `${M}/v2/devauth/devices`, headers: t0.auth, payload: { identity_data: pre.identity, pubkey: pre.publicKeyPem } });
  const preauthId = String(preauth.headers.location).split('/').pop()!;
  const user = await t0.app.inject({ method: 'POST', url: `${M}/v1/useradm/users`, headers: t0.auth, payload: { email: 'operator@example.com', password: 'operator-horse-battery' } });
  const artifacts = (await t0.app.inject({ method: 'GET', url: `${M}/v1/deployments/artifacts`, headers: t0.auth })).json<Array<{ id: string; name: string }>>();
  seeded = {
    accepted,
    second,
    pending,
    rejected,
    preauthId,
    releaseName,
    artifactId: artifacts.find((a) => a.name === releaseName)!.id,
    deploymentId,
    userId: String(user.headers.location).split('/').pop()!,
  };
});
test.after.always(async () => t0?.close());

test.serial('login: the token comes back as application/jwt and users/me names the user (store/usersSlice/thunks loginUser, getUser)', async (t) => {
  // loginUser: UsersApi.postLogin(`${useradmApiUrl}/auth/login`, {..., no_expiry}) keeps the body only
  // when the content type is application/jwt.
  const login = await call('POST', `${M}/v1/useradm/auth/login`, {
    token: null,
    headers: { authorization: `Basic ${Buffer.from('admin@example.com:correct-horse-battery').toString('base64')}` },
    body: { no_expiry: false },
  });
  ok(t, login, 200, 'login');
  t.true(String(login.headers['content-type']).startsWith('application/jwt'), 'the UI ignores a login answer that is not application/jwt');
  t.regex(login.body, /^[\w-]+\.[\w-]+\.[\w-]*$/);
  // getUser(OWN_USER_ID): GET /useradm/users/me.
  const me = await call('GET', `${M}/v1/useradm/users/me`, { token: login.body });
  ok(t, me, 200, 'users/me');
  fields(t, me.json, { id: 'string', email: 'string', created_ts: 'iso-date' }, 'users/me');
});

test.serial('start-up: settings, tenant, integrations, device limit, roles, deployments config all answer', async (t) => {
  // store/usersSlice/thunks getGlobalSettings: GET /useradm/settings, reads data and headers.etag.
  const settings = await call('GET', `${M}/v1/useradm/settings`);
  ok(t, settings, 200, 'useradm/settings');
  t.true(isKind(settings.json, 'object'));

  // store/usersSlice/thunks getUserSettings: GET /useradm/settings/me, data and headers.etag.
  const mine = await call('GET', `${M}/v1/useradm/settings/me`);
  ok(t, mine, 200, 'useradm/settings/me');
  t.true(isKind(mine.json, 'object'));

  // store/organizationSlice/thunks getUserOrganization: GET /tenantadm/user/tenant; the UI compares its
  // addons, plan and trial with the session JWT's mender.addons, mender.plan and mender.trial, and
  // shows "a change in your plan ... log out and log in again" when they differ.
  const tenant = await call('GET', `${M}/v1/tenantadm/user/tenant`);
  ok(t, tenant, 200, 'tenantadm/user/tenant');
  fields(t, tenant.json, { id: 'string', name: 'string' }, 'tenant');
  const jwt = JSON.parse(Buffer.from(t0.adminToken.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
  t.deepEqual(
    { addons: tenant.json.addons, plan: tenant.json.plan, trial: tenant.json.trial },
    { addons: jwt['mender.addons'], plan: jwt['mender.plan'], trial: jwt['mender.trial'] },
    'the tenant and the JWT disagree: the UI would announce a plan change on every page',
  );
  // store/organizationSlice/thunks getIntegrations: GET /iot-manager/integrations, data.reduce(...).
  const integrations = await call('GET', `${M}/v1/iot-manager/integrations`);
  ok(t, integrations, 200, 'iot-manager/integrations');
  t.true(Array.isArray(integrations.json));
  // store/devicesSlice/thunks getDeviceLimit: GET /v2/devauth/limits/max_devices, res.data.limit.
  const limit = await call('GET', `${M}/v2/devauth/limits/max_devices`);
  ok(t, limit, 200, 'max_devices');
  fields(t, limit.json, { limit: 'number' }, 'max_devices');
  // store/usersSlice/thunks getRoles + getPermissionSets: GET /v2/useradm/roles?per_page=500 and
  // /v2/useradm/permission_sets?per_page=500; roles by name with permission_sets_with_scope.
  const roles = await call('GET', `${M}/v2/useradm/roles?per_page=500`);
  ok(t, roles, 200, 'roles');
  fields(t, roles.json, { '[].name': 'string', '[].permission_sets_with_scope': 'array' }, 'roles');
  t.true(roles.json.some((r: { name: string }) => r.name === 'RBAC_ROLE_PERMIT_ALL'), 'the UI knows the admin role as RBAC_ROLE_PERMIT_ALL');
  const sets = await call('GET', `${M}/v2/useradm/permission_sets?per_page=500`);
  ok(t, sets, 200, 'permission_sets');
  fields(t, sets.json, { '[].name': 'string' }, 'permission_sets');
  // store/deploymentsSlice/thunks getDeploymentsConfig: GET /v1/deployments/config, data.delta optional.
  const config = await call('GET', `${M}/v1/deployments/config`);
  ok(t, config, 200, 'deployments/config');
  t.true(isKind(config.json, 'object'));
  // store/devicesSlice/thunks getDeviceAttributes: GET getAttrsEndpoint = /v2/inventory/filters/attributes,
  // [{name, scope}] grouped by scope.
  const attrs = await call('GET', `${M}/v2/inventory/filters/attributes`);
  ok(t, attrs, 200, 'filters/attributes');
  fields(t, attrs.json, { '[].name': 'string', '[].scope': 'string' }, 'filters/attributes');
  const scopes = new Set(attrs.json.map((a: { scope: string }) => a.scope));
  for (const s of ['identity', 'inventory', 'system']) t.true(scopes.has(s), `no ${s} attributes to filter by`);
  // store/devicesSlice/thunks getGroups (GET /v1/inventory/groups, names) and getDynamicGroups
  // (GET /v2/inventory/filters?per_page=500).
  const groups = await call('GET', `${M}/v1/inventory/groups`);
  ok(t, groups, 200, 'groups');
  t.deepEqual(groups.json, ['lab']);
  const dynamic = await call('GET', `${M}/v2/inventory/filters?per_page=500`);
  ok(t, dynamic, 200, 'filters');
  t.true(Array.isArray(dynamic.json));
});

test.serial('settings are saved with If-Match and read back (store/usersSlice/thunks saveGlobalSettings, saveUserSettings)', async (t) => {
  // saveGlobalSettings: GET settings (data + ETag), then POST the merged settings with If-Match
  // when there was an ETag (the spec has one always, before the first save too).
  const save = async (url: string, change: Record<string, unknown>) => {
    const before = await call('GET', url);
    const headers: Record<string, string> = before.headers.etag ? { 'if-match': String(before.headers.etag) } : {};
    return { before, saved: await call('POST', url, { body: { ...before.json, ...change }, headers }) };
  };
  const first = await save(`${M}/v1/useradm/settings`, { previousPhases: [], retries: 2, hasDeployments: true });
  t.truthy(first.before.headers.etag, 'settings never saved have an ETag too');
  ok(t, first.saved, 201, 'first save');
  const again = await call('POST', `${M}/v1/useradm/settings`, { body: { retries: 9 }, headers: { 'if-match': String(first.before.headers.etag) } });
  ok(t, again, 412, 'the never-saved ETag once something was saved');
  const { before, saved } = await save(`${M}/v1/useradm/settings`, { retries: 3 });
  t.truthy(before.headers.etag, 'settings have an ETag, which the UI sends back as If-Match');
  ok(t, saved, 201, 'save with If-Match');
  const after = await call('GET', `${M}/v1/useradm/settings`);
  t.like(after.json, { retries: 3, hasDeployments: true });
  t.not(after.headers.etag, before.headers.etag, 'a change gives a new ETag');
  const stale = await call('POST', `${M}/v1/useradm/settings`, { body: { retries: 4 }, headers: { 'if-match': String(before.headers.etag) } });
  ok(t, stale, 412, 'a stale If-Match');
  // saveUserSettings: the same on settings/me, with onboarding and tooltips merged in.
  ok(t, (await save(`${M}/v1/useradm/settings/me`, { mode: 'dark', onboarding: { complete: true }, tooltips: {} })).saved, 201, 'settings/me');
  ok(t, (await save(`${M}/v1/useradm/settings/me`, { columnSelection: [] })).saved, 201, 'settings/me again');
  t.like((await call('GET', `${M}/v1/useradm/settings/me`)).json, { mode: 'dark', onboarding: { complete: true }, columnSelection: [] });
});

test.serial('dashboard and device lists: counts by status and the attributes each row reads (store/devicesSlice/thunks)', async (t) => {
  // getDeviceCount(status): per_page 1, count from X-Total-Count.
  const counts: Record<string, number> = {};
  for (const status of ['accepted', 'pending', 'preauthorized', 'rejected']) {
    const a = await searchByStatus(status, 1, 1);
    ok(t, a, 200, `count ${status}`);
    counts[status] = total(t, a, `count ${status}`);
  }
  t.deepEqual(counts, { accepted: 2, pending: 1, preauthorized: 1, rejected: 1 });

  // getDevicesByStatus(accepted): rows read identity status, inventory artifact/device type and
  // system created_ts, updated_ts, check_in_time (check_in_time_rounded: "never connected" if missing), group.
  const accepted = await searchByStatus('accepted');
  ok(t, accepted, 200, 'accepted list');
  t.is(total(t, accepted, 'accepted list'), 2);
  // reduceReceivedDevices also keeps the row's own updated_ts (deriveInactiveDevices: active since yesterday).
  fields(t, accepted.json, { '[].id': 'string', '[].updated_ts': 'iso-date', '[].attributes': 'array', '[].attributes.[].name': 'string', '[].attributes.[].scope': 'string' }, 'accepted list');
  const a = accepted.json.find((d: { id: string }) => d.id === seeded.accepted.deviceId);
  const s = byScope(a);
  fields(t, s, { 'identity.status': 'string', 'inventory.artifact_name': 'string', 'inventory.device_type': 'string', 'inventory.rootfs-image.version': 'string' }, 'accepted device');
  fields(t, s, { 'system.created_ts': 'iso-date', 'system.updated_ts': 'iso-date', 'system.check_in_time': 'iso-date', 'system.group': 'string' }, 'accepted device, system scope');
  t.is(s.identity!.status, 'accepted');
  t.is(s.system!.group, 'lab');

  // The pending, preauthorized and rejected tabs: the same search with their status.
  for (const status of ['pending', 'preauthorized', 'rejected']) {
    const list = await searchByStatus(status);
    ok(t, list, 200, `${status} list`);
    t.is(list.json.length, 1, `the ${status} list is empty`);
    const dev = byScope(list.json[0]);
    t.is(dev.identity?.status, status);
    fields(t, dev, { 'system.created_ts': 'iso-date' }, `${status} device`);
    // getDevicesWithAuth: GET /v2/devauth/devices?id=...: identity_data and auth_sets for the row.
    const auth = await call('GET', `${M}/v2/devauth/devices?id=${list.json[0].id}`);
    ok(t, auth, 200, `${status} auth`);
    fields(t, auth.json, { '[].id': 'string', '[].identity_data': 'object', '[].status': 'string', '[].auth_sets': 'array', '[].auth_sets.[].id': 'string', '[].auth_sets.[].status': 'string', '[].auth_sets.[].pubkey': 'string', '[].auth_sets.[].ts': 'iso-date' }, `${status} auth`);
  }

  // The ungrouped count getGroups asks for: group $nin [groups], no status.
  const ungrouped = await searchByStatus(undefined, 1, 1, [{ scope: 'system', attribute: 'group', type: '$nin', value: ['lab'] }]);
  ok(t, ungrouped, 200, 'ungrouped');
  t.is(total(t, ungrouped, 'ungrouped'), 4, 'every device but the one in lab (accepted, pending, preauthorized, rejected)');
  // A static group's devices (getGroupDevices): group $eq lab.
  const lab = await searchByStatus('accepted', 1, 20, [{ scope: 'system', attribute: 'group', type: '$eq', value: 'lab' }]);
  t.deepEqual(lab.json.map((d: { id: string }) => d.id), [seeded.accepted.deviceId]);
  // searchDevices: the search box sends `text`.
  const found = await call('POST', `${M}/v2/inventory/filters/search`, { body: { page: 1, per_page: 10, filters: [], sort: [], text: seeded.accepted.deviceId!.slice(0, 8), attributes: DEFAULT_ATTRIBUTES } });
  ok(t, found, 200, 'text search');
  t.true(found.json.some((d: { id: string }) => d.id === seeded.accepted.deviceId), 'the search box finds a device by id');
  // Sorting by a column: sort [{attribute, order, scope}].
  const sorted = await call('POST', `${M}/v2/inventory/filters/search`, {
    body: { page: 1, per_page: 20, filters: [{ scope: 'identity', attribute: 'status', type: '$eq', value: 'accepted' }], sort: [{ attribute: 'updated_ts', order: 'desc', scope: 'system' }], attributes: DEFAULT_ATTRIBUTES },
  });
  ok(t, sorted, 200, 'sorted list');
  t.is(sorted.json.length, 2);
});

test.serial('device details: inventory with ETag, auth, connect state, configuration, deployment history, tags (store/devicesSlice, store/deploymentsSlice)', async (t) => {
  const id = seeded.accepted.deviceId!;
  // getDeviceById: GET /v1/inventory/devices/{id}; device.etag = res.headers.etag; setDeviceTags sends it as If-Match.
  const inv = await call('GET', `${M}/v1/inventory/devices/${id}`);
  ok(t, inv, 200, 'inventory device');
  t.truthy(inv.headers.etag, 'no ETag: setDeviceTags sends none and the tags may be lost');
  const s = byScope(inv.json);
  fields(t, s, { 'inventory.artifact_name': 'string', 'inventory.rootfs-image.version': 'string', 'inventory.ipv4_eth0': 'string', 'system.check_in_time': 'iso-date', 'system.created_ts': 'iso-date', 'system.updated_ts': 'iso-date', 'system.group': 'string', 'identity.status': 'string' }, 'device details');
  // setDeviceTags: PUT /v1/inventory/devices/{id}/tags [{name, value}] with If-Match.
  const tags = await call('PUT', `${M}/v1/inventory/devices/${id}/tags`, { body: [{ name: 'name', value: 'lab-board-1' }], headers: { 'if-match': String(inv.headers.etag) } });
  ok(t, tags, 200, 'set tags');
  const named = byScope((await call('GET', `${M}/v1/inventory/devices/${id}`)).json);
  t.is(named.tags?.name, 'lab-board-1', 'the device name (tags scope) is shown in the list');
  const stale = await call('PUT', `${M}/v1/inventory/devices/${id}/tags`, { body: [{ name: 'name', value: 'x' }], headers: { 'if-match': String(inv.headers.etag) } });
  ok(t, stale, 412, 'tags with a stale ETag');
  // A pending device's inventory is shown too (its details open from the pending tab).
  const pendingId = (await searchByStatus('pending')).json[0].id as string;
  const pendingInv = await call('GET', `${M}/v1/inventory/devices/${pendingId}`);
  ok(t, pendingInv, 200, 'a pending device in inventory');
  t.is(byScope(pendingInv.json).identity?.status, 'pending');
  // getDeviceConnect: GET /v1/deviceconnect/devices/{id}: status, updated_ts.
  const connect = await call('GET', `${M}/v1/deviceconnect/devices/${id}`);
  ok(t, connect, 200, 'deviceconnect');
  fields(t, connect.json, { status: 'string' }, 'deviceconnect');
  // getDeviceConfig: GET /v1/deviceconfig/configurations/device/{id}; a 404 is ignored, any other error shown.
  const config = await call('GET', `${M}/v1/deviceconfig/configurations/device/${id}`);
  t.true(config.status === 200 || config.status === 404, `device config: ${config.status} ${config.body}`);
  // getDeviceDeployments: GET /v1/deployments/deployments/devices/{id}?page=1&per_page=10: deployment
  // {id, artifact_name, status}, device {created, finished, status, id}, X-Total-Count.
  const history = await call('GET', `${M}/v1/deployments/deployments/devices/${id}?page=1&per_page=10`);
  ok(t, history, 200, 'device history');
  t.is(total(t, history, 'device history'), 1);
  fields(t, history.json, { '[].deployment.id': 'string', '[].deployment.artifact_name': 'string', '[].deployment.status': 'string', '[].device.id': 'string', '[].device.status': 'string', '[].device.created': 'iso-date', '[].device.finished': 'iso-date' }, 'device history');
  // A status filter: &status=failure.
  const failures = await call('GET', `${M}/v1/deployments/deployments/devices/${id}?page=1&per_page=10&status=failure`);
  ok(t, failures, 200, 'device history by status');
  t.is(failures.json.length, 1);
  const either = await call('GET', `${M}/v1/deployments/deployments/devices/${id}?page=1&per_page=10&status=success&status=failure`);
  t.is(either.json.length, 1, 'several statuses at once');
  t.is((await call('GET', `${M}/v1/deployments/deployments/devices/${id}?page=1&per_page=10&status=success`)).json.length, 0);
  // setDeviceConfig: PUT {key: value}; applyDeviceConfig: POST .../deploy {retries}, reads
  // data.deployment_id and then fetches that deployment (type configuration).
  ok(t, await call('PUT', `${M}/v1/deviceconfig/configurations/device/${id}`, { body: { timezone: 'UTC' } }), 204, 'set config');
  const configured = await call('GET', `${M}/v1/deviceconfig/configurations/device/${id}`);
  fields(t, configured.json, { configured: 'object', reported: 'object' }, 'device config');
  const deployed = await call('POST', `${M}/v1/deviceconfig/configurations/device/${id}/deploy`, { body: { retries: 0 } });
  ok(t, deployed, 200, 'deploy config');
  fields(t, deployed.json, { deployment_id: 'string' }, 'deploy config');
  const configDeployment = await call('GET', `${M}/v1/deployments/deployments/${deployed.json.deployment_id}`);
  ok(t, configDeployment, 200, 'the configuration deployment');
  t.is(configDeployment.json.type, 'configuration');
  // getDeviceTwin: GET /iot-manager/devices/{id}/state (only with an Azure/AWS integration; the
  // answer is merged as it is).
  const twin = await call('GET', `${M}/v1/iot-manager/devices/${id}/state`);
  ok(t, twin, 200, 'device twin');
  // triggerDeviceUpdate and the accept/reject buttons are in the other tests.
});

test.serial('groups: static and dynamic, made and removed from the devices view (store/devicesSlice/thunks)', async (t) => {
  const id = seeded.second.deviceId!;
  // addDevicesToGroup: PATCH /v1/inventory/groups/{group}/devices [ids]; then getGroups.
  ok(t, await call('PATCH', `${M}/v1/inventory/groups/bench/devices`, { body: [id] }), 200, 'add to group');
  t.deepEqual((await call('GET', `${M}/v1/inventory/groups`)).json.sort(), ['bench', 'lab']);
  // getGroupDevices: the device search with group $eq bench, X-Total-Count.
  const bench = await searchByStatus('accepted', 1, 1, [{ scope: 'system', attribute: 'group', type: '$eq', value: 'bench' }]);
  t.is(total(t, bench, 'bench'), 1);
  // removeDevicesFromGroup: DELETE /v1/inventory/groups/{group}/devices with the ids as body.
  ok(t, await call('DELETE', `${M}/v1/inventory/groups/bench/devices`, { body: [id] }), 200, 'remove from group');
  ok(t, await call('PATCH', `${M}/v1/inventory/groups/bench/devices`, { body: [id] }), 200, 'add again');
  // removeStaticGroup: DELETE /v1/inventory/groups/{group}.
  ok(t, await call('DELETE', `${M}/v1/inventory/groups/bench`), 200, 'remove group');
  t.deepEqual((await call('GET', `${M}/v1/inventory/groups`)).json, ['lab']);
  // addDynamicGroup: POST /v2/inventory/filters {name, terms}; the id is the Location's last segment;
  // getDynamicGroups lists {id, name, terms}; removeDynamicGroup: DELETE /v2/inventory/filters/{id}.
  const made = await call('POST', `${M}/v2/inventory/filters`, { body: { name: 'qemu', terms: [{ scope: 'inventory', attribute: 'device_type', type: '$eq', value: 'qemux86-64' }] } });
  ok(t, made, 201, 'dynamic group');
  const filterId = String(made.headers.location).split('/').pop()!;
  const filters = await call('GET', `${M}/v2/inventory/filters?per_page=500`);
  fields(t, filters.json, { '[].id': 'string', '[].name': 'string', '[].terms': 'array', '[].terms.[].attribute': 'string', '[].terms.[].type': 'string' }, 'dynamic groups');
  t.true(filters.json.some((f: { id: string }) => f.id === filterId), 'the Location names the filter');
  // createDeployment to a dynamic group: POST /v2/deployments/deployments {name, artifact_name, filter_id}.
  const toFilter = await call('POST', `${M}/v2/deployments/deployments`, { body: { name: 'qemu', artifact_name: seeded.releaseName, filter_id: filterId } });
  ok(t, toFilter, 201, 'deployment to a dynamic group');
  const dep = await call('GET', `${M}/v1/deployments/deployments/${String(toFilter.headers.location).split('/').pop()}`);
  ok(t, dep, 200, 'that deployment');
  t.is(dep.json.filter?.id, filterId, 'transformDeployments reads filter.id / filter.name / filter.terms');
  ok(t, await call('PUT', `${M}/v1/deployments/deployments/${dep.json.id}/status`, { body: { status: 'aborted' } }), 204, 'abort it');
  ok(t, await call('DELETE', `${M}/v2/inventory/filters/${filterId}`), 204, 'remove dynamic group');
});

test.serial('preauthorizing a device (store/devicesSlice/thunks preauthDevice)', async (t) => {
  // POST /v2/devauth/devices {identity_data, pubkey}; a second one with the same identity is a 409,
  // which the UI shows as "A device with a matching identity data set already exists".
  const d = new SimDevice(injectTransport(t0.app));
  ok(t, await call('POST', `${M}/v2/devauth/devices`, { body: { identity_data: d.identity, pubkey: d.publicKeyPem } }), 201, 'preauthorize');
  const again = await call('POST', `${M}/v2/devauth/devices`, { body: { identity_data: d.identity, pubkey: d.publicKeyPem } });
  ok(t, again, 409, 'the same identity again');
});

test.serial('dashboard software distribution without the reporting service (store/devicesSlice/thunks getReportsDataWithoutBackendSupport)', async (t) => {
  // getAllDevicesByStatus(accepted): every accepted device, MAX_PAGE_SIZE (500) a page, until
  // X-Total-Count is reached; the chart counts inventory artifact_name / rootfs-image.version.
  const all = await searchByStatus('accepted', 1, 500);
  ok(t, all, 200, 'all accepted');
  t.is(total(t, all, 'all accepted'), all.json.length);
  const names = all.json.map((d: never) => byScope(d).inventory?.artifact_name);
  t.true(names.every((n: unknown) => typeof n === 'string'), `every accepted device has an artifact_name: ${JSON.stringify(names)}`);
});

test.serial('accepting a pending device and decommissioning (store/devicesSlice/thunks updateDeviceAuth, decommissionDevice)', async (t) => {
  const d = new SimDevice(injectTransport(t0.app));
  await d.authenticate();
  const pending = (await searchByStatus('pending')).json.map((x: { id: string }) => x.id) as string[];
  const auth = (await call('GET', `${M}/v2/devauth/devices?${pending.map((i) => `id=${i}`).join('&')}`)).json as Array<{ id: string; identity_data: Record<string, string>; auth_sets: Array<{ id: string }> }>;
  const mine = auth.find((x) => x.identity_data.serial === d.identity.serial)!;
  const put = await call('PUT', `${M}/v2/devauth/devices/${mine.id}/auth/${mine.auth_sets[0]!.id}/status`, { body: { status: 'accepted' } });
  ok(t, put, 204, 'accept');
  t.is((await d.authenticate()).status, 200);
  const del = await call('DELETE', `${M}/v2/devauth/devices/${mine.id}`);
  ok(t, del, 204, 'decommission');
});

test.serial('releases list, details and editing (store/releasesSlice/thunks)', async (t) => {
  // getReleases: GET /v2/deployments/deployments/releases?page=1&per_page=20&sort=modified:desc; the
  // total comes from X-Total-Count ("There are no Releases yet" when it is 0).
  const list = await call('GET', `${M}/v2/deployments/deployments/releases?page=1&per_page=20&sort=modified:desc`);
  ok(t, list, 200, 'releases');
  t.is(total(t, list, 'releases'), 1);
  fields(t, list.json, { '[].name': 'string', '[].artifacts': 'array', '[].artifacts.[].id': 'string', '[].artifacts.[].device_types_compatible': 'array', '[].artifacts.[].modified': 'iso-date', '[].tags': 'array' }, 'releases');
  // per_page is honoured and the total stays the whole count.
  await uploadArtifact(t0, await makeArtifact('release-2', ['qemux86-64']));
  const page = await call('GET', `${M}/v2/deployments/deployments/releases?page=1&per_page=1&sort=modified:desc`);
  t.is(page.json.length, 1);
  t.is(total(t, page, 'releases page'), 2);
  // The search box (formatReleases: name=...) and tag/type filters (tag=..., update_type=...).
  const named = await call('GET', `${M}/v2/deployments/deployments/releases?page=1&per_page=20&name=release-1&sort=modified:desc`);
  t.deepEqual(named.json.map((r: { name: string }) => r.name), ['release-1']);
  // getExistingReleaseTags / getUpdateTypes: GET /v2/deployments/releases/all/tags and /all/types.
  const alltags = await call('GET', `${M}/v2/deployments/releases/all/tags`);
  ok(t, alltags, 200, 'all tags');
  t.true(Array.isArray(alltags.json));
  const types = await call('GET', `${M}/v2/deployments/releases/all/types`);
  ok(t, types, 200, 'all types');
  t.true(types.json.includes('single-file'), `update types: ${types.body}`);
  const byType = await call('GET', `${M}/v2/deployments/deployments/releases?page=1&per_page=20&update_type=single-file`);
  t.is(byType.json.length, 2);
  // getRelease: GET /v2/deployments/deployments/releases/{name}.
  const one = await call('GET', `${M}/v2/deployments/deployments/releases/${seeded.releaseName}`);
  ok(t, one, 200, 'release');
  fields(t, one.json, { name: 'string', artifacts: 'array', 'artifacts.[].id': 'string', 'artifacts.[].description': 'string', 'artifacts.[].size': 'number', 'artifacts.[].artifact_provides': 'object', 'artifacts.[].updates': 'array', tags: 'array' }, 'release');
  // updateReleaseInfo: PATCH {notes}; setSingleReleaseTags: PUT .../tags [..].
  ok(t, await call('PATCH', `${M}/v2/deployments/deployments/releases/${seeded.releaseName}`, { body: { notes: 'lab release' } }), 204, 'notes');
  ok(t, await call('PUT', `${M}/v2/deployments/deployments/releases/${seeded.releaseName}/tags`, { body: ['lab', 'stable'] }), 204, 'tags');
  const edited = await call('GET', `${M}/v2/deployments/deployments/releases/${seeded.releaseName}`);
  t.like(edited.json, { notes: 'lab release', tags: ['lab', 'stable'] });
  t.deepEqual((await call('GET', `${M}/v2/deployments/releases/all/tags`)).json, ['lab', 'stable']);
  const tagged = await call('GET', `${M}/v2/deployments/deployments/releases?page=1&per_page=20&tag=lab`);
  t.deepEqual(tagged.json.map((r: { name: string }) => r.name), ['release-1']);
  // editArtifact: PUT /v1/deployments/artifacts/{id} {description}.
  ok(t, await call('PUT', `${M}/v1/deployments/artifacts/${seeded.artifactId}`, { body: { description: 'edited in the UI' } }), 204, 'artifact description');
  // getArtifactUrl: GET /v1/deployments/artifacts/{id}/download, data.uri.
  const url = await call('GET', `${M}/v1/deployments/artifacts/${seeded.artifactId}/download`);
  ok(t, url, 200, 'download link');
  fields(t, url.json, { uri: 'string', expire: 'iso-date' }, 'download link');
  // getArtifactInstallCount: the device search with an inventory filter on the artifact's provides
  // (rootfs-image.version here), per_page 1, count from X-Total-Count.
  const installs = await call('POST', `${M}/v2/inventory/filters/search`, {
    body: { page: 1, per_page: 1, filters: [{ scope: 'inventory', attribute: 'rootfs-image.version', type: '$eq', value: 'release-0' }], attributes: [{ scope: 'identity', attribute: 'status' }] },
  });
  ok(t, installs, 200, 'install count');
  t.is(total(t, installs, 'install count'), 1);
});

test.serial('artifact upload and single-file generation (store/releasesSlice/thunks uploadArtifact, createArtifact)', async (t) => {
  // uploadArtifact: multipart size, description, artifact.
  const content = await makeArtifact('release-3', ['qemux86-64']);
  const up = multipartBody({ size: String(content.length), description: 'from the UI' }, { field: 'artifact', name: 'release-3.mender', content });
  ok(t, await call('POST', `${M}/v1/deployments/artifacts`, { raw: { payload: up.body, contentType: up.contentType } }), 201, 'upload');
  // createArtifact: multipart name, description, device_types_compatible (joined with ","), args
  // (JSON), type=single_file, file; then polls Location with "/generate" taken out until it answers.
  const gen = multipartBody(
    { name: 'config-1', description: 'a file', device_types_compatible: 'qemux86-64,raspberrypi4', args: JSON.stringify({ filename: 'app.conf', dest_dir: '/etc/app' }), type: 'single_file' },
    { field: 'file', name: 'app.conf', content: Buffer.from('key=value\n') },
  );
  const created = await call('POST', `${M}/v1/deployments/artifacts/generate`, { raw: { payload: gen.body, contentType: gen.contentType } });
  ok(t, created, 201, 'generate');
  const location = String(created.headers.location);
  t.true(location.includes('/generate'), `the UI takes "/generate" out of the Location, which is ${location}`);
  const polled = await call('GET', location.replace('/generate', ''));
  ok(t, polled, 200, 'the generated artifact, where the UI polls for it');
  t.like(polled.json, { name: 'config-1', device_types_compatible: ['qemux86-64', 'raspberrypi4'] });
  // removeRelease: DELETE /v1/deployments/artifacts/{id} for each of the release's artifacts.
  ok(t, await call('DELETE', `${M}/v1/deployments/artifacts/${polled.json.id}`), 204, 'remove artifact');
  ok(t, await call('GET', `${M}/v2/deployments/deployments/releases/config-1`), 404, 'the release is gone with its last artifact');
});

test.serial('deployments list, wizard and report (store/deploymentsSlice/thunks)', async (t) => {
  // getDeploymentsByStatus: GET /v1/deployments/deployments?status=...&per_page=20&page=1&sort=desc,
  // total from X-Total-Count; rows read id, name, artifact_name, created, status, device_count, type.
  for (const status of ['pending', 'inprogress', 'finished', 'scheduled']) {
    const a = await call('GET', `${M}/v1/deployments/deployments?status=${status}&per_page=20&page=1&sort=desc`);
    ok(t, a, 200, `deployments ${status}`);
    total(t, a, `deployments ${status}`);
  }
  const finished = await call('GET', `${M}/v1/deployments/deployments?status=finished&per_page=20&page=1&sort=desc`);
  t.true(finished.json.some((d: { name: string }) => d.name === 'to the lab'), 'the seeded deployment is finished');
  fields(t, finished.json, { '[].id': 'string', '[].name': 'string', '[].artifact_name': 'string', '[].created': 'iso-date', '[].finished': 'iso-date', '[].status': 'string', '[].device_count': 'number', '[].type': 'string', '[].statistics.status': 'object' }, 'finished deployments');
  // The date and group filters of the finished tab.
  const from = Math.floor(Date.now() / 1000) - 3600;
  const dated = await call('GET', `${M}/v1/deployments/deployments?status=finished&per_page=20&page=1&created_after=${from}&sort=desc`);
  t.true(dated.json.length > 0 && dated.json.every((d: { created: string }) => Date.parse(d.created) >= from * 1000));
  const grouped = await call('GET', `${M}/v1/deployments/deployments?status=finished&per_page=20&page=1&search=to%20the&sort=desc`);
  t.is(grouped.json.length, 1);

  // The wizard: the device count of the target (the device search), then createDeployment:
  // POST /v1/deployments/deployments {name, artifact_name, devices, phases?, retries} or
  // POST /v1/deployments/deployments/group/{group}; the id is taken from the Location header.
  const byDevices = await call('POST', `${M}/v1/deployments/deployments`, { body: { name: seeded.second.deviceId, artifact_name: seeded.releaseName, devices: [seeded.second.deviceId], retries: 1 } });
  ok(t, byDevices, 201, 'create deployment');
  const id = String(byDevices.headers.location).split('/').pop()!;
  t.regex(id, /^[0-9a-f-]{36}$/);
  const toGroup = await call('POST', `${M}/v1/deployments/deployments/group/lab`, {
    body: { name: 'lab', artifact_name: seeded.releaseName, phases: [{ batch_size: 50 }, { batch_size: 50, start_ts: new Date(Date.now() + 3_600_000).toISOString() }], retries: 0 },
  });
  ok(t, toGroup, 201, 'create group deployment');
  const groupDeployment = await call('GET', `${M}/v1/deployments/deployments/${String(toGroup.headers.location).split('/').pop()}`);
  t.deepEqual(groupDeployment.json.groups, ['lab'], 'deriveDeploymentGroup names the target from groups');
  // getSingleDeployment: GET /v1/deployments/deployments/{id}.
  const one = await call('GET', `${M}/v1/deployments/deployments/${id}`);
  ok(t, one, 200, 'deployment');
  fields(t, one.json, { id: 'string', name: 'string', artifact_name: 'string', created: 'iso-date', status: 'string', device_count: 'number', type: 'string', 'statistics.status': 'object', artifacts: 'array' }, 'deployment');
  // The report: getDeploymentDevices GET .../{id}/devices/list?&page=1&per_page=20 (X-Total-Count),
  // rows {id, status, created, finished?, attempts}; getDeviceLog GET .../devices/{device}/log.
  const devices = await call('GET', `${M}/v1/deployments/deployments/${seeded.deploymentId}/devices/list?&page=1&per_page=20`);
  ok(t, devices, 200, 'deployment devices');
  t.is(total(t, devices, 'deployment devices'), 1);
  fields(t, devices.json, { '[].id': 'string', '[].status': 'string', '[].created': 'iso-date', '[].finished': 'iso-date', '[].log': 'boolean' }, 'deployment devices');
  const log = await call('GET', `${M}/v1/deployments/deployments/${seeded.deploymentId}/devices/${seeded.accepted.deviceId}/log`);
  ok(t, log, 200, 'device log');
  t.true(log.body.length > 0);
  const stats = await call('GET', `${M}/v1/deployments/deployments/${seeded.deploymentId}/statistics`);
  fields(t, stats.json, { failure: 'number', success: 'number', pending: 'number' }, 'statistics');
  // abortDeployment: PUT .../{id}/status {status: aborted}.
  ok(t, await call('PUT', `${M}/v1/deployments/deployments/${id}/status`, { body: { status: 'aborted' } }), 204, 'abort');
  // resetDeviceDeployments: DELETE .../deployments/devices/{id}/history.
  ok(t, await call('DELETE', `${M}/v1/deployments/deployments/devices/${seeded.second.deviceId}/history`), 204, 'reset history');
});

test.serial('audit log: entries carry actor.email and object.user.email / artifact.name / deployment.name (store/organizationSlice/thunks getAuditLogs)', async (t) => {
  // getAuditLogs: GET /v1/auditlogs/logs?page=1&per_page=20&sort=desc, total from X-Total-Count (or length).
  const logs = await call('GET', `${M}/v1/auditlogs/logs?page=1&per_page=20&sort=desc`);
  ok(t, logs, 200, 'audit log');
  t.true(total(t, logs, 'audit log') >= logs.json.length);
  fields(t, logs.json, { '[].time': 'iso-date', '[].action': 'string', '[].actor.email': 'string', '[].actor.id': 'string', '[].actor.type': 'string', '[].object.type': 'string', '[].object.id': 'string' }, 'audit log');
  t.true(logs.json.length <= 20);
  const every = (await call('GET', `${M}/v1/auditlogs/logs?page=1&per_page=500&sort=desc`)).json;
  t.is(every.length, total(t, logs, 'audit log'), 'X-Total-Count counts every entry');
  const by = (type: string) => every.filter((e: { object: { type: string } }) => e.object.type === type);
  // The list and details components read these per object type (components/auditlogs/...).
  fields(t, by('user'), { '[].object.user.email': 'string' }, 'user entries');
  fields(t, by('artifact'), { '[].object.artifact.name': 'string' }, 'artifact entries');
  fields(t, by('deployment'), { '[].object.deployment.name': 'string', '[].object.deployment.artifact_name': 'string' }, 'deployment entries');
  for (const type of ['user', 'artifact', 'deployment']) t.true(by(type).length > 0, `no ${type} entries in the seeded log`);
  // Filters: object_type, actor_id, created_after/before, sort.
  const users = await call('GET', `${M}/v1/auditlogs/logs?page=1&per_page=20&object_type=user&sort=desc`);
  t.true(users.json.length > 0 && users.json.every((e: { object: { type: string } }) => e.object.type === 'user'));
  const actor = logs.json[0].actor.id as string;
  const mine = await call('GET', `${M}/v1/auditlogs/logs?page=1&per_page=20&actor_id=${actor}&sort=desc`);
  t.true(mine.json.length > 0 && mine.json.every((e: { actor: { id: string } }) => e.actor.id === actor));
  const future = Math.floor(Date.now() / 1000) + 3600;
  const none = await call('GET', `${M}/v1/auditlogs/logs?page=1&per_page=20&created_after=${future}&sort=desc`);
  t.deepEqual(none.json, []);
  const asc = await call('GET', `${M}/v1/auditlogs/logs?page=1&per_page=200&sort=asc`);
  const times = asc.json.map((e: { time: string }) => e.time);
  t.deepEqual(times, [...times].sort(), 'sort=asc gives the oldest first');
});

test.serial('users, roles and access tokens (store/usersSlice/thunks)', async (t) => {
  // getUserList: GET /v1/useradm/users; rows read id, email, created_ts, login_ts?, roles.
  const users = await call('GET', `${M}/v1/useradm/users`);
  ok(t, users, 200, 'users');
  fields(t, users.json, { '[].id': 'string', '[].email': 'string', '[].created_ts': 'iso-date', '[].roles': 'array' }, 'users');
  // createUser: POST {email, password?, roles, send_reset_password}.
  const created = await call('POST', `${M}/v1/useradm/users`, { body: { email: 'viewer@example.com', password: 'viewer-horse-battery', roles: ['RBAC_ROLE_OBSERVER'], send_reset_password: false } });
  ok(t, created, 201, 'create user');
  // editUser: PUT /v1/useradm/users/{id} {email?, roles?, password?, current_password?}.
  ok(t, await call('PUT', `${M}/v1/useradm/users/${seeded.userId}`, { body: { email: 'operator2@example.com' } }), 204, 'edit user');
  t.is((await call('GET', `${M}/v1/useradm/users/${seeded.userId}`)).json.email, 'operator2@example.com');
  // removeUser: DELETE /v1/useradm/users/{id}.
  ok(t, await call('DELETE', `${M}/v1/useradm/users/${String(created.headers.location).split('/').pop()}`), 204, 'remove user');
  // getTokens: GET /v1/useradm/settings/tokens; generateToken POST {name, expires_in} answers the
  // token itself; revokeToken DELETE .../{id}.
  const made = await call('POST', `${M}/v1/useradm/settings/tokens`, { body: { name: 'ci', expires_in: 31536000 } });
  ok(t, made, 200, 'generate token');
  t.regex(made.body, /^[\w-]+\.[\w-]+\.[\w-]*$/);
  const tokens = await call('GET', `${M}/v1/useradm/settings/tokens`);
  ok(t, tokens, 200, 'tokens');
  fields(t, tokens.json, { '[].id': 'string', '[].name': 'string', '[].expiration_date': 'iso-date', '[].created_ts': 'iso-date' }, 'tokens');
  const ci = tokens.json.find((x: { name: string }) => x.name === 'ci');
  ok(t, await call('DELETE', `${M}/v1/useradm/settings/tokens/${ci.id}`), 204, 'revoke token');
  // The token works as a bearer token until revoked (the UI shows it once for scripts).
  t.is((await call('GET', `${M}/v1/useradm/users/me`, { token: made.body })).status, 401);
});

test.serial('integrations and webhook activity (store/organizationSlice/thunks createIntegration, getWebhookEvents)', async (t) => {
  // createIntegration: POST /iot-manager/integrations {provider, credentials}; changeIntegration:
  // PUT .../{id}/credentials; getWebhookEvents: GET /iot-manager/events?page=1&per_page=20.
  const hook = await call('POST', `${M}/v1/iot-manager/integrations`, { body: { provider: 'webhook', credentials: { type: 'http', http: { url: 'http://127.0.0.1:9/hook', secret: 'c0ffee' } } } });
  ok(t, hook, 201, 'create webhook');
  const list = await call('GET', `${M}/v1/iot-manager/integrations`);
  fields(t, list.json, { '[].id': 'string', '[].provider': 'string', '[].credentials.type': 'string' }, 'integrations');
  const events = await call('GET', `${M}/v1/iot-manager/events?page=1&per_page=20`);
  ok(t, events, 200, 'events');
  fields(t, events.json, { '[].id': 'string', '[].type': 'string', '[].time': 'iso-date', '[].data': 'object', '[].delivery_statuses': 'array' }, 'events');
  // The UI's Azure/AWS twin editor is refused with a clear error, never a silent success.
  const id = list.json[0].id as string;
  const twin = await call('PUT', `${M}/v1/iot-manager/devices/${seeded.accepted.deviceId}/state/${id}`, { body: { desired: { led: 'on' } } });
  t.is(twin.status, 404);
  t.regex(twin.json.error, /not supported/);
  ok(t, await call('DELETE', `${M}/v1/iot-manager/integrations/${id}`), 204, 'delete webhook');
});

test.serial('device connect actions from the details view (store/devicesSlice/thunks triggerDeviceUpdate)', async (t) => {
  // POST /v1/deviceconnect/devices/{id}/check-update | send-inventory: the device is not connected
  // here, so Mender's answer is a 409 "device not connected", which the UI shows as it is.
  const r = await call('POST', `${M}/v1/deviceconnect/devices/${seeded.second.deviceId}/check-update`);
  t.true(r.status === 202 || r.status === 409, `${r.status} ${r.body}`);
  if (r.status === 409) t.truthy(r.json?.error);
});
