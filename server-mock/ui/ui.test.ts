// The web UI against a real server (buildServer on a temp data dir, plain HTTP on 127.0.0.1)
// driven by Debian's chromium through playwright-core, with simulated devices that sign their
// auth requests and report deployment progress. Screenshots go to reports/ui/.
import test from 'ava';
import http from 'node:http';
import { mkdtempSync, rmSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { CHROMIUM, CHROMIUM_ARGS } from '../../test-support/chromium.js';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildServer } from '../app.js';
import { createUser } from '../management/useradm.js';
import { SimDevice, httpTransport } from '../testing/device-sim.js';
import { CONFORMANCE_DIR } from '../testing/fixtures.js';
import { uiPlugin, CSP } from './index.js';

// Browser globals used inside page.evaluate callbacks (the project compiles without the DOM lib).
declare const window: any, document: any, sessionStorage: any, location: any, DataTransfer: any, File: any, getComputedStyle: any;

const SHOTS = fileURLToPath(new URL('../../reports/ui/', import.meta.url));
const ADMIN = { email: 'ops@example.com', password: 'ui-test-password' };

interface Dep {
  status: string;
  stop_reason?: string;
  error_threshold?: number;
  phases: Array<{ device_count: number }>;
  statistics: { status: Record<string, number> };
}

interface Running {
  base: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

/**
 * Serves the app with the UI. Once buildServer registers uiPlugin itself this just listens;
 * until then (buildServer returns a booted instance, which takes no more routes) a second
 * Fastify instance holds the UI on the same ServerContext and one HTTP server routes `/` and
 * `/ui/*` to it and everything else to the app.
 */
async function serve(app: FastifyInstance): Promise<Running> {
  let ui: FastifyInstance | undefined;
  if (!app.hasRoute({ method: 'GET', url: '/ui/api/events' })) {
    ui = Fastify({ logger: false });
    await ui.register(uiPlugin, { ctx: app.flipside });
    await ui.ready();
  }
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    (ui && (path === '/' || path.startsWith('/ui/')) ? ui : app).routing(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    app,
    async close() {
      await ui?.close();
      await app.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

let dataDir: string;
let srv: Running;
let browser: Browser;
let page: Page;
const requests: string[] = [];
const problems: string[] = [];
const sims: SimDevice[] = [];
let adminToken = '';

test.before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), 'flipside-ui-'));
  const app = await buildServer({ dataDir });
  await createUser(app.flipside, ADMIN.email, ADMIN.password);
  srv = await serve(app);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => void d.accept());
  page.setDefaultTimeout(15_000);
});

