// Inline SVG charts: a stacked bar of device statuses, used for progress everywhere.
import { s, h } from './dom.js';

/** Order and colour class of the statuses shown; the rest count as "other". */
export const GROUPS = [
  ['success', ['success', 'already-installed'], 'Succeeded'],
  ['failure', ['failure'], 'Failed'],
  ['active', ['downloading', 'installing', 'rebooting', 'pause_before_installing', 'pause_before_rebooting', 'pause_before_committing'], 'In progress'],
  ['pending', ['pending'], 'Pending'],
  ['skipped', ['aborted', 'noartifact', 'decommissioned'], 'Skipped / aborted'],
];

export function grouped(stats) {
  return GROUPS.map(([key, members, label]) => ({ key, label, n: members.reduce((a, m) => a + (stats?.[m] ?? 0), 0) }));
}

/** A horizontal stacked bar; `label` names it for screen readers. */
export function stackBar(stats, total, label, height = 14) {
  const parts = grouped(stats);
  const sum = total || parts.reduce((a, p) => a + p.n, 0) || 1;
  let x = 0;
  const rects = [];
  for (const p of parts) {
    if (!p.n) continue;
    const w = (p.n / sum) * 100;
    rects.push(s('rect', { x: `${x}%`, y: 0, width: `${w}%`, height, class: `c-${p.key}` }, s('title', {}, `${p.label}: ${p.n}`)));
    x += w;
  }
  const desc = parts.filter((p) => p.n).map((p) => `${p.label} ${p.n}`).join(', ') || 'no devices';
  return s('svg', { class: 'bar', width: '100%', height, role: 'img', 'aria-label': `${label}: ${desc} of ${sum}`, preserveAspectRatio: 'none' },
    s('rect', { x: 0, y: 0, width: '100%', height, class: 'c-track' }), ...rects);
}

export function legend(stats) {
  return h('ul', { class: 'legend' }, grouped(stats).map((p) =>
    h('li', { class: `stat-${p.key}` }, h('span', { class: `sw c-${p.key}`, 'aria-hidden': 'true' }), `${p.label} `, h('strong', { class: 'n' }, String(p.n)))));
}

// ---------------------------------------------------------------- fleet and rollout charts

/** Categorical colours for series such as device types (cat-0..cat-7, reused past eight). */
export const cat = (i) => `cat-${i % 8}`;
const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * One horizontal bar per row (a release, a check-in age), split by series (device types) and
 * scaled to the largest row. rows: [{ label, count, by: { series: n } }]. Every segment's
 * <title> says "<row> on <series>: n devices", so a pointer or a screen reader gets the numbers.
 */
export function barRows(rows, series, name) {
  const max = Math.max(1, ...rows.map((r) => r.count));
  return h('ul', { class: 'bar-rows', 'aria-label': name }, rows.map((r) => {
    let x = 0;
    const segs = [];
    series.forEach((sName, i) => {
      const n = r.by[sName] ?? 0;
      if (!n) return;
      const w = (n / max) * 100;
      segs.push(s('rect', { x: `${x}%`, y: 0, width: `${w}%`, height: 16, class: cat(i), 'data-series': sName, 'data-n': n },
        s('title', {}, `${r.label} on ${sName}: ${plural(n, 'device')}`)));
      x += w;
    });
    const parts = series.filter((sName) => r.by[sName]).map((sName) => `${r.by[sName]} ${sName}`).join(', ');
    return h('li', { dataset: { row: r.label } },
      h('span', { class: 'lbl', title: r.label }, r.label),
      s('svg', { class: 'bar', width: '100%', height: 16, role: 'img', 'aria-label': `${r.label}: ${plural(r.count, 'device')}${parts ? ` (${parts})` : ''}`, preserveAspectRatio: 'none' },
        s('rect', { x: 0, y: 0, width: '100%', height: 16, class: 'c-track' }), ...segs),
      h('strong', { class: 'n' }, String(r.count)));
  }));
}

export function seriesLegend(series, counts) {
  return h('ul', { class: 'legend' }, series.map((name, i) =>
    h('li', {}, h('span', { class: `sw ${cat(i)}`, 'aria-hidden': 'true' }), `${name} `, counts ? h('strong', { class: 'n' }, String(counts[name] ?? 0)) : null)));
}

function clock(ms, withDate) {
  const d = new Date(ms);
  return withDate ? d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' }) : d.toLocaleTimeString();
}

// Bottom to top: what is done rises from the floor, what waits sits on top.
const BANDS = ['success', 'failure', 'skipped', 'active', 'pending'];

/**
 * Stacked step areas of a deployment's device statuses over time (the server's timeline: each
 * point the counts from its moment until the next). `endMs` stretches the last state to now for
 * a rollout still running. Each band's <title> gives its count at the end and its peak; a table
 * under "Every change" has the numbers behind the picture.
 *
 * Live updates come several times a second during a rollout, so `update` changes the chart in
 * place: the same <path> per band gets a new shape, texts change only when they differ, and the
 * table gains rows. Nothing flickers, a pointer over a band keeps its tooltip, and an open
 * table stays open and scrolled where it was.
 */
