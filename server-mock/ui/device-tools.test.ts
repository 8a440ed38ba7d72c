// The device page's troubleshooting and configuration in Debian's chromium, against a Flipside
// daemon (Connect and Configure on) connected to the server on loopback: a terminal runs a
// command and shows its output, resizes and closes; the recorded session plays back; a file goes
// up to the device and another comes down; the configuration editor saves, the device applies and
// reports, and a deploy creates a configuration deployment; every one of them is in the audit log.
// A user without ConnectToDevices, and an offline device, get a clear message.
import test from 'ava';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decode } from '@msgpack/msgpack';
import { startUiSession, type UiSession } from '../testing/ui-browser.js';
import { startConnectedDaemon, type ConnectedDaemon } from '../testing/connected-daemon.js';

declare const document: any, window: any;

const ADMIN = { email: 'admin@example.com', password: 'admin-password' };
let ui: UiSession;
let token: string;
let dev: ConnectedDaemon;
let applied = '';

test.before(async () => {
  ui = await startUiSession(ADMIN);
  token = await ui.tokenOf(ADMIN.email, ADMIN.password);
  dev = await startConnectedDaemon(ui.base, { app: ui.app, auth: { authorization: `Bearer ${token}` } }, '02:00:00:00:00:77', async (dir) => {
    const scripts = join(dir, 'apply-device-config.d');
    await mkdir(scripts);
    applied = join(dir, 'applied.json');
    await writeFile(join(scripts, '10-record'), `#!/bin/sh\ncp "$1" ${applied}\n`);
    await chmod(join(scripts, '10-record'), 0o755);
    // A real pty (util-linux script, in Debian's essential bsdutils), as a user's terminal expects.
    return { Configure: { Enabled: true, ScriptsDir: scripts }, Connect: { Enabled: true, Terminal: 'script' } };
  });
  // Every frame the page sends on a WebSocket, to check what the terminal told the device.
  await ui.page.addInitScript(() => {
    window.__sent = [];
    const send = window.WebSocket.prototype.send;
    window.WebSocket.prototype.send = function (data: any) {
      window.__sent.push(Array.from(new Uint8Array(data)));
      return send.call(this, data);
    };
  });
});
test.after.always(async () => {
  await dev?.stop();
  await ui?.close();
});

const api = (method: string, path: string, body?: unknown) => fetch(ui.base + path, {
  method,
  headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
  body: body ? JSON.stringify(body) : undefined,
});
const termText = (sel: string) => ui.page.evaluate((s) => document.querySelector(`${s} .xterm-rows`)?.textContent ?? '', sel);
type Sent = { hdr: { proto: number; typ: string; props?: Record<string, number> } };
const sentFrames = async () => ((await ui.page.evaluate(() => window.__sent)) as number[][]).map((b) => decode(Uint8Array.from(b)) as Sent);

async function openDevicePage() {
  await ui.login(ADMIN.email, ADMIN.password);
  await ui.page.goto(`${ui.base}/#/devices/${dev.deviceId}`);
  await ui.page.locator('#connection.online').waitFor();
}

