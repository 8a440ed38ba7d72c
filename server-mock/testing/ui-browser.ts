// A server with the web UI on 127.0.0.1 and Debian's chromium on it, for the UI's browser tests
// that seed their own data through the store: start, log in as anyone, screenshot, close.
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from '../../test-support/chromium.js';
import { buildServer } from '../app.js';
import { createUser } from '../management/useradm.js';

declare const window: any, document: any;

export const SHOTS = fileURLToPath(new URL('../../reports/ui/', import.meta.url));

export interface UiSession {
  app: FastifyInstance;
  base: string;
  browser: Browser;
  page: Page;
  /** Console errors and page errors seen so far. */
  problems: string[];
  /** A user JWT from useradm, for seeding through the API. */
  tokenOf(email: string, password: string): Promise<string>;
  /** Logs the page in (logging out first when someone is) and waits for the user's roles to apply. */
  login(email: string, password: string): Promise<void>;
  shot(name: string): Promise<void>;
  close(): Promise<void>;
}

/** Builds a server on a temp data dir with one administrator; `seed` runs before it listens. */
export async function startUiSession(admin: { email: string; password: string }, seed?: (app: FastifyInstance) => void | Promise<void>): Promise<UiSession> {
  mkdirSync(SHOTS, { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), 'flipside-ui-'));
  const app = await buildServer({ dataDir });
  await createUser(app.flipside, admin.email, admin.password);
  await seed?.(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => void d.accept());
  page.setDefaultTimeout(15_000);
  return {
    app,
    base,
    browser,
    page,
    problems,
    async tokenOf(email, password) {
      const r = await fetch(`${base}/api/management/v1/useradm/auth/login`, { method: 'POST', headers: { authorization: `Basic ${Buffer.from(`${email}:${password}`).toString('base64')}` } });
      if (r.status !== 200) throw new Error(`login ${email}: ${r.status}`);
      return r.text();
    },
    async login(email, password) {
      await page.goto(`${base}/#/`);
      const out = page.getByRole('button', { name: 'Log out' });
      // Either the login form or a session (the header shows once the user's roles applied).
      await page.waitForFunction(() => !document.getElementById('top').hidden || document.querySelector('input[name=email]'));
      if (await out.isVisible()) await out.click();
      await page.getByLabel('E-mail').fill(email);
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Log in' }).click();
      await out.waitFor();
    },
    async shot(name) {
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
    },
    async close() {
      await browser.close();
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
