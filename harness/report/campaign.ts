// A campaign's reports, beside the scenario runs' (reports/<run>/): junit.xml (a testcase per
// crash state checked and per mutant), report.html (the proof at a glance: per flow a matrix of
// state points × operation index, one cell per cut point coloured by outcome, counts per state,
// crash states explored of how many, the sensitivity table, a replay command per failure) and
// campaign.json (the summary `--json` prints).
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CampaignResult, CutResult } from '../campaign/campaign.js';
import { replayCommand } from '../campaign/campaign.js';
import { escapeXmlAttr, escapeXmlText } from './text.js';

export interface CampaignSummary {
  board: string;
  client: string;
  seed: number;
  cuts: number;
  cutPoints: number;
  crashStates: number;
  crashStatesNamed: number;
  log10Possible: number;
  failures: number;
  seconds: number;
  jobs: number;
  perState: Record<string, { cuts: number; failed: number }>;
  perPhase: Record<string, { cuts: number; failed: number }>;
  mutants: number;
  caught: number;
  sensitivity: { name: string; where: string; caught: boolean; checked: number; firstCut: string | null; why: string | null; replay: string }[];
  replay: string[];
  finalStatuses: { new: number; oldThenRetried: number; failed: number };
  downloadedBytes: number;
  artifactBytes: number;
  partitionBytes: number;
  dir: string;
  html: string;
  junit: string;
}

const cutName = (r: Pick<CutResult, 'flow' | 'cut' | 'index' | 'point'>) => `${r.flow} cut ${r.cut} (${r.point}) state ${r.index}`;

export function summarize(r: CampaignResult, opts: { partitionMiB: number; extra: number }): CampaignSummary {
  const perState: CampaignSummary['perState'] = {};
  const perPhase: CampaignSummary['perPhase'] = {};
  for (const x of r.results) {
    const s = (perState[x.point] ??= { cuts: 0, failed: 0 });
    const p = (perPhase[x.phase] ??= { cuts: 0, failed: 0 });
    s.cuts++;
    p.cuts++;
    if (!x.ok) {
      s.failed++;
      p.failed++;
    }
  }
  const failures = r.results.filter((x) => !x.ok);
  return {
    board: 'host-sim',
    client: 'flipside',
    seed: r.seed,
    cuts: r.results.length,
    cutPoints: new Set(r.results.map((x) => `${x.flow}/${x.cut}`)).size,
    crashStates: r.results.filter((x) => x.index > 0).length,
    crashStatesNamed: r.flows.reduce((a, f) => a + f.named, 0),
    log10Possible: Math.round(Math.max(0, ...r.flows.map((f) => f.log10Possible)) * 10) / 10,
    failures: failures.length,
    seconds: Math.round(r.seconds * 10) / 10,
    jobs: r.jobs,
    perState,
    perPhase,
    mutants: r.mutants.length,
    caught: r.mutants.filter((m) => m.caught).length,
    sensitivity: r.mutants.map((m) => ({ name: m.name, where: m.where, caught: m.caught, checked: m.checked, firstCut: m.first ? cutName(m.first) : null, why: m.first ? `${m.first.stage}: ${m.first.reason}` : null, replay: m.replay })),
    replay: failures.map((x) => replayCommand(r.seed, x, undefined, opts)),
    finalStatuses: { new: r.results.filter((x) => x.ok && !x.retried).length, oldThenRetried: r.results.filter((x) => x.ok && x.retried).length, failed: failures.length },
    downloadedBytes: r.downloadedBytes,
    artifactBytes: r.artifactBytes,
    partitionBytes: r.partitionBytes,
    dir: r.dir,
    html: join(r.dir, 'report.html'),
    junit: join(r.dir, 'junit.xml'),
  };
}

