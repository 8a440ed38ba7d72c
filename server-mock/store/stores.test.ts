// The store contract on every store: SQLite always, PostgreSQL when FLIPSIDE_TEST_DATABASE_URL
// names one (ci/postgres.sh starts it). On PostgreSQL each test opens two stores (two pools, as
// two server processes would) on a fresh schema and races them on the read-modify-write steps.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { openSqliteStore, type FlipsideStore } from './api.js';
import { openPostgresStore, poolSplit, scratchSchema } from './postgres.js';
import { GROUP_ROLLED_BACK, type DeploymentRow } from './store.js';
import { PG_SCHEMA_VERSION } from './postgres-schema.js';

const PG_URL = process.env.FLIPSIDE_TEST_DATABASE_URL;

type Opened = { a: FlipsideStore; b: FlipsideStore };
const kinds: Array<[string, (t: { teardown(fn: () => Promise<void> | void): void }) => Promise<Opened>]> = [
  [
    'sqlite',
    async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'flipside-stores-'));
      const a = openSqliteStore(dir);
      t.teardown(async () => {
        await a.close();
        rmSync(dir, { recursive: true, force: true });
      });
      return { a, b: a }; // one process owns a SQLite file
    },
  ],
];
if (PG_URL) {
  kinds.push([
    'postgres',
    async (t) => {
      const scratch = await scratchSchema(PG_URL);
      const a = await openPostgresStore(scratch.database);
      const b = await openPostgresStore(scratch.database);
      t.teardown(async () => {
        await a.close();
        await b.close();
        await scratch.drop();
      });
      return { a, b };
    },
  ]);
}

function deployment(devices: number, extra: Partial<DeploymentRow> = {}): DeploymentRow {
  const created = new Date().toISOString();
  return {
    id: randomUUID(), name: 'd', artifact_name: 'release-2', created, finished: null, status: 'pending', device_count: devices, max_devices: null, retries: 0,
    phases: [{ id: randomUUID(), start_ts: created, device_count: devices }], error_threshold: null, stop_reason: null, target: 'devices', ...extra,
  };
}

