// A scenario's story in a few facts, read from its timeline: the faults injected, whether the
// device rolled back, the version it ended on, the client states it went through, and the events
// that led up to a failure. The HTML report shows them on each collapsed scenario and in the
// summary table; JUnit puts the lead-up in the failure body.
import type { ScenarioResult } from '../run/result.js';
import type { TimelineEvent } from '../run/timeline.js';
import { parseStateLine } from '../run/state-line.js';

/**
 * A rollback that happened: a client rollback state, or a line saying something is rolling or
 * rolled back. The noun alone ("run `flipside rollback` to drop it", a check named after one) is
 * not a rollback.
 */
export function isRollback(e: TimelineEvent): boolean {
  if (e.source === 'client-state') return /Rollback/.test(e.kind);
  if (e.source === 'check' || e.source === 'env') return false;
  return /\broll(?:ing|ed)[ -]?back\b/i.test(e.text);
}

/** Console lines that say something went wrong: what a reader looks for first. */
const TROUBLE = /panic|unable to|cannot|can not|\berror\b|\bfail(?:ed|ure|s)?\b|\blost\b|corrupt|refus|timed out|not found|denied/i;

/**
 * A fault in one wording: the scheduler's "power-cut at X" and the later "injected: power-cut at X
 * (exact, by the board)" are the same fault, counted once.
 */
function faultLine(e: TimelineEvent): string | null {
  if (e.source !== 'fault') return null;
  return e.text.replace(/^injected: /, '').replace(/ \((?:exact[^)]*|\+\d+ ms)\)$/, '');
}

export interface ScenarioStory {
  faults: string[];
  rollback: boolean;
  /** The artifact the device last booted (the last `artifact_name=` on its console), if it said. */
  finalVersion: string | null;
  /** Client states in order, repeats folded. */
  states: string[];
}

export function scenarioStory(s: ScenarioResult): ScenarioStory {
  const faults: string[] = [];
  const states: string[] = [];
  let rollback = false;
  let finalVersion: string | null = null;
  for (const e of s.timeline) {
    const f = faultLine(e);
    if (f && !faults.includes(f)) faults.push(f);
    if (isRollback(e)) rollback = true;
    if (e.source === 'client-state' && states.at(-1) !== e.kind) states.push(e.kind);
    if (e.source === 'console' && !parseStateLine(e.text)) {
      const m = /\bartifact_name=([\w.+-]+)/.exec(e.text);
      if (m) finalVersion = m[1]!;
    }
  }
  return { faults, rollback, finalVersion, states };
}

/**
 * What led to a failure: the faults, rollbacks and trouble lines before it (the last `max`), so
 * the cause is next to the failure instead of somewhere in a long timeline.
 */
function newFault(e: TimelineEvent, seen: Set<string>): boolean {
  const f = faultLine(e);
  if (f === null || seen.has(f)) return false;
  seen.add(f);
  return true;
}

export function leadUp(s: ScenarioResult, max = 6): TimelineEvent[] {
  const failAt = s.timeline.find((e) => (e.source === 'check' && e.kind === 'fail') || (e.source === 'harness' && e.kind === 'error'))?.t ?? Infinity;
  const seen = new Set<string>();
  const picked = s.timeline.filter(
    (e) => e.t <= failAt && (newFault(e, seen) || isRollback(e) || (e.source === 'console' && !parseStateLine(e.text) && TROUBLE.test(e.text)) || (e.source === 'harness' && e.kind === 'fault-error')),
  );
  return picked.slice(-max);
}
