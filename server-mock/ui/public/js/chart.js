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
