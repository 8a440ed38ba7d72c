// Router and shell: hash routes, login gate, live refresh from the change stream (or polling
// every 2 s while the stream is down).
import { h, toast, leavePage } from './dom.js';
import { token, followChanges, setUnauthorizedHandler, api, endSessionRequests } from './api.js';
import * as pages from './pages.js';

const routes = [
  [/^\/$/, pages.dashboard, 'Dashboard'],
  [/^\/devices$/, pages.devices, 'Devices'],
  [/^\/devices\/([\w-]+)$/, pages.device, 'Device'],
  [/^\/groups$/, pages.groups, 'Groups'],
  [/^\/releases$/, pages.releases, 'Releases'],
  [/^\/deployments$/, pages.deployments, 'Deployments'],
  [/^\/deployments\/new$/, pages.newDeployment, 'New deployment'],
  [/^\/deployments\/([\w-]+)$/, pages.deployment, 'Deployment'],
  [/^\/audit$/, pages.audit, 'Audit log'],
  [/^\/tokens$/, pages.tokens, 'Access tokens'],
  [/^\/users$/, pages.users, 'Users'],
];

const main = document.getElementById('main');
let current = { refresh: null, gen: 0 };
let stopStream = null;
let pollTimer = null;

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = raw.split('?');
  return { path, query: new URLSearchParams(qs ?? '') };
}

// What the logged-in user may do, as body classes (can-<PermissionSet>, can-all): style.css
// hides every element whose data-needs names a permission set the user lacks.
let permsFor = null;
async function applyPermissions() {
  const t = token.get();
  if (permsFor === t) return;
  const me = await api('GET', '/api/management/v1/useradm/users/me');
  permsFor = t;
  for (const c of [...document.body.classList]) if (c.startsWith('can-')) document.body.classList.remove(c);
  for (const p of me.permissions ?? []) document.body.classList.add(p === 'SuperUser' ? 'can-all' : `can-${p}`);
  document.body.dataset.roles = (me.roles ?? []).join(' ');
}

async function render() {
  if (!token.get()) return showLogin();
  try {
    await applyPermissions();
  } catch {
    return;
  }
  document.getElementById('top').hidden = false;
  startLive();
  const { path, query } = parseHash();
  leavePage();
  const gen = ++current.gen;
  current.refresh = null;
  for (const a of document.querySelectorAll('#nav a')) {
    const target = a.getAttribute('href').slice(1);
    const on = target === '/' ? path === '/' : path.startsWith(target);
    if (on) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const match = routes.map(([re, page, title]) => [re.exec(path), page, title]).find(([m]) => m);
  if (!match) {
    main.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/' }, 'Back to the dashboard')));
    return;
  }
  const [m, page, title] = match;
  document.title = `${title} · Flipside`;
  main.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
  try {
    const refresh = await page(main, m.slice(1), query);
    if (gen !== current.gen) return;
    current.refresh = refresh ?? null;
  } catch (e) {
    if (gen !== current.gen) return;
    main.replaceChildren(h('h1', {}, title), h('p', { class: 'error', role: 'alert' }, e.message));
  }
}

// At most one refresh in flight; changes arriving meanwhile cause one more afterwards.
let busy = false;
let again = false;
async function refresh() {
  if (!current.refresh) return;
  if (busy) { again = true; return; }
  busy = true;
  const gen = current.gen;
  try {
    await current.refresh();
  } catch (e) {
    if (gen === current.gen && e.status !== 401 && e.name !== 'AbortError') toast(e.message, 'err');
  } finally {
    busy = false;
    if (again) { again = false; setTimeout(refresh, 300); }
  }
}

function startLive() {
  if (stopStream) return;
  const live = document.getElementById('live');
  stopStream = followChanges(refresh, (up) => {
    live.classList.toggle('up', up);
    live.title = up ? 'Live updates: connected' : 'Live updates: reconnecting (polling every 2 s)';
    clearInterval(pollTimer);
    if (!up) pollTimer = setInterval(refresh, 2000);
    else refresh();
  });
}

function stopLive() {
  stopStream?.();
  stopStream = null;
  clearInterval(pollTimer);
}

function logout() {
  const t = token.get();
  token.clear();
  stopLive();
  endSessionRequests();
  if (t) fetch('/api/management/v1/useradm/auth/logout', { method: 'POST', headers: { authorization: `Bearer ${t}` } }).catch(() => {});
  showLogin();
}

function showLogin(message) {
  leavePage();
  stopLive();
  // A page still loading must not replace the login form with its error.
  current.gen++;
  current.refresh = null;
  document.getElementById('top').hidden = true;
  document.title = 'Log in · Flipside';
  main.replaceChildren(pages.login(async () => {
    if (!location.hash || location.hash === '#/login') location.hash = '#/';
    await render();
    main.focus();
  }, message));
  main.querySelector('input')?.focus();
}

setUnauthorizedHandler(() => {
  if (!token.get()) return;
  token.clear();
  showLogin('Your session has ended. Please log in again.');
});

document.getElementById('logout').addEventListener('click', logout);
window.addEventListener('hashchange', async () => {
  await render();
  main.focus({ preventScroll: true });
});
render();
export { api };
