// report.html: one self-contained page (inline CSS and JS, a CSP that forbids every fetch) that
// opens from the file system. The summary and each scenario's header are static HTML, escaped
// here; timelines are embedded as JSON and drawn by the inline script on demand, which keeps a
// 10,000-line console cheap until someone opens it.
import { countByStatus, replayCommand, settingsArgs, type RunRecord, type ScenarioResult } from '../run/result.js';
import { parseStateLine } from '../run/state-line.js';
import { EVENT_SOURCES, type TimelineEvent } from '../run/timeline.js';
import { reportCss } from './html-style.js';
import { reportScript } from './html-script.js';
import { cleanConsoleText, escapeHtml, jsonForScript } from './text.js';
import { isRollback, leadUp, scenarioStory } from './story.js';

export interface HtmlOptions {
  /** How to link a raw log from the page (relative to where report.html is written). */
  artifactHref?: (path: string) => string;
}

/** Highlight flags carried to the script: a fault, a rollback, a failed check or harness error. */
export const FLAG_FAULT = 1;
export const FLAG_ROLLBACK = 2;
export const FLAG_FAIL = 4;
/** A console FLIPSIDE-STATE line: shown dimmed, since the client-state row beside it says the same. */
export const FLAG_STATE_LINE = 8;

export function highlightOf(e: TimelineEvent): number {
  if (e.source === 'fault') return FLAG_FAULT;
  if ((e.source === 'check' && e.kind === 'fail') || (e.source === 'harness' && e.kind === 'fault-error')) return FLAG_FAIL;
  // A console state line is not flagged: the client-state row right beside it carries the highlight.
  if (e.source === 'console' && parseStateLine(e.text)) return FLAG_STATE_LINE;
  if (isRollback(e)) return FLAG_ROLLBACK;
  return 0;
}

type Row = [t: number, source: number, kind: string, text: string, flags: number, data?: string];

function rows(events: readonly TimelineEvent[]): Row[] {
  // A console state line is the client-state row beside it, said again: shown once, as the state.
  const shown = events.filter((e) => highlightOf(e) !== FLAG_STATE_LINE);
  // One time axis: sort by time, stable, so late-stamped events sit where they happened.
  const sorted = shown.map((e, i) => [e, i] as const).sort((a, b) => a[0].t - b[0].t || a[1] - b[1]);
  return sorted.map(([e]) => {
    const r: Row = [Math.round(e.t), EVENT_SOURCES.indexOf(e.source), cleanConsoleText(e.kind), cleanConsoleText(e.text), highlightOf(e)];
    if (e.data !== undefined && e.source !== 'client-state') r.push(cleanConsoleText(JSON.stringify(e.data, null, 2) ?? String(e.data)));
    return r;
  });
}

const seconds = (ms: number) => (ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.floor(ms / 60_000)} min ${((ms % 60_000) / 1000).toFixed(0)} s`);
const STATUS_LABEL = { passed: 'PASSED', failed: 'FAILED', error: 'ERROR', skipped: 'SKIPPED' } as const;

function runDuration(run: RunRecord): number {
  if (run.finishedAt) return Date.parse(run.finishedAt) - Date.parse(run.startedAt);
  return run.scenarios.reduce((a, s) => a + s.durationMs, 0);
}

function summary(run: RunRecord): string {
  const c = countByStatus(run.scenarios);
  const bad = c.failed + c.error;
  const verdict = bad === 0 ? `<span class="verdict ok">All ${c.total - c.skipped} run scenarios passed</span>` : `<span class="verdict bad">${bad} of ${c.total} scenarios did not pass</span>`;
  const count = (k: 'passed' | 'failed' | 'error' | 'skipped' | 'total', label: string) =>
    `<div class="count ${k}" data-count="${k}"><b>${c[k]}</b>${label}</div>`;
  const failing = run.scenarios.filter((s) => s.status === 'failed' || s.status === 'error');
  const replays = failing.length
    ? `<div>Replay what did not pass:</div><ul>${failing.map((s) => `<li><code>${escapeHtml(replayCommand(s))}</code></li>`).join('')}</ul>`
    : '';
  return `<header>
<h1>Flipside lab run ${escapeHtml(run.id)}</h1>
${verdict}
<div class="counts">${count('passed', 'passed')}${count('failed', 'failed')}${count('error', 'errors')}${count('skipped', 'skipped')}${count('total', 'total')}</div>
<dl class="meta">
<dt>run</dt><dd>${escapeHtml(run.id)}</dd>
<dt>started</dt><dd>${escapeHtml(run.startedAt)}</dd>
<dt>board${run.boards.length === 1 ? '' : 's'}</dt><dd>${run.boards.map(escapeHtml).join(', ')}</dd>
<dt>seed</dt><dd><code>${run.seed}</code></dd>
${run.settings?.injectBug ? `<dt>injected bug</dt><dd><code>${escapeHtml(run.settings.injectBug)}</code></dd>` : ''}
${run.settings?.sweep !== undefined ? `<dt>sweep</dt><dd>${run.settings.sweep} points</dd>` : ''}
<dt>duration</dt><dd>${seconds(runDuration(run))}${run.finishedAt ? '' : ' (run did not finish)'}</dd>
</dl>
${overview(run)}
<div class="replay">Replay any scenario with the same faults: <code>flipside-lab run &lt;scenario&gt; --board ${escapeHtml(run.boards[0] ?? '<board>')} --seed ${run.seed}${escapeHtml(settingsArgs(run.settings))}</code>${replays}</div>
</header>`;
}

/** One row per scenario: the whole run on one screen, each row linking to its scenario. */
function overview(run: RunRecord): string {
  if (run.scenarios.length === 0) return '';
  const body = run.scenarios
    .map((s, i) => {
      const st = scenarioStory(s);
      return `<tr class="st-${s.status}"><td><span class="badge ${s.status}">${STATUS_LABEL[s.status]}</span></td><td><a href="#sc-${i}">${escapeHtml(s.scenario)}</a><div class="purpose">${escapeHtml(s.purpose ?? '')}</div></td><td>${escapeHtml(s.board)}</td><td>${st.faults.length ? st.faults.map(escapeHtml).join('<br>') : '<span class="none">none</span>'}</td><td>${st.rollback ? '<b class="rb">yes</b>' : 'no'}</td><td>${st.finalVersion ? `<code>${escapeHtml(st.finalVersion)}</code>` : '<span class="none">?</span>'}</td><td class="num">${seconds(s.durationMs)}</td></tr>`;
    })
    .join('\n');
  return `<table class="overview"><thead><tr><th>result</th><th>scenario</th><th>board</th><th>faults injected</th><th>rollback</th><th>final version</th><th>time</th></tr></thead><tbody>