for (const [kind, open] of kinds) {
  test(`${kind}: concurrent auth requests of one identity find or create one device and one auth set`, async (t) => {
    const { a, b } = await open(t);
    const idData = JSON.stringify({ mac: '52:54:00:aa:bb:cc' });
    const results = await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 ? a : b).recordAuthRequest(idData, 'key-1')));
    t.is(new Set(results.map((r) => r.device.id)).size, 1);
    t.is(new Set(results.map((r) => r.authSet.id)).size, 1);
    t.is(await a.countDevices(), 1);
    t.is((await b.authSets(results[0]!.device.id)).length, 1);
    t.is((await a.device(results[0]!.device.id))?.status, 'pending');
  });

  test(`${kind}: a preauthorized key is accepted on first contact, once`, async (t) => {
    const { a, b } = await open(t);
    const idData = JSON.stringify({ serial: 'pre-1' });
    t.truthy(await a.preauthorize(idData, 'key-p'));
    t.is(await b.preauthorize(idData, 'key-p'), undefined, 'the same identity and key twice');
    const [x, y] = await Promise.all([a.recordAuthRequest(idData, 'key-p'), b.recordAuthRequest(idData, 'key-p')]);
    t.is(x.authSet.id, y.authSet.id);
    t.is((await a.device(x.device.id))?.status, 'accepted');
  });

  test(`${kind}: a status write with ifStatus is a compare-and-set; a stale one changes nothing`, async (t) => {
    const { a, b } = await open(t);
    const d = deployment(1);
    await a.insertDeployment(d, [{ id: 'dev-1', phase: 0 }]);
    t.true(await a.setDeviceDeploymentStatus(d.id, 'dev-1', 'downloading', null, { attempts: 1, ifStatus: 'pending' }));
    t.false(await b.setDeviceDeploymentStatus(d.id, 'dev-1', 'failure', null, { ifStatus: 'pending' }), 'read pending, but it moved on');
    t.is((await b.deploymentDevice(d.id, 'dev-1'))?.status, 'downloading');
    t.is((await a.deployment(d.id))?.status, 'inprogress');
  });

  test(`${kind}: the last of many concurrent final reports finishes the deployment; every status kept`, async (t) => {
    const { a, b } = await open(t);
    const n = 40;
    const d = deployment(n);
    const ids = Array.from({ length: n }, (_, i) => `dev-${i}`);
    await a.insertDeployment(d, ids.map((id) => ({ id, phase: 0 })));
    await Promise.all(ids.map((id, i) => (i % 2 ? a : b).setDeviceDeploymentStatus(d.id, id, 'downloading', null, { ifStatus: 'pending' })));
    t.is((await a.deployment(d.id))?.status, 'inprogress');
    await Promise.all(ids.map((id, i) => (i % 2 ? b : a).setDeviceDeploymentStatus(d.id, id, i % 5 ? 'success' : 'failure', null, { ifStatus: 'downloading' })));
    const dep = (await b.deployment(d.id))!;
    t.is(dep.status, 'finished');
    t.truthy(dep.finished);
    const stats = await a.deploymentStatistics(d.id);
    t.is(stats.success, n - n / 5);
    t.is(stats.failure, n / 5);
    t.is((await a.deploymentDeviceEvents(d.id)).length, 3 * n, 'pending, downloading and the final status of each device');
  });

  test(`${kind}: aborting says whether it ended the deployment, so two processes stop it once`, async (t) => {
    const { a, b } = await open(t);
    const d = deployment(2);
    await a.insertDeployment(d, [{ id: 'x', phase: 0 }, { id: 'y', phase: 0 }]);
    const ended = await Promise.all([a.abortDeployment(d.id, 'error_threshold'), b.abortDeployment(d.id, 'aborted')]);
    t.deepEqual(ended.filter(Boolean).length, 1);
    const dep = (await a.deployment(d.id))!;
    t.is(dep.status, 'finished');
    t.truthy(dep.stop_reason);
    t.is((await b.deploymentStatistics(d.id)).aborted, 2);
  });

  test(`${kind}: the change counter moves with a write`, async (t) => {
    const { a, b } = await open(t);
    const before = await b.changeCounter();
    await a.createUser('u@example.com', 'hash');
    await a.durable();
    t.not(await b.changeCounter(), before);
  });

  test(`${kind}: inventory, groups and settings round-trip`, async (t) => {
    const { a, b } = await open(t);
    const { device } = await a.recordAuthRequest(JSON.stringify({ mac: 'm' }), 'k');
    await a.setInventory(device.id, 'inventory', [{ name: 'device_type', value: 'qemu' }, { name: 'mem', value: 512 }], true);
    await b.setInventory(device.id, 'inventory', [{ name: 'mem', value: 1024 }], false);
    const inv = await a.inventory(device.id);
    t.is(inv.find((x) => x.name === 'mem')?.value, 1024);
    t.is(inv.find((x) => x.name === 'device_type')?.value, 'qemu');
    await b.setGroupOf([device.id], 'lab');
    t.deepEqual(await a.groupMembers('lab'), [device.id]);
    const etag = (await a.saveSettings('global', { x: 1 }))!;
    t.is(await b.saveSettings('global', { x: 2 }, 'stale'), undefined);
    t.truthy(await b.saveSettings('global', { x: 3 }, etag));
    t.deepEqual((await a.settings('global'))?.body, { x: 3 });
  });
}

if (PG_URL) {
  test('postgres: a database whose schema is newer than the server is refused, saying so', async (t) => {
    const scratch = await scratchSchema(PG_URL);
    t.teardown(() => scratch.drop());
    const first = await openPostgresStore(scratch.database);
    await first.close();
    const c = postgres(PG_URL, { max: 1, onnotice: () => {} });
    await c.unsafe(`UPDATE ${scratch.database.schema}.schema_version SET version = 999`);
    await c.end();
    const err = await t.throwsAsync(openPostgresStore(scratch.database));
    t.regex(err!.message, new RegExp(`schema is version 999, newer than this server's ${PG_SCHEMA_VERSION}`));
  });
} else {
  test('postgres: skipped (FLIPSIDE_TEST_DATABASE_URL unset; ci/postgres.sh starts one)', (t) => t.pass());
}

