// Contract test: every management and device operation of Mender's published OpenAPI document
// (internal ones left out) is called on a server with seeded data, and the status, the body (ajv,
// the spec's own response schemas) and the declared headers (X-Total-Count, Link, ETag, Location)
// are checked against the spec. The spec is the oracle; where a real Mender tool disagrees with it,
// TOOL_WINS says which tool and why, and that operation is checked the tool's way.
// Operations not done yet are listed in NOT_YET, the one place that says what is missing: an entry
// that starts to conform fails the test until it is removed. NOT_SUPPORTED lists the operations
// refused on purpose (cloud IoT integrations), each with the refusal it must answer.
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { loadMenderSpec, routePattern, SERVICES, type SpecOperation, type Service } from '../testing/openapi.js';
import { startTestServer, makeArtifact, uploadArtifact, acceptedDevice, createDeployment, multipartBody, type TestServer } from '../testing/fixtures.js';
import { SimDevice, injectTransport } from '../testing/device-sim.js';
import { DeviceConnect } from '../../client/connect/device-connect.js';
import { UserSocket } from '../testing/connect-fixtures.js';
import { PROTO, SHELL } from '../../connect-protocol/protocol.js';

/** Not implemented, or implemented but not yet what the spec says: op key → why. */
const NOT_YET: Record<string, string> = {
};

/**
 * Operations flipside-server does not support, on purpose: each must answer the refusal given here
 * (checked), and counts as not conformant in the table. A device's state in one integration lives in
 * Azure IoT Hub or AWS IoT Core, which need those clouds; the only integrations here are webhooks,
 * which keep no state. Mender's iot-manager answers 404 for a webhook too (ErrUnknownIntegration in
 * its management_state.go), though the spec's PUT lists no 404.
 */
const NOT_SUPPORTED: Record<string, { why: string; status: number; error: RegExp }> = {
  'GET /api/management/v1/iot-manager/devices/{deviceId}/state/{integrationId}': {
    why: 'device state lives in Azure IoT Hub / AWS IoT Core integrations, not supported',
    status: 404,
    error: /^device state is not supported by flipside-server/,
  },
  'PUT /api/management/v1/iot-manager/devices/{deviceId}/state/{integrationId}': {
    why: 'device state lives in Azure IoT Hub / AWS IoT Core integrations, not supported',
    status: 404,
    error: /^device state is not supported by flipside-server/,
  },
};

/** Where Mender's own tools disagree with the spec, the tool wins: op key → the tool's check. */
const TOOL_WINS: Record<string, { tool: string; why: string; check(r: Measured): string[] }> = {
  'POST /api/devices/v1/authentication/auth_requests': {
    tool: 'the Mender client',
    why: 'the spec has a JSON string; Mender deviceauth answers the raw JWT as application/jwt and the client takes the whole body as the token',
    check: rawJwt,
  },
  'GET /api/devices/v1/deployments/download/configuration/{deployment_id}/{device_type}/{device_id}': {
    tool: 'the Mender client and Mender deployments',
    why: 'the spec labels the generated artifact application/json; Mender serves it as application/vnd.mender-artifact and the client reads the body as an artifact (a tar), not JSON',
    check: (m) => [
      ...(m.contentType.startsWith('application/vnd.mender-artifact') ? [] : [`content type ${m.contentType}, Mender sends application/vnd.mender-artifact`]),
      ...(m.body.startsWith('version\0') ? [] : ['body is not a Mender artifact (no leading "version" member)']),
    ],
  },
  'POST /api/management/v1/useradm/settings/tokens': {
    tool: 'Mender useradm and scripts using its answer',
    why: 'the spec has a JSON string; Mender answers the raw token as application/jwt, which `curl ... > token` scripts then send as it is',
    check: rawJwt,
  },
};

function rawJwt(m: Measured): string[] {
  const errors: string[] = [];
  if (!m.contentType.startsWith('application/jwt')) errors.push(`content type ${m.contentType}, Mender sends application/jwt`);
  if (!/^[\w-]+\.[\w-]+\.[\w-]*$/.test(m.body)) errors.push(`body is not a bare JWT: ${m.body.slice(0, 60)}`);
  return errors;
}

interface Call {
  url: string;
  /** A WebSocket upgrade on the listening server (the spec's 101), not an inject. */
  websocket?: boolean;
  body?: unknown;
  multipart?: { fields: Record<string, string>; file?: { field?: string; name?: string; content: Buffer } };
  /** The token to send; the admin's by default, a device's for device operations. */
  token?: string | null;
  headers?: Record<string, string>;
  /** The success status this call should get (one of the spec's). */
  expect: number;
}

interface Measured {
  op: SpecOperation;
  call: Call;
  status: number;
  contentType: string;
  body: string;
  headers: Record<string, string | string[] | number | undefined>;
  implemented: boolean;
  statusOk: boolean;
  errors: string[];
}

