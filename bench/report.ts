// What every bench reports about a target of issue 15, in one shape: the measured value, the
// baseline measured in the same run, their ratio, the target and whether it is met, with the
// load average at the time (the box is shared). A bench prints one `TARGET {json}` line per
// target; bench/run.ts gathers them into the table it prints last.
import { loadavg } from 'node:os';

export interface TargetRow {
  /** What was measured, e.g. "none: validate, 256 MiB". */
  what: string;
  /** Our value with its unit, e.g. "0.31 s, 52 MiB". */
  value: string;
  /** The in-run baseline with its unit, or "—" where the target is absolute. */
  baseline: string;
  /** The number the target is judged on (null: not measured). */
  ratio: number | null;
  /** The target as text, e.g. "≥ 1.2x and < 64 MiB". */
  target: string;
  met: boolean | null;
  /** 1-minute load average while it ran (min-max when over several runs). */
  load: string;
}

export const TARGET_PREFIX = 'TARGET ';

export function loadNow(): number {
  return loadavg()[0]!;
}

/** "3.1" or "2.4-5.0" for the loads seen over a comparison's runs. */
export function loadRange(loads: number[]): string {
  if (loads.length === 0) return '?';
  const lo = Math.min(...loads);
  const hi = Math.max(...loads);
  return hi - lo < 0.05 ? lo.toFixed(1) : `${lo.toFixed(1)}-${hi.toFixed(1)}`;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function reportTarget(row: TargetRow): void {
  console.log(`${TARGET_PREFIX}${JSON.stringify(row)}`);
}

export function parseTarget(line: string): TargetRow | null {
  if (!line.startsWith(TARGET_PREFIX)) return null;
  try {
    return JSON.parse(line.slice(TARGET_PREFIX.length)) as TargetRow;
  } catch {
    return null;
  }
}

/** The markdown table run.ts prints (and README's benchmark section copies). */
export function targetTable(rows: TargetRow[]): string {
  const verdict = (r: TargetRow) => (r.met === null ? (r.target.includes('informational') ? 'informational' : 'not measured') : r.met ? 'met' : '**NOT MET**');
  const lines = ['| target | ours | baseline (same run) | ratio | target | met | load avg |', '|---|---|---|---|---|---|---|'];
  // A shell pipe in a cell would end it.
  const cell = (s: string) => s.replaceAll('|', '\\|');
  for (const r of rows) {
    lines.push(`| ${cell(r.what)} | ${cell(r.value)} | ${cell(r.baseline)} | ${r.ratio === null ? '—' : `${r.ratio.toFixed(2)}x`} | ${r.target} | ${verdict(r)} | ${r.load} |`);
  }
  return lines.join('\n');
}
