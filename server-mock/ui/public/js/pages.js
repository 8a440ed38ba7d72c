// Every page: mount(main, params, query) builds the page and returns a refresh function that
// reloads only its live parts (so forms being filled in are left alone).
import { h, replace, bytes, when, short, badge, toast, table, field, identityText, deviceLink, deviceName, outcomeBadge, shortfall, can, button, section } from './dom.js';
import { api, get, login as doLogin, uploadArtifact } from './api.js';

/** Why an upload was refused, in words: a file that is no artifact says so and how to make one. */
export function uploadRefusal(name, x) {
  if (x.status === 0) return `${name} was not uploaded. ${x.message}`;
  if (x.status === 413) return `${name} is larger than the server accepts.`;
  if (/ends after \d+ bytes|tar|not a mender artifact|header|magic|unexpected end/i.test(x.message)) {
    return `${name} is not a Mender artifact (the server read: ${x.message}). Make one with flipside-artifact write rootfs-image (or mender-artifact).`;
  }
  return `The server refused ${name}: ${x.message}`;
}
import { troubleshoot, configuration } from './device-tools.js';
import { stackBar, legend, grouped, barRows, seriesLegend, timelineView } from './chart.js';

const DA = '/api/management/v2/devauth';
const INV1 = '/api/management/v1/inventory';
const INV2 = '/api/management/v2/inventory';
const DEP = '/api/management/v1/deployments';
const RELEASES = '/api/management/v2/deployments/deployments/releases';
const enc = encodeURIComponent;


function pager(page, perPage, total, hrefFor) {
  const pages = Math.max(1, Math.ceil(total / perPage));
  if (pages <= 1) return null;
  return h('nav', { class: 'pager', 'aria-label': 'Pages' },
    page > 1 ? h('a', { href: hrefFor(page - 1) }, '‹ Previous') : null,
    h('span', {}, `Page ${page} of ${pages}`),
    page < pages ? h('a', { href: hrefFor(page + 1) }, 'Next ›') : null);
}