for (const [kind, open] of kinds) {
  test(`${kind}: iot events filtered by integration before paging, newest first`, async (t) => {
    const { a } = await open(t);
    // Events 0..5; even ones delivered to integration A, every third to B as well.
    for (let i = 0; i < 6; i++) {
      const deliveries = [...(i % 2 === 0 ? [{ integration_id: 'A', success: true }] : []), ...(i % 3 === 0 ? [{ integration_id: 'B', success: false }] : [])];
      await a.recordEvent({ id: `e${i}`, type: 'device-status-changed', time: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(), data: { i } }, deliveries);
    }
    await a.addEventDelivery('e5', { integration_id: 'A' });
    const ids = async (o: { limit: number; offset: number; integrationId?: string }) => (await a.events(o)).map((e) => e.id);
    t.deepEqual(await ids({ limit: 10, offset: 0 }), ['e5', 'e4', 'e3', 'e2', 'e1', 'e0']);
    t.deepEqual(await ids({ limit: 10, offset: 0, integrationId: 'A' }), ['e5', 'e4', 'e2', 'e0']);
    t.deepEqual(await ids({ limit: 2, offset: 2, integrationId: 'A' }), ['e2', 'e0']);
    t.deepEqual(await ids({ limit: 10, offset: 0, integrationId: 'B' }), ['e3', 'e0']);
    t.deepEqual(await ids({ limit: 10, offset: 0, integrationId: "x' OR '1'='1" }), []);
  });
}

// Two server processes each throttle check-ins on their own, so a slower one may write an older
// time after a newer one: the stored time must never move backwards. Serial: it stubs Date.now.
for (const [kind, open] of kinds.filter(([k]) => k === 'postgres')) {
  test.serial(`${kind}: a check-in from another process never moves the time backwards`, async (t) => {
    const { a, b } = await open(t);
    const { device } = await a.recordAuthRequest(JSON.stringify({ mac: '52:54:00:00:00:c1' }), 'key-c');
    const later = Date.UTC(2026, 11, 3, 12, 5);
    const earlier = Date.UTC(2026, 11, 3, 12, 0);
    const realNow = Date.now;
    t.teardown(() => {
      Date.now = realNow;
    });
    Date.now = () => later;
    await a.checkIn(device.id);
    Date.now = () => earlier;
    await b.checkIn(device.id);
    t.is(await a.checkInTime(device.id), new Date(later).toISOString(), 'the older time from the other process is ignored');
    Date.now = () => later + 120_000;
    await b.checkIn(device.id);
    t.is(await a.checkInTime(device.id), new Date(later + 120_000).toISOString(), 'a newer time still moves it forward');
  });
}

for (const [kind, open] of kinds) {
  test(`${kind}: check-ins made at once all land (one statement on PostgreSQL); a removed device gets none back`, async (t) => {
    const { a } = await open(t);
    const devices = await Promise.all([1, 2, 3, 4].map(async (i) => (await a.recordAuthRequest(JSON.stringify({ mac: `52:54:00:00:01:0${i}` }), `key-${i}`)).device));
    const gone = devices[3]!;
    await Promise.all([...devices.map((d) => a.checkIn(d.id)), a.decommission(gone.id)]);
    for (const d of devices.slice(0, 3)) t.truthy(await a.checkInTime(d.id), `device ${d.id} checked in`);
    t.is(await a.checkInTime(gone.id), undefined, 'the decommissioned device has no check-in');
  });
}

