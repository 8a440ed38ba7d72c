// Writes a run's reports into one folder CI can publish as-is: junit.xml, report.html, run.json
// and logs/ (each scenario's console transcript plus copies of raw logs that live elsewhere, so
// the folder stays complete after the temp dirs are gone). Files are written to a temp name and
// renamed, so a report is either the old one or the new one, never half of one.
import { copyFileSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { JOURNAL_FILE, readRunJournal } from '../run/journal.js';
import type { RunRecord, ScenarioResult } from '../run/result.js';
import { renderHtml } from './html.js';
import { renderJunit } from './junit.js';

export interface WrittenReports {
  dir: string;
  junit: string;
  html: string;
  json: string;
  /** Every raw log kept in the folder (absolute paths). */
  logs: string[];
}

const safeName = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 120) || '_';

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

function transcript(s: ScenarioResult): string {
  return s.timeline
    .filter((e) => e.source === 'console')
    .map((e) => `[${(e.t / 1000).toFixed(3).padStart(9)}] ${e.text}\n`)
    .join('');
}

export function writeReports(run: RunRecord, dir: string): WrittenReports {
  const root = resolve(dir);
  const logsDir = join(root, 'logs');
  mkdirSync(logsDir, { recursive: true });
  const used = new Set<string>();
  const copies = new Map<string, string>();
  const unique = (name: string) => {
    let candidate = name;
    for (let n = 2; used.has(candidate); n++) candidate = name.replace(/^[^.]*/, (stem) => `${stem}-${n}`);
    used.add(candidate);
    return candidate;
  };

  const scenarios = run.scenarios.map((s) => {
    const artifacts: string[] = [];
    const con = transcript(s);
    if (con) {
      const p = join(logsDir, unique(`${safeName(s.board)}--${safeName(s.scenario)}.console.log`));
      writeFileSync(p, con);
      artifacts.push(p);
    }
    for (const a of s.artifacts) {
      const abs = isAbsolute(a) ? a : resolve(root, a);
      if (abs.startsWith(`${root}/`) || !existsSync(abs)) {
        // Already in the folder, or gone: keep the reference so the report says what was expected.
        artifacts.push(abs);
        continue;
      }
      // One copy per source file, however many scenarios name it.
      let copy = copies.get(abs);
      if (!copy) {
        copy = join(logsDir, unique(safeName(basename(abs))));
        copyFileSync(abs, copy);
        copies.set(abs, copy);
      }
      artifacts.push(copy);
    }
    return { ...s, artifacts };
  });

  const kept: RunRecord = { ...run, scenarios };
  const logs = [...new Set(scenarios.flatMap((s) => s.artifacts))].filter((p) => p.startsWith(`${root}/`) && existsSync(p));
  const rel = (p: string) => relative(root, p).split('\\').join('/');
  const junit = join(root, 'junit.xml');
  const html = join(root, 'report.html');
  const json = join(root, 'run.json');
  writeAtomic(junit, renderJunit(kept, { artifactPath: rel }));
  writeAtomic(html, renderHtml(kept, { artifactHref: rel }));
  writeAtomic(json, `${JSON.stringify({ ...kept, scenarios: kept.scenarios.map((s) => ({ ...s, artifacts: s.artifacts.map(rel) })) }, null, 1)}\n`);
  return { dir: root, junit, html, json, logs };
}

/** Rebuilds the reports of a run folder from its journal: how a crashed or killed run still gets a report. */
export function writeReportsFromJournal(dir: string): WrittenReports {
  return writeReports(readRunJournal(join(dir, JOURNAL_FILE)), dir);
}