/** A modal dialog with a device's deployment log. */
export async function showLog(deploymentId, deviceId, name = short(deviceId)) {
  const text = await api('GET', `${DEP}/deployments/${deploymentId}/devices/${deviceId}/log`);
  const close = h('button', { type: 'button', class: 'close' }, 'Close');
  const dlg = h('dialog', { class: 'log', 'aria-labelledby': 'log-title' },
    h('h2', { id: 'log-title' }, `Log of device ${name}`),
    h('p', { class: 'muted' }, `Deployment ${deploymentId}`),
    h('pre', { tabindex: '0' }, text), close);
  close.addEventListener('click', () => dlg.close());
  dlg.addEventListener('close', () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  close.focus();
}

// ---------------------------------------------------------------- login
export function login(done, message) {
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const err = h('p', { class: 'error', role: 'alert' }, message ?? '');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Log in');
  const form = h('form', { class: 'login card', onsubmit: async (e) => {
    e.preventDefault();
    submit.disabled = true;
    err.textContent = '';
    try {
      await doLogin(email.value, password.value);
      await done();
    } catch (x) {
      err.textContent = x.status === 401 ? 'Wrong e-mail or password.' : x.message;
      submit.disabled = false;
    }
  } },
  h('h1', {}, 'Flipside'), h('p', { class: 'muted' }, 'Log in to manage devices and updates.'),
  field('E-mail', email), field('Password', password), err, submit);
  return h('div', { class: 'login-wrap' }, form);
}

// ---------------------------------------------------------------- dashboard
export async function dashboard(main) {
  const counts = h('div', { class: 'cards' });
  const next = h('div');
  const active = h('div');
  const failures = h('div');
  // The fleet charts need ReadDevices; without it they are left out (no request that would 403).
  const fleet = can('ReadDevices') ? fleetCharts() : null;
  main.replaceChildren(h('h1', {}, 'Dashboard'), next,
    section('Devices', 'd-devices', counts),
    fleet?.software,
    section('Deployments in progress', 'd-active', active),
    fleet?.checkins,
    section('Recent failures', 'd-failures', failures));
  const refresh = async () => {
    const [s] = await Promise.all([get('/ui/api/summary'), fleet?.refresh()]);
    // An empty server says what to do first instead of showing zeros.
    const known = Object.values(s.devices).reduce((a, n) => a + n, 0);
    replace(next, known === 0 ? h('div', { class: 'card next-step', id: 'next-step' },
      h('h2', {}, 'No device has connected yet'),
      h('ol', {},
        h('li', {}, 'Point a device at this server: its flipside.conf needs ServerURL (this address) and ServerCertificate (the CA file flipside-server printed at start). The README\u2019s \u201cConnect your first device\u201d has a config, and a simulated device to try on this machine.'),
        h('li', {}, 'It appears under ', h('a', { href: '#/devices?status=pending' }, 'Devices \u2192 Pending'), ': accept it.'),
        h('li', {}, h('a', { href: '#/releases' }, 'Upload a release'), ', then ', h('a', { href: '#/deployments/new' }, 'deploy it'), '.'))) : null);
    replace(counts, Object.entries(s.devices).map(([st, n]) =>
      h('a', { class: `stat card st-${st}`, href: `#/devices?status=${st}`, dataset: { fk: `c-${st}` } }, h('strong', {}, String(n)), h('span', {}, st))));
    replace(active, s.deployments.active.length ? h('ul', { class: 'plain' }, s.deployments.active.map((d) =>
      h('li', { class: 'dep-row' },
        h('div', { class: 'row-head' }, h('a', { href: `#/deployments/${d.id}`, dataset: { fk: `d-${d.id}` } }, d.name), ' ', outcomeBadge(d),
          h('span', { class: 'muted' }, ` ${d.artifact_name} · ${d.done}/${d.device_count} done`)),
        stackBar(d.statistics, d.device_count, `Progress of ${d.name}`)))) : h('p', { class: 'empty' }, 'No deployment is running.'),
      h('p', { class: 'finished-line' }, h('a', { href: '#/deployments' }, `All deployments (${s.deployments.finished} finished)`),
        Object.keys(s.deployments.outcomes ?? {}).length ? [': ', Object.entries(s.deployments.outcomes).map(([o, n], i) => [i ? ', ' : '', h('span', { class: `badge st-${o}` }, `${n} ${o}`)])] : null));
    replace(failures, table([['Device'], ['Type', 'opt'], ['Deployment'], ['When'], ['Log']], s.failures.map((f) => h('tr', {},
      h('td', {}, deviceLink(f.identity, f.device_id)),
      h('td', { class: 'opt' }, f.device_type ?? ''),
      h('td', {}, h('a', { href: `#/deployments/${f.deployment_id}` }, f.deployment_name)),
      h('td', {}, when(f.finished)),
      h('td', {}, f.log ? button('View log', () => showLog(f.deployment_id, f.device_id, deviceName(f.identity, f.device_id)), { dataset: { fk: `l-${f.deployment_id}-${f.device_id}` } }) : '—'))),
      'No failures.'));
  };
  await refresh();
  return refresh;
}


const STALE_CHOICES = [['3600', '1 hour'], ['86400', '1 day'], ['604800', '7 days'], ['2592000', '30 days']];

/**
 * The dashboard's fleet charts: which release runs on how many devices of each type, how long
 * ago devices last checked in, and the stale ones (no check-in for longer than the chosen time).
 */
function fleetCharts() {
  const sw = h('div', { class: 'card chart', id: 'software' });
  const ages = h('div', { class: 'card chart', id: 'checkins' });
  const stale = h('div', { id: 'stale' });
  const after = h('select', { name: 'stale_after', dataset: { fk: 'stale-after' } },
    STALE_CHOICES.map(([v, l]) => h('option', { value: v, selected: v === '86400' }, l)));
  // Live refreshes come with every write anywhere; in a busy fleet that is several a second and
  // each aggregate reads every accepted device, so the charts follow at most every 15 s.
  let last = 0;
  const refresh = async (force) => {
    if (force !== true && Date.now() - last < 15_000) return;
    last = Date.now();
    const f = await get(`/ui/api/fleet?stale_after=${after.value}`);
    const totals = Object.fromEntries(f.device_types.map((t) => [t, 0]));
    for (const r of f.software) for (const [t, n] of Object.entries(r.by_device_type)) totals[t] += n;
    replace(sw, f.total === 0 ? h('p', { class: 'empty' }, 'No accepted device yet.') : [
      h('p', { class: 'muted' }, `Installed release of the ${f.total} accepted device${f.total === 1 ? '' : 's'} (as each last reported it), by device type.`),
      barRows(f.software.map((r) => ({ label: r.artifact_name, count: r.count, by: r.by_device_type })), f.device_types, 'Devices per release'),
      seriesLegend(f.device_types, totals)]);
    replace(ages, f.total === 0 ? h('p', { class: 'empty' }, 'No accepted device yet.') : [
      barRows(f.check_ins.map((b) => ({ label: b.label, count: b.count, by: b.by_device_type })), f.device_types, 'Devices by last check-in'),
      seriesLegend(f.device_types)]);
    const label = STALE_CHOICES.find(([v]) => v === after.value)?.[1] ?? `${after.value} s`;
    const most = (o) => Object.entries(o).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    const groups = most(f.stale.by_group).map(([g, n]) => `${n} in ${g ? `group ${g}` : 'no group'}`).join(', ');
    const types = most(f.stale.by_device_type).map(([t, n]) => `${n} ${t}`).join(', ');
    replace(stale, h('p', { class: f.stale.count ? 'warn stale-line' : 'ok stale-line' },
      f.stale.count ? `${f.stale.count} device${f.stale.count === 1 ? ' has' : 's have'} not checked in for more than ${label}: ${types}; ${groups}.` : `Every accepted device checked in within ${label}.`),
      f.stale.count ? table([['Device'], ['Type'], ['Group', 'opt'], ['Last check-in']], f.stale.devices.map((d) => h('tr', { dataset: { stale: d.id } },
        h('td', {}, deviceLink(d.identity, d.id)), h('td', {}, d.device_type), h('td', { class: 'opt' }, d.group ?? ''),
        h('td', {}, d.check_in_time ? when(d.check_in_time) : 'never')))) : null,
      f.stale.count > f.stale.devices.length ? h('p', { class: 'muted' }, `The ${f.stale.devices.length} longest silent are listed.`) : null);
  };
  after.addEventListener('change', () => refresh(true).catch((e) => toast(e.message, 'err')));
  return {
    refresh,
    software: section('Software distribution', 'd-software', sw),
    checkins: section('Last check-in', 'd-checkins', ages,
      h('form', { class: 'inline stale-form', onsubmit: (e) => e.preventDefault() }, field('Stale after no check-in for', after)), stale),
  };
}

// ---------------------------------------------------------------- devices
const STATUSES = ['pending', 'accepted', 'rejected', 'preauthorized'];

async function setAuth(devId, authId, status) {
  await api('PUT', `${DA}/devices/${devId}/auth/${authId}/status`, { status });
  toast(`Device ${short(devId)} ${status}`);
}
async function decommission(devId) {
  if (!confirm(`Decommission device ${short(devId)}? Its keys, tokens and inventory are removed.`)) return false;
  await api('DELETE', `${DA}/devices/${devId}`);
  toast(`Device ${short(devId)} decommissioned`);
  return true;
}

function deviceActions(d, after) {
  const sets = d.auth_sets ?? [];
  const acts = [];
  const pend = sets.filter((a) => a.status === 'pending');
  for (const a of pend) {
    const which = pend.length > 1 ? ` key ${short(a.id)}` : '';
    acts.push(button(`Accept${which}`, async () => { await setAuth(d.id, a.id, 'accepted'); await after(); }, { class: 'primary', dataset: { fk: `acc-${a.id}` }, 'aria-label': `Accept device ${identityText(d.identity_data)}${which}` }));
    acts.push(button(`Reject${which}`, async () => { await setAuth(d.id, a.id, 'rejected'); await after(); }, { dataset: { fk: `rej-${a.id}` }, 'aria-label': `Reject device ${identityText(d.identity_data)}${which}` }));
  }
  if (d.status === 'accepted') {
    const a = sets.find((x) => x.status === 'accepted');
    if (a) acts.push(button('Reject', async () => { await setAuth(d.id, a.id, 'rejected'); await after(); }, { dataset: { fk: `rej-${a.id}` } }));
  }
  if (d.status === 'rejected') {
    const a = sets.filter((x) => x.status === 'rejected').at(-1);
    if (a) acts.push(button('Accept', async () => { await setAuth(d.id, a.id, 'accepted'); await after(); }, { dataset: { fk: `acc-${a.id}` } }));
  }
  acts.push(button(d.status === 'preauthorized' ? 'Remove' : 'Decommission', async () => { if (await decommission(d.id)) await after(); }, { class: 'danger', dataset: { fk: `dec-${d.id}` } }));
  return h('div', { class: 'actions', dataset: { needs: 'ManageDevices' } }, acts);
}

function preauthForm(after) {
  const idIn = h('textarea', { rows: 3, required: true, placeholder: 'mac=52:54:00:12:34:56', spellcheck: 'false' });
  const keyIn = h('textarea', { rows: 6, required: true, placeholder: '-----BEGIN PUBLIC KEY-----', spellcheck: 'false', class: 'mono' });
  const err = h('p', { class: 'error', role: 'alert' });
  return h('details', { class: 'card', dataset: { needs: 'ManageDevices' } }, h('summary', {}, 'Preauthorize a device'),
    h('form', { onsubmit: async (e) => {
      e.preventDefault();
      err.textContent = '';
      let identity;
      const raw = idIn.value.trim();
      try {
        identity = raw.startsWith('{') ? JSON.parse(raw) : Object.fromEntries(raw.split(/\n|,/).map((l) => l.trim()).filter(Boolean).map((l) => {
          const i = l.indexOf('=');
          if (i < 1) throw new Error(`"${l}" is not name=value`);
          return [l.slice(0, i).trim(), l.slice(i + 1).trim()];
        }));
      } catch (x) { err.textContent = `Identity: ${x.message}`; return; }
      try {
        await api('POST', `${DA}/devices`, { identity_data: identity, pubkey: keyIn.value.trim() });
        toast('Device preauthorized');
        idIn.value = ''; keyIn.value = '';
        location.hash = '#/devices?status=preauthorized';
        await after();
      } catch (x) { err.textContent = x.message; }
    } },
    field('Identity (name=value per line, or JSON)', idIn), field('Public key (PEM)', keyIn), err,
    h('button', { type: 'submit', class: 'primary' }, 'Preauthorize')));
}

// The pending queue against its cap and what the admission limits refused (a flood shows here).
function admissionLine(a) {
  const refused = a.refused_rate_limited + a.refused_queue_full + a.refused_too_large;
  return [`Pending queue ${a.pending_auth_sets} of ${a.max_pending} (full: new devices are refused). `,
    refused ? h('strong', {}, 'Refused since ', when(a.since), `: ${a.refused_rate_limited} too many from one address, ${a.refused_queue_full} queue full, ${a.refused_too_large} too large.`)
      : ['No device refused since ', when(a.since), '.']];
}

// Within a page of devices: a search over identity, type, version and group, and a sort. Both
// work on the rows already fetched, so typing never waits for the server.
const SORTS = { name: 'Name', type: 'Device type', version: 'Installed version', seen: 'Last report (newest first)' };

export async function devices(main, _p, query) {
  const status = STATUSES.includes(query.get('status')) ? query.get('status') : 'pending';
  const page = Math.max(1, Number(query.get('page')) || 1);
  const perPage = 50;
  const tabs = h('ul', { class: 'tabs' });
  const list = h('div');
  const search = h('input', { type: 'search', name: 'q', placeholder: 'serial, mac, type, version, group…', 'aria-label': 'Search devices', autocomplete: 'off', value: query.get('q') ?? '' });
  const sort = h('select', { name: 'sort', 'aria-label': 'Sort devices by' }, Object.entries(SORTS).map(([v, l]) => h('option', { value: v, selected: v === query.get('sort') }, l)));
  const bulk = h('div', { class: 'actions bulk', dataset: { needs: 'ManageDevices' } });
  const selected = new Set();
  let rowsData = [];
  const view = () => {
    const q = search.value.trim().toLowerCase();
    const shown = rowsData.filter((r) => !q || r.text.includes(q));
    const by = sort.value;
    shown.sort((a, b) => (by === 'seen' ? String(b.seen ?? '').localeCompare(String(a.seen ?? '')) : String(a[by] ?? '~').localeCompare(String(b[by] ?? '~'), undefined, { numeric: true })));
    for (const id of [...selected]) if (!shown.some((r) => r.d.id === id)) selected.delete(id);
    const pick = (d) => h('input', { type: 'checkbox', class: 'pick', 'aria-label': `Select ${deviceName(d.identity_data, d.id)}`, checked: selected.has(d.id), dataset: { fk: `pick-${d.id}` },
      onchange: (e) => { if (e.target.checked) selected.add(d.id); else selected.delete(d.id); bulkBar(shown); } });
    const rows = shown.map(({ d, type, version, group, seen }) => h('tr', { dataset: { device: d.id } },
      status === 'pending' ? h('td', { class: 'sel', dataset: { needs: 'ManageDevices' } }, pick(d)) : null,
      h('td', {}, deviceLink(d.identity_data, d.id, { dataset: { fk: `dev-${d.id}` } })),
      h('td', { class: 'wrap opt' }, identityText(d.identity_data)),
      status === 'accepted' ? [h('td', { class: 'nowrap', dataset: { label: 'Type' } }, type ?? ''), h('td', { class: 'nowrap', dataset: { label: 'Version' } }, version ?? ''), h('td', { class: 'opt' }, group ?? '')] : null,
      h('td', { class: 'opt' }, seen ? [h('span', { class: `dot ${Date.now() - Date.parse(seen) < 30 * 60_000 ? 'on' : 'off'}`, 'aria-hidden': 'true' }), when(seen)] : ''),
      h('td', {}, deviceActions(d, refresh))));
    const all = status === 'pending' ? h('input', { type: 'checkbox', class: 'pick', 'aria-label': 'Select all shown', checked: shown.length > 0 && shown.every((r) => selected.has(r.d.id)),
      onchange: (e) => { for (const r of shown) { if (e.target.checked) selected.add(r.d.id); else selected.delete(r.d.id); } view(); } }) : null;
    const cols = [...(status === 'pending' ? [[all, 'sel']] : []), ['Device'], ['Identity', 'opt'], ...(status === 'accepted' ? [['Type'], ['Version'], ['Group', 'opt']] : []), [status === 'accepted' ? 'Last report' : 'Changed', 'opt'], ['Actions']];
    replace(list, q && !shown.length && rowsData.length ? h('p', { class: 'empty' }, `No ${status} device matches “${search.value}”.`) : h('div', { class: 'stack-phone' }, table(cols, rows, `No ${status} devices.`)),
      pager(page, perPage, rowsData.total, (n) => `#/devices?status=${status}&page=${n}`));
    bulkBar(shown);
  };
  const bulkBar = (shown) => {
    if (status !== 'pending') return replace(bulk);
    const chosen = shown.filter((r) => selected.has(r.d.id));
    replace(bulk, button(`Accept selected (${chosen.length})`, async () => {
      let n = 0;
      for (const { d } of chosen) {
        const a = (d.auth_sets ?? []).find((x) => x.status === 'pending');
        if (!a) continue;
        await api('PUT', `${DA}/devices/${d.id}/auth/${a.id}/status`, { status: 'accepted' });
        n++;
      }
      selected.clear();
      toast(`${n} device${n === 1 ? '' : 's'} accepted`);
      await refresh();
    }, { class: 'primary', disabled: chosen.length === 0, dataset: { fk: 'accept-selected' } }));
  };
  const refresh = async () => {
    const counts = await Promise.all(STATUSES.map((s) => get(`${DA}/devices/count?status=${s}`)));
    replace(tabs, STATUSES.map((s, i) => h('li', {}, h('a', { href: `#/devices?status=${s}`, 'aria-current': s === status ? 'page' : undefined, dataset: { fk: `t-${s}` } },
      `${s[0].toUpperCase()}${s.slice(1)} `, h('span', { class: 'count' }, String(counts[i].count))))));
    const devs = await get(`${DA}/devices?status=${status}&page=${page}&per_page=${perPage}`);
    const inventory = status === 'accepted' ? await get(`${INV1}/devices?per_page=500`) : [];
    const invOf = new Map(inventory.map((x) => [x.id, x]));
    const attr = (id, name) => invOf.get(id)?.attributes.find((a) => a.name === name)?.value;
    rowsData = devs.map((d) => {
      const r = { d, name: deviceName(d.identity_data, d.id), type: attr(d.id, 'device_type'), version: attr(d.id, 'artifact_name'), group: attr(d.id, 'group'), seen: invOf.get(d.id)?.updated_ts ?? d.updated_ts };
      r.text = [r.name, identityText(d.identity_data), r.type, r.version, r.group, d.id].filter(Boolean).join(' ').toLowerCase();
      return r;
    });
    rowsData.total = devs.total ?? devs.length;
    view();
    replace(gate, admissionLine(await get(`${DA}/admission`)));
  };
  search.addEventListener('input', view);
  sort.addEventListener('change', view);
  const gate = h('p', { class: 'muted', dataset: { fk: 'admission' } });
  main.replaceChildren(h('h1', {}, 'Devices'), h('nav', { 'aria-label': 'Device status' }, tabs), gate,
    h('form', { class: 'inline list-tools', role: 'search', onsubmit: (e) => e.preventDefault() }, field('Search', search), field('Sort by', sort), bulk), list, preauthForm(refresh));
  await refresh();
  return refresh;
}

// ---------------------------------------------------------------- one device
export async function device(main, [id]) {
  const head = h('div');
  const info = h('div');
  const inv = h('div');
  const hist = h('div');
  const groupIn = h('input', { name: 'group', list: 'group-names', pattern: '[A-Za-z0-9_\\-]+', required: true, autocomplete: 'off' });
  const groupNames = h('datalist', { id: 'group-names' });
  const groupBox = h('div');
  const groupForm = h('form', { class: 'inline', onsubmit: async (e) => {
    e.preventDefault();
    try {
      await api('PUT', `${INV1}/devices/${id}/group`, { group: groupIn.value });
      toast(`Device added to ${groupIn.value}`);
      groupIn.value = '';
      await refresh();
    } catch (x) { toast(x.message, 'err'); }
  } }, field('Group name', groupIn), groupNames, h('button', { type: 'submit' }, 'Set group'));
  const groupSection = section('Group', 'dv-group', groupBox, groupForm);
  const trouble = troubleshoot(id);
  const config = configuration(id);
  trouble.el.hidden = config.el.hidden = true;
  main.replaceChildren(head, section('Identity and keys', 'dv-id', info), groupSection, section('Inventory', 'dv-inv', inv), trouble.el, config.el, section('Deployment history', 'dv-hist', hist));
  const refresh = async () => {
    let d;
    try { d = await get(`${DA}/devices/${id}`); } catch (x) {
      if (x.status === 404) { main.replaceChildren(h('h1', {}, 'Device not found'), h('p', {}, h('a', { href: '#/devices' }, 'Back to devices'))); return; }
      throw x;
    }
    replace(head, h('h1', {}, `Device ${deviceName(d.identity_data, d.id)} `, badge(d.status)), h('p', { class: 'muted mono' }, d.id),
      deviceActions(d, refresh));
    replace(info, h('dl', { class: 'kv' }, Object.entries(d.identity_data).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))]),
      h('dt', {}, 'First seen'), h('dd', {}, when(d.created_ts))),
      table([['Key'], ['Status'], ['Since'], ['Actions']], d.auth_sets.map((a) => h('tr', {},
        h('td', {}, h('details', {}, h('summary', {}, short(a.id)), h('pre', { class: 'key' }, a.pubkey))),
        h('td', {}, badge(a.status)), h('td', {}, when(a.ts)),
        h('td', {}, h('div', { class: 'actions' },
          a.status !== 'accepted' ? button('Accept', async () => { await setAuth(d.id, a.id, 'accepted'); await refresh(); }, { dataset: { fk: `a-${a.id}` } }) : null,
          a.status !== 'rejected' ? button('Reject', async () => { await setAuth(d.id, a.id, 'rejected'); await refresh(); }, { dataset: { fk: `r-${a.id}` } }) : null))))));
    groupSection.hidden = d.status !== 'accepted';
    if (d.status === 'accepted') {
      const [device, groups] = await Promise.all([get(`${INV1}/devices/${id}`), get(`${INV1}/groups`)]);
      const group = device.attributes.find((a) => a.name === 'group' && a.scope === 'system')?.value;
      replace(groupNames, groups.map((g) => h('option', { value: g })));
      replace(groupBox, group ? h('p', {}, 'In group ', h('strong', {}, group), ' ',
        button('Remove from group', async () => { await api('DELETE', `${INV1}/devices/${id}/group/${enc(group)}`); await refresh(); }, { dataset: { fk: 'ungroup' } })) : h('p', { class: 'muted' }, 'Not in a static group.'));
      const attrs = device.attributes.filter((a) => a.scope !== 'identity');
      replace(inv, table([['Attribute'], ['Value'], ['Scope', 'opt']], attrs.map((a) => h('tr', {},
        h('td', {}, a.name), h('td', { class: 'wrap' }, typeof a.value === 'string' ? a.value : JSON.stringify(a.value)), h('td', { class: 'opt' }, a.scope))),
      'The device has not sent its inventory yet.'));
    } else {
      replace(inv, h('p', { class: 'muted' }, 'Inventory is kept for accepted devices.'));
    }
    await Promise.all([trouble.refresh(d), config.refresh(d)]);
    // Mender's history items carry the deployment and the device's part of it.
    const history = await get(`${DEP}/deployments/devices/${id}?per_page=500`);
    replace(hist, table([['Deployment'], ['Status'], ['Attempts', 'opt'], ['Finished', 'opt'], ['Log']], history.map(({ deployment: d, device: r }) => h('tr', {},
      h('td', {}, h('a', { href: `#/deployments/${d.id}` }, d.name || short(d.id))),
      h('td', {}, badge(r.status), r.substate ? h('span', { class: 'muted' }, ` ${r.substate}`) : null),
      h('td', { class: 'opt' }, String(r.attempts)), h('td', { class: 'opt' }, when(r.finished)),
      h('td', {}, r.log ? button('View log', () => showLog(d.id, id), { dataset: { fk: `log-${d.id}` } }) : '—'))),
    'No deployments for this device yet.'));
  };
  await refresh();
  return refresh;
}

