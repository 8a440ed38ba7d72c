// The dashboard's fleet charts and the deployment's progress-over-time chart: the aggregate
// endpoints checked against a seeded fleet, then the same numbers read back from the charts'
// SVG titles in Debian's chromium (desktop and phone, light and dark; screenshots in reports/ui/).
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Store } from '../store/store.js';
import type { SqliteStore } from '../store/api.js';
import { startUiSession, type UiSession } from '../testing/ui-browser.js';
import type { FleetReport } from '../inventory/fleet-report.js';
import type { Timeline } from '../deployments/timeline.js';

declare const document: any, window: any;

const ADMIN = { email: 'charts@example.com', password: 'charts-password' };
const HOUR = 3600_000;
const DAY = 24 * HOUR;

// The fleet: [device type, installed release, last check-in (ms ago, null = never), group].
const FLEET: Array<[string | null, string | null, number | null, string | null]> = [
  ['raspberrypi4', 'release-2', 10_000, 'lab'],
  ['raspberrypi4', 'release-2', 10 * 60_000, 'lab'],
  ['raspberrypi4', 'release-2', 3 * HOUR, 'field'],
  ['raspberrypi4', 'release-1', 2 * DAY, 'field'],
  ['beaglebone', 'release-1', 2 * DAY, 'field'],
  ['beaglebone', 'release-1', 10 * DAY, null],
  ['beaglebone', 'release-2', null, 'field'],
  [null, null, 5 * 60_000, null],
];

let ui: UiSession;
let app: FastifyInstance;
let base: string;
let token: string;
const ids: string[] = [];
let depId: string;

async function seed(app: FastifyInstance) {
  const { store } = app.flipside;
  // The chart's timings are seeded into SQLite directly (the server itself only ever records "now").
  const { db } = (store as SqliteStore).sync;
  const t = Date.now();
  for (const [i, [type, release, seenAgo, group]] of FLEET.entries()) {
    const { device, authSet } = await store.recordAuthRequest(JSON.stringify({ mac: `52:54:00:00:00:${String(i).padStart(2, '0')}` }), `key-${i}`);
    await store.setAuthSetStatus(authSet.id, 'accepted');
    const attrs = [];
    if (type) attrs.push({ name: 'device_type', value: type });
    if (release) attrs.push({ name: 'artifact_name', value: release });
    if (attrs.length) await store.setInventory(device.id, 'inventory', attrs, true);
    if (group) await store.setGroup(device.id, group);
    // Seeded directly: the server itself only ever records "now".
    if (seenAgo !== null) db.prepare('INSERT OR REPLACE INTO device_checkins VALUES (?, ?)').run(device.id, new Date(t - seenAgo).toISOString());
    ids.push(device.id);
  }
  await store.recordAuthRequest(JSON.stringify({ mac: '52:54:00:00:00:99' }), 'key-pending'); // pending: not in the charts

  // A rollout to the first three devices: one succeeds, one fails, one is still pending.
  depId = randomUUID();
  const created = new Date(t - 60_000).toISOString();
  await store.insertDeployment({ id: depId, name: 'to release-2', artifact_name: 'release-2', created, finished: null, status: 'pending', device_count: 3, max_devices: null, retries: 0,
    phases: [{ id: randomUUID(), start_ts: created, device_count: 3 }], error_threshold: null, stop_reason: null, target: 'devices' }, ids.slice(0, 3).map((id) => ({ id, phase: 0 })));
  for (const [dev, statuses] of [[ids[0]!, ['downloading', 'installing', 'rebooting', 'success']], [ids[1]!, ['downloading', 'failure']]] as const) {
    for (const st of statuses) await store.setDeviceDeploymentStatus(depId, dev, st, null);
  }
  // Changes made in one millisecond share a moment; spread them 5 s apart so the chart's points are known.
  const changes = db.prepare("SELECT seq FROM deployment_device_events WHERE deployment_id = ? AND status != 'pending' ORDER BY seq").all(depId) as { seq: number }[];
  changes.forEach(({ seq }, i) => db.prepare('UPDATE deployment_device_events SET ts = ? WHERE seq = ?').run(new Date(Date.parse(created) + (i + 1) * 5000).toISOString(), seq));
}

test.before(async () => {
  ui = await startUiSession(ADMIN, seed);
  ({ app, base } = ui);
  token = await ui.tokenOf(ADMIN.email, ADMIN.password);
});

test.after.always(async () => {
  await ui?.close();
});

const get = async <T>(path: string): Promise<T> => {
  const r = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } });
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
};