interface Seed {
  t: TestServer;
  artifactId: string;
  artifactName: string;
  /** Accepted, in group `lab`, had deployment `deploymentId` (failed, with a log). */
  deviceA: SimDevice;
  /** Accepted, spare. */
  deviceB: SimDevice;
  /** Pending: asked once, never accepted. */
  pending: SimDevice;
  deploymentId: string;
  userId: string;
  /** The listening server (WebSocket operations, and deviceA's deviceconnect link). */
  url: string;
  /** deviceA's device side of deviceconnect (Flipside's client/connect), connected. */
  connect: DeviceConnect;
  /** What deviceA's update client was asked for over deviceconnect. */
  asked: string[];
  /** Files on "deviceA" (this machine) for file transfer. */
  dir: string;
}

const fill = (path: string, params: Record<string, string>) =>
  path.replace(/\{([^}]+)\}/g, (_m, name: string) => {
    const v = params[name];
    if (v === undefined) throw new Error(`no value for {${name}} in ${path}`);
    return encodeURIComponent(v);
  });

async function newAccepted(s: Seed): Promise<SimDevice> {
  const d = await acceptedDevice(s.t, { deviceType: 'qemux86-64' });
  await d.sendInventory([{ name: 'ipv4_eth0', value: '10.0.0.2/24' }]);
  return d;
}

async function authSetOf(s: Seed, deviceId: string): Promise<string> {
  const r = await s.t.app.inject({ method: 'GET', url: `/api/management/v2/devauth/devices/${deviceId}`, headers: s.t.auth });
  return r.json<{ auth_sets: Array<{ id: string }> }>().auth_sets[0]!.id;
}

async function newUser(s: Seed): Promise<string> {
  const email = `u-${randomUUID().slice(0, 8)}@example.com`;
  const r = await s.t.app.inject({ method: 'POST', url: '/api/management/v1/useradm/users', headers: s.t.auth, payload: { email, password: 'another-horse-battery' } });
  return String(r.headers.location).split('/').pop()!;
}

/** A token of a new user (password 'another-horse-battery'). */
async function newUserToken(s: Seed): Promise<string> {
  const user = (await s.t.app.flipside.store.userById(await newUser(s)))!;
  const r = await s.t.app.inject({ method: 'POST', url: '/api/management/v1/useradm/auth/login', headers: { authorization: `Basic ${Buffer.from(`${user.email}:another-horse-battery`).toString('base64')}` } });
  if (r.statusCode !== 200) throw new Error(`login failed: ${r.statusCode} ${r.body}`);
  return r.body;
}

async function newWebhook(s: Seed): Promise<string> {
  const r = await s.t.app.inject({
    method: 'POST',
    url: '/api/management/v1/iot-manager/integrations',
    headers: s.t.auth,
    payload: { provider: 'webhook', credentials: { type: 'http', http: { url: 'http://127.0.0.1:9/hook' } } },
  });
  return String(r.headers.location).split('/').pop()!;
}

type Recipe = (s: Seed, op: SpecOperation) => Promise<Call> | Call;