// ---------------------------------------------------------------- groups
const OPS = ['$eq', '$ne', '$in', '$nin', '$exists', '$gt', '$gte', '$lt', '$lte', '$regex'];

function termValue(type, raw) {
  if (type === '$exists') return raw.trim() !== 'false';
  if (type === '$in' || type === '$nin') return raw.split(',').map((x) => x.trim()).filter(Boolean);
  if (['$gt', '$gte', '$lt', '$lte'].includes(type) && raw.trim() !== '' && !Number.isNaN(Number(raw))) return Number(raw);
  return raw;
}

function memberList(ids, remove) {
  if (!ids.length) return h('p', { class: 'empty' }, 'No members.');
  return h('ul', { class: 'members' }, ids.map((id) => h('li', {}, h('a', { href: `#/devices/${id}` }, short(id)),
    remove ? button('Remove', () => remove(id), { class: 'small', 'aria-label': `Remove ${short(id)} from the group`, dataset: { fk: `rm-${id}` } }) : null)));
}

export async function groups(main) {
  const statics = h('div');
  const dynamics = h('div');
  const picker = h('fieldset', { class: 'picker' });
  const nameIn = h('input', { name: 'group', pattern: '[A-Za-z0-9_\\-]+', required: true, autocomplete: 'off' });
  const staticErr = h('p', { class: 'error', role: 'alert' });
  const staticForm = h('form', { class: 'card', onsubmit: async (e) => {
    e.preventDefault();
    staticErr.textContent = '';
    const ids = [...picker.querySelectorAll('input:checked')].map((c) => c.value);
    if (!ids.length) { staticErr.textContent = 'Pick at least one device.'; return; }
    try {
      await api('PATCH', `${INV1}/groups/${enc(nameIn.value)}/devices`, ids);
      toast(`${ids.length} device(s) added to ${nameIn.value}`);
      nameIn.value = '';
      picker.querySelectorAll('input:checked').forEach((c) => (c.checked = false));
      await refresh();
    } catch (x) { staticErr.textContent = x.message; }
  } }, h('h3', {}, 'Add devices to a static group'), field('Group name', nameIn, 'Letters, digits, - and _. A new name creates the group.'), picker, staticErr,
  h('button', { type: 'submit', class: 'primary' }, 'Add to group'));

  const attrs = h('datalist', { id: 'attr-names' });
  const terms = h('div', { class: 'terms' });
  const addTerm = () => {
    const scope = h('select', { 'aria-label': 'Scope' }, ['inventory', 'identity', 'system'].map((x) => h('option', {}, x)));
    const attr = h('input', { list: 'attr-names', required: true, 'aria-label': 'Attribute', placeholder: 'attribute', autocomplete: 'off' });
    const op = h('select', { 'aria-label': 'Operator' }, OPS.map((x) => h('option', {}, x)));
    const val = h('input', { 'aria-label': 'Value', placeholder: 'value (a,b for $in)' });
    const row = h('div', { class: 'term' }, scope, attr, op, val, button('Remove', () => row.remove(), { class: 'small', 'aria-label': 'Remove this condition' }));
    terms.append(row);
  };
  addTerm();
  const fName = h('input', { name: 'filter', pattern: '[A-Za-z0-9_\\-]+', required: true, autocomplete: 'off' });
  const dynErr = h('p', { class: 'error', role: 'alert' });
  const dynForm = h('form', { class: 'card', onsubmit: async (e) => {
    e.preventDefault();
    dynErr.textContent = '';
    const list = [...terms.querySelectorAll('.term')].map((r) => {
      const [scope, op] = r.querySelectorAll('select');
      const [attr, val] = r.querySelectorAll('input');
      return { scope: scope.value, attribute: attr.value, type: op.value, value: termValue(op.value, val.value) };
    });
    if (!list.length) { dynErr.textContent = 'Add at least one condition.'; return; }
    try {
      await api('POST', `${INV2}/filters`, { name: fName.value, terms: list });
      toast(`Dynamic group ${fName.value} saved`);
      fName.value = '';
      terms.replaceChildren();
      addTerm();
      await refresh();
    } catch (x) { dynErr.textContent = x.message; }
  } }, h('h3', {}, 'New dynamic group'), field('Name', fName), attrs, h('p', { class: 'label' }, 'Devices whose inventory matches every condition:'), terms,
  h('div', { class: 'actions' }, button('Add condition', addTerm), h('button', { type: 'submit', class: 'primary' }, 'Save dynamic group')), dynErr);

  main.replaceChildren(h('h1', {}, 'Groups'),
    section('Static groups', 'g-static', statics, staticForm),
    section('Dynamic groups', 'g-dynamic', h('p', { class: 'muted' }, 'Saved inventory filters; deployments to them take the accepted devices that match when created.'), dynamics, dynForm));

  const refresh = async () => {
    const [names, accepted, filters, attrNames] = await Promise.all([get(`${INV1}/groups`), get(`${INV1}/devices?per_page=500`), get(`${INV2}/filters`), get(`${INV2}/filters/attributes`)]);
    const members = await Promise.all(names.map((n) => get(`${INV1}/groups/${enc(n)}/devices?per_page=500`).catch(() => [])));
    replace(statics, names.length ? h('div', { class: 'grid' }, names.map((n, i) => h('article', { class: 'card' },
      h('h3', {}, n, ' ', h('span', { class: 'count' }, String(members[i].length))),
      memberList(members[i], async (id) => { await api('DELETE', `${INV1}/groups/${enc(n)}/devices`, [id]); await refresh(); }),
      h('div', { class: 'actions' },
        h('a', { class: 'button', href: `#/deployments/new?group=${enc(n)}` }, 'Deploy to group'),
        button('Delete group', async () => { if (confirm(`Delete group ${n}? Devices stay; they only leave the group.`)) { await api('DELETE', `${INV1}/groups/${enc(n)}`); await refresh(); } }, { class: 'danger', dataset: { fk: `del-${n}` } })))))
      : h('p', { class: 'empty' }, 'No static groups yet.'));
    const checked = new Set([...picker.querySelectorAll('input:checked')].map((c) => c.value));
    replace(picker, h('legend', {}, 'Accepted devices'), accepted.length ? accepted.map((d) => {
      const g = d.attributes.find((a) => a.name === 'group')?.value;
      const ident = d.attributes.filter((a) => a.scope === 'identity' && a.name !== 'status').map((a) => `${a.name}=${a.value}`).join(', ');
      return h('label', { class: 'check' }, h('input', { type: 'checkbox', value: d.id, checked: checked.has(d.id), dataset: { fk: `pick-${d.id}` } }), ` ${short(d.id)} `, h('span', { class: 'muted' }, ident), g ? h('span', { class: 'tag' }, g) : null);
    }) : h('p', { class: 'empty' }, 'No accepted devices.'));
    replace(attrs, attrNames.map((a) => h('option', { value: a.name }, a.scope)));
    const filterMembers = await Promise.all(filters.map((f) => api('POST', `${INV2}/filters/search`, { filters: [...f.terms, { scope: 'identity', attribute: 'status', type: '$eq', value: 'accepted' }], per_page: 500 }).then((r) => r.map((d) => d.id)).catch(() => [])));
    replace(dynamics, filters.length ? h('div', { class: 'grid' }, filters.map((f, i) => h('article', { class: 'card' },
      h('h3', {}, f.name, ' ', h('span', { class: 'count' }, String(filterMembers[i].length))),
      h('ul', { class: 'plain terms-view' }, f.terms.map((t) => h('li', { class: 'mono' }, `${t.scope}.${t.attribute} ${t.type} ${JSON.stringify(t.value)}`))),
      memberList(filterMembers[i]),
      h('div', { class: 'actions' },
        h('a', { class: 'button', href: `#/deployments/new?filter=${enc(f.id)}` }, 'Deploy to group'),
        button('Delete', async () => { if (confirm(`Delete dynamic group ${f.name}?`)) { await api('DELETE', `${INV2}/filters/${f.id}`); await refresh(); } }, { class: 'danger', dataset: { fk: `fdel-${f.id}` } })))))
      : h('p', { class: 'empty' }, 'No dynamic groups yet.'));
  };
  await refresh();
  return refresh;
}