for (const [kind, open] of kinds) {
  // The device API does not wait for its check-in (device/check-in.ts); this process's own reads still see it.
  test(`${kind}: a check-in not waited for is seen by the next read of this process`, async (t) => {
    const { a } = await open(t);
    // Preauthorized, so its first auth accepts it and the fleet listing (accepted devices) shows it.
    const idData = JSON.stringify({ mac: '52:54:00:00:02:01' });
    await a.preauthorize(idData, 'key-unawaited');
    const { device } = await a.recordAuthRequest(idData, 'key-unawaited');
    void a.checkIn(device.id);
    t.truthy((await a.fleetDevices()).find((d) => d.id === device.id)?.check_in_time, 'the fleet listing');
    t.truthy(await a.checkInTime(device.id));
    t.true((await a.inventory(device.id)).some((x) => x.name === 'check_in_time'));
  });
}

// ---- the deployment's status after its devices' (fleet scale, issue #19)

/** Sets a device's status behind the store's back, as a process killed before the deployment's move leaves it. */
async function rawDeviceStatus(store: FlipsideStore, deploymentId: string, deviceId: string, status: string): Promise<void> {
  const sql = 'UPDATE deployment_devices SET status = $status WHERE deployment_id = $dep AND device_id = $dev';
  if ('sync' in store) {
    (store as unknown as { sync: { db: { prepare(s: string): { run(p: object): void } } } }).sync.db.prepare(sql.replace(/\$/g, '@')).run({ status, dep: deploymentId, dev: deviceId });
    return;
  }
  await (store as unknown as { pool: postgres.Sql }).pool.unsafe('UPDATE deployment_devices SET status = $1 WHERE deployment_id = $2 AND device_id = $3', [status, deploymentId, deviceId]);
}