test.serial('the terminal runs a command on the device, resizes, closes; the session plays back', async (t) => {
  const { page } = ui;
  await openDevicePage();
  t.regex((await page.locator('#connection').textContent())!, /Connected to the server/);
  await page.getByRole('button', { name: 'Open terminal' }).click();
  await page.locator('#terminal[data-state=open]').waitFor();
  t.is(await page.locator('.term-status.open').textContent(), 'Connected');
  // The command's text and its output differ: only the shell's output matches.
  const n = 1000 + Math.floor(Math.random() * 9000);
  await page.locator('#terminal').click();
  // dash has no $RANDOM: the shell's pid makes the output differ from the command as typed.
  await page.keyboard.type(`echo "hi-$((${n}+1))-$$"\n`);
  await page.waitForFunction((re) => new RegExp(re).test(document.querySelector('#terminal .xterm-rows').textContent), `hi-${n + 1}-\\d+`);
  t.regex(await termText('#terminal'), new RegExp(`hi-${n + 1}-\\d+`));
  const first = (await sentFrames()).find((m) => m.hdr.typ === 'new');
  t.true((first?.hdr.props?.terminal_width ?? 0) > 40, 'the shell starts at the size the box fits');

  // xterm's styles went into the constructed stylesheet: the CSP refused nothing.
  t.true(await page.evaluate(() => document.adoptedStyleSheets.some((s: any) => [...s.cssRules].some((r: any) => /xterm/.test(r.selectorText ?? '')))));
  await ui.shot('device-terminal');
  await page.setViewportSize({ width: 390, height: 844 });
  // The fit follows the box; xterm's new size goes to the device as a resize message.
  await page.waitForFunction(() => window.__sent.some((f: number[]) => String.fromCharCode(...f).includes('resize')));
  const resize = async () => (await sentFrames()).filter((m) => m.hdr.typ === 'resize').at(-1);
  const r = await resize();
  t.truthy(r, 'a resize message went to the device');
  t.true(r!.hdr.props!.terminal_width! < first!.hdr.props!.terminal_width!);
  t.true(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scroll on a phone');
  await page.emulateMedia({ colorScheme: 'dark' });
  await ui.shot('device-terminal-phone-dark');
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 1280, height: 900 });

  await page.getByRole('button', { name: 'Close terminal' }).click();
  await page.locator('#terminal[data-state=ended]').waitFor();
  t.is(await page.locator('.term-status.ended').first().textContent(), 'You closed the terminal.');

  // The recording lists (the live refresh brings it) and plays back what the terminal showed.
  const row = page.locator('tr[data-session]').first();
  await row.waitFor();
  t.regex((await row.textContent())!, /admin@example\.com/);
  await row.getByRole('button', { name: /^Play the session/ }).click();
  await page.locator('#playback[data-state=done]').waitFor();
  t.regex(await termText('#playback'), new RegExp(`hi-${n + 1}-\\d+`));
  await ui.shot('device-playback');
  t.deepEqual(ui.problems, []);
});

test.serial('a file goes up to the device and another comes down; a missing one says why', async (t) => {
  const { page } = ui;
  await openDevicePage();
  const content = Buffer.from(`uploaded from the browser ${Date.now()}\n`);
  const up = page.locator('#upload-form');
  await up.getByLabel('File', { exact: true }).setInputFiles({ name: 'hello.txt', mimeType: 'text/plain', buffer: content });
  await up.getByLabel(/^To/).fill(`${dev.dir}/`);
  await up.getByLabel(/^Mode/).fill('600');
  await up.getByRole('button', { name: 'Upload' }).click();
  await up.getByText(`Uploaded hello.txt (${content.length} B) to ${dev.dir}/hello.txt.`).waitFor();
  t.deepEqual(await readFile(join(dev.dir, 'hello.txt')), content);

  const wanted = join(dev.dir, 'from-device.bin');
  const bytes = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));
  await writeFile(wanted, bytes);
  const down = page.locator('#download-form');
  await down.getByLabel('Path on the device').fill(wanted);
  const [file] = await Promise.all([page.waitForEvent('download'), down.getByRole('button', { name: 'Download' }).click()]);
  t.is(file.suggestedFilename(), 'from-device.bin');
  t.deepEqual(await readFile((await file.path())!), bytes);
  await down.getByText(`Downloaded ${wanted} (9.8 KiB).`).waitFor();

  await down.getByLabel('Path on the device').fill(join(dev.dir, 'no-such-file'));
  await down.getByRole('button', { name: 'Download' }).click();
  const err = down.locator('.transfer-msg.error');
  await err.waitFor();
  t.regex((await err.textContent())!, /no-such-file was not downloaded: .*(no such file|ENOENT)/i);
  // The browser logs the refused request; that one was meant.
  ui.problems.splice(0, ui.problems.length, ...ui.problems.filter((p) => !/status of 4\d\d/.test(p)));
  t.deepEqual(ui.problems, []);
});