// ---------------------------------------------------------------- releases
export async function releases(main) {
  const fileIn = h('input', { type: 'file', id: 'artifact-file', accept: '.mender', class: 'visually-hidden' });
  const desc = h('input', { name: 'description', autocomplete: 'off' });
  const bar = h('progress', { max: 1, value: 0, hidden: true, 'aria-label': 'Upload progress' });
  const pct = h('span', { class: 'muted' });
  const err = h('p', { class: 'error', role: 'alert', id: 'upload-error' });
  const list = h('div');
  const drop = h('div', { class: 'drop', id: 'drop-zone', dataset: { needs: 'UploadArtifacts' } },
    h('p', {}, 'Drop a .mender artifact here, or '),
    h('label', { for: 'artifact-file', class: 'button primary', tabindex: '0', onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); fileIn.click(); } } }, 'choose a file'),
    fileIn, h('div', { class: 'progress' }, bar, pct));
  const start = async (file) => {
    if (!file) return;
    err.textContent = '';
    bar.hidden = false;
    bar.value = 0;
    pct.textContent = `Uploading ${file.name} (${bytes(file.size)})…`;
    try {
      await uploadArtifact(file, desc.value, (f) => { bar.value = f; pct.textContent = `Uploading ${file.name}: ${Math.round(f * 100)} %`; });
      pct.textContent = `${file.name} uploaded.`;
      toast(`${file.name} uploaded`);
      desc.value = '';
      await refresh();
    } catch (x) {
      pct.textContent = '';
      err.textContent = uploadRefusal(file.name, x);
    } finally {
      bar.hidden = true;
      fileIn.value = '';
    }
  };
  fileIn.addEventListener('change', () => start(fileIn.files[0]));
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); start(e.dataTransfer.files[0]); });

  main.replaceChildren(h('h1', {}, 'Releases'),
    section('Upload an artifact', 'r-up', h('div', { class: 'card' }, field('Description (optional)', desc), drop, err)),
    section('Releases', 'r-list', list));
  const refresh = async () => {
    const rel = await get(RELEASES);
    replace(list, rel.length ? rel.map((r) => h('article', { class: 'card release' },
      h('h3', {}, r.name, ' ', h('span', { class: 'count' }, `${r.artifacts_count} artifact${r.artifacts_count === 1 ? '' : 's'}`),
        ' ', h('a', { class: 'button small', href: `#/deployments/new?release=${enc(r.name)}` }, 'Deploy')),
      table([['Device types'], ['Type', 'opt'], ['Signature'], ['Size'], ['Uploaded', 'opt'], ['Description', 'opt'], ['']], r.artifacts.map((a) => h('tr', {},
        h('td', {}, a.device_types_compatible.map((t) => h('span', { class: 'tag' }, t))),
        h('td', { class: 'opt' }, (a.updates ?? []).map((u) => u.type_info?.type ?? 'empty').join(', ')),
        h('td', {}, a.signed ? h('span', { class: 'badge st-success' }, 'signed') : h('span', { class: 'badge st-none' }, 'unsigned')),
        h('td', {}, bytes(a.size)),
        h('td', { class: 'opt' }, when(a.modified)),
        h('td', { class: 'opt wrap' }, a.description),
        h('td', {}, button('Delete', async () => {
          if (!confirm(`Delete artifact ${a.name} for ${a.device_types_compatible.join(', ')}?`)) return;
          await api('DELETE', `${DEP}/artifacts/${a.id}`);
          toast('Artifact deleted');
          await refresh();
        }, { class: 'danger small', 'aria-label': `Delete ${a.name} for ${a.device_types_compatible.join(', ')}`, dataset: { fk: `del-${a.id}` } }))))))) : h('p', { class: 'empty' }, 'No releases yet: upload an artifact.'));
  };
  await refresh();
  return refresh;
}

