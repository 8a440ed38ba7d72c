// Writes a run to `reports/<run>/run.jsonl` one line per fact as it happens (synchronous appends:
// a harness that crashes or is killed mid-scenario still leaves every event up to that point), and
// reads such a file back into a RunRecord, tolerating a torn last line and unfinished scenarios.
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { RunRecord, RunSettings, ScenarioFailure, ScenarioResult, ScenarioStatus } from './result.js';
import { Timeline, type TimelineEvent, type TimelineOptions } from './timeline.js';

export const JOURNAL_FILE = 'run.jsonl';

type Line =
  | { type: 'run'; id: string; startedAt: string; boards: string[]; seed: number; settings?: RunSettings }
  | { type: 'scenario'; s: number; scenario: string; board: string; seed: number; settings?: RunSettings; purpose?: string; startedAt: string }
  | { type: 'event'; s: number; e: TimelineEvent }
  | { type: 'artifact'; s: number; path: string }
  | { type: 'end'; s: number; status: ScenarioStatus; durationMs: number; failure?: ScenarioFailure }
  | { type: 'run-end'; finishedAt: string };

export interface RunHeader {
  id: string;
  boards: string[];
  seed: number;
  startedAt?: string;
  settings?: RunSettings;
}

export interface ScenarioStart {
  scenario: string;
  board: string;
  seed: number;
  settings?: RunSettings;
  purpose?: string;
}

export class RunJournal {
  readonly path: string;
  private fd: number | null;
  private readonly run: RunRecord;

  private constructor(readonly dir: string, header: RunHeader) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, JOURNAL_FILE);
    // 'wx': a run id names one run; reusing a folder must not splice two runs into one journal.
    this.fd = openSync(this.path, 'wx');
    this.run = { id: header.id, startedAt: header.startedAt ?? new Date().toISOString(), boards: [...header.boards], seed: header.seed, ...(header.settings ? { settings: header.settings } : {}), scenarios: [] };
    this.write({ type: 'run', id: this.run.id, startedAt: this.run.startedAt, boards: this.run.boards, seed: this.run.seed, ...(header.settings ? { settings: header.settings } : {}) });
  }

  /** Creates `dir` and starts the journal of a new run in it. */
  static open(dir: string, header: RunHeader): RunJournal {
    return new RunJournal(dir, header);
  }

  startScenario(info: ScenarioStart, opts: TimelineOptions = {}): ScenarioRecorder {
    const s = this.run.scenarios.length;
    const timeline = new Timeline(opts);
    const result: ScenarioResult = {
      ...info,
      status: 'error',
      durationMs: 0,
      startedAt: new Date().toISOString(),
      timeline: [],
      artifacts: [],
    };
    this.run.scenarios.push(result);
    this.write({ type: 'scenario', s, ...info, startedAt: result.startedAt! });
    timeline.onEvent((e) => {
      result.timeline.push(e);
      this.write({ type: 'event', s, e });
    });
    return new ScenarioRecorder(timeline, result, (line) => this.write(line), s);
  }

  /** The run as recorded so far (live objects: read, do not mutate). */
  record(): RunRecord {
    return this.run;
  }

  /** Marks the run finished and closes the file; further writes are dropped. */
  close(): RunRecord {
    if (this.fd !== null) {
      this.run.finishedAt = new Date().toISOString();
      this.write({ type: 'run-end', finishedAt: this.run.finishedAt });
      closeSync(this.fd);
      this.fd = null;
    }
    return this.run;
  }

  private write(line: Line): void {
    if (this.fd === null) return;
    writeSync(this.fd, `${serialise(line)}\n`);
  }
}

export class ScenarioRecorder {
  private finished = false;

  constructor(
    readonly timeline: Timeline,
    private readonly result: ScenarioResult,
    private readonly write: (line: Line) => void,
    private readonly index: number,
  ) {}

  /** A raw log to keep with the report. */
  addArtifact(path: string): void {
    this.result.artifacts.push(path);
    this.write({ type: 'artifact', s: this.index, path });
  }

  finish(outcome: { status: ScenarioStatus; failure?: ScenarioFailure; durationMs?: number }): ScenarioResult {
    if (this.finished) throw new Error(`scenario ${this.result.scenario} on ${this.result.board} already finished`);
    this.finished = true;
    this.result.status = outcome.status;
    this.result.durationMs = outcome.durationMs ?? this.timeline.elapsed();
    if (outcome.failure) this.result.failure = outcome.failure;
    this.write({ type: 'end', s: this.index, status: outcome.status, durationMs: this.result.durationMs, failure: outcome.failure });
    return this.result;
  }
}

/** JSON for one line; event data that cannot be serialised (cycles, BigInt) is replaced by a note. */
function serialise(line: Line): string {
  try {
    return JSON.stringify(line);
  } catch (err) {
    if (line.type !== 'event') throw err;
    return JSON.stringify({ ...line, e: { ...line.e, data: `[unserialisable: ${(err as Error).message}]` } });
  }
}

/** Rebuilds a run from its journal. Scenarios that never ended become errors naming where they stopped. */
export function readRunJournal(path: string): RunRecord {
  const text = readFileSync(path, 'utf8');
  let run: RunRecord | null = null;
  const ended = new Set<number>();
  const byIndex = new Map<number, ScenarioResult>();
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    let line: Line;
    try {
      line = JSON.parse(raw) as Line;
    } catch {
      continue; // a line torn by a crash: everything before it is still good
    }
    if (line.type === 'run') {
      run = { id: line.id, startedAt: line.startedAt, boards: line.boards, seed: line.seed, ...(line.settings ? { settings: line.settings } : {}), scenarios: [] };
      continue;
    }
    if (!run) continue;
    if (line.type === 'run-end') {
      run.finishedAt = line.finishedAt;
    } else if (line.type === 'scenario') {
      const r: ScenarioResult = {
        scenario: line.scenario,
        board: line.board,
        seed: line.seed,
        ...(line.settings ? { settings: line.settings } : {}),
        ...(line.purpose ? { purpose: line.purpose } : {}),
        startedAt: line.startedAt,
        status: 'error',
        durationMs: 0,
        timeline: [],
        artifacts: [],
      };
      byIndex.set(line.s, r);
      run.scenarios.push(r);
    } else {
      const r = byIndex.get(line.s);
      if (!r) continue;
      if (line.type === 'event') r.timeline.push(line.e);
      else if (line.type === 'artifact') r.artifacts.push(line.path);
      else if (line.type === 'end') {
        ended.add(line.s);
        r.status = line.status;
        r.durationMs = line.durationMs;
        if (line.failure) r.failure = line.failure;
      }
    }
  }
  if (!run) throw new Error(`${path}: not a run journal (no run header)`);
  for (const [s, r] of byIndex) {
    if (ended.has(s)) continue;
    const last = r.timeline.at(-1);
    const lastState = r.timeline.filter((e) => e.source === 'client-state').at(-1);
    r.durationMs = last?.t ?? 0;
    r.failure = {
      message: 'the run stopped before this scenario finished (harness crash or kill)',
      stage: lastState ? `client state ${lastState.kind}` : undefined,
    };
  }
  return run;
}