test.serial('the configuration editor saves, the device applies and reports it, deploy creates a deployment', async (t) => {
  const { page } = ui;
  await openDevicePage();
  const form = page.locator('#config-form');
  await form.getByLabel('Key', { exact: true }).first().fill('timezone');
  await form.getByLabel('Value of timezone').fill('Europe/Oslo');
  await form.getByRole('button', { name: 'Add a key' }).click();
  await form.getByLabel('Key', { exact: true }).nth(1).fill('ntp');
  await form.getByLabel('Value of ntp').fill('pool.ntp.org');
  await form.getByRole('button', { name: 'Save', exact: true }).click();
  await page.locator('#config-reported tr[data-key=ntp]').getByText('not applied yet').waitFor();
  const cfgUrl = `/api/management/v1/deviceconfig/configurations/device/${dev.deviceId}`;
  t.deepEqual((await (await api('GET', cfgUrl)).json() as { configured: object }).configured, { timezone: 'Europe/Oslo', ntp: 'pool.ntp.org' });

  // A key twice is refused before anything is sent.
  await form.getByRole('button', { name: 'Add a key' }).click();
  await form.getByLabel('Key', { exact: true }).nth(2).fill('ntp');
  await form.getByRole('button', { name: 'Save', exact: true }).click();
  await form.getByText('The key "ntp" is there twice.').waitFor();
  await form.getByRole('button', { name: 'Remove ntp' }).last().click();
  t.is(await form.locator('.kv-row').count(), 2);

  // The device fetches and applies it with its inventory; the page follows live.
  dev.daemon.sendInventoryNow();
  await dev.logged(/device configuration applied \(2 keys/);
  await page.locator('#config-reported tr[data-key=timezone]').getByText('applied', { exact: true }).waitFor();
  t.deepEqual(JSON.parse(await readFile(applied, 'utf8')), { timezone: 'Europe/Oslo', ntp: 'pool.ntp.org' });

  await page.getByRole('button', { name: 'Save and deploy' }).click();
  await page.locator('#config-deployed').getByRole('link', { name: 'a configuration deployment' }).waitFor();
  const href = await page.locator('#config-deployed a').getAttribute('href');
  const dep = await (await api('GET', `/api/management/v1/deployments/deployments/${href!.split('/').pop()}`)).json() as { name: string; device_count: number };
  t.regex(dep.name, /^configuration-/);
  t.deepEqual((await (await api('GET', cfgUrl)).json() as { configured: object }).configured, { timezone: 'Europe/Oslo', ntp: 'pool.ntp.org' });
  t.is(dep.device_count, 1);
  await ui.shot('device-config');
  t.deepEqual(ui.problems, []);
});

test.serial('the audit log shows the terminal session, its playback, the file transfers and the configuration', async (t) => {
  const { page } = ui;
  await ui.login(ADMIN.email, ADMIN.password);
  await page.goto(`${ui.base}/#/audit?type=device`);
  await page.locator('main table').waitFor();
  const actions = await page.locator('main tbody td code').allTextContents();
  for (const a of ['deviceconnect.session_start', 'deviceconnect.session_stop', 'deviceconnect.playback', 'deviceconnect.upload', 'deviceconnect.download', 'deviceconfig.set', 'deviceconfig.deploy']) {
    t.true(actions.includes(a), `${a} in the audit log`);
  }
  t.regex((await page.locator('tr', { has: page.getByText('deviceconnect.upload') }).textContent())!, /hello\.txt/);
  await ui.shot('audit-device');
});

test.serial('a user without ConnectToDevices is told so; an offline device says it is offline', async (t) => {
  const { page } = ui;
  t.is((await api('POST', '/api/management/v1/useradm/users', { email: 'viewer@example.com', password: 'viewer-password', roles: ['RBAC_ROLE_OBSERVER'] })).status, 201);
  await ui.login('viewer@example.com', 'viewer-password');
  await page.goto(`${ui.base}/#/devices/${dev.deviceId}`);
  await page.locator('#no-connect-role').waitFor();
  t.regex((await page.locator('#no-connect-role').textContent())!, /Your roles \(RBAC_ROLE_OBSERVER\) do not include the remote terminal.*RBAC_ROLE_REMOTE_TERMINAL/);
  t.is(await page.getByRole('button', { name: 'Open terminal' }).count(), 0);
  t.regex((await page.locator('#config-form').textContent())!, /do not include changing device configuration/);
  t.true(await page.locator('#config-form input').first().evaluate((i: any) => i.readOnly));

  // An open terminal whose device goes away says so; opening another says the device is offline.
  await openDevicePage();
  await page.getByRole('button', { name: 'Open terminal' }).click();
  await page.locator('#terminal[data-state=open]').waitFor();
  await dev.stop();
  await page.locator('#terminal[data-state=ended]').waitFor();
  t.regex((await page.locator('#terminal-toggle + .term-status').textContent())!, /The terminal closed: the device's connection ended/);
  await page.getByRole('button', { name: 'Open terminal' }).click();
  await page.locator('#terminal[data-state=error]').waitFor();
  t.regex((await page.locator('#terminal-toggle + .term-status').textContent())!, /The device is offline/);
  t.regex((await page.locator('#connection').textContent())!, /^ ?Offline: the device has no connection/);
  await ui.shot('device-offline');
  t.deepEqual(ui.problems, []);
});