// ---------------------------------------------------------------- deployments
function depRow(d) {
  const done = grouped(d.statistics.status).filter((g) => ['success', 'failure', 'skipped'].includes(g.key)).reduce((a, g) => a + g.n, 0);
  return h('tr', {},
    h('td', {}, h('a', { href: `#/deployments/${d.id}`, dataset: { fk: `dep-${d.id}` } }, d.name)),
    h('td', { class: 'opt' }, d.artifact_name),
    h('td', {}, outcomeBadge(d)),
    h('td', { class: 'progress-cell' }, stackBar(d.statistics.status, d.device_count, `Progress of ${d.name}`),
      h('small', {}, `${done}/${d.device_count} done`, shortfall(d.statistics.status) ? `: ${shortfall(d.statistics.status)}` : '')),
    h('td', { class: 'opt' }, when(d.status === 'scheduled' ? d.phases[0]?.start_ts : d.created)));
}

export async function deployments(main, _p, query) {
  const page = Math.max(1, Number(query.get('page')) || 1);
  const perPage = 50;
  const act = h('div');
  const sched = h('div');
  const fin = h('div');
  main.replaceChildren(h('div', { class: 'title-row' }, h('h1', {}, 'Deployments'), h('a', { class: 'button primary', href: '#/deployments/new', dataset: { needs: 'DeployToDevices' } }, 'New deployment')),
    section('Active', 'dp-active', act), section('Scheduled', 'dp-sched', sched), section('Finished', 'dp-fin', fin));
  const cols = [['Name'], ['Release', 'opt'], ['Status'], ['Progress'], ['Created', 'opt']];
  const refresh = async () => {
    const all = await get(`${DEP}/deployments?per_page=500`);
    replace(act, table(cols, all.filter((d) => d.status === 'pending' || d.status === 'inprogress').map(depRow), 'No active deployments.'));
    replace(sched, table([...cols.slice(0, 4), ['Starts', 'opt']], all.filter((d) => d.status === 'scheduled').map(depRow), 'No scheduled deployments.'));
    const finished = all.filter((d) => d.status === 'finished');
    replace(fin, table(cols, finished.slice((page - 1) * perPage, page * perPage).map(depRow), 'No finished deployments.'),
      pager(page, perPage, finished.length, (n) => `#/deployments?page=${n}`));
  };
  await refresh();
  return refresh;
}