function renderJunit(r: CampaignResult, s: CampaignSummary): string {
  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const failedMutants = r.mutants.filter((m) => !m.caught).length;
  out.push(`<testsuites name="${escapeXmlAttr(`flipside-lab ${r.runId}`)}" tests="${s.cuts + s.mutants}" failures="${s.failures + failedMutants}" time="${s.seconds}">`);
  out.push(`  <testsuite name="host-sim campaign" tests="${s.cuts}" failures="${s.failures}" time="${s.seconds}">`);
  out.push(`    <properties><property name="seed" value="${r.seed}"/><property name="run" value="${escapeXmlAttr(r.runId)}"/></properties>`);
  for (const x of r.results) {
    const name = escapeXmlAttr(`${cutName(x)}: ${x.label}`);
    const t = (x.ms / 1000).toFixed(3);
    if (x.ok) out.push(`    <testcase classname="host-sim.campaign.${x.flow}" name="${name}" time="${t}"/>`);
    else {
      const msg = `${x.stage}: ${x.reason}`;
      out.push(`    <testcase classname="host-sim.campaign.${x.flow}" name="${name}" time="${t}"><failure message="${escapeXmlAttr(msg)}">${escapeXmlText(`${msg}\nreplay: ${replayCommand(r.seed, x)}`)}</failure></testcase>`);
    }
  }
  out.push('  </testsuite>');
  if (r.mutants.length) {
    out.push(`  <testsuite name="host-sim campaign mutants" tests="${r.mutants.length}" failures="${failedMutants}">`);
    for (const m of r.mutants) {
      const name = escapeXmlAttr(`mutant ${m.name} is caught`);
      if (m.caught) out.push(`    <testcase classname="host-sim.campaign.mutants" name="${name}"><system-out>${escapeXmlText(`first caught at ${cutName(m.first!)}: ${m.first!.stage}: ${m.first!.reason}\n${m.replay}`)}</system-out></testcase>`);
      else out.push(`    <testcase classname="host-sim.campaign.mutants" name="${name}"><failure message="${escapeXmlAttr(`no crash state of ${m.checked} caught ${m.name}: ${m.what}`)}"/></testcase>`);
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>', '');
  return out.join('\n');
}

const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function matrix(r: CampaignResult, flow: string): string {
  const rows = new Map<string, Map<number, CutResult[]>>();
  for (const x of r.results.filter((y) => y.flow === flow)) {
    const row = rows.get(x.point) ?? new Map<number, CutResult[]>();
    rows.set(x.point, row);
    row.set(x.column, [...(row.get(x.column) ?? []), x]);
  }
  if (rows.size === 0) return '';
  const width = Math.max(...[...rows.values()].map((m) => Math.max(...m.keys()) + 1));
  const head = `<tr><th>state point</th><th>cuts</th><th>failed</th>${Array.from({ length: width }, (_, i) => `<th class="col">${i}</th>`).join('')}</tr>`;
  const body = [...rows].map(([point, cols]) => {
    const all = [...cols.values()].flat();
    const failed = all.filter((x) => !x.ok).length;
    const cells = Array.from({ length: width }, (_, i) => {
      const xs = cols.get(i);
      if (!xs) return '<td></td>';
      const bad = xs.filter((x) => !x.ok);
      const cls = bad.length ? 'fail' : xs.every((x) => x.outcome === 'new') ? 'new' : xs.every((x) => x.outcome === 'old') ? 'old' : 'mixed';
      const title = `${flow} cut ${xs[0]!.cut} after "${point}" (+${i} ops): ${xs.length} crash state(s), ${bad.length} failed; ${xs.filter((x) => x.outcome === 'new').length} ended on the new version, ${xs.filter((x) => x.retried).length} on the old then retried${bad.length ? `\n${bad[0]!.stage}: ${bad[0]!.reason}` : ''}`;
      return `<td class="c ${cls}" title="${esc(title)}">${xs.length}</td>`;
    });
    return `<tr><th class="row">${esc(point)}</th><td>${all.length}</td><td class="${failed ? 'bad' : ''}">${failed}</td>${cells.join('')}</tr>`;
  });
  return `<table class="matrix">${head}${body.join('')}</table>`;
}

function renderHtml(r: CampaignResult, s: CampaignSummary): string {
  const ok = s.failures === 0 && s.caught === s.mutants;
  const flows = r.flows
    .map((f) => `<h3>${esc(f.name)} <small>${f.ops} storage operations recorded, ${f.cutPoints} cut points, ${f.checked} of ${f.named} named crash states checked (the model allows ~10^${f.log10Possible.toFixed(0)} at the widest)</small></h3>${matrix(r, f.name)}`)
    .join('\n');
  const sens = r.mutants.length
    ? `<h2>Sensitivity: ${s.caught} of ${s.mutants} seeded bugs caught</h2><table class="list"><tr><th>mutant</th><th>where</th><th>the bug</th><th>crash states until caught</th><th>first cut that caught it</th><th>why</th><th>replay</th></tr>${r.mutants
        .map((m) => `<tr class="${m.caught ? '' : 'badrow'}"><td><code>${esc(m.name)}</code></td><td>${m.where}</td><td>${esc(m.what)}</td><td>${m.checked}</td><td>${m.first ? esc(cutName(m.first)) + `<br><small>${esc(m.first.label)}</small>` : '<b>not caught</b>'}</td><td>${m.first ? esc(`${m.first.stage}: ${m.first.reason}`) : ''}${m.first?.transcript ? `<details><summary>after the cut</summary><pre>${esc(m.first.transcript.join('\n'))}</pre></details>` : ''}</td><td><code>${esc(m.replay)}</code></td></tr>`)
        .join('')}</table>`
    : '';
  const failures = r.results.filter((x) => !x.ok);
  const fails = failures.length
    ? `<h2>Failures (${failures.length})</h2><table class="list"><tr><th>cut</th><th>crash state</th><th>why</th><th>replay</th></tr>${failures
        .slice(0, 500)
        .map((x) => `<tr class="badrow"><td>${esc(cutName(x))}</td><td>${esc(x.label)}</td><td>${esc(`${x.stage}: ${x.reason}`)}${x.transcript ? `<details><summary>after the cut</summary><pre>${esc(x.transcript.join('\n'))}</pre></details>` : ''}</td><td><code>${esc(replayCommand(r.seed, x))}</code></td></tr>`)
        .join('')}</table>`
    : '';
  const phases = Object.entries(s.perPhase)
    .map(([k, v]) => `<tr><td>${k}</td><td>${v.cuts}</td><td class="${v.failed ? 'bad' : ''}">${v.failed}</td></tr>`)
    .join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>flipside-lab campaign ${esc(r.runId)}</title><style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}h1{font-size:22px}h2{font-size:18px;margin-top:28px}h3{font-size:15px;margin:18px 0 6px}h3 small{font-weight:normal;color:#666}
.verdict{display:inline-block;padding:6px 14px;border-radius:6px;color:#fff;font-weight:bold;background:${ok ? '#2e7d32' : '#c62828'}}
.kpis{display:flex;gap:14px;flex-wrap:wrap;margin:14px 0}.kpi{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:120px}.kpi b{display:block;font-size:20px}
table{border-collapse:collapse}td,th{border:1px solid #e2e2e2;padding:2px 6px;text-align:left;vertical-align:top}
.matrix td.c{width:18px;height:18px;padding:0;text-align:center;font-size:10px;color:#fff}.matrix th.col{font-size:10px;color:#888;padding:0 2px}.matrix th.row{white-space:nowrap;font-weight:normal}
.new{background:#2e7d32}.old{background:#1565c0}.mixed{background:#6a1b9a}.fail{background:#c62828}.bad{color:#c62828;font-weight:bold}.badrow{background:#fdecea}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}code{font-size:12px}
</style></head><body>
<h1>flipside-lab campaign · host-sim · client flipside</h1>
<div class="verdict">${ok ? 'PASS' : 'FAIL'}: ${s.cuts} cuts, ${s.failures} failures${s.mutants ? `; ${s.caught}/${s.mutants} mutants caught` : ''}</div>
<div class="kpis">
<div class="kpi"><b>${s.cuts}</b>cuts checked (crash states)</div>
<div class="kpi"><b>${s.cutPoints}</b>cut points (operation boundaries)</div>
<div class="kpi"><b>${s.crashStates}</b>crash states beyond "all issued writes landed"</div>
<div class="kpi"><b>${s.cuts} / ${s.crashStatesNamed}</b>checked / named by the model (~10^${s.log10Possible} possible)</div>
<div class="kpi"><b>${s.failures}</b>failures</div>
<div class="kpi"><b>${s.finalStatuses.new} / ${s.finalStatuses.oldThenRetried}</b>ended new / old then retry succeeded</div>
<div class="kpi"><b>${s.seconds} s</b>${s.jobs} worker(s), seed ${s.seed}</div>
</div>
<p>Each cut: the crash image goes on the board, power-on through the boot logic, <code>flipside resume</code> (and <code>commit</code> where it waits), the invariants (one version committed and running and exactly its image in the slot, env readable and never older than the last durable write, no deployment left, old rootfs and /data canary intact), a power cycle and the same checks, then where the old version stayed a retry that must succeed.</p>
<p class="legend">Cell colour:<span class="new"></span>every crash state ended on the new version<span class="old"></span>on the old, retry succeeded<span class="mixed"></span>both<span class="fail"></span>a failure. The number is the crash states checked at that cut; hover for details. Columns: operations since the state point.</p>
${fails}
${sens}
<h2>Matrix: state points × operation index</h2>
${flows}
<h2>Per phase</h2><table class="list"><tr><th>phase</th><th>cuts</th><th>failed</th></tr>${phases}</table>
</body></html>
`;
}

function writeAtomic(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

export function writeCampaignReports(r: CampaignResult, opts: { partitionMiB: number; extra: number }): CampaignSummary {
  mkdirSync(r.dir, { recursive: true });
  const s = summarize(r, opts);
  writeAtomic(s.junit, renderJunit(r, s));
  writeAtomic(s.html, renderHtml(r, s));
  writeAtomic(join(r.dir, 'campaign.json'), `${JSON.stringify({ summary: s, flows: r.flows, mutants: r.mutants }, null, 1)}\n`);
  return s;
}
