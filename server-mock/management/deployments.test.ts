import test from 'ava';
import { startTestServer, uploadArtifact, conformanceArtifact, acceptedDevice, createDeployment, type TestServer } from '../testing/fixtures.js';

let s: TestServer;
test.before(async () => {
  s = await startTestServer();
  await uploadArtifact(s, conformanceArtifact('rootfs-gzip'));
});
test.after.always(async () => s?.close());

const get = async <T>(url: string) => (await s.app.inject({ method: 'GET', url, headers: s.auth })).json<T>();
const post = (url: string, payload: unknown) => s.app.inject({ method: 'POST', url, headers: s.auth, payload: payload as object });
const DEP = '/api/management/v1/deployments/deployments';

test.serial('create errors: 400 bad body, 422 unknown artifact / not accepted device, 404 unknown group', async (t) => {
  const d = await acceptedDevice(s);
  t.is((await post(DEP, { name: 'x' })).statusCode, 400);
  t.is((await post(DEP, { name: 'x', artifact_name: 'release-1' })).statusCode, 400, 'no target');
  t.is((await post(DEP, { name: 'x', artifact_name: 'release-1', devices: [d.deviceId], all_devices: true })).statusCode, 400, 'two targets');
  t.is((await post(DEP, { name: 'x', artifact_name: 'nope', devices: [d.deviceId] })).statusCode, 422);
  t.is((await post(DEP, { name: 'x', artifact_name: 'release-1', devices: ['not-a-device'] })).statusCode, 422);
  t.is((await post(`${DEP}/group/nogroup`, { name: 'x', artifact_name: 'release-1' })).statusCode, 404);
  t.is((await post(DEP, { name: 'x', artifact_name: 'release-1', devices: [d.deviceId], phases: [{ batch_size: 60 }, { batch_size: 50, start_ts: new Date(Date.now() + 1e6).toISOString() }] })).statusCode, 400);
  t.is((await post(DEP, { name: 'x', artifact_name: 'release-1', devices: [d.deviceId], retries: -1 })).statusCode, 400);
  t.is((await s.app.inject({ method: 'GET', url: `${DEP}/00000000-0000-0000-0000-000000000000`, headers: s.auth })).statusCode, 404);
  t.is((await s.app.inject({ method: 'PUT', url: `${DEP}/00000000-0000-0000-0000-000000000000/status`, headers: s.auth, payload: { status: 'aborted' } })).statusCode, 404);
  t.is((await s.app.inject({ method: 'PUT', url: `${DEP}/00000000-0000-0000-0000-000000000000/status`, headers: s.auth, payload: { status: 'paused' } })).statusCode, 400);
});

test.serial('phases: the second batch gets the update only from its start_ts', async (t) => {
  // The second phase starts `lead` ms from now. Its devices must get nothing before then, which
  // shows only if the first polls are answered in time: on a busy machine they may not be, and the
  // lead doubles until they are (a late answer proves nothing either way, so it is not judged).
  for (let lead = 1000; ; lead *= 2) {
    const devs = await Promise.all([1, 2, 3, 4].map(() => acceptedDevice(s)));
    const later = Date.now() + lead;
    const id = await createDeployment(s, { artifact_name: 'release-1', devices: devs.map((d) => d.deviceId), phases: [{ batch_size: 50 }, { start_ts: new Date(later).toISOString() }] }).catch((err: unknown) => {
      if (Date.now() < later) throw err;
      return null; // refused: its second phase started before it was created
    });
    const dep = id && (await get<{ phases: Array<{ device_count: number }>; status: string }>(`${DEP}/${id}`));
    const first = id ? await Promise.all(devs.map((d) => d.checkUpdate())) : [];
    if (Date.now() >= later) {
      t.log(`the second phase started before the first polls were answered (lead ${lead} ms): again with ${lead * 2} ms`);
      if (id) t.is((await s.app.inject({ method: 'PUT', url: `${DEP}/${id}/status`, headers: s.auth, payload: { status: 'aborted' } })).statusCode, 204);
      continue;
    }
    t.deepEqual(dep && dep.phases.map((p) => p.device_count), [2, 2]);
    t.deepEqual(first.map((r) => r.response.status).sort(), [200, 200, 204, 204]);
    while (Date.now() <= later) await new Promise((r) => setTimeout(r, later + 1 - Date.now()));
    const second = await Promise.all(devs.map((d) => d.checkUpdate()));
    t.deepEqual(second.map((r) => r.response.status), [200, 200, 200, 200]);
    return;
  }
});