export async function newDeployment(main, _p, query) {
  const [rel, groupNames, filters, accepted] = await Promise.all([get(RELEASES), get(`${INV1}/groups`), get(`${INV2}/filters`), get(`${INV1}/devices?per_page=500`)]);
  const name = h('input', { name: 'name', required: true, maxlength: 256, autocomplete: 'off' });
  const release = h('select', { name: 'release', required: true }, h('option', { value: '' }, 'Choose a release'),
    rel.map((r) => h('option', { value: r.name, selected: r.name === query.get('release') }, `${r.name} (${[...new Set(r.artifacts.flatMap((a) => a.device_types_compatible))].join(', ')})`)));
  const targetKind = query.get('filter') ? 'filter' : query.get('group') || groupNames.length ? 'group' : 'all';
  const radio = (value, label) => h('label', { class: 'check' }, h('input', { type: 'radio', name: 'target', value, checked: value === targetKind }), ` ${label}`);
  // An empty list says so instead of showing a blank dropdown.
  const group = h('select', { name: 'group', 'aria-label': 'Which static group' }, groupNames.length ? groupNames.map((g) => h('option', { value: g, selected: g === query.get('group') }, g)) : h('option', { value: '' }, 'No static groups yet (Groups page)'));
  const filter = h('select', { name: 'filter', 'aria-label': 'Which dynamic group' }, filters.length ? filters.map((f) => h('option', { value: f.id, selected: f.id === query.get('filter') }, f.name)) : h('option', { value: '' }, 'No dynamic groups yet (Groups page)'));
  const devPick = h('fieldset', { class: 'picker' }, h('legend', {}, 'Devices'), accepted.map((d) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', name: 'device', value: d.id }), ` ${short(d.id)} `,
    h('span', { class: 'muted' }, d.attributes.filter((a) => a.scope === 'identity' && a.name !== 'status').map((a) => `${a.name}=${a.value}`).join(', ')))));
  const target = h('fieldset', {}, h('legend', {}, 'Target'),
    h('div', { class: 'target' }, radio('group', 'Static group'), group),
    h('div', { class: 'target' }, radio('filter', 'Dynamic group'), filter),
    h('div', { class: 'target' }, radio('all', 'All accepted devices')),
    h('div', { class: 'target' }, radio('devices', 'Chosen devices')), devPick);
  const syncTarget = () => {
    const k = target.querySelector('input[name=target]:checked')?.value;
    group.disabled = k !== 'group';
    filter.disabled = k !== 'filter';
    devPick.hidden = k !== 'devices';
  };
  target.addEventListener('change', syncTarget);
  syncTarget();

  // Before creating: how many devices it reaches, and which of them the release has no artifact
  // for (they would end "noartifact"). Recomputed whenever the release or the target changes.
  const preview = h('div', { class: 'card preview', role: 'status', 'aria-live': 'polite', id: 'target-preview' });
  const info = new Map(accepted.map((d) => [d.id, {
    type: d.attributes.find((a) => a.name === 'device_type')?.value,
    name: deviceName(Object.fromEntries(d.attributes.filter((a) => a.scope === 'identity' && a.name !== 'status').map((a) => [a.name, a.value])), d.id),
  }]));
  let previewGen = 0;
  const updatePreview = async () => {
    const gen = ++previewGen;
    const kind = target.querySelector('input[name=target]:checked')?.value;
    let ids = [];
    try {
      if (kind === 'group') ids = group.value ? await get(`${INV1}/groups/${enc(group.value)}/devices?per_page=500`) : [];
      else if (kind === 'filter') {
        const f = filters.find((x) => x.id === filter.value);
        ids = f ? (await api('POST', `${INV2}/filters/search`, { filters: f.terms, per_page: 500 })).map((d) => d.id) : [];
      } else if (kind === 'devices') ids = [...devPick.querySelectorAll('input:checked')].map((c) => c.value);
      else ids = accepted.map((d) => d.id);
    } catch (x) { if (gen === previewGen) replace(preview, h('p', { class: 'error' }, x.message)); return; }
    if (gen !== previewGen) return;
    const r = rel.find((x) => x.name === release.value);
    const types = new Set(r ? r.artifacts.flatMap((a) => a.device_types_compatible) : []);
    const byType = {};
    for (const id of ids) { const t = info.get(id)?.type ?? 'unknown type'; byType[t] = (byType[t] ?? 0) + 1; }
    const bad = r ? ids.filter((id) => !types.has(info.get(id)?.type)) : [];
    replace(preview,
      h('p', { class: 'targets' }, ids.length ? `Targets ${ids.length} device${ids.length === 1 ? '' : 's'}: ${Object.entries(byType).map(([t, n]) => `${n} ${t}`).join(', ')}.` : 'Targets no device yet.'),
      !r ? h('p', { class: 'muted' }, 'Choose a release to see which devices it fits.')
        : bad.length ? h('p', { class: 'warn' }, `${bad.length} of them ${bad.length === 1 ? 'has' : 'have'} no artifact in ${r.name} (it has ${[...types].join(', ')}) and would end "noartifact": `,
          bad.slice(0, 10).map((id, i) => [i ? ', ' : '', `${info.get(id)?.name ?? short(id)} (${info.get(id)?.type ?? 'unknown type'})`]), bad.length > 10 ? ` and ${bad.length - 10} more` : '', '.')
          : ids.length ? h('p', { class: 'ok' }, `${r.name} has an artifact for every one of them.`) : null);
  };
  for (const el of [release, group, filter]) el.addEventListener('change', updatePreview);
  target.addEventListener('change', updatePreview);

  const phases = h('div', { class: 'phases' });
  const units = [['60', 'minutes'], ['1', 'seconds'], ['3600', 'hours'], ['86400', 'days']];
  const addPhase = () => {
    const n = phases.children.length + 1;
    const batch = h('input', { type: 'number', min: 1, max: 100, value: n === 1 ? 10 : '', name: `batch-${n}`, 'aria-label': `Phase ${n} batch size (percent)`, placeholder: 'rest' });
    const delay = h('input', { type: 'number', min: 0, step: 'any', value: n === 1 ? 0 : 60, name: `delay-${n}`, 'aria-label': `Phase ${n} starts after` });
    const unit = h('select', { name: `unit-${n}`, 'aria-label': `Phase ${n} delay unit` }, units.map(([v, l]) => h('option', { value: v }, l)));
    phases.append(h('div', { class: 'phase' }, h('strong', {}, `Phase ${n}`), h('span', {}, batch, ' % of devices'), h('span', {}, 'starts ', delay, ' ', unit, n === 1 ? ' from now' : ' after the previous phase')));
  };
  const removePhase = () => phases.lastElementChild?.remove();
  const retries = h('input', { type: 'number', min: 0, max: 100, value: 0, name: 'retries' });
  const maxDevices = h('input', { type: 'number', min: 1, name: 'max_devices', placeholder: 'no limit' });
  const threshold = h('input', { type: 'number', min: 0, max: 100, step: 'any', name: 'error_threshold', placeholder: 'none' });
  const err = h('p', { class: 'error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create deployment');
  const form = h('form', { class: 'card new-dep', onsubmit: async (e) => {
    e.preventDefault();
    err.textContent = '';
    const body = { name: name.value, artifact_name: release.value };
    const kind = target.querySelector('input[name=target]:checked')?.value;
    let url = `${DEP}/deployments`;
    if (kind === 'group') {
      if (!group.value) { err.textContent = 'There is no static group yet.'; return; }
      url = `${DEP}/deployments/group/${enc(group.value)}`;
    } else if (kind === 'filter') {
      if (!filter.value) { err.textContent = 'There is no dynamic group yet.'; return; }
      body.filter_id = filter.value;
    } else if (kind === 'devices') {
      body.devices = [...devPick.querySelectorAll('input:checked')].map((c) => c.value);
      if (!body.devices.length) { err.textContent = 'Choose at least one device.'; return; }
    } else body.all_devices = true;
    const rows = [...phases.children];
    if (rows.length) {
      let t = Date.now();
      body.phases = rows.map((r, i) => {
        const [batch, delay] = r.querySelectorAll('input');
        const unit = Number(r.querySelector('select').value);
        t += (Number(delay.value) || 0) * unit * 1000;
        const p = {};
        if (batch.value !== '' && i < rows.length - 1) p.batch_size = Number(batch.value);
        if (i > 0 || Number(delay.value) > 0) p.start_ts = new Date(t).toISOString();
        return p;
      });
    }
    if (retries.value !== '') body.retries = Number(retries.value);
    if (maxDevices.value !== '') body.max_devices = Number(maxDevices.value);
    if (threshold.value !== '') body.error_threshold = Number(threshold.value);
    submit.disabled = true;
    try {
      const r = await api('POST', url, body);
      toast(`Deployment ${body.name} created`);
      location.hash = `#/deployments/${r.location.split('/').pop()}`;
    } catch (x) {
      err.textContent = x.message;
    } finally { submit.disabled = false; }
  } },
  field('Name', name), rel.length ? field('Release', release) : h('p', { class: 'warn' }, 'There is no release yet: ', h('a', { href: '#/releases' }, 'upload an artifact'), ' first.'), target, preview,
  h('fieldset', {}, h('legend', {}, 'Phases'), h('p', { class: 'muted' }, 'Without phases every device gets the update at once. The last phase takes the remaining devices.'), phases,
    h('div', { class: 'actions' }, button('Add phase', addPhase), button('Remove last phase', removePhase))),
  h('div', { class: 'row3' }, field('Retries per device', retries), field('Max devices', maxDevices), field('Error threshold (% failed)', threshold, 'Stops the rollout once more devices failed')),
  err, submit);
  main.replaceChildren(h('h1', {}, 'New deployment'), form);
  name.focus();
  await updatePreview();
}

