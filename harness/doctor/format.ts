// The doctor's text report: one line per check, the evidence under it, and the fix indented so
// it can be copied as it is.
import type { DoctorReport } from './runner.js';

const MARK = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP', error: 'ERROR' } as const;

export function formatDoctorReport(r: DoctorReport): string {
  const out: string[] = [`flipside-lab doctor: ${r.board}`];
  for (const c of r.checks) {
    out.push(`${MARK[c.status].padEnd(5)} ${c.id}: ${c.title} (${(c.durationMs / 1000).toFixed(1)} s)`);
    out.push(`      ${c.detail}`);
    if (c.fix) out.push(`      fix: ${c.fix.split('\n').join('\n      ')}`);
  }
  const failed = r.checks.filter((c) => c.status === 'fail' || c.status === 'error').length;
  out.push(`${r.checks.length - failed} of ${r.checks.length} checks without findings, ${failed} failed; ${r.boots} power cycles in ${(r.durationMs / 1000).toFixed(1)} s`);
  for (const l of r.logs) out.push(`console transcript: ${l}`);
  return out.join('\n');
}
