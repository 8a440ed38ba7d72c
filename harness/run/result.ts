// What a run leaves behind: one result per scenario × board, and the run that holds them. Plain
// data (JSON round-trips) so the journal, JUnit and HTML writers all read the same shape.
import type { TimelineEvent } from './timeline.js';

export type ScenarioStatus = 'passed' | 'failed' | 'skipped' | 'error';

export interface ScenarioFailure {
  message: string;
  /** Where it failed: a board stage ('shell' timed out), a check name, a fault step. */
  stage?: string;
  /** The underlying error (stack, stderr) when there is one. */
  cause?: string;
}

/**
 * The options of `flipside-lab run` that change what a scenario does beyond its name, board and
 * seed: a replay must repeat them, or it runs something else (a bug left out passes).
 */
export interface RunSettings {
  /** --inject-bug: the client (or boot script) was built with this bug. */
  injectBug?: string;
  /** --sweep, when not the default: the number of power-cut-sweep points, which moves each point. */
  sweep?: number;
  /** --client, when not flipside: the client under test the image carries. */
  client?: string;
}

/** --sweep when not given. */
export const DEFAULT_SWEEP = 3;

/** The settings as command-line options, in a stable order; '' when all are defaults. */
export function settingsArgs(s: RunSettings | undefined): string {
  const out: string[] = [];
  if (s?.injectBug) out.push(`--inject-bug ${s.injectBug}`);
  if (s?.sweep !== undefined && s.sweep !== DEFAULT_SWEEP) out.push(`--sweep ${s.sweep}`);
  if (s?.client && s.client !== 'flipside') out.push(`--client ${s.client}`);
  return out.map((a) => ` ${a}`).join('');
}

export interface ScenarioResult {
  scenario: string;
  board: string;
  seed: number;
  /** What else the run was told (absent: defaults). */
  settings?: RunSettings;
  /** What the scenario proves, one line (and the variant, for a sweep point). */
  purpose?: string;
  status: ScenarioStatus;
  durationMs: number;
  /** ISO time the scenario started. */
  startedAt?: string;
  failure?: ScenarioFailure;
  timeline: TimelineEvent[];
  /** Raw logs (console capture, QEMU stderr, server log) kept with the report. */
  artifacts: string[];
}

export interface RunRecord {
  id: string;
  /** ISO time. */
  startedAt: string;
  finishedAt?: string;
  boards: string[];
  seed: number;
  settings?: RunSettings;
  scenarios: ScenarioResult[];
}

/** The command that replays one scenario with the same faults and the same settings. */
export function replayCommand(r: Pick<ScenarioResult, 'scenario' | 'board' | 'seed' | 'settings'>): string {
  return `flipside-lab run ${r.scenario} --board ${r.board} --seed ${r.seed}${settingsArgs(r.settings)}`;
}

export function countByStatus(results: readonly ScenarioResult[]): Record<ScenarioStatus, number> & { total: number } {
  const c = { passed: 0, failed: 0, skipped: 0, error: 0, total: results.length };
  for (const r of results) c[r.status]++;
  return c;
}

/** A run id that sorts by time and is safe as a folder name: `20261123-200526-3f9a`. */
export function newRunId(now = new Date(), rand: () => number = Math.random): string {
  const iso = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const suffix = Math.floor(rand() * 0x10000).toString(16).padStart(4, '0');
  return `${iso}-${suffix}`;
}
