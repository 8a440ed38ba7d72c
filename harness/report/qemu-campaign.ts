// Reports of a QEMU crash-image campaign, beside the host-sim campaign's (reports/<run>/):
// junit.xml (a testcase per crash image booted), report.html (per step of the recorded update a
// row of cells, one per crash image in log order, coloured by outcome; the failures with their
// replay commands) and campaign.json (the summary `--json` prints, and every image's verdict).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { qemuReplayCommand, type ImageResult, type QemuCampaignResult } from '../campaign/qemu/qemu-campaign.js';
import { compareRuns, kindOf, outcomesText, type ComparedRun, type CompareRow } from '../campaign/qemu/compare.js';
import { escapeXmlAttr, escapeXmlText } from './text.js';

export interface QemuCampaignSummary {
  board: string;
  client: string;
  seed: number;
  /** Crash images booted and checked (the campaign's cuts). */
  cuts: number;
  crashImages: number;
  /** Distinct disk states at flush boundaries in the recorded log. */
  crashStates: number;
  boundariesWithPending: number;
  log10Possible: number;
  failures: number;
  seconds: number;
  /** Mean wall time per crash image (boot, recovery, checks, retry), with this many VMs at once. */
  secondsPerImage: number;
  jobs: number;
  /** Mean seconds per booted image in each stage (check-image.ts), over the images that had it. */
  meanStages: Record<string, number>;
  /** Selected images set aside for having a booted one's bytes; retries looked up. */
  duplicates: number;
  retryLookup: QemuCampaignResult['retryLookup'];
  perState: Record<string, { cuts: number; failed: number }>;
  perKind: Record<string, { cuts: number; failed: number }>;
  finalStatuses: { new: number; oldThenRetried: number; oldNotRetried: number; failed: number };
  /** Selected but not booted (the time budget ran out). */
  notBooted: number;
  recording: QemuCampaignResult['recording'];
  replay: string[];
  passed: number;
  failed: number;
  /** With --compare: the other client's run beside this one, per step and kind of crash state. */
  compare?: { client: string; dir: string; rows: CompareRow[]; differences: number };
  dir: string;
  html: string;
  junit: string;
}


function meanStages(results: ImageResult[]): Record<string, number> {
  const sum: Record<string, { s: number; n: number }> = {};
  for (const x of results)
    for (const [k, v] of Object.entries(x.verdict.stages ?? {})) {
      const e = (sum[k] ??= { s: 0, n: 0 });
      e.s += v;
      e.n++;
    }
  return Object.fromEntries(Object.entries(sum).map(([k, e]) => [k, Math.round((e.s / e.n) * 10) / 10]));
}

/** The other run of a comparison: its campaign.json (`{summary, images}`), and where it is. */
export type OtherRun = ComparedRun & { dir: string };

/** A campaign.json this module wrote (its folder's other run, for --compare). */
export function readOtherRun(file: string): OtherRun {
  const j = JSON.parse(readFileSync(file, 'utf8')) as { summary?: { client?: string }; images?: ComparedRun['images'] };
  if (!j.summary?.client || !Array.isArray(j.images)) throw new Error(`--compare ${file}: not a QEMU campaign's campaign.json (no summary.client and images)`);
  return { client: j.summary.client, images: j.images, dir: dirname(file) };
}

export function summarizeQemu(r: QemuCampaignResult, other?: OtherRun): QemuCampaignSummary {
  const perState: QemuCampaignSummary['perState'] = {};
  const perKind: QemuCampaignSummary['perKind'] = {};
  for (const x of r.results) {
    for (const [m, k] of [[perState, x.step], [perKind, kindOf(x)]] as const) {
      const e = (m[k] ??= { cuts: 0, failed: 0 });
      e.cuts++;
      if (!x.verdict.ok) e.failed++;
    }
  }
  const failures = r.results.filter((x) => !x.verdict.ok);
  const n = r.results.length;
  return {
    board: r.board,
    client: r.client,
    seed: r.seed,
    cuts: n,
    crashImages: n,
    crashStates: r.distinctStates,
    boundariesWithPending: r.boundariesWithPending,
    log10Possible: r.log10Possible,
    failures: failures.length,
    seconds: Math.round(r.seconds),
    secondsPerImage: n ? Math.round((r.results.reduce((a, x) => a + x.seconds, 0) / n) * 10) / 10 : 0,
    jobs: r.jobs,
    meanStages: meanStages(r.results),
    duplicates: r.duplicates.length,
    retryLookup: r.retryLookup,
    perState,
    perKind,
    finalStatuses: {
      new: r.results.filter((x) => x.verdict.ok && x.verdict.outcome === 'new').length,
      oldThenRetried: r.results.filter((x) => x.verdict.ok && x.verdict.retried).length,
      oldNotRetried: r.results.filter((x) => x.verdict.ok && x.verdict.outcome === 'old' && !x.verdict.retried).length,
      failed: failures.length,
    },
    notBooted: r.notBooted,
    recording: r.recording,
    replay: failures.map((x) => qemuReplayCommand(r, r.recording.dir, x.id)),
    passed: n - failures.length,
    failed: failures.length,
    ...(other ? { compare: compareSummary(r, other) } : {}),
    dir: r.dir,
    html: join(r.dir, 'report.html'),
    junit: join(r.dir, 'junit.xml'),
  };
}