/** How to call each operation that needs parameters, a body or a particular caller. */
const RECIPES: Record<string, Recipe> = {
  'GET /api/devices/v1/deployments/device/deployments/next': async (s, op) => {
    const d = await newAccepted(s);
    await createDeployment(s.t, { artifact_name: s.artifactName, devices: [d.deviceId] });
    return { url: `${op.path}?artifact_name=release-0&device_type=qemux86-64`, token: d.token!, expect: 200 };
  },
  'PUT /api/devices/v1/deployments/device/deployments/{id}/status': async (s, op) => {
    const d = await newAccepted(s);
    const id = await createDeployment(s.t, { artifact_name: s.artifactName, devices: [d.deviceId] });
    await d.checkUpdate();
    return { url: fill(op.path, { id }), token: d.token!, body: { status: 'downloading' }, expect: 204 };
  },
  'PUT /api/devices/v1/deployments/device/deployments/{id}/log': async (s, op) => {
    const d = await newAccepted(s);
    const id = await createDeployment(s.t, { artifact_name: s.artifactName, devices: [d.deviceId] });
    await d.checkUpdate();
    await d.reportStatus(id, 'failure');
    return { url: fill(op.path, { id }), token: d.token!, body: { messages: [{ timestamp: new Date().toISOString(), level: 'error', message: 'failed' }] }, expect: 204 };
  },
  // The link deployments/next gives a device with a configuration deployment.
  'GET /api/devices/v1/deployments/download/configuration/{deployment_id}/{device_type}/{device_id}': async (s) => {
    const d = await newAccepted(s);
    await s.t.app.inject({ method: 'PUT', url: `/api/management/v1/deviceconfig/configurations/device/${d.deviceId}`, headers: s.t.auth, payload: { timezone: 'UTC' } });
    const dep = await s.t.app.inject({ method: 'POST', url: `/api/management/v1/deviceconfig/configurations/device/${d.deviceId}/deploy`, headers: s.t.auth, payload: {} });
    if (dep.statusCode !== 200) throw new Error(`deploy failed: ${dep.statusCode} ${dep.body}`);
    const next = await s.t.app.inject({ method: 'GET', url: '/api/devices/v1/deployments/device/deployments/next?artifact_name=release-0&device_type=qemux86-64', headers: { authorization: `Bearer ${d.token}` } });
    const uri = new URL(next.json<{ artifact: { source: { uri: string } } }>().artifact.source.uri);
    return { url: uri.pathname + uri.search, token: null, expect: 200 };
  },
  'POST /api/management/v1/deployments/deployments': async (s, op) => ({
    url: op.path,
    body: { name: 'contract', artifact_name: s.artifactName, devices: [(await newAccepted(s)).deviceId] },
    expect: 201,
  }),
  'POST /api/management/v1/deployments/deployments/statistics/list': (s, op) => ({ url: op.path, body: { deployment_ids: [s.deploymentId] }, expect: 200 }),
  'POST /api/management/v1/deployments/deployments/group/{name}': (s, op) => ({ url: fill(op.path, { name: 'lab' }), body: { name: 'to lab', artifact_name: s.artifactName }, expect: 201 }),
  'GET /api/management/v1/deployments/deployments/{id}': (s, op) => ({ url: fill(op.path, { id: s.deploymentId }), expect: 200 }),
  'PUT /api/management/v1/deployments/deployments/{deployment_id}/status': async (s, op) => {
    const id = await createDeployment(s.t, { artifact_name: s.artifactName, devices: [(await newAccepted(s)).deviceId] });
    return { url: fill(op.path, { deployment_id: id }), body: { status: 'aborted' }, expect: 204 };
  },
  'GET /api/management/v1/deployments/deployments/{deployment_id}/statistics': (s, op) => ({ url: fill(op.path, { deployment_id: s.deploymentId }), expect: 200 }),
  'GET /api/management/v1/deployments/deployments/{deployment_id}/devices': (s, op) => ({ url: fill(op.path, { deployment_id: s.deploymentId }), expect: 200 }),
  'GET /api/management/v1/deployments/deployments/{deployment_id}/devices/list': (s, op) => ({ url: fill(op.path, { deployment_id: s.deploymentId }), expect: 200 }),
  'GET /api/management/v1/deployments/deployments/{id}/device_list': (s, op) => ({ url: fill(op.path, { id: s.deploymentId }), expect: 200 }),
  'GET /api/management/v1/deployments/deployments/{deployment_id}/devices/{device_id}/log': (s, op) => ({
    url: fill(op.path, { deployment_id: s.deploymentId, device_id: s.deviceA.deviceId! }),
    expect: 200,
  }),
  'DELETE /api/management/v1/deployments/deployments/devices/{id}': async (s, op) => {
    const d = await newAccepted(s);
    await createDeployment(s.t, { artifact_name: s.artifactName, devices: [d.deviceId] });
    return { url: fill(op.path, { id: d.deviceId! }), expect: 204 };
  },
  'GET /api/management/v1/deployments/deployments/devices/{id}': (s, op) => ({ url: fill(op.path, { id: s.deviceA.deviceId! }), expect: 200 }),
  'DELETE /api/management/v1/deployments/deployments/devices/{id}/history': async (s, op) => {
    const d = await newAccepted(s);
    const id = await createDeployment(s.t, { artifact_name: s.artifactName, devices: [d.deviceId] });
    await d.checkUpdate();
    await d.reportStatus(id, 'failure');
    return { url: fill(op.path, { id: d.deviceId! }), expect: 204 };
  },
  'POST /api/management/v1/deployments/artifacts': async (_s, op) => ({
    url: op.path,
    multipart: { fields: { description: 'uploaded' }, file: { content: await makeArtifact(`up-${randomUUID().slice(0, 8)}`, ['qemux86-64']) } },
    expect: 201,
  }),
  'POST /api/management/v1/deployments/artifacts/directupload/{id}/complete': async (s, op) => {
    const link = (await s.t.app.inject({ method: 'POST', url: `${op.path.split('/{id}')[0]}`, headers: s.t.auth })).json<{ id: string; uri: string }>();
    const content = await makeArtifact(`direct-${randomUUID().slice(0, 8)}`, ['qemux86-64']);
    const u = new URL(link.uri);
    const put = await s.t.app.inject({ method: 'PUT', url: u.pathname + u.search, headers: { 'content-type': 'application/octet-stream' }, payload: content });
    if (put.statusCode !== 200) throw new Error(`direct upload PUT failed: ${put.statusCode} ${put.body}`);
    return { url: fill(op.path, { id: link.id }), body: { size: content.length }, expect: 202 };
  },
  'POST /api/management/v1/deployments/artifacts/generate': (_s, op) => ({
    url: op.path,
    multipart: {
      fields: { name: `gen-${randomUUID().slice(0, 8)}`, description: 'generated', device_types_compatible: 'qemux86-64', type: 'single_file', args: JSON.stringify({ filename: 'hello.txt', dest_dir: '/opt' }) },
      file: { field: 'file', name: 'hello.txt', content: Buffer.from('hello\n') },
    },
    expect: 201,
  }),
  'DELETE /api/management/v1/deployments/artifacts/{id}': async (s, op) => {
    const r = await uploadArtifact(s.t, await makeArtifact(`del-${randomUUID().slice(0, 8)}`, ['qemux86-64']));
    return { url: fill(op.path, { id: String(r.headers.location).split('/').pop()! }), expect: 204 };
  },
  'GET /api/management/v1/deployments/artifacts/{id}': (s, op) => ({ url: fill(op.path, { id: s.artifactId }), expect: 200 }),
  'PUT /api/management/v1/deployments/artifacts/{id}': (s, op) => ({ url: fill(op.path, { id: s.artifactId }), body: { description: 'edited' }, expect: 204 }),
  'GET /api/management/v1/deployments/artifacts/{id}/download': (s, op) => ({ url: fill(op.path, { id: s.artifactId }), expect: 200 }),
  'DELETE /api/management/v2/deployments/deployments/releases': async (_s, op) => {
    const name = `rel-${randomUUID().slice(0, 8)}`;
    await uploadArtifact(_s.t, await makeArtifact(name, ['qemux86-64']));
    return { url: `${op.path}?name=${name}`, expect: 204 };
  },
  'GET /api/management/v2/deployments/deployments/releases/{release_name}': (s, op) => ({ url: fill(op.path, { release_name: s.artifactName }), expect: 200 }),
  'PATCH /api/management/v2/deployments/deployments/releases/{release_name}': (s, op) => ({ url: fill(op.path, { release_name: s.artifactName }), body: { notes: 'release notes' }, expect: 204 }),
  'PUT /api/management/v2/deployments/deployments/releases/{release_name}/tags': (s, op) => ({ url: fill(op.path, { release_name: s.artifactName }), body: ['stable', 'lab'], expect: 204 }),

  'POST /api/devices/v1/authentication/auth_requests': (s, op) => {
    const { body, signature } = s.deviceA.authRequest();
    return { url: op.path, body: JSON.parse(body.toString('utf8')), headers: { 'x-men-signature': signature }, token: null, expect: 200 };
  },
  'POST /api/management/v2/devauth/devices': (_s, op) => {
    const d = new SimDevice(injectTransport(_s.t.app));
    return { url: op.path, body: { identity_data: d.identity, pubkey: d.publicKeyPem }, expect: 201 };
  },
  'POST /api/management/v2/devauth/devices/search': (s, op) => ({ url: op.path, body: { status: 'accepted' }, expect: 200 }),
  'GET /api/management/v2/devauth/devices/{id}': (s, op) => ({ url: fill(op.path, { id: s.deviceA.deviceId! }), expect: 200 }),
  'DELETE /api/management/v2/devauth/devices/{id}': async (s, op) => ({ url: fill(op.path, { id: (await newAccepted(s)).deviceId! }), expect: 204 }),
  'DELETE /api/management/v2/devauth/devices/{id}/auth/{aid}': async (s, op) => {
    const id = (await newAccepted(s)).deviceId!;
    return { url: fill(op.path, { id, aid: await authSetOf(s, id) }), expect: 204 };
  },
  'PUT /api/management/v2/devauth/devices/{id}/auth/{aid}/status': async (s, op) => {
    const id = (await newAccepted(s)).deviceId!;
    return { url: fill(op.path, { id, aid: await authSetOf(s, id) }), body: { status: 'rejected' }, expect: 204 };
  },
  'GET /api/management/v2/devauth/devices/{id}/auth/{aid}/status': async (s, op) => {
    const id = s.deviceA.deviceId!;
    return { url: fill(op.path, { id, aid: await authSetOf(s, id) }), expect: 200 };
  },
  'DELETE /api/management/v2/devauth/tokens/{id}': async (s, op) => {
    const d = await newAccepted(s);
    const jti = JSON.parse(Buffer.from(d.token!.split('.')[1]!, 'base64url').toString('utf8')).jti as string;
    return { url: fill(op.path, { id: jti }), expect: 204 };
  },

  'PUT /api/devices/v1/inventory/device/attributes': (s, op) => ({
    url: op.path,
    token: s.deviceB.token!,
    body: [{ name: 'device_type', value: 'qemux86-64' }, { name: 'artifact_name', value: 'release-0' }, { name: 'cpu', value: 'x86' }],
    expect: 200,
  }),
  'PATCH /api/devices/v1/inventory/device/attributes': (s, op) => ({ url: op.path, token: s.deviceB.token!, body: [{ name: 'kernel', value: '6.1' }], expect: 200 }),
  'GET /api/management/v1/inventory/devices/{id}': (s, op) => ({ url: fill(op.path, { id: s.deviceA.deviceId! }), expect: 200 }),
  'DELETE /api/management/v1/inventory/devices/{id}': async (s, op) => ({ url: fill(op.path, { id: (await newAccepted(s)).deviceId! }), expect: 204 }),
  'PUT /api/management/v1/inventory/devices/{id}/tags': (s, op) => ({ url: fill(op.path, { id: s.deviceB.deviceId! }), body: [{ name: 'location', value: 'lab-1' }], expect: 200 }),
  'PATCH /api/management/v1/inventory/devices/{id}/tags': (s, op) => ({ url: fill(op.path, { id: s.deviceB.deviceId! }), body: [{ name: 'owner', value: 'qa' }], expect: 200 }),
  'GET /api/management/v1/inventory/devices/{id}/group': (s, op) => ({ url: fill(op.path, { id: s.deviceA.deviceId! }), expect: 200 }),
  'PUT /api/management/v1/inventory/devices/{id}/group': (s, op) => ({ url: fill(op.path, { id: s.deviceB.deviceId! }), body: { group: 'bench' }, expect: 204 }),
  'DELETE /api/management/v1/inventory/devices/{id}/group/{name}': async (s, op) => {
    const id = (await newAccepted(s)).deviceId!;
    await s.t.app.inject({ method: 'PUT', url: `/api/management/v1/inventory/devices/${id}/group`, headers: s.t.auth, payload: { group: 'gone' } });
    return { url: fill(op.path, { id, name: 'gone' }), expect: 204 };
  },
  'DELETE /api/management/v1/inventory/groups/{name}': async (s, op) => {
    const id = (await newAccepted(s)).deviceId!;
    await s.t.app.inject({ method: 'PUT', url: `/api/management/v1/inventory/devices/${id}/group`, headers: s.t.auth, payload: { group: 'doomed' } });
    return { url: fill(op.path, { name: 'doomed' }), expect: 200 };
  },
  'GET /api/management/v1/inventory/groups/{name}/devices': (_s, op) => ({ url: fill(op.path, { name: 'lab' }), expect: 200 }),
  'DELETE /api/management/v1/inventory/groups/{name}/devices': async (s, op) => {
    const id = (await newAccepted(s)).deviceId!;
    await s.t.app.inject({ method: 'PUT', url: `/api/management/v1/inventory/devices/${id}/group`, headers: s.t.auth, payload: { group: 'leaving' } });
    return { url: fill(op.path, { name: 'leaving' }), body: [id], expect: 200 };
  },
  'PATCH /api/management/v1/inventory/groups/{name}/devices': async (s, op) => ({ url: fill(op.path, { name: 'joined' }), body: [(await newAccepted(s)).deviceId], expect: 200 }),
  'POST /api/management/v2/inventory/filters/search': (_s, op) => ({
    url: op.path,
    body: { page: 1, per_page: 20, filters: [{ scope: 'identity', attribute: 'status', type: '$eq', value: 'accepted' }] },
    expect: 200,
  }),
  'POST /api/management/v2alpha1/inventory/identities/search': (_s, op) => ({ url: op.path, body: { scope: 'identity', name: 'mac', value_prefix: '02:', page: 1, per_page: 20 }, expect: 200 }),

  'POST /api/management/v1/iot-manager/integrations': (_s, op) => ({
    url: op.path,
    body: { provider: 'webhook', credentials: { type: 'http', http: { url: 'http://127.0.0.1:9/hook', secret: '0123456789abcdef' } } },
    expect: 201,
  }),
  'GET /api/management/v1/iot-manager/devices/{deviceId}/state': (s, op) => ({ url: fill(op.path, { deviceId: s.deviceA.deviceId! }), expect: 200 }),
  'DELETE /api/management/v1/iot-manager/devices/{deviceId}': (s, op) => ({ url: fill(op.path, { deviceId: s.deviceA.deviceId! }), expect: 204 }),
  'GET /api/management/v1/iot-manager/devices/{deviceId}/state/{integrationId}': async (s, op) => ({ url: fill(op.path, { deviceId: s.deviceA.deviceId!, integrationId: await newWebhook(s) }), expect: 200 }),
  'PUT /api/management/v1/iot-manager/devices/{deviceId}/state/{integrationId}': async (s, op) => ({
    url: fill(op.path, { deviceId: s.deviceA.deviceId!, integrationId: await newWebhook(s) }),
    body: { desired: { led: 'on' } },
    expect: 200,
  }),
  'DELETE /api/management/v1/iot-manager/integrations/{id}': async (s, op) => ({ url: fill(op.path, { id: await newWebhook(s) }), expect: 204 }),
  'PUT /api/management/v1/iot-manager/integrations/{id}/credentials': async (s, op) => ({
    url: fill(op.path, { id: await newWebhook(s) }),
    body: { type: 'http', http: { url: 'http://127.0.0.1:9/other', secret: 'abcdef' } },
    expect: 204,
  }),

  'GET /api/devices/v1/deviceconfig/configuration': (s, op) => ({ url: op.path, token: s.deviceA.token!, expect: 200 }),
  'PUT /api/devices/v1/deviceconfig/configuration': (s, op) => ({ url: op.path, token: s.deviceA.token!, body: { timezone: 'UTC' }, expect: 204 }),
  'GET /api/management/v1/deviceconfig/configurations/device/{deviceId}': (s, op) => ({ url: fill(op.path, { deviceId: s.deviceA.deviceId! }), expect: 200 }),
  'PUT /api/management/v1/deviceconfig/configurations/device/{deviceId}': (s, op) => ({ url: fill(op.path, { deviceId: s.deviceA.deviceId! }), body: { timezone: 'CET', ntp: 'pool.ntp.org' }, expect: 204 }),
  'POST /api/management/v1/deviceconfig/configurations/device/{deviceId}/deploy': (s, op) => ({ url: fill(op.path, { deviceId: s.deviceA.deviceId! }), body: { retries: 0 }, expect: 200 }),

  // A device of its own: deviceA's link stays up for the operations below.
  'GET /api/devices/v1/deviceconnect/connect': async (s, op) => ({ url: op.path, websocket: true, token: (await newAccepted(s)).token!, expect: 101 }),
  'GET /api/management/v1/deviceconnect/devices/{id}': (s, op) => ({ url: fill(op.path, { id: s.deviceA.deviceId! }), expect: 200 }),
  'GET /api/management/v1/deviceconnect/devices/{id}/connect': (s, op) => ({ url: fill(op.path, { id: s.deviceA.deviceId! }), websocket: true, expect: 101 }),
  // A terminal session on deviceA, run to its end: its recording is what is played back.
  'GET /api/management/v1/deviceconnect/sessions/{session_id}/playback': async (s, op) => {
    const u = await UserSocket.open(s.url, s.deviceA.deviceId!, s.t.adminToken);
    if (!(u instanceof UserSocket)) throw new Error(`terminal refused: ${u.status} ${u.body}`);
    u.send({ hdr: { proto: PROTO.shell, typ: SHELL.new, props: { terminal_width: 80, terminal_height: 24 } } });
    const sid = (await u.next())!.hdr.sid!;
    u.send({ hdr: { proto: PROTO.shell, typ: SHELL.data, sid }, body: Buffer.from('echo recorded\nexit\n') });
    await u.until((m) => m.hdr.typ === SHELL.stop);
    u.ws.close();
    await u.closed;
    return { url: `${fill(op.path, { session_id: sid })}?sleep_ms=0`, websocket: true, expect: 101 };
  },
  'POST /api/management/v1/deviceconnect/devices/{id}/check-update': (s, op) => ({ url: fill(op.path, { id: s.deviceA.deviceId! }), expect: 202 }),
  'POST /api/management/v1/deviceconnect/devices/{id}/send-inventory': (s, op) => ({ url: fill(op.path, { id: s.deviceA.deviceId! }), expect: 202 }),
  'GET /api/management/v1/deviceconnect/devices/{id}/download': (s, op) => ({ url: `${fill(op.path, { id: s.deviceA.deviceId! })}?path=${encodeURIComponent(join(s.dir, 'hello.txt'))}`, expect: 200 }),
  'PUT /api/management/v1/deviceconnect/devices/{id}/upload': (s, op) => ({
    url: fill(op.path, { id: s.deviceA.deviceId! }),
    multipart: { fields: { path: join(s.dir, 'uploaded.txt'), mode: '644' }, file: { field: 'file', name: 'uploaded.txt', content: Buffer.from('uploaded\n') } },
    expect: 201,
  }),

  'POST /api/management/v1/useradm/auth/login': (_s, op) => ({
    url: op.path,
    token: null,
    headers: { authorization: `Basic ${Buffer.from('admin@example.com:correct-horse-battery').toString('base64')}` },
    expect: 200,
  }),
  'POST /api/management/v1/useradm/auth/logout': async (s, op) => ({
    url: op.path,
    token: (await s.t.app.inject({ method: 'POST', url: '/api/management/v1/useradm/auth/login', headers: { authorization: `Basic ${Buffer.from('admin@example.com:correct-horse-battery').toString('base64')}` } })).body,
    expect: 202,
  }),
  'POST /api/management/v1/useradm/users': (_s, op) => ({ url: op.path, body: { email: `new-${randomUUID().slice(0, 8)}@example.com`, password: 'yet-another-horse' }, expect: 201 }),
  'GET /api/management/v1/useradm/users/{id}': (s, op) => ({ url: fill(op.path, { id: s.userId }), expect: 200 }),
  'PUT /api/management/v1/useradm/users/{id}': (s, op) => ({ url: fill(op.path, { id: s.userId }), body: { email: `renamed-${randomUUID().slice(0, 8)}@example.com` }, expect: 204 }),
  'DELETE /api/management/v1/useradm/users/{id}': async (s, op) => ({ url: fill(op.path, { id: await newUser(s) }), expect: 204 }),
  // A password change ends the user's other sessions: done as a user of its own, not the seed's admin.
  'PUT /api/management/v1/useradm/users/me': async (s, op) => ({ url: op.path, token: await newUserToken(s), body: { password: 'a-changed-password', current_password: 'another-horse-battery' }, expect: 204 }),
  'PUT /api/management/v2/useradm/users/me': async (s, op) => ({ url: op.path, token: await newUserToken(s), body: { password: 'a-changed-password', current_password: 'another-horse-battery' }, expect: 204 }),
  'POST /api/management/v1/useradm/settings': (_s, op) => ({ url: op.path, body: { '2fa': 'disabled', global_setting: true }, expect: 201 }),
  'POST /api/management/v1/useradm/settings/me': (_s, op) => ({ url: op.path, body: { theme: 'dark' }, expect: 201 }),
  'POST /api/management/v1/useradm/settings/tokens': (_s, op) => ({ url: op.path, body: { name: `pat-${randomUUID().slice(0, 8)}`, expires_in: 3600 }, expect: 200 }),
  'DELETE /api/management/v1/useradm/settings/tokens/{id}': async (s, op) => {
    await s.t.app.inject({ method: 'POST', url: '/api/management/v1/useradm/settings/tokens', headers: s.t.auth, payload: { name: 'doomed-token' } });
    const list = await s.t.app.inject({ method: 'GET', url: '/api/management/v1/useradm/settings/tokens', headers: s.t.auth });
    const tok = list.json<Array<{ id: string; name: string }>>().find((x) => x.name === 'doomed-token')!;
    return { url: fill(op.path, { id: tok.id }), expect: 204 };
  },
};

