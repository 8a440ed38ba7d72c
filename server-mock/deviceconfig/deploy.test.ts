// deviceconfig deploy: the configuration becomes a deployment of that one device; deployments/next
// gives the device a signed link to an artifact generated from it (a mender-configure payload with
// the configuration as meta-data), which our reader and Debian's mender-artifact both read.
import { Readable } from 'node:stream';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { startTestServer, acceptedDevice } from '../testing/fixtures.js';
import { SimDevice, injectTransport } from '../testing/device-sim.js';
import { readArtifact } from '../../artifact/reader.js';
import { findPeer, testWithPeers } from '../../test-support/mender-peers.js';

const { test } = testWithPeers('mender-artifact');
const MGMT = '/api/management/v1/deviceconfig/configurations/device';

test('a deployed configuration reaches the device as a mender-configure artifact, and the deployment finishes', async (t) => {
  const s = await startTestServer();
  t.teardown(() => s.close());
  const d = await acceptedDevice(s, { deviceType: 'raspberrypi4' });
  const id = d.deviceId!;
  const config = { timezone: 'Europe/Oslo', 'ntp server': 'pool.ntp.org' };
  t.is((await s.app.inject({ method: 'PUT', url: `${MGMT}/${id}`, headers: s.auth, payload: config })).statusCode, 204);
  const dep = await s.app.inject({ method: 'POST', url: `${MGMT}/${id}/deploy`, headers: s.auth, payload: { retries: 1 } });
  t.is(dep.statusCode, 200, dep.body);
  const deploymentId = dep.json<{ deployment_id: string }>().deployment_id;
  const view = (await s.app.inject({ method: 'GET', url: `${MGMT}/${id}`, headers: s.auth })).json<{ deployment_id: string }>();
  t.is(view.deployment_id, deploymentId);
  const mgmt = (await s.app.inject({ method: 'GET', url: `/api/management/v1/deployments/deployments/${deploymentId}`, headers: s.auth })).json<{ type: string; device_count: number; name: string }>();
  t.is(mgmt.type, 'configuration');
  t.is(mgmt.device_count, 1);

  const { update } = await d.checkUpdate();
  t.truthy(update);
  t.is(update!.id, deploymentId);
  t.is(update!.artifact.artifact_name, mgmt.name);
  t.deepEqual(update!.artifact.device_types_compatible, ['raspberrypi4']);
  const dl = await d.download(update!.artifact.source.uri);
  t.is(dl.status, 200);
  t.regex(String(dl.headers['content-type']), /application\/vnd\.mender-artifact/);
  const headers = await readArtifact(Readable.from([dl.body]));
  t.is(headers.name, mgmt.name);
  t.is(headers.payloads.length, 1);
  t.is(headers.payloads[0]!.type, 'mender-configure');
  t.deepEqual(headers.payloads[0]!.metaData, config);
  t.deepEqual(headers.payloads[0]!.files, []);
  t.deepEqual(headers.payloads[0]!.typeInfo.clears_artifact_provides, ['data-partition.mender-configure.*']);
  t.is(headers.payloads[0]!.typeInfo.artifact_provides?.['data-partition.mender-configure.version'], mgmt.name);

  // Debian's mender-artifact reads it the same way.
  const dir = mkdtempSync(join(tmpdir(), 'flipside-config-artifact-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'config.mender'), dl.body);
  const read = await execa(findPeer('mender-artifact')!, ['read', join(dir, 'config.mender')]);
  t.regex(read.stdout, /Type:\s+mender-configure/);
  t.regex(read.stdout, /Europe\/Oslo/);

  for (const status of ['downloading', 'installing', 'success']) t.is((await d.reportStatus(deploymentId, status)).status, 204);
  const done = (await s.app.inject({ method: 'GET', url: `/api/management/v1/deployments/deployments/${deploymentId}`, headers: s.auth })).json<{ status: string }>();
  t.is(done.status, 'finished');
  t.is((await d.checkUpdate()).update, null, 'nothing more to install');
});

test('configuration links: bent, expired or unsigned links and other devices get nothing', async (t) => {
  const s = await startTestServer();
  t.teardown(() => s.close());
  const d = await acceptedDevice(s);
  const other = await acceptedDevice(s);
  await s.app.inject({ method: 'PUT', url: `${MGMT}/${d.deviceId}`, headers: s.auth, payload: { a: 'b' } });
  t.is((await s.app.inject({ method: 'POST', url: `${MGMT}/${d.deviceId}/deploy`, headers: s.auth, payload: {} })).statusCode, 200);
  const { update } = await d.checkUpdate();
  const link = new URL(update!.artifact.source.uri);
  const get = (url: string) => s.app.inject({ method: 'GET', url });
  t.is((await get(link.pathname + link.search)).statusCode, 200);
  // Another device's id, or another device type, in a signed link: the signature no longer fits.
  t.is((await get(link.pathname.replace(d.deviceId!, other.deviceId!) + link.search)).statusCode, 403);
  t.is((await get(link.pathname.replace('/qemux86-64/', '/other-type/') + link.search)).statusCode, 403);
  const expired = new URLSearchParams(link.search);
  expired.set('x-men-expire', '2020-01-01T00:00:00.000Z');
  t.is((await get(`${link.pathname}?${expired}`)).statusCode, 403);
  t.is((await get(link.pathname)).statusCode, 400);
  t.is((await other.checkUpdate()).update, null, 'the other device has no configuration deployment');
  // Only accepted devices are known to deviceconfig.
  const pending = new SimDevice(injectTransport(s.app));
  await pending.authenticate();
  const refused = await s.app.inject({ method: 'POST', url: `${MGMT}/${pending.deviceId ?? (await s.app.flipside.store.listDevices({ limit: 10, offset: 0 })).find((x) => x.status === 'pending')!.id}/deploy`, headers: s.auth, payload: {} });
  t.is(refused.statusCode, 404);
  t.regex(refused.body, /pending, not accepted/);
  t.is((await s.app.inject({ method: 'POST', url: `${MGMT}/${d.deviceId}/deploy`, headers: s.auth, payload: { retries: -1 } })).statusCode, 400);
});