function compareSummary(r: QemuCampaignResult, other: OtherRun): NonNullable<QemuCampaignSummary['compare']> {
  const rows = compareRuns({ client: r.client, images: r.results }, other);
  return { client: other.client, dir: other.dir, rows, differences: rows.reduce((a, x) => a + x.differences.length, 0) };
}

/** Lines for the CLI: per step and kind, both clients' outcomes and what differs. */
export function compareLines(c: NonNullable<QemuCampaignSummary['compare']>): string[] {
  return [
    `  beside ${c.client}'s run (${c.dir}): ${c.differences} difference(s) over ${c.rows.length} kind(s) of cut`,
    ...c.rows.map((x) => `    ${x.step} / ${x.kind}: ${x.sides.map((s) => `${s.client} ${s.images ? outcomesText(s.outcomes) : 'not booted'}`).join('; ')}${x.differences.length ? ` — DIFFERS: ${x.differences.join('; ')}` : ''}`),
  ];
}

const name = (x: ImageResult) => `crash image ${x.id} (${x.step}): ${x.label}`;

function renderJunit(r: QemuCampaignResult, s: QemuCampaignSummary): string {
  const suite = `${r.board} campaign (${r.client})`;
  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  out.push(`<testsuites name="${escapeXmlAttr(`flipside-lab ${r.runId}`)}" tests="${s.cuts}" failures="${s.failures}" time="${s.seconds}">`);
  out.push(`  <testsuite name="${escapeXmlAttr(suite)}" tests="${s.cuts}" failures="${s.failures}" time="${s.seconds}">`);
  out.push(`    <properties><property name="seed" value="${r.seed}"/><property name="run" value="${escapeXmlAttr(r.runId)}"/><property name="crash-states" value="${s.crashStates}"/></properties>`);
  for (const x of r.results) {
    const cls = `${r.board}.campaign.${x.step}`;
    const t = x.seconds.toFixed(1);
    const v = x.verdict;
    if (v.ok) out.push(`    <testcase classname="${escapeXmlAttr(cls)}" name="${escapeXmlAttr(name(x))}" time="${t}"><system-out>${escapeXmlText(`ended on the ${v.outcome} version${v.retried ? ', the retry succeeded' : ''}\n${v.transcript.join('\n')}`)}</system-out></testcase>`);
    else {
      const msg = `${v.stage}: ${v.reason}`;
      out.push(`    <testcase classname="${escapeXmlAttr(cls)}" name="${escapeXmlAttr(name(x))}" time="${t}"><failure message="${escapeXmlAttr(msg)}">${escapeXmlText(`${msg}\nreplay: ${qemuReplayCommand(r, r.recording.dir, x.id)}\n${v.transcript.join('\n')}`)}</failure></testcase>`);
    }
  }
  out.push('  </testsuite>', '</testsuites>', '');
  return out.join('\n');
}

const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function renderHtml(r: QemuCampaignResult, s: QemuCampaignSummary): string {
  const ok = s.failures === 0;
  const steps = [...new Set(r.results.map((x) => x.step))];
  const rows = steps
    .map((step) => {
      const xs = r.results.filter((x) => x.step === step);
      const cells = xs
        .map((x) => {
          const v = x.verdict;
          const cls = !v.ok ? 'fail' : v.outcome === 'new' ? 'new' : v.retried ? 'old' : 'kept';
          const title = `${name(x)}\n${v.ok ? `ok: ${v.outcome}${v.retried ? ', retried' : ''}` : `${v.stage}: ${v.reason}`} (${x.seconds.toFixed(0)} s)`;
          return `<td class="c ${cls}" title="${esc(title)}">${x.variant}</td>`;
        })
        .join('');
      return `<tr><th class="row">${esc(step)}</th><td>${xs.length}</td><td class="${xs.some((x) => !x.verdict.ok) ? 'bad' : ''}">${xs.filter((x) => !x.verdict.ok).length}</td>${cells}</tr>`;
    })
    .join('');
  const failures = r.results.filter((x) => !x.verdict.ok);
  const fails = failures.length
    ? `<h2>Failures (${failures.length})</h2><table><tr><th>crash image</th><th>why</th><th>replay</th></tr>${failures
        .map((x) => `<tr class="badrow"><td>${esc(name(x))}</td><td>${esc(x.verdict.ok ? '' : `${x.verdict.stage}: ${x.verdict.reason}`)}<details><summary>after power-on</summary><pre>${esc(x.verdict.transcript.join('\n'))}</pre></details></td><td><code>${esc(qemuReplayCommand(r, r.recording.dir, x.id))}</code></td></tr>`)
        .join('')}</table>`
    : '';
  const kinds = Object.entries(s.perKind)
    .map(([k, v]) => `<tr><td>${esc(k)}</td><td>${v.cuts}</td><td class="${v.failed ? 'bad' : ''}">${v.failed}</td></tr>`)
    .join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>flipside-lab campaign ${esc(r.runId)}</title><style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}h1{font-size:22px}h2{font-size:18px;margin-top:28px}