test.serial('fleet aggregate: releases by device type, check-in ages and stale devices match the seeded fleet', async (t) => {
  const f = await get<FleetReport>('/ui/api/fleet');
  t.is(f.total, 8);
  t.deepEqual(f.device_types, ['raspberrypi4', 'beaglebone', 'unknown']);
  t.deepEqual(f.software, [
    { artifact_name: 'release-2', count: 4, by_device_type: { raspberrypi4: 3, beaglebone: 1 } },
    { artifact_name: 'release-1', count: 3, by_device_type: { raspberrypi4: 1, beaglebone: 2 } },
    { artifact_name: '(not reported)', count: 1, by_device_type: { unknown: 1 } },
  ]);
  t.deepEqual(f.check_ins.map((b) => [b.key, b.count]), [['hour', 3], ['day', 1], ['week', 2], ['older', 1], ['never', 1]]);
  t.is(f.stale.after_seconds, 86_400);
  t.is(f.stale.count, 4);
  t.deepEqual(f.stale.by_device_type, { raspberrypi4: 1, beaglebone: 3 });
  t.deepEqual(f.stale.by_group, { field: 3, '': 1 });
  // Never first, then the longest silent; equally old ones by id.
  t.deepEqual(f.stale.devices.map((d) => d.id), [ids[6], ids[5], ...[ids[3]!, ids[4]!].sort()]);
  t.is((await get<FleetReport>('/ui/api/fleet?stale_after=604800')).stale.count, 2);
  const bad = await fetch(`${base}/ui/api/fleet?stale_after=0`, { headers: { authorization: `Bearer ${token}` } });
  t.is(bad.status, 400);
  t.regex(await bad.text(), /stale_after/);
});

test.serial('rollout timeline: every status change recorded, counts end where the statistics are', async (t) => {
  const events = await app.flipside.store.deploymentDeviceEvents(depId);
  const of = (id: string) => events.filter((e) => e.device_id === id).map((e) => e.status);
  t.deepEqual(of(ids[0]!), ['pending', 'downloading', 'installing', 'rebooting', 'success']);
  t.deepEqual(of(ids[1]!), ['pending', 'downloading', 'failure']);
  t.deepEqual(of(ids[2]!), ['pending']);
  const tl = await get<Timeline & { status: string }>(`/ui/api/deployments/${depId}/timeline`);
  t.is(tl.device_count, 3);
  t.is(tl.points.length, 7);
  t.deepEqual(tl.points[0]!.counts, { pending: 3 });
  t.deepEqual(tl.points[1]!.counts, { pending: 2, downloading: 1 });
  t.deepEqual(tl.points.at(-1)!.counts, { success: 1, failure: 1, pending: 1 });
  const stats = await get<Record<string, number>>(`/api/management/v1/deployments/deployments/${depId}/statistics`);
  t.is(stats.success, 1);
  t.is(stats.failure, 1);
  t.is(stats.pending, 1);
  t.is((await fetch(`${base}/ui/api/deployments/${randomUUID()}/timeline`, { headers: { authorization: `Bearer ${token}` } })).status, 404);
});

test.serial('a data directory from before the event table gets its known points back', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flipside-events-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let store = new Store(dir);
  const created = '2026-12-01T10:00:00.000Z';
  const id = randomUUID();
  store.insertDeployment({ id, name: 'old', artifact_name: 'a', created, finished: null, status: 'pending', device_count: 2, max_devices: null, retries: 0,
    phases: [{ id: randomUUID(), start_ts: created, device_count: 2 }], error_threshold: null, stop_reason: null, target: 'devices' }, [{ id: 'd1', phase: 0 }, { id: 'd2', phase: 0 }]);
  store.setDeviceDeploymentStatus(id, 'd1', 'success', null);
  const finished = store.deploymentDevice(id, 'd1')!.finished;
  store.db.exec('DELETE FROM deployment_device_events');
  store.close();
  store = new Store(dir);
  t.teardown(() => store.close());
  t.deepEqual(store.deploymentDeviceEvents(id).map((e) => [e.device_id, e.status, e.ts]), [['d1', 'pending', created], ['d2', 'pending', created], ['d1', 'success', finished]]);
  // Opening again adds nothing twice.
  store.close();
  store = new Store(dir);
  t.is(store.deploymentDeviceEvents(id).length, 3);
});

/** Every <title> inside the element: the numbers the charts show. */
const titles = (sel: string) => ui.page.locator(`${sel} svg title`).allTextContents();

