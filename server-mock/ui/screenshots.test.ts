// Every page of the web UI at desktop and phone sizes, light and dark, on a seeded server with a
// connected Flipside device (its page with the terminal open): screenshots in reports/ui/pages/
// for people to look at, and two checks a picture would show: no page scrolls sideways on a
// phone, and nothing the page asked for failed. By default desktop light and phone dark (24
// shots, ~30 s); FLIPSIDE_UI_SHOTS=all adds desktop dark and phone light (48, ~60 s).
// The phone check runs either way.
import test from 'ava';
import { mkdirSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { startUiSession, SHOTS, type UiSession } from '../testing/ui-browser.js';
import { startConnectedDaemon, type ConnectedDaemon } from '../testing/connected-daemon.js';
import { makeArtifact, uploadArtifact } from '../testing/fixtures.js';

declare const document: any, window: any;

const ADMIN = { email: 'admin@example.com', password: 'admin-password' };
let ui: UiSession;
let dev: ConnectedDaemon;
let depId = '';

/** Eight accepted devices with inventory, one pending, a rollout half done. */
async function seed(app: FastifyInstance) {
  const { store } = app.flipside;
  const ids: string[] = [];
  const types = ['raspberrypi4', 'raspberrypi4', 'beaglebone', 'raspberrypi4', 'beaglebone', 'qemux86-64', 'raspberrypi4', 'beaglebone'];
  for (const [i, type] of types.entries()) {
    const { device, authSet } = await store.recordAuthRequest(JSON.stringify({ serial: `FS-2026-${String(1000 + i)}`, mac: `52:54:00:00:01:${String(i).padStart(2, '0')}` }), `key-${i}`);
    await store.setAuthSetStatus(authSet.id, 'accepted');
    await store.setInventory(device.id, 'inventory', [{ name: 'device_type', value: type }, { name: 'artifact_name', value: i % 3 ? 'release-2026.11' : 'release-2026.12' }, { name: 'kernel', value: 'Linux 6.6.0-flipside #1 SMP PREEMPT aarch64' }], true);
    if (i < 5) await store.setGroup(device.id, i < 3 ? 'lab' : 'field');
    ids.push(device.id);
  }
  await store.recordAuthRequest(JSON.stringify({ serial: 'FS-2026-2001', mac: '52:54:00:00:02:01' }), 'key-pending');
  depId = randomUUID();
  const created = new Date(Date.now() - 120_000).toISOString();
  await store.insertDeployment({ id: depId, name: 'release-2026.12 to the lab', artifact_name: 'release-2026.12', created, finished: null, status: 'inprogress', device_count: 5, max_devices: null, retries: 1,
    phases: [{ id: randomUUID(), start_ts: created, device_count: 5 }], error_threshold: null, stop_reason: null, target: 'devices' }, ids.slice(0, 5).map((id) => ({ id, phase: 0 })));
  for (const [i, statuses] of [[0, ['downloading', 'installing', 'rebooting', 'success']], [1, ['downloading', 'failure']], [2, ['downloading', 'installing']]] as const) {
    for (const st of statuses) await store.setDeviceDeploymentStatus(depId, ids[i]!, st, null);
  }
}

test.before(async () => {
  ui = await startUiSession(ADMIN, seed);
  const token = await ui.tokenOf(ADMIN.email, ADMIN.password);
  const admin = { app: ui.app, auth: { authorization: `Bearer ${token}` } };
  const up = await uploadArtifact(admin, await makeArtifact('release-2026.12', ['raspberrypi4', 'beaglebone']));
  if (up.statusCode !== 201) throw new Error(`upload: ${up.statusCode} ${up.body}`);
  dev = await startConnectedDaemon(ui.base, admin, '02:00:00:00:00:99', async () => ({ Connect: { Enabled: true, Terminal: 'script' } }));
  mkdirSync(join(SHOTS, 'pages'), { recursive: true });
});
test.after.always(async () => {
  await dev?.stop();
  await ui?.close();
});

const ALL_VARIANTS = [
  { name: 'desktop-light', width: 1280, height: 900, scheme: 'light' },
  { name: 'desktop-dark', width: 1280, height: 900, scheme: 'dark' },
  { name: 'phone-light', width: 390, height: 844, scheme: 'light' },
  { name: 'phone-dark', width: 390, height: 844, scheme: 'dark' },
] as const;
const VARIANTS = process.env.FLIPSIDE_UI_SHOTS === 'all' ? ALL_VARIANTS : ALL_VARIANTS.filter((v) => v.name === 'desktop-light' || v.name === 'phone-dark');

test.serial('every page at desktop and phone sizes, light and dark: nothing scrolls sideways on a phone', async (t) => {
  const { page } = ui;
  await ui.login(ADMIN.email, ADMIN.password);
  const pages: Array<[string, string, string, (() => Promise<void>)?]> = [
    ['dashboard', '#/', '#software li'],
    ['devices', '#/devices', 'main tbody tr'],
    ['devices-pending', '#/devices?status=pending', 'main tbody tr'],
    ['device', `#/devices/${dev.deviceId}`, '#connection.online', async () => {
      await page.getByRole('button', { name: 'Open terminal' }).click();
      await page.locator('#terminal[data-state=open]').waitFor();
      await page.locator('#terminal').click();
      await page.keyboard.type('uname -s; echo "screenshot-$((6*7))"\n');
      await page.waitForFunction(() => /screenshot-42/.test(document.querySelector('#terminal .xterm-rows').textContent));
    }],
    ['groups', '#/groups', 'main form'],
    ['releases', '#/releases', 'main tbody tr'],
    ['deployments', '#/deployments', 'main tbody tr, main .dep-row'],
    ['deployment-new', '#/deployments/new', 'main form'],
    ['deployment', `#/deployments/${depId}`, '#over-time path'],
    ['audit', '#/audit', 'main tbody tr'],
    ['tokens', '#/tokens', 'main form'],
    ['users', '#/users', 'tr[data-user]'],
  ];
  const overflow: string[] = [];
  for (const v of VARIANTS) {
    await page.setViewportSize({ width: v.width, height: v.height });
    await page.emulateMedia({ colorScheme: v.scheme });
    for (const [name, hash, ready, act] of pages) {
      await page.goto(`${ui.base}/${hash}`);
      await page.locator(ready).first().waitFor();
      await act?.();
      if (v.width < 500 && !(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth))) overflow.push(`${name} ${v.name}`);
      await ui.shot(`pages/${name}-${v.name}`);
    }
  }
  t.deepEqual(overflow, [], 'pages wider than a phone');
  t.deepEqual(ui.problems, []);
});
