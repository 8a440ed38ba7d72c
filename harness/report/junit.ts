// JUnit XML the way CI servers actually read it: one <testsuite> per board, one <testcase> per
// scenario with classname = board (GitLab shows classname as the suite and keys cases by
// classname + name, so names are made unique), times in seconds, the failure text in the element
// body as well as in message= (GitLab ignores the attribute), the console in <system-out>, and
// raw logs as [[ATTACHMENT|path]] lines (GitLab's and Jenkins' attachment convention).
import { describeFault } from '../faults/describe.js';
import { countByStatus, replayCommand, type RunRecord, type ScenarioResult } from '../run/result.js';
import { leadUp } from './story.js';
import type { TimelineEvent } from '../run/timeline.js';
import type { Fault } from '../types.js';
import { escapeXmlAttr, escapeXmlText } from './text.js';

export interface JunitOptions {
  /** Console lines quoted in a failure (the tail before it failed). */
  failureConsoleLines?: number;
  /** Cap per <system-out>; the tail is kept (GitLab rejects files over 30 MB). */
  maxSystemOutChars?: number;
  /** Maps a raw log path to how the report should reference it (relative to the report folder). */
  artifactPath?: (path: string) => string;
}

const seconds = (ms: number) => (Math.max(0, ms) / 1000).toFixed(3);
/** Jenkins' xUnit schema wants ISO 8601 without fraction or zone. */
const timestamp = (iso: string) => new Date(iso).toISOString().slice(0, 19);

export function renderJunit(run: RunRecord, opts: JunitOptions = {}): string {
  const boards = [...new Set([...run.boards, ...run.scenarios.map((s) => s.board)])];
  const all = countByStatus(run.scenarios);
  const total = run.scenarios.reduce((a, s) => a + s.durationMs, 0);
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  out.push(
    `<testsuites name="${escapeXmlAttr(`flipside-lab ${run.id}`)}" tests="${all.total}" failures="${all.failed}" errors="${all.error}" skipped="${all.skipped}" time="${seconds(total)}" timestamp="${timestamp(run.startedAt)}">`,
  );
  boards.forEach((board, id) => {
    const cases = run.scenarios.filter((s) => s.board === board);
    if (cases.length === 0) return;
    const c = countByStatus(cases);
    const time = cases.reduce((a, s) => a + s.durationMs, 0);
    out.push(
      `  <testsuite name="${escapeXmlAttr(board)}" id="${id}" tests="${c.total}" failures="${c.failed}" errors="${c.error}" skipped="${c.skipped}" time="${seconds(time)}" timestamp="${timestamp(cases[0]!.startedAt ?? run.startedAt)}">`,
    );
    out.push('    <properties>');
    for (const [name, value] of [
      ['run', run.id],
      ['board', board],
      ['seed', String(run.seed)],
    ]) {
      out.push(`      <property name="${name}" value="${escapeXmlAttr(value!)}"/>`);
    }
    out.push('    </properties>');
    const seen = new Map<string, number>();
    for (const s of cases) {
      const n = (seen.get(s.scenario) ?? 0) + 1;
      seen.set(s.scenario, n);
      out.push(...testcase(s, n > 1 ? `${s.scenario} #${n}` : s.scenario, opts));
    }
    out.push('  </testsuite>');
  });
  out.push('</testsuites>', '');
  return out.join('\n');
}

function testcase(s: ScenarioResult, name: string, opts: JunitOptions): string[] {
  const lines = [`    <testcase name="${escapeXmlAttr(name)}" classname="${escapeXmlAttr(s.board)}" time="${seconds(s.durationMs)}">`];
  lines.push('      <properties>');
  lines.push(`        <property name="seed" value="${s.seed}"/>`);
  lines.push(`        <property name="replay" value="${escapeXmlAttr(replayCommand(s))}"/>`);
  lines.push('      </properties>');
  if (s.status === 'skipped') {
    lines.push(`      <skipped message="${escapeXmlAttr(s.failure?.message ?? 'skipped')}"/>`);
  } else if (s.status === 'failed' || s.status === 'error') {
    const tag = s.status === 'failed' ? 'failure' : 'error';
    const message = s.failure?.message ?? (s.status === 'failed' ? 'failed' : 'error');
    const type = s.failure?.stage ? ` type="${escapeXmlAttr(s.failure.stage)}"` : '';
    lines.push(`      <${tag} message="${escapeXmlAttr(message)}"${type}>${escapeXmlText(failureBody(s, opts.failureConsoleLines ?? 30))}</${tag}>`);
  }
  lines.push(`      <system-out>${escapeXmlText(systemOut(s, opts))}</system-out>`);
  lines.push('    </testcase>');
  return lines;
}

function consoleEvents(s: ScenarioResult): TimelineEvent[] {
  return s.timeline.filter((e) => e.source === 'console');
}

const stamp = (e: TimelineEvent) => `[${(e.t / 1000).toFixed(3).padStart(9)}] `;

function failureBody(s: ScenarioResult, tail: number): string {
  const f = s.failure;
  const parts = [f?.message ?? s.status];
  if (f?.stage) parts.push(`stage: ${f.stage}`);
  const lead = leadUp(s);
  if (lead.length > 0) parts.push('what led to it:', ...lead.map((e) => `  ${stamp(e)}${e.source}: ${e.text}`));
  parts.push(`replay: ${replayCommand(s)}`);
  const states = s.timeline.filter((e) => e.source === 'client-state').map((e) => e.kind);
  if (states.length > 0) parts.push(`client states: ${states.length > 40 ? `… ${states.slice(-40).join(' → ')}` : states.join(' → ')}`);
  const faults = s.timeline.filter((e) => e.source === 'fault');
  if (faults.length > 0) {
    parts.push('faults injected:');
    for (const e of faults) parts.push(`  ${stamp(e)}${faultText(e)}`);
  }
  if (f?.cause) parts.push(`cause:\n${f.cause}`);
  const con = consoleEvents(s).slice(-tail);
  if (con.length > 0) {
    parts.push(`last ${con.length} console lines:`);
    for (const e of con) parts.push(`${stamp(e)}${e.text}`);
  }
  return `\n${parts.join('\n')}\n`;
}

function faultText(e: TimelineEvent): string {
  const fault = (e.data as { fault?: Fault } | undefined)?.fault;
  return fault ? describeFault(fault) : e.text;
}

function systemOut(s: ScenarioResult, opts: JunitOptions): string {
  const max = opts.maxSystemOutChars ?? 1_000_000;
  const ref = opts.artifactPath ?? ((p: string) => p);
  const attachments = s.artifacts.map((p) => `[[ATTACHMENT|${ref(p)}]]`);
  const con = consoleEvents(s);
  const kept: string[] = [];
  let size = 0;
  // Keep the tail: the end of the log is where a failure is explained.
  for (let i = con.length - 1; i >= 0; i--) {
    const line = `${stamp(con[i]!)}${con[i]!.text}`;
    if (size + line.length + 1 > max) {
      kept.push(`… ${i + 1} earlier console lines left out here; the raw log has them all`);
      break;
    }
    size += line.length + 1;
    kept.push(line);
  }
  kept.reverse();
  return `\n${[...attachments, ...kept].join('\n')}\n`;
}
