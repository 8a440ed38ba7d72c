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

export function identityText(idData) {
  return Object.entries(idData ?? {}).map(([k, v]) => `${k}=${v}`).join(', ');
}
