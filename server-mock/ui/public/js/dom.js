// DOM helpers: elements are built with textContent only (never innerHTML with data).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const SVG = 'http://www.w3.org/2000/svg';
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs ?? {})) if (v !== undefined) el.setAttribute(k, String(v));
  append(el, children);
  return el;
}

/** Replaces a container's content, keeping keyboard focus on the element with the same data-fk. */
export function replace(container, ...children) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset.fk : undefined;
  container.replaceChildren();
  append(container, children);
  if (key) container.querySelector(`[data-fk="${CSS.escape(key)}"]`)?.focus();
}

export function bytes(n) {
  if (n === undefined || n === null) return '';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${u[i]}`;
}

export function when(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  const s = (Date.now() - d.getTime()) / 1000;
  const rel = Math.abs(s) < 60 ? `${Math.round(Math.abs(s))} s` : Math.abs(s) < 3600 ? `${Math.round(Math.abs(s) / 60)} min` : Math.abs(s) < 86400 ? `${Math.round(Math.abs(s) / 3600)} h` : `${Math.round(Math.abs(s) / 86400)} d`;
  return h('time', { datetime: d.toISOString(), title: d.toLocaleString() }, s >= 0 ? `${rel} ago` : `in ${rel}`);
}

export const short = (id) => (id ? id.slice(0, 8) : '');

export function badge(status) {
  return h('span', { class: `badge st-${status}` }, status);
}

let toastTimer;
export function toast(msg, kind = 'ok') {
  const t = document.getElementById('toast');
  t.textContent = msg;
  t.className = `show ${kind}`;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (t.className = ''), 4000);
}

/** A table inside a horizontally scrollable wrapper; `cols` are [label, className?]. */
export function table(cols, rows, empty = 'Nothing here yet.') {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('div', { class: 'table-wrap' },
    h('table', {},
      h('thead', {}, h('tr', {}, cols.map(([label, cls]) => h('th', { scope: 'col', class: cls }, label)))),
      h('tbody', {}, rows)));
}

export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('small', {}, hint) : null);
}

// The identity attribute people know a device by, in this order; else the first one there is.
const NAME_KEYS = ['serial', 'serial_number', 'sn', 'hostname', 'mac'];

/** A device named by its identity (e.g. "mac 52:54:00:12:34:56"), falling back to its short id. */
export function deviceName(identity, id) {
  const entries = Object.entries(identity ?? {}).filter(([k]) => k !== 'status');
  const hit = NAME_KEYS.map((k) => entries.find(([n]) => n === k)).find(Boolean) ?? entries[0];
  return hit ? `${hit[0]} ${hit[1]}` : short(id);
}

/** A device link: its identity name, then the short id in grey for telling twins apart. */
export function deviceLink(identity, id, attrs = {}) {
  const name = deviceName(identity, id);
  return h('a', { href: `#/devices/${id}`, title: id, ...attrs }, name, name === short(id) ? null : h('span', { class: 'muted id' }, ` ${short(id)}`));
}

// What a finished deployment came to (the server's `outcome`), worded for people.
const OUTCOME_TEXT = { succeeded: 'succeeded', failed: 'failed', incomplete: 'incomplete', stopped: 'stopped', aborted: 'aborted', inprogress: 'in progress', pending: 'pending', scheduled: 'scheduled' };

/** The deployment's outcome badge; Mender's bare `finished` status is never shown as a success. */
export function outcomeBadge(d) {
  const o = d.outcome ?? d.status;
  return h('span', { class: `badge st-${o}`, title: `status ${d.status}${d.stop_reason ? `, stopped: ${d.stop_reason}` : ''}` }, OUTCOME_TEXT[o] ?? o);
}

/** "1 failed, 1 no artifact for its type": the devices that did not get the release, by reason. */
export function shortfall(stats) {
  const parts = [];
  const n = (k) => stats?.[k] ?? 0;
  if (n('failure')) parts.push(`${n('failure')} failed`);
  if (n('noartifact')) parts.push(`${n('noartifact')} no artifact for ${n('noartifact') === 1 ? 'its' : 'their'} device type`);
  if (n('aborted')) parts.push(`${n('aborted')} aborted`);
  if (n('decommissioned')) parts.push(`${n('decommissioned')} decommissioned`);
  return parts.join(', ');
}

export function identityText(idData) {
  return Object.entries(idData ?? {}).map(([k, v]) => `${k}=${v}`).join(', ');
}

/** True when the logged-in user's roles include the permission set (app.js sets the classes). */
export const can = (p) => document.body.classList.contains('can-all') || document.body.classList.contains(`can-${p}`);

// What a page holds open (a terminal's WebSocket) ends when the user leaves it: app.js calls
// leavePage() before it shows the next page.
const leaving = [];
export const onLeave = (fn) => leaving.push(fn);
export function leavePage() {
  for (const fn of leaving.splice(0)) {
    try { fn(); } catch {}
  }
}

/** A button whose async action disables it while it runs; a failure is shown as a toast. */
export function button(label, onclick, attrs = {}) {
  return h('button', { type: 'button', ...attrs, onclick: async (e) => {
    const b = e.currentTarget;
    b.disabled = true;
    try { await onclick(e); } catch (err) { toast(err.message, 'err'); } finally { b.disabled = false; }
  } }, label);
}

export function section(title, id, ...content) {
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), ...content);
}
