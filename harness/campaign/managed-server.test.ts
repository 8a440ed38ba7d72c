import test from 'ava';
import Database from 'better-sqlite3';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore, type SqliteStore } from '../../server-mock/store/api.js';
import { writeRootfsArtifact } from '../host-sim/artifacts.js';
import { simRootfs } from '../host-sim/lab-board.js';
import { prepareManagedServer, templateRestore } from './managed-server.js';
import { VERSIONS } from './sim.js';

/** Every row of every table (and the AUTOINCREMENT counters), in a stable order. */
function dump(db: Database.Database, schema = 'main'): Record<string, unknown[]> {
  const tables = (db.prepare(`SELECT name FROM ${schema}.sqlite_master WHERE type = 'table' ORDER BY name`).all() as { name: string }[]).map((t) => t.name);
  return Object.fromEntries(tables.map((t) => [t, db.prepare(`SELECT * FROM ${schema}."${t}"`).all().map((r) => JSON.stringify(r)).sort()]));
}

test('a reset puts back exactly the rows of the template, trigger-written ones and counters included', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'flipside-managed-server-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const artifact = await writeRootfsArtifact(work, VERSIONS.next, simRootfs(VERSIONS.next, 64 * 1024));
  const setup = await prepareManagedServer(work, [{ name: 'managed-update', artifact, artifactName: VERSIONS.next }]);
  const [live, pristine] = [join(work, 'live'), join(work, 'pristine')];
  cpSync(setup.template, live, { recursive: true });
  cpSync(setup.template, pristine, { recursive: true });
  const store = openSqliteStore(live) as SqliteStore;
  t.teardown(() => store.close());
  const restore = templateRestore(store, join(pristine, 'flipside.db'));
  const before = dump(store.sync.db, 'pristine');
  t.deepEqual(dump(store.sync.db), before);

  // What a crash state's daemon run and retry leave: statuses moved (each adds an event row
  // through a trigger), an audit entry, inventory, a deleted row.
  const id = setup.deployments['managed-update']!;
  await store.setDeviceDeploymentStatus(id, setup.deviceId, 'downloading', null, { attempts: 1 });
  await store.setDeviceDeploymentStatus(id, setup.deviceId, 'success', null);
  await store.audit('campaign', 'test', 'deployment', id, {});
  await store.deleteInventory(setup.deviceId);
  await store.durable();
  t.notDeepEqual(dump(store.sync.db), before);

  restore();
  await store.durable();
  t.deepEqual(dump(store.sync.db), before);
  t.is((await store.deploymentDevice(id, setup.deviceId))?.status, 'pending');
});