const times = (n) => `${n} time${n === 1 ? '' : 's'}`;

/**
 * A device's artifact download as the server served it (the `download` field): a bar to where the
 * latest request got, and how often the device resumed or started over. The server counts bytes it
 * sent, so a device cut off mid-way can have received a little less than shown.
 */
export function downloadCell(dl, name) {
  if (!dl) return h('span', { class: 'muted' }, 'not started');
  const pct = dl.total ? Math.min(100, Math.floor((dl.bytes / dl.total) * 100)) : 0;
  const notes = [dl.resumes ? `resumed ${times(dl.resumes)}` : null, dl.restarts ? `started over ${times(dl.restarts)}` : null].filter(Boolean);
  return h('div', { class: 'download' },
    h('progress', { value: dl.bytes, max: dl.total || 1, 'aria-label': `Download of ${name}: ${pct} %` }),
    h('small', { dataset: { fk: 'download-bytes' } }, `${bytes(dl.bytes)} of ${bytes(dl.total)} (${pct} %)${dl.active ? ', downloading' : ''}`),
    notes.length ? h('small', { class: 'resumes' }, notes.join(', ')) : null);
}

export async function deployment(main, [id]) {
  const head = h('div');
  const chart = h('div', { class: 'card chart' });
  const devs = h('div', { class: 'stack-phone' });
  const timeline = timelineView();
  const overTime = h('div', { class: 'card chart', id: 'over-time' }, timeline.el);
  main.replaceChildren(head, section('Progress', 'dd-progress', chart), section('Progress over time', 'dd-time', overTime), section('Devices', 'dd-devices', devs));
  const refresh = async () => {
    let d;
    try { d = await get(`${DEP}/deployments/${id}`); } catch (x) {
      if (x.status === 404) { main.replaceChildren(h('h1', {}, 'Deployment not found'), h('p', {}, h('a', { href: '#/deployments' }, 'All deployments'))); return; }
      throw x;
    }
    const rows = await get(`${DEP}/deployments/${id}/devices`);
    const finished = d.status === 'finished';
    const missed = shortfall(d.statistics.status);
    replace(head, h('div', { class: 'title-row' }, h('h1', {}, d.name, ' ', outcomeBadge(d)),
      !finished ? button('Abort deployment', async () => {
        if (!confirm(`Abort deployment ${d.name}? Devices not yet done stop.`)) return;
        await api('PUT', `${DEP}/deployments/${id}/status`, { status: 'aborted' });
        toast('Deployment aborted');
        await refresh();
      }, { class: 'danger', dataset: { fk: 'abort', needs: 'DeployToDevices' } }) : null),
    h('dl', { class: 'kv' },
      h('dt', {}, 'Release'), h('dd', {}, d.artifact_name),
      h('dt', {}, 'Devices'), h('dd', {}, String(d.device_count), d.max_devices ? ` (max ${d.max_devices})` : ''),
      missed ? [h('dt', {}, 'Not updated'), h('dd', { class: 'missed', dataset: { fk: 'missed' } }, missed)] : null,
      h('dt', {}, 'Created'), h('dd', {}, when(d.created)),
      finished ? [h('dt', {}, 'Finished'), h('dd', {}, when(d.finished))] : null,
      d.stop_reason ? [h('dt', {}, 'Stopped'), h('dd', { class: 'stop' }, d.stop_reason === 'error_threshold' ? `error threshold (${d.error_threshold} %) exceeded` : d.stop_reason)] : null,
      h('dt', {}, 'Retries'), h('dd', {}, String(d.retries)),
      d.error_threshold !== undefined ? [h('dt', {}, 'Error threshold'), h('dd', {}, `${d.error_threshold} %`)] : null));
    const [{ phases: byPhase, devices: phaseOf, identity }, tl] = await Promise.all([get(`/ui/api/deployments/${id}/phases`), get(`/ui/api/deployments/${id}/timeline`)]);
    // A running rollout's last state lasts until now; a finished one's chart ends at its last change.
    timeline.update(tl, finished ? undefined : Date.now());
    replace(chart, stackBar(d.statistics.status, d.device_count, 'All devices', 28), legend(d.statistics.status),
      d.phases.length > 1 ? h('ol', { class: 'phase-bars' }, d.phases.map((p, i) => h('li', {},
        h('span', {}, `Phase ${i + 1}: ${p.device_count} device${p.device_count === 1 ? '' : 's'}${p.batch_size ? ` (${p.batch_size} %)` : ''}, `, when(p.start_ts)),
        stackBar(byPhase[i], p.device_count, `Phase ${i + 1}`, 10)))) : null);
    replace(devs, table([['Device'], ['Status'], ['Download'], ['Type', 'opt'], ['Phase', 'opt'], ['Attempts', 'opt'], ['Started', 'opt'], ['Finished', 'opt'], ['Log']], rows.map((r) => h('tr', { dataset: { device: r.id } },
      h('td', {}, deviceLink(identity?.[r.id], r.id)),
      h('td', { 'data-label': 'Status' }, badge(r.status), r.substate ? h('span', { class: 'muted' }, ` ${r.substate}`) : null),
      h('td', { class: 'download-cell', 'data-label': 'Download' }, downloadCell(r.download, deviceName(identity?.[r.id], r.id))),
      h('td', { class: 'opt' }, r.device_type ?? ''),
      h('td', { class: 'opt' }, phaseOf[r.id] === undefined ? '' : String(phaseOf[r.id] + 1)), h('td', { class: 'opt' }, String(r.attempts)),
      h('td', { class: 'opt' }, when(r.started)), h('td', { class: 'opt' }, when(r.finished)),
      h('td', { 'data-label': 'Log' }, r.log ? button('View log', () => showLog(id, r.id, deviceName(identity?.[r.id], r.id)), { dataset: { fk: `log-${r.id}` }, 'aria-label': `View the log of ${deviceName(identity?.[r.id], r.id)}` }) : '—')))));
  };
  await refresh();
  return refresh;
}

// ---------------------------------------------------------------- audit
export async function audit(main, _p, query) {
  const page = Math.max(1, Number(query.get('page')) || 1);
  const type = query.get('type') ?? '';
  const perPage = 50;
  const list = h('div');
  const sel = h('select', { name: 'type', onchange: () => { location.hash = `#/audit${sel.value ? `?type=${enc(sel.value)}` : ''}`; } },
    ['', 'device', 'deployment', 'artifact', 'group', 'filter', 'user', 'token'].map((t) => h('option', { value: t, selected: t === type }, t || 'everything')));
  list.className = 'stack-phone';
  main.replaceChildren(h('h1', {}, 'Audit log'), h('form', { class: 'inline', onsubmit: (e) => e.preventDefault() }, field('Show', sel)), list);
  const link = (o) => (o.type === 'device' ? `#/devices/${o.id}` : o.type === 'deployment' ? `#/deployments/${o.id}` : o.type === 'group' ? '#/groups' : o.type === 'artifact' ? '#/releases' : null);
  const refresh = async () => {
    const rows = await get(`/api/management/v1/auditlogs/logs?page=${page}&per_page=${perPage + 1}${type ? `&object_type=${enc(type)}` : ''}`);
    const more = rows.length > perPage;
    replace(list, table([['When'], ['Who'], ['Action'], ['Object'], ['Change', 'opt']], rows.slice(0, perPage).map((e) => {
      const href = link(e.object);
      return h('tr', {}, h('td', {}, when(e.time)), h('td', { 'data-label': 'Who' }, e.actor.email), h('td', { 'data-label': 'Action' }, h('code', {}, e.action)),
        h('td', { 'data-label': 'Object' }, `${e.object.type} `, href ? h('a', { href }, e.object.type === 'group' ? e.object.id : short(e.object.id)) : short(e.object.id)),
        h('td', { class: 'opt wrap mono' }, e.change === '{}' ? '' : e.change));
    }), 'No entries.'),
    h('nav', { class: 'pager', 'aria-label': 'Pages' },
      page > 1 ? h('a', { href: `#/audit?page=${page - 1}${type ? `&type=${enc(type)}` : ''}` }, '‹ Newer') : null,
      h('span', {}, `Page ${page}`),
      more ? h('a', { href: `#/audit?page=${page + 1}${type ? `&type=${enc(type)}` : ''}` }, 'Older ›') : null));
  };
  await refresh();
  return refresh;
}