.verdict{display:inline-block;padding:6px 14px;border-radius:6px;color:#fff;font-weight:bold;background:${ok ? '#2e7d32' : '#c62828'}}
.kpis{display:flex;gap:14px;flex-wrap:wrap;margin:14px 0}.kpi{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:120px}.kpi b{display:block;font-size:20px}
table{border-collapse:collapse}td,th{border:1px solid #e2e2e2;padding:2px 6px;text-align:left;vertical-align:top}
td.c{width:16px;height:18px;padding:0;text-align:center;font-size:10px;color:#fff}th.row{white-space:nowrap;font-weight:normal}
.new{background:#2e7d32}.old{background:#1565c0}.kept{background:#5c6bc0}.fail{background:#c62828}.bad{color:#c62828;font-weight:bold}.badrow{background:#fdecea}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
</style></head><body>
<h1>flipside-lab campaign · ${esc(r.board)} · client ${esc(r.client)}</h1>
<div class="verdict">${ok ? 'PASS' : 'FAIL'}: ${s.cuts} crash images booted, ${s.failures} failures</div>
<div class="kpis">
<div class="kpi"><b>${s.cuts}</b>crash images booted and checked</div>
<div class="kpi"><b>${s.crashStates}</b>distinct flush-boundary disk states in the log</div>
<div class="kpi"><b>~10^${s.log10Possible}</b>crash states the log allows (lost/torn unflushed sectors)</div>
<div class="kpi"><b>${r.recording.writes} / ${r.recording.flushes}</b>guest writes / flushes recorded (${(r.recording.writtenBytes / 2 ** 20).toFixed(0)} MiB)</div>
<div class="kpi"><b>${s.finalStatuses.new} / ${s.finalStatuses.oldThenRetried} / ${s.finalStatuses.oldNotRetried}</b>ended new / old then retry succeeded / old (retry limit)</div>
<div class="kpi"><b>${s.notBooted}</b>selected but not booted (time budget)</div>
<div class="kpi"><b>${s.secondsPerImage} s</b>per image (${s.jobs} VM(s)); ${s.seconds} s in all, seed ${s.seed}</div>
</div>
<p>Each crash image: the base disk plus the recorded writes up to a flush boundary (and for variants, a seeded subset of the unflushed writes after it, or one torn at 512-byte sectors), booted through U-Boot's script and bootcount and the kernel; the client's recovery; one version committed and running, the env naming the running root, the client agreeing, the /data canary intact; a retry of the update where the old version stayed; both env copies CRC-valid at the end.</p>
${fails}
<h2>Crash images by step of the recorded update (log order)</h2>
<p class="legend"><span class="new"></span>ended on the new version<span class="old"></span>on the old, retry succeeded<span class="kept"></span>on the old, not retried (--retry-limit)<span class="fail"></span>failed. The number is the variant (0: the plain flush boundary).</p>
<table><tr><th>step</th><th>images</th><th>failed</th><th colspan="999">images</th></tr>${rows}</table>
<h2>Per kind of crash state</h2><table><tr><th>kind</th><th>images</th><th>failed</th></tr>${kinds}</table>
${s.compare ? compareHtml(s.compare) : ''}</body></html>
`;
}

function compareHtml(c: NonNullable<QemuCampaignSummary['compare']>): string {
  const clients = c.rows[0]?.sides.map((x) => x.client) ?? [];
  const rows = c.rows
    .map((x) => `<tr class="${x.differences.length ? 'badrow' : ''}"><td>${esc(x.step)}</td><td>${esc(x.kind)}</td>${x.sides.map((s) => `<td>${s.images ? esc(outcomesText(s.outcomes)) : 'not booted'}${s.failed.length ? `<br><span class="bad">${s.failed.map(esc).join('<br>')}</span>` : ''}</td>`).join('')}<td>${x.differences.length ? x.differences.map(esc).join('<br>') : 'same'}</td></tr>`)
    .join('');
  return `<h2 id="compare">Both clients, per kind of cut (${c.differences} difference(s))</h2>
<p>Each client's run recorded its own update, so the same log position is not the same cut; the same step of the update and the same kind of crash state is. Other run: <code>${esc(c.dir)}</code>.</p>
<table><tr><th>step</th><th>crash state</th>${clients.map((x) => `<th>${esc(x)}</th>`).join('')}<th>difference</th></tr>${rows}</table>
`;
}

function writeAtomic(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

export function writeQemuCampaignReports(r: QemuCampaignResult, other?: OtherRun): QemuCampaignSummary {
  mkdirSync(r.dir, { recursive: true });
  const s = summarizeQemu(r, other);
  writeAtomic(s.junit, renderJunit(r, s));
  writeAtomic(s.html, renderHtml(r, s));
  writeAtomic(join(r.dir, 'campaign.json'), `${JSON.stringify({ summary: s, images: r.results }, null, 1)}\n`);
  return s;
}