for (const [kind, open] of kinds) {
  test(`${kind}: settleDeploymentStatus moves a deployment its devices have left behind, once`, async (t) => {
    const { a, b } = await open(t);
    const d = deployment(2);
    await a.insertDeployment(d, [{ id: 'x', phase: 0 }, { id: 'y', phase: 0 }]);
    t.false(await a.settleDeploymentStatus(d.id), 'every device pending: nothing moves');
    await rawDeviceStatus(a, d.id, 'x', 'downloading');
    t.is((await b.deployment(d.id))?.status, 'pending');
    t.true(await b.settleDeploymentStatus(d.id));
    t.is((await a.deployment(d.id))?.status, 'inprogress');
    await rawDeviceStatus(a, d.id, 'x', 'success');
    await rawDeviceStatus(a, d.id, 'y', 'failure');
    const moved = await Promise.all([a.settleDeploymentStatus(d.id), b.settleDeploymentStatus(d.id)]);
    t.is(moved.filter(Boolean).length, 1, 'two processes: one moves it');
    const dep = (await a.deployment(d.id))!;
    t.is(dep.status, 'finished');
    t.truthy(dep.finished);
    t.false(await b.settleDeploymentStatus(d.id));
  });

  test(`${kind}: a status report's read: the device's row with its deployment, nothing for another device`, async (t) => {
    const { a, b } = await open(t);
    const d = deployment(1, { retries: 2 });
    await a.insertDeployment(d, [{ id: 'x', phase: 0 }]);
    await a.setDeviceDeploymentStatus(d.id, 'x', 'downloading', null, { ifStatus: 'pending' });
    const both = (await b.deploymentDeviceWithDeployment(d.id, 'x'))!;
    t.is(both.device.status, 'downloading');
    t.is(both.deployment.id, d.id);
    t.is(both.deployment.retries, 2);
    t.deepEqual(both.deployment.phases, d.phases);
    t.is(await b.deploymentDeviceWithDeployment(d.id, 'y'), undefined);
  });

  test(`${kind}: a status report's read with its token: the same rows as the read on its own`, async (t) => {
    const { a, b } = await open(t);
    const { device, authSet } = await a.recordAuthRequest(JSON.stringify({ mac: 'report' }), 'key-report');
    await a.setAuthSetStatus(authSet.id, 'accepted');
    await a.addDeviceToken('jti-report', device.id, authSet.id, 9e9);
    const d = deployment(1, { retries: 2 });
    await a.insertDeployment(d, [{ id: device.id, phase: 0 }]);
    await a.setDeviceDeploymentStatus(d.id, device.id, 'downloading', null, { ifStatus: 'pending' });

    const read = await b.deviceTokenAndDeploymentDevice('jti-report', d.id, device.id);
    t.is(read.tokenDeviceId, device.id);
    t.deepEqual(read.rows, await b.deploymentDeviceWithDeployment(d.id, device.id), 'field for field');
    t.is(read.rows!.device.status, 'downloading');
    t.deepEqual(read.rows!.deployment.phases, d.phases);
    t.deepEqual(await b.deviceTokenAndDeploymentDevice('jti-report', d.id, 'another-device'), { tokenDeviceId: device.id, rows: undefined });
    t.deepEqual(await b.deviceTokenAndDeploymentDevice('jti-unknown', 'no-such-deployment', device.id), { tokenDeviceId: undefined, rows: undefined });
    await a.setAuthSetStatus(authSet.id, 'rejected');
    t.is((await b.deviceTokenAndDeploymentDevice('jti-report', d.id, device.id)).tokenDeviceId, undefined, 'the rejection revoked it');
  });

  test(`${kind}: a poll's read: whom the token is for, and the device's open deployments oldest first`, async (t) => {
    const { a, b } = await open(t);
    const { device, authSet } = await a.recordAuthRequest(JSON.stringify({ mac: 'poll' }), 'key-poll');
    await a.setAuthSetStatus(authSet.id, 'accepted');
    await a.addDeviceToken('jti-poll', device.id, authSet.id, 9e9);
    const older = deployment(1, { retries: 2, created: '2026-01-01T00:00:00.000Z' });
    const newer = deployment(2, { created: '2026-01-02T00:00:00.000Z' });
    const done = deployment(3, { created: '2025-12-31T00:00:00.000Z' });
    for (const d of [older, newer, done]) await a.insertDeployment(d, [{ id: device.id, phase: 0 }]);
    await a.setDeviceDeploymentStatus(done.id, device.id, 'success', null);
    await a.setDeviceDeploymentStatus(newer.id, device.id, 'downloading', null);

    const read = await b.deviceTokenAndOpenDeployments('jti-poll', device.id);
    t.is(read.tokenDeviceId, device.id);
    t.deepEqual(read.opened, await b.openDeploymentsForDevice(device.id), 'the same rows, field for field, as the read on its own');
    t.deepEqual(read.opened.map((o) => [o.dep.id, o.status]), [[older.id, 'pending'], [newer.id, 'downloading']]);
    t.deepEqual(read.opened[0]!.dep.phases, older.phases);
    t.is(read.opened[0]!.dep.retries, 2);

    t.deepEqual(await b.deviceTokenAndOpenDeployments('jti-unknown', 'no-such-device'), { tokenDeviceId: undefined, opened: [] });
    await a.setAuthSetStatus(authSet.id, 'rejected');
    t.is((await b.deviceTokenAndOpenDeployments('jti-poll', device.id)).tokenDeviceId, undefined, 'the rejection revoked it');
  });

  test(`${kind}: a known key's token in one call: only for an accepted device and auth set`, async (t) => {
    const { a, b } = await open(t);
    const idData = JSON.stringify({ mac: 'fast' });
    const { device, authSet } = await a.recordAuthRequest(idData, 'key-1');
    t.is(await b.addTokenForAcceptedKey(idData, 'key-1', 'jti-pending', 9e9), undefined, 'pending: the full path decides');
    t.is(await a.deviceToken('jti-pending'), undefined);
    await a.setAuthSetStatus(authSet.id, 'accepted');
    t.deepEqual(await b.addTokenForAcceptedKey(idData, 'key-1', 'jti-1', 9e9), { device_id: device.id, auth_set_id: authSet.id });
    t.is((await a.deviceToken('jti-1'))?.device_id, device.id);
    t.is(await b.addTokenForAcceptedKey(idData, 'key-2', 'jti-other-key', 9e9), undefined, 'another key of the same identity');
    await b.setAuthSetStatus(authSet.id, 'rejected');
    t.is(await a.deviceToken('jti-1'), undefined, 'the rejection revoked it');
    t.is(await a.addTokenForAcceptedKey(idData, 'key-1', 'jti-2', 9e9), undefined);
    t.is(await a.deviceToken('jti-2'), undefined);
  });

  test(`${kind}: a replacing inventory write keeps only the names sent; a merging one adds`, async (t) => {
    const { a, b } = await open(t);
    const { device } = await a.recordAuthRequest(JSON.stringify({ mac: 'inv' }), 'k');
    await a.setInventory(device.id, 'inventory', [{ name: 'a', value: 1 }, { name: 'b', value: 2 }], true);
    await b.setInventory(device.id, 'inventory', [{ name: 'b', value: 3 }, { name: 'c', value: 4 }], true);
    const names = async () => (await a.inventory(device.id)).filter((x) => x.scope === 'inventory').map((x) => [x.name, x.value]);
    t.deepEqual(await names(), [['b', 3], ['c', 4]]);
    await b.setInventory(device.id, 'inventory', [{ name: 'a', value: 5 }], false);
    t.deepEqual(await names(), [['a', 5], ['b', 3], ['c', 4]]);
    await a.setInventory(device.id, 'inventory', [], true);
    t.deepEqual(await names(), []);
    t.truthy((await b.inventoryDevice(device.id))?.updated_ts);
  });

  test(`${kind}: download progress: many rows in one save, a row of a deleted deployment skipped`, async (t) => {
    const { a, b } = await open(t);
    const d = deployment(3);
    await a.insertDeployment(d, ['x', 'y', 'z'].map((id) => ({ id, phase: 0 })));
    const row = (device_id: string, deployment_id = d.id) => ({ deployment_id, device_id, artifact_id: 'art', position: 10, total: 100, served: 10, requests: 1, resumes: 0, restarts: 0, last_at: new Date().toISOString() });
    await a.saveDownloadProgress([row('x'), row('y'), row('z'), row('w', randomUUID())]);
    await b.saveDownloadProgress([{ ...row('y'), position: 100, served: 100 }]);
    const rows = await b.downloadProgressOf(d.id);
    t.deepEqual(rows.map((r) => [r.device_id, r.position]).sort(), [['x', 10], ['y', 100], ['z', 10]]);
  });
}