/** Operations that need nothing seeded; a path parameter gets a placeholder id. */
const defaultRecipe: Recipe = (_s, op) => ({
  url: op.path.replace(/\{[^}]+\}/g, () => randomUUID()),
  token: op.path.startsWith('/api/devices/') ? null : undefined,
  expect: op.successStatuses[0]!,
});

const HEADER_CHECKS = ['X-Total-Count', 'Link', 'ETag', 'Location', 'Upgrade', 'Sec-Websocket-Accept'];

function checkAgainstSpec(m: Measured): string[] {
  const errors: string[] = [];
  const spec = m.op.responses.get(m.status);
  if (!spec) return [`status ${m.status} is not in the spec (${[...m.op.responses.keys()].join(', ')})`];
  for (const h of spec.headers.filter((x) => HEADER_CHECKS.includes(x))) {
    const v = m.headers[h.toLowerCase()];
    if (v === undefined) errors.push(`header ${h} missing`);
    else if (h === 'X-Total-Count' && !/^\d+$/.test(String(v))) errors.push(`X-Total-Count is not a count: ${String(v)}`);
  }
  // A 204 has no content (RFC 9110 §15.3.5), whatever content type the spec gives it (iot-manager's
  // DELETE devices/{deviceId} gives one): no body is the only right answer.
  if (spec.contentTypes.length === 0 || m.status === 204) {
    if (m.body.length) errors.push(`body where the spec has none: ${m.body.slice(0, 120)}`);
    return errors;
  }
  const type = m.contentType.split(';')[0]!.trim();
  if (!spec.contentTypes.includes(type)) return [...errors, `content type ${type || '(none)'}, the spec has ${spec.contentTypes.join(', ')}`];
  if (type === 'application/json' && spec.validate) {
    let json: unknown;
    try {
      json = JSON.parse(m.body);
    } catch {
      return [...errors, 'body is not JSON'];
    }
    if (!spec.validate(json)) errors.push(...spec.validate.errors!.slice(0, 5).map((e) => `body${e.instancePath} ${e.message}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`));
  }
  return errors;
}