test.serial('browser: the dashboard charts and the rollout chart show the seeded counts', async (t) => {
  const { page } = ui;
  await ui.login(ADMIN.email, ADMIN.password);
  await page.locator('#software li[data-row="release-2"]').waitFor();
  t.deepEqual(await titles('#software'), [
    'release-2 on raspberrypi4: 3 devices', 'release-2 on beaglebone: 1 device',
    'release-1 on raspberrypi4: 1 device', 'release-1 on beaglebone: 2 devices',
    '(not reported) on unknown: 1 device',
  ]);
  t.deepEqual(await page.locator('#software .bar-rows .n').allTextContents(), ['4', '3', '1']);
  t.is(await page.locator('#software li[data-row="release-1"] svg').getAttribute('aria-label'), 'release-1: 3 devices (1 raspberrypi4, 2 beaglebone)');
  t.deepEqual(await titles('#checkins'), [
    'within 1 h on raspberrypi4: 2 devices', 'within 1 h on unknown: 1 device',
    '1 h to 1 day on raspberrypi4: 1 device',
    '1 to 7 days on raspberrypi4: 1 device', '1 to 7 days on beaglebone: 1 device',
    'over 7 days on beaglebone: 1 device',
    'never on beaglebone: 1 device',
  ]);
  t.regex((await page.locator('#stale .stale-line').textContent())!, /^4 devices have not checked in for more than 1 day: 3 beaglebone, 1 raspberrypi4; 3 in group field, 1 in no group\.$/);
  t.is(await page.locator('#stale tr[data-stale]').count(), 4);
  t.is(await page.locator('#stale tr[data-stale]').first().getAttribute('data-stale'), ids[6]!);
  await ui.shot('dashboard-charts');

  await page.getByLabel('Stale after no check-in for').selectOption('604800');
  await page.waitForFunction(() => document.querySelectorAll('#stale tr[data-stale]').length === 2);
  t.regex((await page.locator('#stale .stale-line').textContent())!, /^2 devices have not checked in for more than 7 days/);

  await page.goto(`${base}/#/deployments/${depId}`);
  await page.locator('#over-time path[data-band="success"]').waitFor();
  t.deepEqual(await titles('#over-time'), ['Succeeded: 1 at the end', 'Failed: 1 at the end', 'In progress: 0 at the end, 1 at most', 'Pending: 1 at the end, 3 at most']);
  t.regex((await page.locator('#over-time svg').getAttribute('aria-label'))!, /at the end: Succeeded 1, Failed 1, Pending 1 of 3$/);
  await page.locator('#over-time summary').click();
  t.is(await page.locator('#over-time tbody tr').count(), 7);
  const last = await page.locator('#over-time tbody tr').last().locator('td').allTextContents();
  t.deepEqual(last.slice(1), ['1', '1', '0', '0', '1']);
  await ui.shot('deployment-over-time');
  t.deepEqual(ui.problems, []);
});

test.serial('browser: a live update changes the rollout chart in place, the open table stays open', async (t) => {
  const { page } = ui;
  // Still on the deployment page with "Every change" open, from the test before.
  await page.locator('#over-time details[open]').waitFor();
  const pending = page.locator('#over-time path[data-band="pending"]');
  await pending.evaluate((p: any) => { p.dataset.kept = 'yes'; });
  await page.locator('#over-time .table-wrap').evaluate((w: any) => { w.dataset.kept = 'yes'; });
  await app.flipside.store.setDeviceDeploymentStatus(depId, ids[2]!, 'downloading', null);
  await page.locator('#over-time path[data-band="active"][data-end="1"]').waitFor();
  // The same elements, updated: no redraw from scratch (which flickers and drops a hover).
  t.is(await pending.getAttribute('data-kept'), 'yes');
  t.is(await pending.getAttribute('data-end'), '0');
  t.is(await page.locator('#over-time .table-wrap').getAttribute('data-kept'), 'yes');
  t.true(await page.locator('#over-time details').evaluate((d: any) => d.open));
  t.is(await page.locator('#over-time tbody tr').count(), 8);
  t.deepEqual((await page.locator('#over-time tbody tr').last().locator('td').allTextContents()).slice(1), ['1', '1', '0', '1', '0']);
  t.deepEqual(await titles('#over-time'), ['Succeeded: 1 at the end', 'Failed: 1 at the end', 'In progress: 1 at the end', 'Pending: 0 at the end, 3 at most']);
  t.deepEqual(ui.problems, []);
});

test.serial('browser: the charts fit a phone in dark mode; a user without ReadDevices gets no fleet charts', async (t) => {
  const { page } = ui;
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/#/`);
  await page.locator('#software li[data-row="release-2"]').waitFor();
  t.true(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
  // The bar has room on a phone: its own line under the label.
  const bar = await page.locator('#software li[data-row="release-2"] svg').boundingBox();
  t.true(bar!.width > 250);
  await ui.shot('dashboard-charts-phone-dark');
  await page.goto(`${base}/#/deployments/${depId}`);
  await page.locator('#over-time path[data-band="success"]').waitFor();
  t.true(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
  await ui.shot('deployment-over-time-phone-dark');
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 1280, height: 900 });

  const r = await fetch(`${base}/api/management/v1/useradm/users`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'ci-charts@example.com', password: 'role-password', roles: ['RBAC_ROLE_CI'] }) });
  t.is(r.status, 201);
  await ui.login('ci-charts@example.com', 'role-password');
  await page.getByRole('heading', { name: 'Recent failures' }).waitFor();
  t.is(await page.locator('#software').count(), 0);
  t.is(await page.locator('#checkins').count(), 0);
  t.deepEqual(ui.problems, []);
});