if (PG_URL) {
  test('postgres: a status report that moves no deployment status does not wait for the deployment row', async (t) => {
    const scratch = await scratchSchema(PG_URL);
    const store = await openPostgresStore(scratch.database);
    // One connection held in a transaction, as another process's would be.
    const pool = postgres(PG_URL, { max: 1, onnotice: () => {} });
    const holder = await pool.reserve();
    t.teardown(async () => {
      holder.release();
      await pool.end();
      await store.close();
      await scratch.drop();
    });
    const d = deployment(2);
    await store.insertDeployment(d, [{ id: 'x', phase: 0 }, { id: 'y', phase: 0 }]);
    t.true(await store.setDeviceDeploymentStatus(d.id, 'x', 'downloading', null, { ifStatus: 'pending' }));
    // Another process holds the deployment's row as the store locks it (an abort, say, or a status move).
    await holder.unsafe('BEGIN');
    await holder.unsafe(`SELECT 1 FROM ${scratch.database.schema}.deployments WHERE id = $1 FOR NO KEY UPDATE`, [d.id]);
    // Neither report moves the deployment (still inprogress, y still open): both finish while the lock is held.
    t.true(await store.setDeviceDeploymentStatus(d.id, 'x', 'installing', null, { ifStatus: 'downloading' }));
    t.true(await store.setDeviceDeploymentStatus(d.id, 'y', 'downloading', null, { ifStatus: 'pending' }));
    await holder.unsafe('COMMIT');
    t.is((await store.deployment(d.id))?.status, 'inprogress');
  });
}