async function measure(s: Seed, op: SpecOperation): Promise<Measured> {
  const call = await (RECIPES[op.key] ?? defaultRecipe)(s, op);
  const headers: Record<string, string> = { ...call.headers };
  const token = call.token === undefined ? s.t.adminToken : call.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let payload: string | Buffer | undefined;
  if (call.multipart) {
    const mp = multipartBody(call.multipart.fields, call.multipart.file);
    headers['content-type'] = mp.contentType;
    payload = mp.body;
  } else if (call.body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(call.body);
  }
  const r = call.websocket ? await upgrade(s, call.url, headers) : await s.t.app.inject({ method: op.method as 'GET', url: call.url, headers, payload });
  const m: Measured = {
    op,
    call,
    status: r.statusCode,
    contentType: String(r.headers['content-type'] ?? ''),
    body: r.body,
    headers: r.headers as Measured['headers'],
    implemented: s.t.app.hasRoute({ method: op.method as 'GET', url: routePattern(op.path) }),
    statusOk: r.statusCode === call.expect,
    errors: [],
  };
  const tool = TOOL_WINS[op.key];
  m.errors = m.statusOk ? (tool ? tool.check(m) : checkAgainstSpec(m)) : [`status ${m.status}, expected ${call.expect}: ${r.body.slice(0, 200)}`];
  return m;
}