// ---------------------------------------------------------------- personal access tokens
export async function tokens(main) {
  const TOK = '/api/management/v1/useradm/settings/tokens';
  const name = h('input', { name: 'name', required: true, maxlength: 100, autocomplete: 'off' });
  const days = h('input', { name: 'days', type: 'number', min: 1, max: 365, value: 30, required: true });
  const err = h('p', { class: 'error', role: 'alert' });
  const shown = h('div');
  const list = h('div');
  const refresh = async () => {
    const all = await get(TOK);
    replace(list, table([['Name'], ['Created', 'opt'], ['Expires'], ['Last used', 'opt'], ['']], all.map((tk) => h('tr', { dataset: { token: tk.name } },
      h('td', {}, tk.name), h('td', { class: 'opt' }, when(tk.created_ts)), h('td', {}, when(tk.expiration_date)), h('td', { class: 'opt' }, when(tk.last_used)),
      h('td', {}, button('Revoke', async () => { if (confirm(`Revoke token ${tk.name}?`)) { await api('DELETE', `${TOK}/${tk.id}`); toast('Token revoked'); await refresh(); } }, { class: 'danger', 'aria-label': `Revoke token ${tk.name}` })))),
    'No personal access tokens.'));
  };
  const form = h('form', { class: 'card', onsubmit: async (e) => {
    e.preventDefault();
    err.textContent = '';
    try {
      const value = await api('POST', TOK, { name: name.value, expires_in: Number(days.value) * 86400 });
      replace(shown, h('div', { class: 'card' }, h('p', {}, `Token ${name.value}: copy it now, it is not shown again.`), h('pre', { class: 'mono wrap', tabindex: '0', dataset: { fk: 'new-token' } }, value)));
      name.value = '';
      await refresh();
    } catch (x) { err.textContent = x.message; }
  } }, h('h2', {}, 'New token'), field('Name', name), field('Expires in (days)', days), err, h('button', { type: 'submit', class: 'primary' }, 'Create token'));
  main.replaceChildren(h('h1', {}, 'Personal access tokens'), h('p', { class: 'muted' }, 'A token acts with your roles, for scripts and CI (Authorization: Bearer ...).'), shown, list, form);
  await refresh();
  return refresh;
}

// ---------------------------------------------------------------- users and roles
const UA = '/api/management/v1/useradm';

/** Role checkboxes, each with what the role allows; `checked` is the list of role names set. */
function roleChecks(roles, checked, prefix) {
  return h('fieldset', { class: 'roles' }, h('legend', {}, 'Roles'), roles.map((r) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', name: 'role', value: r.name, checked: checked.includes(r.name), dataset: { fk: `${prefix}-${r.name}` } }),
    ` ${r.name} `, h('span', { class: 'muted' }, r.description))));
}
const checkedRoles = (el) => [...el.querySelectorAll('input[name=role]:checked')].map((c) => c.value);

/**
 * Users (needs ReadUsers): who has which role. Administrators (ManageUsers) add and remove
 * users and change their roles; the server refuses taking the administrator role from the last
 * administrator and the page says so. Everyone else sees their own account and roles.
 */
export async function users(main) {
  const me = await get(`${UA}/users/me`);
  const mine = h('div', { class: 'card', id: 'me' },
    h('p', {}, 'You are ', h('strong', {}, me.email), ', with ', (me.roles ?? []).length ? me.roles.map((r, i) => [i ? ' ' : '', h('span', { class: 'tag' }, r)]) : 'no role', '.'),
    h('p', { class: 'muted' }, 'Scripts and CI act with your roles through ', h('a', { href: '#/tokens' }, 'personal access tokens'), '.'));
  if (!can('ReadUsers')) {
    main.replaceChildren(h('h1', {}, 'Users'), mine, h('p', { class: 'muted' }, 'Your roles do not include seeing other users (ReadUsers); an administrator can change that.'));
    return null;
  }
  const roles = await get('/api/management/v2/useradm/roles');
  const manage = can('ManageUsers');
  const list = h('div', { class: 'stack-phone' });
  const editor = h('div', { id: 'role-editor' });
  const edit = (u) => {
    const err = h('p', { class: 'error', role: 'alert' });
    const boxes = roleChecks(roles, u.roles ?? [], 'edit');
    const form = h('form', { class: 'card', 'aria-labelledby': 'edit-title', onsubmit: async (e) => {
      e.preventDefault();
      err.textContent = '';
      try {
        await api('PUT', `${UA}/users/${u.id}/roles`, { roles: checkedRoles(boxes) });
        toast(`Roles of ${u.email} saved`);
        // One's own roles decide what this page and the menu may show: start over with them.
        if (u.id === me.id) { location.reload(); return; }
        editor.replaceChildren();
        await refresh();
      } catch (x) { err.textContent = x.message; }
    } }, h('h2', { id: 'edit-title' }, `Roles of ${u.email}`), boxes, err,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Save roles'), h('button', { type: 'button', onclick: () => editor.replaceChildren() }, 'Cancel')));
    editor.replaceChildren(form);
    form.querySelector('input')?.focus();
  };
  const refresh = async () => {
    const all = await get(`${UA}/users`);
    replace(list, table([['E-mail'], ['Roles'], ['Created', 'opt'], manage ? [''] : null].filter(Boolean), all.map((u) => h('tr', { dataset: { user: u.email } },
      h('td', { class: 'wrap' }, u.email, u.id === me.id ? h('span', { class: 'muted' }, ' (you)') : null),
      h('td', { 'data-label': 'Roles' }, (u.roles ?? []).length ? u.roles.map((r) => h('span', { class: 'tag', title: roles.find((x) => x.name === r)?.description ?? '' }, r)) : h('span', { class: 'muted' }, 'no role')),
      h('td', { class: 'opt' }, when(u.created_ts)),
      manage ? h('td', {}, h('div', { class: 'actions' },
        button('Edit roles', () => edit(u), { class: 'small', 'aria-label': `Edit roles of ${u.email}`, dataset: { fk: `edit-${u.id}` } }),
        u.id === me.id ? null : button('Remove', async () => {
          if (!confirm(`Remove user ${u.email}? Their sessions and tokens stop working.`)) return;
          await api('DELETE', `${UA}/users/${u.id}`);
          toast(`User ${u.email} removed`);
          await refresh();
        }, { class: 'danger small', 'aria-label': `Remove ${u.email}`, dataset: { fk: `rm-${u.id}` } }))) : null)), 'No users.'));
  };
  let add = null;
  if (manage) {
    const email = h('input', { type: 'email', name: 'email', required: true, autocomplete: 'off' });
    const password = h('input', { type: 'password', name: 'password', required: true, minlength: 8, autocomplete: 'new-password' });
    const boxes = roleChecks(roles, [], 'new');
    const err = h('p', { class: 'error', role: 'alert' });
    add = section('Add a user', 'u-add', h('form', { class: 'card', onsubmit: async (e) => {
      e.preventDefault();
      err.textContent = '';
      try {
        await api('POST', `${UA}/users`, { email: email.value, password: password.value, roles: checkedRoles(boxes) });
        toast(`User ${email.value} added`);
        email.value = '';
        password.value = '';
        for (const c of boxes.querySelectorAll('input')) c.checked = false;
        await refresh();
      } catch (x) { err.textContent = x.message; }
    } }, field('E-mail', email), field('Password', password, 'At least 8 characters'), boxes,
    h('p', { class: 'muted' }, 'Without a role the user can log in and manage only their own tokens.'), err,
    h('button', { type: 'submit', class: 'primary' }, 'Add user')));
  }
  main.replaceChildren(h('h1', {}, 'Users'), mine, section('All users', 'u-list', list), editor, add,
    section('Roles', 'u-roles', h('div', { class: 'stack-phone' }, table([['Role'], ['Allows']], roles.map((r) => h('tr', {},
      h('td', {}, h('code', {}, r.name)), h('td', {}, r.description, h('br'), h('small', { class: 'muted' }, r.permission_sets_with_scope.map((p) => p.name).join(', ')))))))));
  await refresh();
  return refresh;
}
