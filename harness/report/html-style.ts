// The report's stylesheet, inlined so report.html opens from disk with no requests. One colour per
// event source, shared by the rows, the lane dots, the overview ticks and the filter swatches.
import { EVENT_SOURCES, type EventSource } from '../run/timeline.js';

export const SOURCE_COLOURS: Record<EventSource, string> = {
  console: '#6b7280',
  'client-state': '#2563eb',
  server: '#7c3aed',
  fault: '#dc2626',
  env: '#0d9488',
  check: '#15803d',
  harness: '#a16207',
};

const LANE = 12;
// Rows use content-visibility:auto so the browser lays out only the rows on screen: a console of
// 50,000 lines expanded in full took ~10 s of layout without it and ~1–2 s with it.

function perSource(): string {
  return EVENT_SOURCES.map((s, i) => {
    const c = SOURCE_COLOURS[s];
    return [
      `.s-${s} .src{color:${c}}`,
      `.s-${s} .ln::after{left:${i * LANE + 2}px;background:${c}}`,
      `.tick.s-${s},.sw.s-${s}{background:${c}}`,
      `.hide-${s} .ev.s-${s},.hide-${s} .tick.s-${s}{display:none}`,
    ].join('\n');
  }).join('\n');
}

export function reportCss(): string {
  const lanes = EVENT_SOURCES.length * LANE;
  return `
:root{--ok:#15803d;--bad:#dc2626;--skip:#6b7280;--err:#b45309;--line:#e5e7eb;--muted:#6b7280}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;background:#f9fafb}
code,pre,.txt,.t{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;font-size:12.5px}
header{padding:18px 24px 12px;background:#fff;border-bottom:1px solid var(--line)}
h1{font-size:20px;margin:0 0 6px}
.verdict{display:inline-block;padding:3px 10px;border-radius:4px;color:#fff;font-weight:600;margin-right:8px}
.verdict.ok{background:var(--ok)}.verdict.bad{background:var(--bad)}
.counts{display:flex;gap:10px;margin:12px 0}
.count{min-width:92px;padding:8px 12px;border:1px solid var(--line);border-radius:6px;background:#fff}
.count b{display:block;font-size:22px;line-height:1.1}
.count.passed b{color:var(--ok)}.count.failed b{color:var(--bad)}.count.error b{color:var(--err)}.count.skipped b{color:var(--skip)}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:8px 0}
dl.meta dt{color:var(--muted)}dl.meta dd{margin:0}
.replay code{background:#f3f4f6;padding:1px 5px;border-radius:3px}
.replay ul{margin:4px 0 0;padding-left:20px}
.toolbar{position:sticky;top:0;z-index:2;display:flex;flex-wrap:wrap;gap:6px 14px;align-items:center;padding:8px 24px;background:#fffffff2;border-bottom:1px solid var(--line)}
.toolbar label{cursor:pointer;user-select:none;white-space:nowrap}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 2px}
.toolbar button{font:inherit;padding:2px 8px}
main{padding:12px 24px 40px}
details.sc{background:#fff;border:1px solid var(--line);border-left:5px solid var(--skip);border-radius:6px;margin:0 0 12px}
details.sc.st-passed{border-left-color:var(--ok)}details.sc.st-failed{border-left-color:var(--bad)}details.sc.st-error{border-left-color:var(--err)}
details.sc>summary{cursor:pointer;padding:9px 12px;display:flex;gap:10px;align-items:baseline;flex-wrap:wrap}
.badge{font-size:11px;font-weight:700;padding:1px 7px;border-radius:3px;color:#fff;background:var(--skip)}
.badge.passed{background:var(--ok)}.badge.failed{background:var(--bad)}.badge.error{background:var(--err)}
.name{font-weight:600}.board,.dur{color:var(--muted)}
.st-skipped .sum-msg{color:var(--muted)}
.ev.dim .txt{color:#9ca3af}
.sum-msg{color:var(--bad);overflow:hidden;text-overflow:ellipsis;white-space:nowrap;max-width:60ch}
.body{padding:0 12px 12px}
.failure{border:1px solid #fecaca;background:#fef2f2;border-radius:4px;padding:8px 10px;margin-bottom:10px}
.failure .fmsg{font-weight:600;color:#991b1b;white-space:pre-wrap}
.failure .stage{color:#7f1d1d;margin-top:2px}
.failure pre{margin:6px 0 0;white-space:pre-wrap;color:#374151}
.skipnote{color:var(--muted);margin-bottom:8px}
.info{color:var(--muted);margin:0 0 8px}.info code{color:#111827}
.axis{position:relative;height:26px;margin:4px 0 10px;border-bottom:1px solid #9ca3af;background:linear-gradient(#f3f4f6,#fff)}
.tick{position:absolute;bottom:0;width:3px;height:14px;margin-left:-1px;border-radius:1px;opacity:.85}
.tick.s-fault,.tick.hl-rollback{height:24px;width:4px;opacity:1}
.axis .lab{position:absolute;bottom:-17px;font-size:11px;color:var(--muted)}
.tl{margin-top:22px;border-top:1px solid var(--line)}
.ev{content-visibility:auto;contain-intrinsic-size:auto 19px;display:grid;grid-template-columns:84px ${lanes + 6}px 96px 1fr;align-items:start;border-bottom:1px solid #f3f4f6;min-height:19px}
.ev .t{color:var(--muted);text-align:right;padding-right:8px}
.ev .ln{position:relative;align-self:stretch;background:repeating-linear-gradient(90deg,transparent 0 ${LANE / 2 - 0.5}px,#e5e7eb ${LANE / 2 - 0.5}px ${LANE / 2 + 0.5}px,transparent ${LANE / 2 + 0.5}px ${LANE}px)}
.ev .ln::after{content:"";position:absolute;top:5px;width:8px;height:8px;border-radius:50%}
.ev .src{font-size:11.5px;font-weight:600;padding-left:6px}
.ev .txt{white-space:pre-wrap;word-break:break-word;padding-right:6px}
.ev.s-console .txt{color:#374151}
.ev.s-client-state .txt{color:#1e3a8a;font-weight:600}
.ev.hl-fault{background:#fee2e2}.ev.hl-fault .txt{color:#991b1b;font-weight:700}
.ev.hl-rollback{background:#fef3c7}.ev.hl-rollback .txt{color:#92400e;font-weight:600}
.ev.hl-fail{background:#fef2f2}.ev.hl-fail .txt{color:#b91c1c;font-weight:700}
.ev .tag{font-size:10.5px;font-weight:700;color:#fff;border-radius:3px;padding:0 5px;margin-right:6px}
.hl-fault .tag{background:#dc2626}.hl-rollback .tag{background:#d97706}.hl-fail .tag{background:#b91c1c}
.ev details.dt{display:inline}.ev details.dt summary{display:inline;cursor:pointer;color:var(--muted);font-size:11px;margin-left:6px}
.ev details.dt pre{margin:2px 0 4px;background:#f9fafb;border:1px solid var(--line);padding:4px 6px}
.gap{padding:4px 0 4px 190px;border-bottom:1px solid #f3f4f6}
.info .show-all{margin-left:10px;font:inherit;font-size:12px;padding:0 8px;cursor:pointer}
.gap button{font:inherit;font-size:12px;padding:1px 8px;cursor:pointer}
.ev.hdr{content-visibility:visible;position:sticky;top:41px;z-index:1;background:#f3f4f6;color:var(--muted);font-size:11px;font-weight:600;text-transform:uppercase;letter-spacing:.03em}
.ev.hdr .txt,.ev.hdr .t{font-family:inherit;font-size:11px;color:var(--muted)}
.empty{color:var(--muted);padding:6px 0}
table.overview{border-collapse:collapse;margin:10px 0;background:#fff;border:1px solid var(--line);font-size:13px}
.overview th,.overview td{text-align:left;padding:4px 10px;border-bottom:1px solid var(--line);vertical-align:top}
.overview th{font-size:11px;text-transform:uppercase;color:var(--muted);background:#f9fafb}
.overview .purpose,.story .purpose{color:var(--muted)}.overview .purpose{font-size:12px}
.overview .none{color:var(--muted)}.overview .num{text-align:right;white-space:nowrap}
.rb{color:#b45309}
.story{flex-basis:100%;color:#374151;font-size:12.5px;padding-left:2px}
.failure .lead{margin-top:6px;color:#374151}.failure .lead ul{margin:2px 0 0;padding-left:18px}
.failure .lead .t{color:var(--muted)}.failure .lead .src{font-weight:600;font-size:11.5px}
.failure details.stack{margin-top:6px}.failure details.stack summary{cursor:pointer;color:var(--muted)}
.axis.lanes{height:auto;border:0;background:none;margin:4px 0 10px;font-size:11px}
.axis.lanes .tick{bottom:0;height:14px;width:2px}.axis.lanes .tick.s-fault,.axis.lanes .tick.hl-rollback{width:4px;height:14px}
.lane{display:grid;grid-template-columns:86px 1fr;align-items:center;height:16px}
.lane .lname{color:var(--muted);text-align:right;padding-right:8px}
.lane .track{position:relative;height:14px;background:#f3f4f6;border-radius:2px}
.lane .seg{position:absolute;top:1px;height:12px;background:#dbeafe;border-left:2px solid #2563eb;overflow:hidden;white-space:nowrap;font-size:10px;line-height:12px;color:#1e3a8a;padding-left:2px}
.lane .seg.hl-rollback{background:#fef3c7;border-left-color:#d97706;color:#92400e}
.lanes .scale{display:grid;grid-template-columns:86px 1fr}.lanes .scale span{position:relative;height:14px;color:var(--muted)}
.lanes .scale .z{position:absolute;right:0}
${perSource()}
`;
}