${body}
</tbody></table>`;
}

function toolbar(run: RunRecord): string {
  const counts = Object.fromEntries(EVENT_SOURCES.map((s) => [s, 0])) as Record<string, number>;
  for (const sc of run.scenarios) for (const e of sc.timeline) counts[e.source]!++;
  const boxes = EVENT_SOURCES.map(
    (s) => `<label><input type="checkbox" checked data-source="${s}"><span class="sw s-${s}"></span>${s} <span class="board">(${counts[s]})</span></label>`,
  ).join('');
  return `<div class="toolbar"><b>Show:</b>${boxes}<button type="button" id="expand-all">expand all</button><button type="button" id="collapse-all">collapse all</button></div>`;
}

function scenarioBlock(s: ScenarioResult, i: number, opts: HtmlOptions): string {
  const failing = s.status === 'failed' || s.status === 'error';
  const href = opts.artifactHref ?? ((p: string) => p);
  const f = s.failure;
  const lead = failing ? leadUp(s) : [];
  const leadList = lead.length
    ? `<div class="lead">What led to it:<ul>${lead.map((e) => `<li><span class="t">${(e.t / 1000).toFixed(3)} s</span> <span class="src">${e.source}</span> ${escapeHtml(cleanConsoleText(e.text))}</li>`).join('')}</ul></div>`
    : '';
  // The cause first (the message says expected and got), the stack last and folded: it says where
  // in the harness the check threw, which a reader needs least.
  const failureBox =
    failing && f
      ? `<div class="failure"><div class="fmsg">${escapeHtml(f.message.trim())}</div>${f.stage ? `<div class="stage">stage: ${escapeHtml(f.stage)}</div>` : ''}${leadList}${f.cause ? `<details class="stack"><summary>stack trace</summary><pre>${escapeHtml(f.cause)}</pre></details>` : ''}</div>`
      : '';
  const st = scenarioStory(s);
  const story = `<span class="story">${s.purpose ? `<span class="purpose">${escapeHtml(s.purpose)}</span> · ` : ''}faults: ${st.faults.length ? escapeHtml(st.faults.join('; ')) : 'none'} · rollback: ${st.rollback ? '<b class="rb">yes</b>' : 'no'} · final version: ${st.finalVersion ? `<code>${escapeHtml(st.finalVersion)}</code>` : '?'}</span>`;
  const skipNote = s.status === 'skipped' && f ? `<div class="skipnote">Skipped: ${escapeHtml(f.message)}</div>` : '';
  const faults = s.timeline.filter((e) => e.source === 'fault').length;
  const logs = s.artifacts.length
    ? ` · logs: ${s.artifacts.map((p) => `<a href="${escapeHtml(href(p))}">${escapeHtml(p.split('/').pop() ?? p)}</a>`).join(', ')}`
    : '';
  return `<details class="sc st-${s.status}" id="sc-${i}" data-s="${i}"${failing ? ' open' : ''}>
<summary><span class="badge ${s.status}">${STATUS_LABEL[s.status]}</span><span class="name">${escapeHtml(s.scenario)}</span><span class="board">${escapeHtml(s.board)}</span><span class="dur">${seconds(s.durationMs)}</span>${f && (failing || s.status === 'skipped') ? `<span class="sum-msg">${escapeHtml(f.message.trim())}</span>` : ''}${story}</summary>
<div class="body">
${failureBox}${skipNote}<div class="info">replay: <code>${escapeHtml(replayCommand(s))}</code> · ${s.timeline.length} events · ${faults} fault${faults === 1 ? '' : 's'}${logs}</div>
<div class="axis lanes" aria-label="timeline by source"></div>
<div class="tl"></div>
</div>
</details>`;
}

export function renderHtml(run: RunRecord, opts: HtmlOptions = {}): string {
  const data = { sources: EVENT_SOURCES, scenarios: run.scenarios.map((s) => ({ d: s.durationMs, e: rows(s.timeline) })) };
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Flipside lab run ${escapeHtml(run.id)}</title>
<style>${reportCss()}</style>
</head>
<body>
${summary(run)}
${toolbar(run)}
<main>
${run.scenarios.length ? run.scenarios.map((s, i) => scenarioBlock(s, i, opts)).join('\n') : '<p class="empty">This run has no scenarios.</p>'}
</main>
<script type="application/json" id="flipside-data">${jsonForScript(data)}</script>
<script>${reportScript()}</script>
</body>
</html>
`;
}