/** Opens a WebSocket on the listening server and closes it once open: the upgrade answer, measured. */
function upgrade(s: Seed, url: string, headers: Record<string, string>): Promise<{ statusCode: number; headers: Measured['headers']; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${s.url.replace(/^http/, 'ws')}${url}`, { headers });
    ws.once('upgrade', (res) => resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: '' }));
    ws.once('open', () => ws.close(1000));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString('utf8')));
      res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body }));
    });
    // Before the upgrade an error fails the call; after it (the socket closing) it changes nothing.
    ws.on('error', reject);
  });
}

async function seed(): Promise<Seed> {
  // A public URL with a real host name: the spec's `url` format refuses inject's localhost:80.
  const t = await startTestServer({ publicUrl: 'https://ota.example.com' });
  const artifactName = 'release-1';
  const up = await uploadArtifact(t, await makeArtifact(artifactName, ['qemux86-64']));
  if (up.statusCode !== 201) throw new Error(`upload failed: ${up.statusCode} ${up.body}`);
  const s = { t, artifactName, artifactId: String(up.headers.location).split('/').pop()! } as Seed;
  s.deviceA = await newAccepted(s);
  s.deviceB = await newAccepted(s);
  s.pending = new SimDevice(injectTransport(t.app));
  await s.pending.authenticate();
  await t.app.inject({ method: 'PUT', url: `/api/management/v1/inventory/devices/${s.deviceA.deviceId}/group`, headers: t.auth, payload: { group: 'lab' } });
  s.deploymentId = await createDeployment(t, { artifact_name: artifactName, devices: [s.deviceA.deviceId] });
  await s.deviceA.runUpdate({ fail: true });
  s.userId = await newUser(s);
  // deviceA holds a deviceconnect link through Flipside's device side, its files in a scratch dir.
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  s.url = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  s.dir = mkdtempSync(join(tmpdir(), 'flipside-contract-'));
  writeFileSync(join(s.dir, 'hello.txt'), 'hello from the device\n');
  s.asked = [];
  s.connect = new DeviceConnect({
    server: () => s.url,
    token: () => s.deviceA.token ?? null,
    tokenRefused: () => undefined,
    log: () => undefined,
    shell: { command: '/bin/sh', pty: 'pipe' },
    menderClient: { checkUpdate: () => s.asked.push('check-update'), sendInventory: () => s.asked.push('send-inventory') },
  });
  s.connect.start();
  await s.connect.connected();
  return s;
}

const ops = loadMenderSpec();
const results = new Map<string, Measured>();
let seeded: Seed;

test.before(async () => {
  seeded = await seed();
});
test.after.always(async () => {
  seeded?.connect?.stop();
  await seeded?.t.close();
  if (seeded?.dir) rmSync(seeded.dir, { recursive: true, force: true });
});

test.serial('every NOT_YET and TOOL_WINS entry names an operation of the spec', (t) => {
  const keys = new Set(ops.map((o) => o.key));
  t.deepEqual(Object.keys(NOT_YET).filter((k) => !keys.has(k)), []);
  t.deepEqual(Object.keys(NOT_SUPPORTED).filter((k) => !keys.has(k)), []);
  t.deepEqual(Object.keys(TOOL_WINS).filter((k) => !keys.has(k)), []);
  t.deepEqual(Object.keys(RECIPES).filter((k) => !keys.has(k)), []);
});

for (const op of ops) {
  test.serial(op.key, async (t) => {
    const m = await measure(seeded, op);
    results.set(op.key, m);
    t.true(op.successStatuses.includes(m.call.expect), `the recipe expects ${m.call.expect}, the spec's success statuses are ${op.successStatuses.join(', ')}`);
    const refused = NOT_SUPPORTED[op.key];
    if (refused !== undefined) {
      t.true(m.implemented, 'no route for it: it must answer its refusal');
      t.is(m.status, refused.status, `not supported (${refused.why}): expected the refusal ${refused.status}, got ${m.body.slice(0, 200)}`);
      t.regex(String((JSON.parse(m.body || '{}') as { error?: string }).error), refused.error);
      t.log(`not supported, answered ${m.status}: ${refused.why}`);
      return;
    }
    const why = NOT_YET[op.key];
    if (why !== undefined) {
      t.true(!m.implemented || !m.statusOk || m.errors.length > 0, `listed in NOT_YET (${why}) but conforms now: remove it from the list`);
      return;
    }
    t.true(m.implemented, 'no route for it');
    t.deepEqual(m.errors, [], `${m.call.url} → ${m.status}`);
    if (TOOL_WINS[op.key]) t.log(`checked as ${TOOL_WINS[op.key]!.tool} needs it, not as the spec says: ${TOOL_WINS[op.key]!.why}`);
  });
}