// ---- big writes that yield to the event loop (fleet scale, issue #19)

/** Counts event-loop turns (check phases) until stopped. */
function turnCounter(): { stop(): number } {
  let turns = 0;
  let stopped = false;
  const tick = (): void => {
    if (stopped) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  return { stop: () => ((stopped = true), turns) };
}

const manyDevices = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `dev-${String(i).padStart(5, '0')}`, phase: i < n / 10 ? 0 : 1 }));

for (const [kind, open] of kinds) {
  test(`${kind}: a deployment of thousands of devices is stored whole while the event loop keeps turning`, async (t) => {
    const { a } = await open(t);
    const d = deployment(1200);
    const turns = turnCounter();
    await a.insertDeployment(d, manyDevices(1200));
    t.true(turns.stop() >= 2, 'other work ran while it was stored');
    t.is((await a.deploymentDevices(d.id)).length, 1200);
    t.is((await a.deploymentStatistics(d.id)).pending, 1200);
  });

  test(`${kind}: a deployment of thousands of devices that fails late leaves nothing behind`, async (t) => {
    const { a } = await open(t);
    const d = deployment(1200);
    const devices = manyDevices(1200);
    // The same device twice, in the last slice: the primary key refuses it.
    await t.throwsAsync(a.insertDeployment(d, [...devices, devices[0]!]), { any: true }); // SqliteError is not an Error here
    t.is(await a.deployment(d.id), undefined);
    t.is((await a.deploymentDevices(d.id)).length, 0);
  });
}

test('sqlite: writes made while a big deployment is stored wait for its commit, and go back with it', async (t) => {
  const [, open] = kinds[0]!;
  const { a } = await open(t);
  // Succeeds: a write made between its slices is durable only once the whole deployment is.
  const order: string[] = [];
  const stored = a.insertDeployment(deployment(1200), manyDevices(1200)).then(() => order.push('deployment'));
  await new Promise((r) => setImmediate(r));
  await a.saveSettings('during', { n: 1 });
  const durable = a.durable()!.then(() => order.push('other write durable'));
  await Promise.all([stored, durable]);
  t.deepEqual(order, ['deployment', 'other write durable']);
  // Fails in its last slice: the whole group goes back, the other write with it, and its reply is told.
  const devices = manyDevices(1200);
  const d = deployment(1200);
  const failing = a.insertDeployment(d, [...devices, devices[0]!]);
  await new Promise((r) => setImmediate(r));
  await a.saveSettings('lost', { n: 2 });
  const told = a.durable()!;
  await t.throwsAsync(failing, { any: true });
  await t.throwsAsync(told, { code: GROUP_ROLLED_BACK });
  t.is(await a.settings('lost'), undefined);
  t.is(await a.deployment(d.id), undefined);
  t.truthy(await a.settings('during'));
});

