// The Users page in Debian's chromium: an administrator adds a user with a role, changes roles,
// cannot take the administrator role from the last administrator, removes a user; a read-only
// user sees the list without actions; a user without ReadUsers sees only their own account.
import test from 'ava';
import { startUiSession, type UiSession } from '../testing/ui-browser.js';

declare const document: any, window: any;

const ADMIN = { email: 'admin@example.com', password: 'admin-password' };
let ui: UiSession;
let token: string;

test.before(async () => {
  ui = await startUiSession(ADMIN);
  token = await ui.tokenOf(ADMIN.email, ADMIN.password);
});
test.after.always(async () => {
  await ui?.close();
});

const api = (method: string, path: string, body?: unknown) => fetch(ui.base + path, {
  method,
  headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
  body: body ? JSON.stringify(body) : undefined,
});
async function rolesOf(email: string): Promise<string[] | undefined> {
  const all = (await (await api('GET', '/api/management/v1/useradm/users')).json()) as Array<{ email: string; roles: string[] }>;
  return all.find((u) => u.email === email)?.roles.slice().sort();
}

test.serial('an administrator adds a user with a role, changes roles, and removes a user', async (t) => {
  const { page } = ui;
  await ui.login(ADMIN.email, ADMIN.password);
  await page.locator('#nav').getByRole('link', { name: 'Users', exact: true }).click();
  const me = page.locator('tr[data-user="admin@example.com"]');
  await me.waitFor();
  t.regex((await me.textContent())!, /\(you\).*RBAC_ROLE_PERMIT_ALL/);
  t.is(await page.locator('#u-roles + .stack-phone tbody tr').count(), 5);

  const add = page.locator('form', { has: page.getByRole('button', { name: 'Add user' }) });
  await add.getByLabel('E-mail').fill('viewer@example.com');
  await add.getByLabel('Password').fill('viewer-password');
  await add.getByLabel(/RBAC_ROLE_OBSERVER/).check();
  await add.getByRole('button', { name: 'Add user' }).click();
  await page.locator('tr[data-user="viewer@example.com"]').getByText('RBAC_ROLE_OBSERVER').waitFor();
  t.deepEqual(await rolesOf('viewer@example.com'), ['RBAC_ROLE_OBSERVER']);

  // A refused password says why and adds nobody.
  await add.getByLabel('E-mail').fill('short@example.com');
  await add.getByLabel('Password').fill('x');
  await add.getByRole('button', { name: 'Add user' }).click();
  t.false(await page.evaluate(() => document.querySelector('form input[name=password]').validity.valid));
  t.is(await rolesOf('short@example.com'), undefined);
  await add.getByLabel('E-mail').fill('');
  await add.getByLabel('Password').fill('');

  await page.getByRole('button', { name: 'Edit roles of viewer@example.com' }).click();
  const editor = page.locator('#role-editor');
  await editor.getByLabel(/RBAC_ROLE_DEPLOYMENTS_MANAGER/).check();
  await editor.getByRole('button', { name: 'Save roles' }).click();
  await page.locator('tr[data-user="viewer@example.com"]').getByText('RBAC_ROLE_DEPLOYMENTS_MANAGER').waitFor();
  t.deepEqual(await rolesOf('viewer@example.com'), ['RBAC_ROLE_DEPLOYMENTS_MANAGER', 'RBAC_ROLE_OBSERVER']);
  t.is(await editor.locator('form').count(), 0);

  // The last administrator keeps the role: the server refuses and the page says so.
  await page.getByRole('button', { name: 'Edit roles of admin@example.com' }).click();
  await editor.getByLabel(/RBAC_ROLE_PERMIT_ALL/).uncheck();
  await editor.getByRole('button', { name: 'Save roles' }).click();
  await editor.getByText(/last administrator/).waitFor();
  t.deepEqual(await rolesOf(ADMIN.email), ['RBAC_ROLE_PERMIT_ALL']);
  // The browser logs the refused request; that one was meant.
  ui.problems.splice(0, ui.problems.length, ...ui.problems.filter((p) => !/status of 409/.test(p)));
  await editor.getByRole('button', { name: 'Cancel' }).click();
  await ui.shot('users');

  t.is((await api('POST', '/api/management/v1/useradm/users', { email: 'leaver@example.com', password: 'leaver-password', roles: [] })).status, 201);
  await page.locator('tr[data-user="leaver@example.com"]').waitFor();
  t.is(await page.getByRole('button', { name: 'Remove admin@example.com' }).count(), 0);
  await page.getByRole('button', { name: 'Remove leaver@example.com' }).click();
  await page.locator('tr[data-user="leaver@example.com"]').waitFor({ state: 'detached' });
  t.is(await rolesOf('leaver@example.com'), undefined);

  await page.emulateMedia({ colorScheme: 'dark' });
  await page.setViewportSize({ width: 390, height: 844 });
  t.true(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
  await ui.shot('users-phone-dark');
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 1280, height: 900 });
  t.deepEqual(ui.problems, []);
});

test.serial('a read-only user sees users without actions; a user without ReadUsers only their own account', async (t) => {
  const { page } = ui;
  await ui.login('viewer@example.com', 'viewer-password');
  await page.locator('#nav').getByRole('link', { name: 'Users', exact: true }).click();
  await page.locator('tr[data-user="admin@example.com"]').waitFor();
  t.regex((await page.locator('tr[data-user="viewer@example.com"]').textContent())!, /\(you\)/);
  t.is(await page.getByRole('button', { name: /^(Edit roles|Remove)/ }).count(), 0);
  t.is(await page.getByRole('button', { name: 'Add user' }).count(), 0);

  t.is((await api('POST', '/api/management/v1/useradm/users', { email: 'ci@example.com', password: 'ci-password1', roles: ['RBAC_ROLE_CI'] })).status, 201);
  await ui.login('ci@example.com', 'ci-password1');
  t.false(await page.locator('#nav').getByRole('link', { name: 'Users', exact: true }).isVisible());
  await page.goto(`${ui.base}/#/users`);
  await page.locator('#me').getByText('RBAC_ROLE_CI').waitFor();
  t.regex((await page.locator('main').textContent())!, /do not include seeing other users/);
  t.is(await page.locator('tr[data-user]').count(), 0);
  await page.locator('#me').getByRole('link', { name: 'personal access tokens' }).click();
  await page.getByRole('heading', { name: 'Personal access tokens' }).waitFor();
  t.deepEqual(ui.problems, []);
});