test.serial('the table of the issue, measured', (t) => {
  const rows: string[] = ['| service | ops in spec | implemented | status conformant | schema conformant |', '|---|---|---|---|---|'];
  const total = { n: 0, impl: 0, status: 0, schema: 0 };
  const count = (service?: Service) => {
    const ms = ops.filter((o) => !service || o.service === service).map((o) => results.get(o.key)!);
    return { n: ms.length, impl: ms.filter((m) => m.implemented).length, status: ms.filter((m) => m.implemented && m.statusOk).length, schema: ms.filter((m) => m.implemented && m.statusOk && m.errors.length === 0).length };
  };
  t.is(results.size, ops.length);
  for (const service of SERVICES) {
    const c = count(service);
    rows.push(`| ${service} | ${c.n} | ${c.impl} | ${c.status} | ${c.schema} |`);
  }
  const c = count();
  Object.assign(total, c);
  const pct = (x: number) => `${Math.round((100 * x) / total.n)}%`;
  rows.push(`| total | ${total.n} | ${total.impl} (${pct(total.impl)}) | ${total.status} | ${total.schema} (${pct(total.schema)}) |`);
  const left = ops.filter((o) => NOT_YET[o.key] !== undefined).map((o) => `  ${o.key}: ${NOT_YET[o.key]} — ${(results.get(o.key)!.errors[0] ?? '').slice(0, 100)}`);
  const refused = Object.entries(NOT_SUPPORTED).map(([k, v]) => `  ${k}: ${v.why} — answers ${results.get(k)!.status} ${results.get(k)!.body.slice(0, 100)}`);
  const tool = Object.entries(TOOL_WINS).map(([k, v]) => `  ${k}: ${v.tool} — ${v.why}`);
  console.log(`\nMender OpenAPI contract (${ops.length} operations):\n${rows.join('\n')}\nnot yet (${left.length}):\n${left.join('\n')}\nnot supported (${refused.length}):\n${refused.join('\n')}\nthe tool wins over the spec (${tool.length}):\n${tool.join('\n')}\n`);
  t.pass();
});