test.serial('scheduled: a deployment whose first phase starts later is scheduled (v2; pending in v1, whose spec has no scheduled)', async (t) => {
  const d = await acceptedDevice(s);
  const id = await createDeployment(s, { artifact_name: 'release-1', devices: [d.deviceId], phases: [{ start_ts: new Date(Date.now() + 3600e3).toISOString() }] });
  t.is((await get<{ status: string }>(`${DEP}/${id}`)).status, 'pending');
  t.is((await d.checkUpdate()).response.status, 204);
  const v2 = await get<Array<{ id: string; status: string }>>(`/api/management/v2/deployments/deployments?status=scheduled&id=${id}`);
  t.deepEqual(v2.map((x) => [x.id, x.status]), [[id, 'scheduled']]);
});

test.serial('retries: a failed device gets the deployment again until retries run out', async (t) => {
  const d = await acceptedDevice(s);
  const id = await createDeployment(s, { artifact_name: 'release-1', devices: [d.deviceId], retries: 1 });
  t.truthy(await d.runUpdate({ fail: true }));
  let rows = await get<Array<{ status: string; attempts: number; device_type?: string }>>(`${DEP}/${id}/devices`);
  t.is(rows[0]!.status, 'pending');
  t.is(rows[0]!.attempts, 1);
  t.truthy(await d.runUpdate({ fail: true }));
  rows = await get<Array<{ status: string; attempts: number; device_type?: string }>>(`${DEP}/${id}/devices`);
  t.is(rows[0]!.status, 'failure');
  t.is(rows[0]!.device_type, 'qemux86-64');
  t.is(rows[0]!.attempts, 2);
  t.is((await d.checkUpdate()).response.status, 204);
  t.is((await get<{ status: string }>(`${DEP}/${id}`)).status, 'finished');
});

test.serial('max_devices caps the devices; all_devices; group; statistics; device lists', async (t) => {
  const devs = await Promise.all([1, 2, 3].map(() => acceptedDevice(s)));
  const capped = await createDeployment(s, { artifact_name: 'release-1', devices: devs.map((d) => d.deviceId), max_devices: 2 });
  t.is((await get<{ device_count: number }>(`${DEP}/${capped}`)).device_count, 2);
  t.is((await get<string[]>(`${DEP}/${capped}/device_list`)).length, 2);

  for (const d of devs) {
    const r = await s.app.inject({ method: 'PUT', url: `/api/management/v1/inventory/devices/${d.deviceId}/group`, headers: s.auth, payload: { group: 'canary' } });
    t.is(r.statusCode, 204);
  }
  const g = await post(`${DEP}/group/canary`, { name: 'canary rollout', artifact_name: 'release-1' });
  t.is(g.statusCode, 201);
  const gid = String(g.headers.location).split('/').pop()!;
  t.is((await get<{ device_count: number }>(`${DEP}/${gid}`)).device_count, 3);

  const all = await post(DEP, { name: 'everyone', artifact_name: 'release-1', all_devices: true });
  t.is(all.statusCode, 201);
  const aid = String(all.headers.location).split('/').pop()!;
  t.is((await get<{ device_count: number }>(`${DEP}/${aid}`)).device_count, (await s.app.flipside.store.acceptedDeviceIds()).length);

  // Oldest deployment first: the capped one for the first two devices.
  const upd = await devs[0]!.runUpdate();
  t.is(upd!.id, capped);
  const stats = await get<Record<string, number>>(`${DEP}/${capped}/statistics`);
  t.is(stats.success, 1);
  t.is(stats.pending, 1);
  const pageRows = await s.app.inject({ method: 'GET', url: `${DEP}/${capped}/devices/list?status=success`, headers: s.auth });
  t.is(pageRows.headers['x-total-count'], '1');
  const history = await get<Array<{ deployment: { id: string }; device: { id: string; status: string } }>>(`${DEP}/devices/${devs[0]!.deviceId}`);
  t.true(history.some((h) => h.deployment.id === capped && h.device.id === devs[0]!.deviceId));
  // Deleting the history hides finished deployments only; the deployment's own counts stay.
  t.is((await s.app.inject({ method: 'DELETE', url: `${DEP}/devices/${devs[0]!.deviceId}/history`, headers: s.auth })).statusCode, 204);
  const after = await get<Array<{ device: { status: string } }>>(`${DEP}/devices/${devs[0]!.deviceId}`);
  t.true(after.every((h) => !['success', 'failure', 'aborted', 'noartifact', 'already-installed', 'decommissioned'].includes(h.device.status)));
  t.is((await get<Record<string, number>>(`${DEP}/${capped}/statistics`)).success, 1);
  const listed = await get<Array<{ id: string; statistics: { status: Record<string, number> } }>>(`${DEP}?per_page=100`);
  t.is(listed.find((x) => x.id === capped)!.statistics.status.success, 1);
});