export function timelineView() {
  const W = 600;
  const H = 160;
  const labels = Object.fromEntries(GROUPS.map(([key, , label]) => [key, label]));
  const el = h('div', { class: 'timeline-view' });
  const empty = h('p', { class: 'empty' }, 'No device status recorded yet.');
  const grid = s('line', { x1: 0, x2: W, y1: H / 2, y2: H / 2, class: 'grid' });
  const svg = s('svg', { class: 'area', viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img' }, s('rect', { x: 0, y: 0, width: W, height: H, class: 'c-track' }), grid);
  const bands = Object.fromEntries(BANDS.map((key) => [key, s('path', { class: `c-${key}`, 'data-band': key }, s('title', {}))]));
  const [from, middle, to] = [h('span'), h('span', { class: 'muted' }), h('span')];
  const summary = h('summary');
  const tbody = h('tbody');
  const figure = h('figure', { class: 'timeline' }, svg, h('div', { class: 'axis' }, from, middle, to),
    h('details', { class: 'timeline-table' }, summary,
      h('div', { class: 'table-wrap' }, h('table', {},
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'When'), BANDS.map((k) => h('th', { scope: 'col' }, labels[k])))), tbody))));
  const setText = (node, text) => { if (node.textContent !== text) node.textContent = text; };
  const setAttr = (node, name, value) => { if (node.getAttribute(name) !== String(value)) node.setAttribute(name, String(value)); };

  function update(tl, endMs) {
    const pts = tl.points;
    if (!pts.length) {
      if (el.firstChild !== empty) el.replaceChildren(empty);
      return;
    }
    if (el.firstChild !== figure) el.replaceChildren(figure);
    const ts = pts.map((p) => Date.parse(p.ts));
    const t0 = ts[0];
    const t1 = Math.max(endMs ?? ts[ts.length - 1], ts[ts.length - 1]);
    const span = Math.max(1, t1 - t0);
    const total = Math.max(1, tl.device_count);
    const xs = [...ts.map((t) => ((t - t0) / span) * W), W];
    const y = (n) => H - (n / total) * H;
    const byPoint = pts.map((p) => Object.fromEntries(grouped(p.counts).map((g) => [g.key, g.n])));
    const floor = pts.map(() => 0);
    for (const key of BANDS) {
      const path = bands[key];
      const lo = floor.slice();
      const hi = lo.map((v, i) => v + byPoint[i][key]);
      // A band no device was ever in is left out (its path kept for when one is).
      if (hi.every((v, i) => v === lo[i])) {
        path.remove();
        continue;
      }
      let d = `M${xs[0]},${y(lo[0])}`;
      for (let i = 0; i < pts.length; i++) d += ` L${xs[i]},${y(hi[i])} L${xs[i + 1]},${y(hi[i])}`;
      for (let i = pts.length - 1; i >= 0; i--) d += ` L${xs[i + 1]},${y(lo[i])} L${xs[i]},${y(lo[i])}`;
      const last = byPoint[pts.length - 1][key];
      const peak = Math.max(...byPoint.map((b) => b[key]));
      setAttr(path, 'd', `${d} Z`);
      setAttr(path, 'data-end', last);
      setText(path.firstChild, `${labels[key]}: ${last} at the end${peak !== last ? `, ${peak} at most` : ''}`);
      // Drawn bottom band first: the path goes before the grid line, after the bands below it.
      if (!path.isConnected || path.parentNode !== svg) svg.insertBefore(path, BANDS.slice(BANDS.indexOf(key) + 1).map((k) => bands[k]).find((b) => b.parentNode === svg) ?? grid);
      hi.forEach((v, i) => { floor[i] = v; });
    }
    const end = byPoint[pts.length - 1];
    const withDate = new Date(t0).toDateString() !== new Date(t1).toDateString();
    const desc = BANDS.filter((k) => end[k]).map((k) => `${labels[k]} ${end[k]}`).join(', ');
    setAttr(svg, 'aria-label', `Device statuses over time, at the end: ${desc} of ${tl.device_count}`);
    setText(from, clock(t0, withDate));
    setText(middle, `${plural(tl.device_count, 'device')}, half at the line`);
    setText(to, endMs && endMs > ts[ts.length - 1] ? `${clock(t1, withDate)} (now)` : clock(t1, withDate));
    setText(summary, `Every change (${pts.length})`);
    // Rows are appended as points come; the server's sampling of a long rollout can move earlier
    // points, and then the table is written anew.
    const rows = pts.map((p, i) => [clock(ts[i], withDate), ...BANDS.map((k) => String(byPoint[i][k]))]);
    const have = [...tbody.rows].map((r) => [...r.cells].map((c) => c.textContent));
    const same = have.length <= rows.length && have.every((r, i) => r.join('|') === rows[i].join('|'));
    if (!same) tbody.replaceChildren();
    for (const r of rows.slice(same ? have.length : 0)) tbody.append(h('tr', {}, r.map((c) => h('td', {}, c))));
  }
  return { el, update };
}
