// The client's device API code (client/api/) against the real reference server over HTTPS with its generated private CA:
// authenticate (pending → accepted through the management API → token), inventory, check for
// an update, download it with the resuming reader, report statuses, see an abort as 409.
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, acceptDevice, uploadArtifact, makeArtifact, createDeployment } from './testing/fixtures.js';
import { ensureTls } from './tls.js';
import { createDeviceKey } from '../client/identity/device-key.js';
import { identityJson } from '../client/identity/identity.js';
import { collectInventory } from '../client/inventory/collect.js';
import { InventorySender } from '../client/inventory/send.js';
import { ApiClient } from '../client/api/client.js';
import { checkUpdate, reportStatus } from '../client/api/deployments.js';
import { downloadWithResume } from '../client/api/download.js';
import { DeploymentAborted, NetworkError, NotAuthorized } from '../client/api/errors.js';
import { loadServerCa } from '../client/api/http.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('full device session against the reference server over TLS', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flipside-srv-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const tls = await ensureTls(join(dir, 'server'));
  const s = await startTestServer({ dataDir: join(dir, 'server'), https: { key: tls.key, cert: tls.cert } });
  t.teardown(s.close);
  await s.app.listen({ port: 0, host: '127.0.0.1' });
  const url = `https://127.0.0.1:${(s.app.server.address() as { port: number }).port}`;

  const identity = new Map([
    ['mac', ['02:00:00:00:00:42']],
    ['serial', ['sn-42']],
  ]);
  const key = await createDeviceKey(join(dir), 'ecdsa-p256');
  const ca = await loadServerCa(tls.caPath);

  // Without the private CA the server is not trusted.
  const untrusting = new ApiClient({ servers: [url], key, identity: async () => identityJson(identity) });
  await t.throwsAsync(untrusting.authenticate(), { instanceOf: NetworkError });

  const api = new ApiClient({ servers: [url], key, identity: async () => identityJson(identity), ca });
  await t.throwsAsync(api.authenticate(), { instanceOf: NotAuthorized });
  const deviceId = await acceptDevice(s, { mac: '02:00:00:00:00:42', serial: 'sn-42' });
  await api.authenticate();
  t.truthy(api.token);

  const attrs = await collectInventory({ dir: join(dir, 'no-scripts'), deviceType: 'qemux86-64', provides: { artifact_name: 'release-1' } });
  const sender = new InventorySender(api, dir);
  t.is(await sender.send(attrs), 'sent');
  const inv = await s.app.inject({ method: 'GET', url: `/api/management/v1/inventory/devices/${deviceId}`, headers: s.auth });
  const names = (inv.json() as { attributes: Array<{ name: string }> }).attributes.map((a) => a.name);
  t.true(['artifact_name', 'device_type', 'mender_client_version'].every((n) => names.includes(n)));

  const provides = { artifact_name: 'release-1', device_type: 'qemux86-64' };
  t.is(await checkUpdate(api, provides), null);

  const artifact = await makeArtifact('release-2', ['qemux86-64'], { content: Buffer.alloc(200_000, 3) });
  t.is((await uploadArtifact(s, artifact)).statusCode, 201);
  const depId = await createDeployment(s, { artifact_name: 'release-2', devices: [deviceId] });
  const u = await checkUpdate(api, provides);
  t.is(u?.id, depId);
  t.is(u?.artifactName, 'release-2');
  t.deepEqual(u?.deviceTypes, ['qemux86-64']);

  await reportStatus(api, depId, 'downloading');
  const chunks: Buffer[] = [];
  for await (const c of downloadWithResume(u!.uri, { ca })) chunks.push(c as Buffer);
  t.is(sha(Buffer.concat(chunks)), sha(artifact));
  await reportStatus(api, depId, 'installing');
  await reportStatus(api, depId, 'rebooting');
  await reportStatus(api, depId, 'success');
  t.is(await checkUpdate(api, { artifact_name: 'release-2', device_type: 'qemux86-64' }), null);

  // An aborted deployment answers the next status report with 409.
  t.is((await uploadArtifact(s, await makeArtifact('release-3', ['qemux86-64']))).statusCode, 201);
  const dep3 = await createDeployment(s, { artifact_name: 'release-3', devices: [deviceId] });
  const u3 = await checkUpdate(api, { artifact_name: 'release-2', device_type: 'qemux86-64' });
  t.is(u3?.id, dep3);
  await reportStatus(api, dep3, 'downloading');
  const abort = await s.app.inject({ method: 'PUT', url: `/api/management/v1/deployments/deployments/${dep3}/status`, headers: s.auth, payload: { status: 'aborted' } });
  t.is(abort.statusCode, 204);
  await t.throwsAsync(reportStatus(api, dep3, 'installing', undefined, { sleep: async () => undefined }), { instanceOf: DeploymentAborted });
});