test.serial('error threshold stops the rollout once failures exceed the percentage', async (t) => {
  const devs = await Promise.all([1, 2, 3, 4, 5].map(() => acceptedDevice(s)));
  const id = await createDeployment(s, { artifact_name: 'release-1', devices: devs.map((d) => d.deviceId), error_threshold: 20 });
  await devs[0]!.runUpdate({ fail: true }); // 1/5 = 20%: not above yet
  t.not((await get<{ status: string }>(`${DEP}/${id}`)).status, 'finished');
  const { update } = await devs[1]!.checkUpdate();
  await devs[1]!.reportStatus(update!.id, 'downloading');
  await devs[2]!.runUpdate({ fail: true }); // 2/5 = 40% > 20%: stop
  const dep = await get<{ status: string; stop_reason: string; statistics: { status: Record<string, number> } }>(`${DEP}/${id}`);
  t.is(dep.status, 'finished');
  t.is(dep.stop_reason, 'error_threshold');
  t.is(dep.statistics.status.failure, 2);
  t.is(dep.statistics.status.aborted, 3);
  t.is((await devs[1]!.reportStatus(update!.id, 'installing')).status, 409);
  t.is((await devs[3]!.checkUpdate()).response.status, 204);
  const audit = await get<Array<{ action: string; object: { id: string } }>>('/api/management/v1/auditlogs/logs?object_type=deployment');
  t.true(audit.some((a) => a.action === 'deployment.stopped' && a.object.id === id));
});

test.serial('deployment to a saved filter (dynamic group)', async (t) => {
  const a = await acceptedDevice(s);
  const b = await acceptedDevice(s);
  await a.sendInventory([{ name: 'ring', value: 'beta' }]);
  await b.sendInventory([{ name: 'ring', value: 'stable' }]);
  const f = await post('/api/management/v2/inventory/filters', { name: 'beta-ring', terms: [{ scope: 'inventory', attribute: 'ring', type: '$eq', value: 'beta' }] });
  t.is(f.statusCode, 201);
  const fid = String(f.headers.location).split('/').pop()!;
  const r = await post('/api/management/v2/deployments/deployments', { name: 'beta', artifact_name: 'release-1', filter_id: fid });
  t.is(r.statusCode, 201, r.body);
  const id = String(r.headers.location).split('/').pop()!;
  t.deepEqual(await get<string[]>(`${DEP}/${id}/device_list`), [a.deviceId]);
  t.is((await post(DEP, { name: 'x', artifact_name: 'release-1', filter_id: 'nope' })).statusCode, 404);
});