test.after.always(async () => {
  await browser?.close();
  await srv?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function shot(name: string) {
  // From the top, without a passing toast.
  await page.evaluate(() => { window.scrollTo(0, 0); document.getElementById('toast').hidden = true; });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  await page.evaluate(() => { document.getElementById('toast').hidden = false; });
}

async function api(method: string, path: string, body?: unknown) {
  const r = await fetch(srv.base + path, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return r;
}

test.serial('assets: index and modules with a strict CSP, unknown files 404, API routes need a token', async (t) => {
  const index = await fetch(`${srv.base}/`);
  t.is(index.status, 200);
  t.is(index.headers.get('content-security-policy'), CSP);
  t.regex(await index.text(), /<script type="module" src="\/ui\/js\/app.js">/);
  const js = await fetch(`${srv.base}/ui/js/pages.js`);
  t.is(js.status, 200);
  t.regex(js.headers.get('content-type') ?? '', /^text\/javascript/);
  const etag = js.headers.get('etag')!;
  t.is((await fetch(`${srv.base}/ui/js/pages.js`, { headers: { 'if-none-match': etag } })).status, 304);
  t.is((await fetch(`${srv.base}/ui/style.css`)).headers.get('content-type'), 'text/css; charset=utf-8');
  t.is((await fetch(`${srv.base}/ui/../app.ts`)).status, 404);
  t.is((await fetch(`${srv.base}/ui/js/nope.js`)).status, 404);
  t.is((await fetch(`${srv.base}/ui/api/summary`)).status, 401);
  t.is((await fetch(`${srv.base}/ui/api/events`)).status, 401);
  // Nothing in the front end names another origin.
  for (const f of ['index.html', 'js/app.js', 'js/api.js', 'js/pages.js', 'js/dom.js', 'js/chart.js', 'style.css']) {
    const text = readFileSync(fileURLToPath(new URL(`./public/${f}`, import.meta.url)), 'utf8');
    t.notRegex(text, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/, f);
  }
});

test.serial('events: the change stream announces a write', async (t) => {
  const login = await fetch(`${srv.base}/api/management/v1/useradm/auth/login`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${ADMIN.email}:${ADMIN.password}`).toString('base64')}` },
  });
  adminToken = await login.text();
  const ctrl = new AbortController();
  const res = await fetch(`${srv.base}/ui/api/events`, { headers: { authorization: `Bearer ${adminToken}` }, signal: ctrl.signal });
  t.is(res.status, 200);
  t.is(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  while (!buf.includes('event: hello')) buf += (await reader.read()).value;
  // A write anywhere in the server (here: a saved filter) becomes a change event.
  t.is((await api('POST', '/api/management/v2/inventory/filters', { name: 'x86', terms: [{ scope: 'inventory', attribute: 'device_type', type: '$eq', value: 'qemux86-64' }] })).status, 201);
  const deadline = Date.now() + 5000;
  while (!buf.includes('event: change') && Date.now() < deadline) buf += (await reader.read()).value;
  t.regex(buf, /event: change\ndata: \{"seq":\d+\}/);
  const summary = (await (await api('GET', '/ui/api/summary')).json()) as { devices: Record<string, number> };
  t.deepEqual(summary.devices, { pending: 0, accepted: 0, rejected: 0, preauthorized: 0 });
  ctrl.abort();
});

test.serial('log in, keyboard navigation', async (t) => {
  await page.goto(srv.base);
  // The login form takes focus; Tab moves through password to the button.
  const focused = () => page.evaluate(() => { const a = document.activeElement; return a?.getAttribute('name') ?? a?.textContent ?? ''; });
  t.is(await focused(), 'email');
  await page.keyboard.type(ADMIN.email);
  await page.keyboard.press('Tab');
  t.is(await focused(), 'password');
  await page.keyboard.type('wrong-password');
  await page.keyboard.press('Tab');
  t.is(await focused(), 'Log in');
  await page.keyboard.press('Enter');
  await page.getByText('Wrong e-mail or password.').waitFor();
  await page.getByLabel('Password').fill(ADMIN.password);
  await shot('login');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  // An empty server gives the next step, not only zeros.
  await page.getByRole('heading', { name: 'No device has connected yet' }).waitFor();
  t.regex((await page.locator('#next-step').textContent()) ?? '', /ServerURL.*ServerCertificate.*Devices → Pending: accept it/s);
  await shot('dashboard-empty');
  t.truthy(await page.evaluate(() => sessionStorage.getItem('flipside.token')));
  await page.locator('#live.up').waitFor();
  // The menu is reachable with Tab, in order, and Enter follows a link.
  await page.focus('header .brand');
  const order: string[] = [];
  for (let i = 0; i < 2; i++) {
    await page.keyboard.press('Tab');
    order.push(await focused());
  }
  t.deepEqual(order, ['Dashboard', 'Devices']);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Devices' }).waitFor();
  t.is(await page.evaluate(() => location.hash), '#/devices');
});

test.serial('devices: signed auth requests appear pending without a reload; accept them in the UI', async (t) => {
  const transport = httpTransport(srv.base);
  for (let i = 1; i <= 3; i++) sims.push(new SimDevice(transport, { keyKind: i === 2 ? 'rsa' : 'ed25519', deviceType: 'qemux86-64', identity: { mac: `52:54:00:00:00:0${i}` } }));
  const rows = page.locator('tr[data-device]');
  t.is(await rows.count(), 0);
  for (const d of sims) t.is((await d.authenticate()).status, 401);
  await rows.nth(2).waitFor();
  t.is(await rows.count(), 3);
  await page.waitForFunction(() => /Pending queue 3 of 10000/.test(document.querySelector('[data-fk="admission"]')?.textContent ?? ''));
  await shot('devices');
  for (let i = 0; i < 3; i++) {
    await page.getByRole('button', { name: /^Accept device mac=52:54:00:00:00:0/ }).first().click();
    await page.waitForFunction((n) => document.querySelectorAll('tr[data-device]').length === n, 2 - i);
  }
  for (const d of sims) {
    t.is((await d.authenticate()).status, 200);
    t.is((await d.sendInventory([{ name: 'kernel', value: '6.1.0' }])).status, 200);
  }
  await page.getByRole('link', { name: /Accepted/ }).click();
  await page.locator('tr[data-device]').nth(2).waitFor();
  t.is(await page.locator('tr[data-device]').count(), 3);
});

test.serial('releases: a bad file is refused plainly (drag and drop); the conformance artifact uploads (file picker)', async (t) => {
  await page.locator('#nav').getByRole('link', { name: 'Releases', exact: true }).click();
  await page.getByRole('heading', { name: 'Upload an artifact' }).waitFor();
  const dt = await page.evaluateHandle(() => {
    const d = new DataTransfer();
    d.items.add(new File(['this is not a tar archive'], 'broken.mender', { type: 'application/octet-stream' }));
    return d;
  });
  await page.dispatchEvent('#drop-zone', 'drop', { dataTransfer: dt });
  const err = page.locator('#upload-error');
  await err.filter({ hasText: 'broken.mender is not a Mender artifact' }).waitFor();
  t.regex((await err.textContent()) ?? '', /^broken\.mender is not a Mender artifact \(the server read: .+\)\. Make one with flipside-artifact write rootfs-image/);
  await page.getByLabel('Description (optional)').fill('conformance rootfs');
  await page.setInputFiles('#artifact-file', join(CONFORMANCE_DIR, 'rootfs-gzip.mender'));
  const rel = page.locator('article.release', { hasText: 'release-1' });
  await rel.waitFor();
  t.regex((await rel.textContent()) ?? '', /qemux86-64.*unsigned.*10\.0 KiB/);
  t.is(await err.textContent(), '');
  await shot('releases');
});

test.serial('groups: a static group and a dynamic group with their members', async (t) => {
  await page.locator('#nav').getByRole('link', { name: 'Groups', exact: true }).click();
  await page.getByLabel('Group name').fill('canary');
  for (const box of await page.locator('fieldset.picker input[type=checkbox]').all()) await box.check();
  await page.getByRole('button', { name: 'Add to group' }).click();
  const card = page.locator('section[aria-labelledby=g-static] article', { hasText: 'canary' });
  await card.locator('.members li').nth(2).waitFor();
  t.is(await card.locator('.members li').count(), 3);
  // The filter saved through the API earlier matches the three devices once they sent inventory.
  const dyn = page.locator('section[aria-labelledby=g-dynamic] article', { hasText: 'x86' });
  await dyn.locator('.members li').nth(2).waitFor();
  // And one made here: identity mac matching device 1 only.
  await page.getByLabel('Name', { exact: true }).fill('first-mac');
  const term = page.locator('.terms .term').first();
  await term.getByLabel('Scope').selectOption('identity');
  await term.getByLabel('Attribute').fill('mac');
  await term.getByLabel('Value').fill('52:54:00:00:00:01');
  await page.getByRole('button', { name: 'Save dynamic group' }).click();
  const mine = page.locator('section[aria-labelledby=g-dynamic] article', { hasText: 'first-mac' });
  await mine.locator('.members li').first().waitFor();
  t.is(await mine.locator('.members li').count(), 1);
  await shot('groups');
});

test.serial('deployment: phased to a group; devices report success and a failure with a log', async (t) => {
  await page.locator('section[aria-labelledby=g-static] article', { hasText: 'canary' }).getByRole('link', { name: 'Deploy to group' }).click();
  await page.getByRole('heading', { name: 'New deployment' }).waitFor();
  await page.getByLabel('Name', { exact: true }).fill('canary rollout');
  await page.getByLabel('Release').selectOption('release-1');
  t.true(await page.getByRole('radio', { name: 'Static group' }).isChecked());
  t.is(await page.getByLabel('Which static group').inputValue(), 'canary');
  await page.getByRole('button', { name: 'Add phase' }).click();
  await page.getByRole('button', { name: 'Add phase' }).click();
  await page.getByLabel('Phase 1 batch size (percent)').fill('34');
  await page.getByLabel('Phase 2 starts after').fill('3');
  await page.getByLabel('Phase 2 delay unit').selectOption({ label: 'seconds' });
  await page.getByLabel('Retries per device').fill('0');
  await page.getByLabel('Error threshold (% failed)').fill('80');
  await shot('new-deployment');
  await page.getByRole('button', { name: 'Create deployment' }).click();
  await page.getByRole('heading', { name: /canary rollout/ }).waitFor();
  const depId = await page.evaluate(() => location.hash.split('/').pop()!);
  const dep = (await (await api('GET', `/api/management/v1/deployments/deployments/${depId}`)).json()) as Dep;
  t.deepEqual(dep.phases.map((p) => p.device_count), [1, 2]);
  t.is(dep.error_threshold, 80);
  await page.locator('.phase-bars li').nth(1).waitFor();

  // The devices poll like clients: the second one fails and uploads its log.
  const failing = sims[1]!;
  const done = new Set<SimDevice>();
  const deadline = Date.now() + 30_000;
  while (done.size < sims.length && Date.now() < deadline) {
    for (const d of sims) if (!done.has(d) && (await d.runUpdate({ fail: d === failing }))) done.add(d);
    await new Promise((r) => setTimeout(r, 400));
  }
  t.is(done.size, 3);
  await page.locator('.stat-success .n', { hasText: '2' }).waitFor();
  await page.locator('.stat-failure .n', { hasText: '1' }).waitFor();
  // One device failed: the deployment is "failed", never a green "finished".
  await page.locator('h1 .badge.st-failed', { hasText: 'failed' }).waitFor();
  t.is(await page.locator('dd[data-fk=missed]').textContent(), '1 failed');
  t.deepEqual((await page.locator('tr[data-device] td:nth-child(5)').allTextContents()).sort(), ['1', '2', '2']);
  // Rows name devices by identity and type, not by an 8-character id only.
  t.deepEqual((await page.locator('tr[data-device] td:nth-child(4)').allTextContents()), ['qemux86-64', 'qemux86-64', 'qemux86-64']);
  // Each device fetched the artifact once, whole: full bars, nothing resumed.
  t.deepEqual((await page.locator('tr[data-device] td.download-cell').allTextContents()).map((x) => x.replace(/^.* of .* \((\d+) %\)$/, '$1')), ['100', '100', '100']);
  t.is(await page.locator('tr[data-device] .resumes').count(), 0);
  t.deepEqual((await page.locator('tr[data-device] td:nth-child(1)').allTextContents()).map((x) => x.replace(/ [0-9a-f]{8}$/, '')).sort(), sims.map((d) => `mac ${d.identity.mac}`));
  t.regex((await page.locator('.phase-bars li').nth(1).locator('svg').getAttribute('aria-label')) ?? '', /^Phase 2: .*of 2$/);
  await shot('deployment');

  await page.getByRole('button', { name: 'View the log of mac 52:54:00:00:00:02' }).click();
  const dlg = page.locator('dialog[open]');
  await dlg.locator('pre', { hasText: 'simulated failure' }).waitFor();
  t.regex((await dlg.locator('pre').textContent()) ?? '', /error simulated failure/);
  await shot('deployment-log');
  await page.keyboard.press('Escape');
  await dlg.waitFor({ state: 'detached' });

  await page.getByRole('link', { name: failing.deviceId!.slice(0, 8) }).click();
  await page.getByRole('heading', { name: 'Deployment history' }).waitFor();
  await page.locator('section[aria-labelledby=dv-hist] a', { hasText: 'canary rollout' }).waitFor();
  t.regex((await page.locator('section[aria-labelledby=dv-inv]').textContent()) ?? '', /device_type.*qemux86-64/);
  t.regex((await page.locator('section[aria-labelledby=dv-group]').textContent()) ?? '', /In group canary/);
  await shot('device');
});

test.serial('a second deployment shows on the dashboard in progress, then is aborted in the UI', async (t) => {
  await page.locator('#nav').getByRole('link', { name: 'Deployments', exact: true }).click();
  await page.getByRole('link', { name: 'New deployment' }).click();
  await page.getByLabel('Name', { exact: true }).fill('everyone');
  await page.getByLabel('Release').selectOption('release-1');
  await page.getByRole('radio', { name: 'All accepted devices' }).check();
  await page.getByRole('button', { name: 'Create deployment' }).click();
  await page.getByRole('heading', { name: /everyone/ }).waitFor();
  const depId = await page.evaluate(() => location.hash.split('/').pop()!);

  await page.locator('#nav').getByRole('link', { name: 'Dashboard', exact: true }).click();
  await page.locator('section[aria-labelledby=d-active] a', { hasText: 'everyone' }).waitFor();
  t.is(await page.locator('#next-step').count(), 0, 'no first-steps card once devices are there');
  await page.locator('section[aria-labelledby=d-failures] td', { hasText: 'canary rollout' }).waitFor();
  t.is(await page.locator('.stat.st-accepted strong').textContent(), '3');
  await shot('dashboard');

  await page.locator('section[aria-labelledby=d-active] a', { hasText: 'everyone' }).click();
  await page.getByRole('button', { name: 'Abort deployment' }).click();
  await page.locator('h1 .badge', { hasText: 'aborted' }).waitFor();
  await page.locator('dd.stop', { hasText: 'aborted' }).waitFor();
  const dep = (await (await api('GET', `/api/management/v1/deployments/deployments/${depId}`)).json()) as Dep;
  t.is(dep.status, 'finished');
  t.is(dep.stop_reason, 'aborted');
  t.is(dep.statistics.status.aborted, 3);

  await page.locator('#nav').getByRole('link', { name: 'Deployments', exact: true }).click();
  await page.locator('section[aria-labelledby=dp-fin] tr', { hasText: 'everyone' }).waitFor();
  await shot('deployments');
});

test.serial('outcomes: a failure or a device of another type never shows as a green success', async (t) => {
  // A BeagleBone joins: the release has no artifact for its type.
  const bb = new SimDevice(httpTransport(srv.base), { deviceType: 'beaglebone', identity: { serial: 'BB-0042', mac: '52:54:00:00:00:b1' } });
  t.is((await bb.authenticate()).status, 401);
  const pending = (await (await api('GET', '/api/management/v2/devauth/devices?status=pending')).json()) as Array<{ id: string; auth_sets: Array<{ id: string }> }>;
  t.is(pending.length, 1);
  t.is((await api('PUT', `/api/management/v2/devauth/devices/${pending[0]!.id}/auth/${pending[0]!.auth_sets[0]!.id}/status`, { status: 'accepted' })).status, 204);
  t.is((await bb.authenticate()).status, 200);
  t.is((await bb.sendInventory()).status, 200);
  const create = async (name: string, devices: SimDevice[]) => {
    const r = await api('POST', '/api/management/v1/deployments/deployments', { name, artifact_name: 'release-1', devices: devices.map((d) => d.deviceId) });
    t.is(r.status, 201);
    return r.headers.get('location')!.split('/').pop()!;
  };
  // sims[0] has release-1 already, sims[1] fails again, the BeagleBone gets no artifact.
  const mixed = await create('mixed fleet', [sims[0]!, sims[1]!, bb]);
  t.is((await sims[0]!.checkUpdate()).update, null);
  t.truthy(await sims[1]!.runUpdate({ fail: true }));
  t.is((await bb.checkUpdate()).update, null);
  // Nothing failed here, but the BeagleBone still did not get the release.
  const partial = await create('two types', [sims[2]!, bb]);
  t.is((await sims[2]!.checkUpdate()).update, null);
  t.is((await bb.checkUpdate()).update, null);
  const outcomeOf = async (id: string) => ((await (await api('GET', `/api/management/v1/deployments/deployments/${id}`)).json()) as Dep & { outcome: string });
  t.like(await outcomeOf(mixed), { status: 'finished', outcome: 'failed', statistics: { status: { failure: 1, noartifact: 1, 'already-installed': 1 } } });
  t.like(await outcomeOf(partial), { status: 'finished', outcome: 'incomplete', statistics: { status: { noartifact: 1, 'already-installed': 1 } } });

  await page.locator('#nav').getByRole('link', { name: 'Deployments', exact: true }).click();
  const row = (name: string) => page.locator('section[aria-labelledby=dp-fin] tr', { hasText: name });
  await row('two types').waitFor();
  t.is(await row('mixed fleet').locator('.badge').textContent(), 'failed');
  t.regex((await row('mixed fleet').locator('small').textContent()) ?? '', /3\/3 done: 1 failed, 1 no artifact for its device type/);
  t.is(await row('two types').locator('.badge').textContent(), 'incomplete');
  t.is(await row('canary rollout').locator('.badge').textContent(), 'failed');
  t.is(await page.locator('.badge.st-finished').count(), 0);
  await shot('deployments-outcomes');
  await row('two types').getByRole('link', { name: 'two types' }).click();
  await page.locator('h1 .badge.st-incomplete').waitFor();
  const bbRow = page.locator('tr[data-device]', { hasText: 'serial BB-0042' });
  t.regex((await bbRow.textContent()) ?? '', /noartifact.*beaglebone/);
  t.is(await page.locator('dd[data-fk=missed]').textContent(), '1 no artifact for its device type');
  await shot('deployment-incomplete');

  await page.locator('#nav').getByRole('link', { name: 'Dashboard', exact: true }).click();
  await page.locator('.finished-line .st-failed', { hasText: '2 failed' }).waitFor();
  t.regex((await page.locator('.finished-line').textContent()) ?? '', /1 aborted.*1 incomplete|1 incomplete.*1 aborted/);
  t.regex((await page.locator('section[aria-labelledby=d-failures] tbody tr').first().textContent()) ?? '', /mac 52:54:00:00:00:02.*qemux86-64.*mixed fleet/);
});

test.serial('fleet: seven pending devices accepted in one go; search and sort; the deployment form warns before it targets the wrong type', async (t) => {
  const transport = httpTransport(srv.base);
  const seven = Array.from({ length: 7 }, (_, i) => new SimDevice(transport, { deviceType: 'qemux86-64', identity: { serial: `P-00${i + 1}`, mac: `52:54:00:00:01:0${i + 1}` } }));
  for (const d of seven) t.is((await d.authenticate()).status, 401);
  await page.locator('#nav').getByRole('link', { name: 'Devices', exact: true }).click();
  await page.getByRole('link', { name: /^Pending/ }).click();
  await page.locator('tr[data-device]').nth(6).waitFor();
  await page.getByRole('checkbox', { name: 'Select all shown' }).check();
  await page.getByRole('button', { name: 'Accept selected (7)' }).waitFor();
  await shot('devices-bulk-accept');
  await page.getByRole('button', { name: 'Accept selected (7)' }).click();
  await page.getByText('No pending devices.').waitFor();
  for (const d of seven) {
    t.is((await d.authenticate()).status, 200);
    t.is((await d.sendInventory()).status, 200);
  }

  await page.getByRole('link', { name: /^Accepted/ }).click();
  const rows = page.locator('tr[data-device]');
  await rows.nth(10).waitFor();
  t.is(await rows.count(), 11);
  const search = page.getByRole('searchbox', { name: 'Search devices' });
  await search.fill('BB-0042');
  await page.waitForFunction(() => document.querySelectorAll('tr[data-device]').length === 1);
  t.regex((await rows.first().textContent()) ?? '', /serial BB-0042.*beaglebone/);
  await search.fill('P-00');
  await page.waitForFunction(() => document.querySelectorAll('tr[data-device]').length === 7);
  await search.fill('no-such-device');
  await page.getByText('No accepted device matches “no-such-device”.').waitFor();
  await search.fill('');
  await page.getByLabel('Sort devices by').selectOption('type');
  await page.waitForFunction(() => document.querySelectorAll('tr[data-device]').length === 11);
  t.is(await rows.first().locator('td').nth(2).textContent(), 'beaglebone');
  t.is(await rows.first().locator('.dot.on').count(), 1, 'reported just now: shown online');
  await shot('devices-search-sort');

  await page.locator('#nav').getByRole('link', { name: 'Deployments', exact: true }).click();
  await page.getByRole('link', { name: 'New deployment' }).click();
  await page.getByLabel('Release').selectOption('release-1');
  await page.getByRole('radio', { name: 'All accepted devices' }).check();
  const preview = page.locator('#target-preview');
  await preview.locator('.targets', { hasText: 'Targets 11 devices: 10 qemux86-64, 1 beaglebone.' }).waitFor();
  t.regex((await preview.locator('.warn').textContent()) ?? '', /^1 of them has no artifact in release-1 \(it has qemux86-64\) and would end "noartifact": serial BB-0042 \(beaglebone\)\.$/);
  await shot('new-deployment-preview');
  await page.getByRole('radio', { name: 'Chosen devices' }).check();
  await page.locator('fieldset.picker input[type=checkbox]').first().check();
  await preview.locator('.targets', { hasText: /^Targets 1 device: 1 (qemux86-64|beaglebone)\.$/ }).waitFor();
});

test.serial('audit log, phone-sized screens, and no request left 127.0.0.1', async (t) => {
  await page.locator('#nav').getByRole('link', { name: 'Audit log', exact: true }).click();
  await page.locator('code', { hasText: 'deployment.abort' }).first().waitFor();
  for (const action of ['user.login', 'device.accept', 'artifact.upload', 'inventory.group.assign', 'deployment.create']) {
    t.true(await page.locator('code', { hasText: action }).count() > 0, action);
  }
  await shot('audit');
  await page.getByLabel('Show').selectOption('deployment');
  await page.waitForFunction(() => location.hash === '#/audit?type=deployment');
  await page.waitForFunction(() => ![...document.querySelectorAll('tbody code')].some((c) => !c.textContent!.startsWith('deployment.')));

  await page.setViewportSize({ width: 390, height: 844 });
  await page.locator('#nav').getByRole('link', { name: 'Dashboard', exact: true }).click();
  await page.getByRole('heading', { name: 'Recent failures' }).waitFor();
  // Nothing wider than the screen but the scrollable table wrappers.
  t.true(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
  await shot('phone-dashboard');
  await page.locator('#nav').getByRole('link', { name: 'Deployments', exact: true }).click();
  await page.locator('section[aria-labelledby=dp-fin] a', { hasText: 'canary rollout' }).click();
  await page.locator('.stat-failure .n', { hasText: '1' }).waitFor();
  t.true(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
  await shot('phone-deployment');

  // The server goes away: the page says so in words, not "Failed to fetch"; back, it recovers.
  await page.route(`${srv.base}/api/**`, (r) => r.abort('connectionrefused'));
  await page.locator('#nav').getByRole('link', { name: 'Devices', exact: true }).click();
  await page.locator('main .error', { hasText: 'Cannot reach the Flipside server' }).waitFor();
  t.notRegex((await page.locator('main').textContent()) ?? '', /Failed to fetch/);
  await page.unroute(`${srv.base}/api/**`);
  await page.locator('#nav').getByRole('link', { name: 'Dashboard', exact: true }).click();
  await page.getByRole('heading', { name: 'Recent failures' }).waitFor();
  problems.splice(0, problems.length, ...problems.filter((p) => !/ERR_CONNECTION_REFUSED/.test(p)));

  t.true(requests.length > 20);
  t.deepEqual(requests.filter((u) => !u.startsWith(`${srv.base}/`)), []);
  // Expected console errors only: the failed login's 401 and the bad upload's 400.
  t.deepEqual(problems.filter((p) => !/status of (401|400)/.test(p)), []);
});

test.serial('finished deployments page past 50; dark mode and phone layout', async (t) => {
  // 50 more deployments to the BeagleBone, each aborted at once: the finished list passes 50.
  const bbId = ((await (await api('GET', '/api/management/v2/devauth/devices?status=accepted&per_page=100')).json()) as Array<{ id: string; identity_data: { serial?: string } }>).find((d) => d.identity_data.serial === 'BB-0042')!.id;
  for (let i = 0; i < 50; i++) {
    const r = await api('POST', '/api/management/v1/deployments/deployments', { name: `bulk ${i}`, artifact_name: 'release-1', devices: [bbId] });
    t.is(r.status, 201);
    await api('PUT', `/api/management/v1/deployments/deployments/${r.headers.get('location')!.split('/').pop()}/status`, { status: 'aborted' });
  }
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.locator('#nav').getByRole('link', { name: 'Deployments', exact: true }).click();
  const fin = page.locator('section[aria-labelledby=dp-fin]');
  await fin.getByText(/^Page 1 of 2$/).waitFor();
  t.is(await fin.locator('tbody tr').count(), 50);
  await fin.getByRole('link', { name: 'Next ›' }).click();
  await fin.getByText(/^Page 2 of 2$/).waitFor();
  t.true((await fin.locator('tbody tr').count()) >= 4);

  await page.emulateMedia({ colorScheme: 'dark' });
  t.is(await page.evaluate(() => getComputedStyle(document.body).backgroundColor), 'rgb(13, 17, 23)');
  await shot('deployments-dark');
  await page.locator('#nav').getByRole('link', { name: 'Dashboard', exact: true }).click();
  await page.getByRole('heading', { name: 'Recent failures' }).waitFor();
  await shot('dashboard-dark');
  await page.setViewportSize({ width: 390, height: 844 });
  await shot('phone-dashboard-dark');
  await page.locator('#nav').getByRole('link', { name: 'Devices', exact: true }).click();
  await page.getByRole('link', { name: /^Accepted/ }).click();
  await page.locator('tr[data-device]').nth(10).waitFor();
  t.true(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'the devices table fits a phone');
  await shot('phone-devices-dark');
  await page.emulateMedia({ colorScheme: 'light' });
  await shot('phone-devices');
  await page.setViewportSize({ width: 1280, height: 860 });
});

test.serial('roles: a read-only user sees devices but no actions, a CI user no devices; personal access tokens made and revoked in the UI', async (t) => {
  await page.setViewportSize({ width: 1280, height: 860 });
  for (const [email, role] of [['viewer@example.com', 'RBAC_ROLE_OBSERVER'], ['ci@example.com', 'RBAC_ROLE_CI']]) {
    t.is((await api('POST', '/api/management/v1/useradm/users', { email, password: 'role-password', roles: [role] })).status, 201);
  }
  const loginAs = async (email: string, role: string) => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByLabel('E-mail').fill(email);
    await page.getByLabel('Password').fill('role-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForFunction((r) => document.body.dataset.roles === r, role);
  };
  const navVisible = (name: string) => page.locator('#nav').getByRole('link', { name, exact: true }).isVisible();

  await loginAs('viewer@example.com', 'RBAC_ROLE_OBSERVER');
  t.true(await navVisible('Devices'));
  await page.locator('#nav').getByRole('link', { name: 'Devices', exact: true }).click();
  await page.getByRole('link', { name: /Accepted/ }).click();
  await page.locator('tr[data-device]').first().waitFor();
  t.is(await page.getByRole('button', { name: /^(Accept|Reject|Decommission)/ }).count(), 0);
  t.false(await page.getByText('Preauthorize a device').isVisible());
  await page.locator('#nav').getByRole('link', { name: 'Deployments', exact: true }).click();
  await page.getByRole('heading', { name: 'Deployments' }).waitFor();
  t.false(await page.getByRole('link', { name: 'New deployment' }).isVisible());
  await shot('role-read-only');

  await loginAs('ci@example.com', 'RBAC_ROLE_CI');
  t.false(await navVisible('Devices'));
  t.false(await navVisible('Deployments'));
  t.true(await navVisible('Releases'));
  await page.locator('#nav').getByRole('link', { name: 'Tokens', exact: true }).click();
  await page.getByLabel('Name').fill('ci-pipeline');
  await page.getByRole('button', { name: 'Create token' }).click();
  const value = (await page.locator('[data-fk="new-token"]').textContent())!;
  await page.locator('tr[data-token="ci-pipeline"]').waitFor();
  // The token works with the CI role's rights: releases yes, devices no.
  const withPat = (path: string) => fetch(srv.base + path, { headers: { authorization: `Bearer ${value}` } });
  t.is((await withPat('/api/management/v1/deployments/artifacts')).status, 200);
  t.is((await withPat('/api/management/v2/devauth/devices')).status, 403);
  await shot('tokens');
  await page.getByRole('button', { name: 'Revoke token ci-pipeline' }).click();
  await page.getByText('No personal access tokens.').waitFor();
  t.is((await withPat('/api/management/v1/deployments/artifacts')).status, 401);
  problems.splice(0, problems.length, ...problems.filter((p) => !/status of 403/.test(p)));
});

test.serial('download progress: a device that downloads in pieces shows its bar and how often it resumed', async (t) => {
  // As the server saw it from the download route alone: no report from the device is needed.
  const dev = new SimDevice(httpTransport(srv.base), { identity: { serial: 'RESUME-1', mac: '52:54:00:00:00:c1' } });
  t.is((await dev.authenticate()).status, 401);
  const pending = (await (await api('GET', '/api/management/v2/devauth/devices?status=pending')).json()) as Array<{ id: string; auth_sets: Array<{ id: string }> }>;
  t.is((await api('PUT', `/api/management/v2/devauth/devices/${pending[0]!.id}/auth/${pending[0]!.auth_sets[0]!.id}/status`, { status: 'accepted' })).status, 204);
  t.is((await dev.authenticate()).status, 200);
  const r = await api('POST', '/api/management/v1/deployments/deployments', { name: 'slow link', artifact_name: 'release-1', devices: [dev.deviceId] });
  t.is(r.status, 201);
  const depId = r.headers.get('location')!.split('/').pop()!;

  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByLabel('E-mail').fill(ADMIN.email);
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('#nav').getByRole('link', { name: 'Deployments', exact: true }).waitFor();
  await page.evaluate((id) => { location.hash = `#/deployments/${id}`; }, depId);
  await page.getByRole('heading', { name: /slow link/ }).waitFor();
  const row = page.locator('tr[data-device]', { hasText: 'serial RESUME-1' });
  t.is(await row.locator('td.download-cell').textContent(), 'not started');

  const { update } = await dev.checkUpdate();
  const uri = update!.artifact.source.uri;
  const size = readFileSync(join(CONFORMANCE_DIR, 'rootfs-gzip.mender')).length;
  const at = (pct: number) => Math.floor((size * pct) / 100);
  t.is((await dev.reportStatus(depId, 'downloading')).status, 204);
  // 40 %, then the link drops twice and the device resumes where it was: 60 %, 70 %.
  for (const [from, to] of [[0, 40], [40, 60], [60, 70]] as const) {
    t.is((await dev.download(uri, `bytes=${at(from)}-${at(to) - 1}`)).status, 206);
  }
  // The page follows the change stream: no reload.
  await row.locator('.resumes', { hasText: 'resumed 2 times' }).waitFor();
  const bar = row.locator('progress');
  t.is(Number(await bar.getAttribute('value')), at(70));
  t.is(Number(await bar.getAttribute('max')), size);
  t.is(await bar.getAttribute('aria-label'), `Download of serial RESUME-1: ${Math.floor((at(70) / size) * 100)} %`);
  t.regex((await row.locator('[data-fk=download-bytes]').textContent()) ?? '', /^[\d.]+ KiB of [\d.]+ KiB \(\d+ %\)$/);
  await shot('deployment-download');

  // The rest, then a Mender-style start from byte 0: both shown.
  t.is((await dev.download(uri, `bytes=${at(70)}-`)).status, 206);
  await row.locator('.resumes', { hasText: 'resumed 3 times' }).waitFor();
  t.regex((await row.locator('[data-fk=download-bytes]').textContent()) ?? '', /\(100 %\)$/);
  t.is((await dev.download(uri)).status, 200);
  await row.locator('.resumes', { hasText: 'resumed 3 times, started over 1 time' }).waitFor();
  for (const s of ['installing', 'rebooting', 'success']) t.is((await dev.reportStatus(depId, s)).status, 204);
  await row.locator('.badge', { hasText: 'success' }).waitFor();
  t.regex((await row.locator('td.download-cell').textContent()) ?? '', /\(100 %\)resumed 3 times, started over 1 time$/);
});