// The webhook outbox (integrations/webhooks.ts): on PostgreSQL `a` and `b` are two processes.
for (const [kind, open] of kinds) {
  test(`${kind}: webhook outbox: leased deliveries wait for their lease; claims never overlap; one outcome is recorded`, async (t) => {
    const { a, b } = await open(t);
    const t0 = Date.UTC(2026, 11, 4, 0, 0);
    const event = { id: 'ev-1', type: 'device-status-changed', time: new Date(t0).toISOString(), data: { id: 'dev-1' } };
    await a.recordWebhookEvent(event, ['hook-1', 'hook-2', 'hook-3'], '{"id":"ev-1"}', 'proc-a', t0, t0 + 60_000);
    t.deepEqual((await a.events({ limit: 10, offset: 0 })).map((e) => [e.id, e.delivery_statuses]), [['ev-1', []]], 'the event is recorded with its deliveries');
    t.deepEqual(await b.claimWebhookDeliveries('proc-b', t0 + 1000, t0 + 1000, 60_000, 10), [], 'held by proc-a');

    // proc-a died: its leases freed, two processes claim at once and share the three without overlap.
    t.is(await b.releaseWebhookLeases('proc-a'), 3);
    const [x, y] = await Promise.all([a.claimWebhookDeliveries('proc-x', t0 + 2000, t0 + 2000, 120_000, 2), b.claimWebhookDeliveries('proc-y', t0 + 2000, t0 + 2000, 120_000, 2)]);
    const claimed = [...x, ...y].map((r) => r.integration_id).sort();
    t.deepEqual(claimed, ['hook-1', 'hook-2', 'hook-3']);
    t.like([...x, ...y][0], { event_id: 'ev-1', body: '{"id":"ev-1"}', attempts: 0, next_at: t0 });
    const mine = x.find((r) => r.integration_id === 'hook-1') ? 'proc-x' : 'proc-y';

    // A failed attempt: only the holder schedules the retry, which waits until it is due.
    t.false(await a.scheduleWebhookRetry('ev-1', 'hook-1', 'proc-other', 1, t0 + 10_000, t0 + 70_000));
    t.true(await a.scheduleWebhookRetry('ev-1', 'hook-1', mine, 1, t0 + 10_000, t0 + 70_000));
    t.deepEqual(await b.claimWebhookDeliveries('proc-z', t0 + 69_000, t0 + 69_000, 60_000, 10), [], 'due, but its lease still runs');
    // The holder stalled past its lease: another process takes it, with the attempts made so far.
    t.like(await b.claimWebhookDeliveries('proc-z', t0 + 70_000, t0 + 70_000, 60_000, 10), [{ integration_id: 'hook-1', attempts: 1, next_at: t0 + 10_000 }]);
    t.false(await a.scheduleWebhookRetry('ev-1', 'hook-1', mine, 2, t0 + 80_000, t0 + 140_000), 'the stalled holder learns it lost the lease');

    // Both end it (at least once): the outcome is recorded once.
    const ends = await Promise.all([a.finishWebhookDelivery('ev-1', 'hook-1', { integration_id: 'hook-1' }), b.finishWebhookDelivery('ev-1', 'hook-1', { integration_id: 'hook-1' })]);
    t.deepEqual(ends.sort(), [false, true]);
    t.true(await b.finishWebhookDelivery('ev-1', 'hook-2', { integration_id: 'hook-2' }));
    t.deepEqual((await a.events({ limit: 10, offset: 0 }))[0]!.delivery_statuses, [{ integration_id: 'hook-1' }, { integration_id: 'hook-2' }]);

    // A sweep looks ahead: a free delivery due within dueBy is claimed; leased until its due time + lease.
    t.is(await a.releaseWebhookLeases(null), 1, 'hook-3 was still leased');
    t.deepEqual(await a.claimWebhookDeliveries('proc-s', t0 - 5000, t0 - 1, 1000, 10), [], 'not due by then');
    t.like(await a.claimWebhookDeliveries('proc-s', t0 - 5000, t0, 1000, 10), [{ integration_id: 'hook-3' }]);
    t.deepEqual(await b.claimWebhookDeliveries('proc-t', t0 + 999, t0 + 999, 1000, 10), [], 'leased until due time + 1 s');
    t.is((await b.claimWebhookDeliveries('proc-t', t0 + 1000, t0 + 1000, 1000, 10)).length, 1);
  });
}

test('postgres pool split: half pipelined queries, half transactions, at least one of each; a bad size is refused', (t) => {
  t.deepEqual(poolSplit(10), { queries: 5, transactions: 5 });
  t.deepEqual(poolSplit(7), { queries: 4, transactions: 3 });
  t.deepEqual(poolSplit(2), { queries: 1, transactions: 1 });
  t.deepEqual(poolSplit(1), { queries: 1, transactions: 1 });
  t.throws(() => poolSplit(0), { message: /database pool size 0: a whole number of connections, 1 or more/ });
  t.throws(() => poolSplit(2.5), { message: /database pool size 2.5/ });
});
