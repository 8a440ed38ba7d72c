// Runs scenarios × repetitions (× sweep points) on boards, one fresh board state per run: reset →
// scenario → invariants → release, every event journalled as it happens (RunJournal) and the
// reports written at the end (junit.xml, report.html, run.json, logs/). Scenarios whose needs the
// board lacks are recorded as skipped, with the missing capabilities named.
import { join, resolve } from 'node:path';
import { JOURNAL_FILE, RunJournal } from '../run/journal.js';
import { countByStatus, DEFAULT_SWEEP, newRunId, replayCommand, type RunSettings, type ScenarioResult, type ScenarioStatus } from '../run/result.js';
import { writeReports, type WrittenReports } from '../report/write.js';
import { randomSeed } from '../faults/prng.js';
import { LAB_CACHE_DIR, REPORTS_DIR } from '../../paths.js';
import { devicePathOf, type Board, type DataFiles } from '../board/board.js';
import { labSigningKeys } from '../board/lab-keys.js';
import { CANARY_PATH, canaryContent, checkInvariants } from '../invariants/invariants.js';
import { StageTimeout } from '../strategy/board-strategy.js';
import { createContext } from './context.js';
import { clientDataFiles } from './client.js';
import { LabServer } from '../server/lab-server.js';
import { CheckFailed, DEFAULT_SCENARIO_TIMEOUT_MS, ScenarioTimeout, type ScenarioDefinition, type ScenarioVariant } from './define.js';
import { missingNeeds } from './select.js';
import { shardJobs, type Shard } from './shard.js';

export interface RunOptions {
  scenarios: readonly ScenarioDefinition[];
  /** A board, or a factory called once per job (jobs > 1 needs independent boards). */
  board: Board | (() => Promise<Board>);
  seed?: number;
  repeat?: number;
  jobs?: number;
  sweep?: number;
  /** Parent folder of reports/<run>/; default <repo>/reports. */
  reportsDir?: string;
  runId?: string;
  /** Per-scenario work folders (disks, sockets); default <repo>/.cache/lab/runs/<run>. */
  workDir?: string;
  /** Live progress, one line at a time. */
  onProgress?: (line: string) => void;
  /** Check the invariants after each scenario (default true). */
  invariants?: boolean;
  /** Run only shard `index` of `count` (1-based): CI runners split one board's suite between them. */
  shard?: Shard;
  /** The bug the board's client was built with (--inject-bug): recorded so replays repeat it. */
  injectBug?: string;
}

export { parseShard, shardJobs, type Shard } from './shard.js';

export interface RunSummary {
  runId: string;
  dir: string;
  reports: WrittenReports;
  results: ScenarioResult[];
  passed: number;
  failed: number;
  skipped: number;
  /** 0 when every scenario passed or was skipped. */
  exitCode: number;
}

interface Job {
  def: ScenarioDefinition;
  variant: ScenarioVariant | null;
  seed: number;
  label: string;
}

/** Scenario × repetition × variant, in a stable order. Repetition k runs with seed + k, so `--seed` of a result replays it. */
export function planJobs(scenarios: readonly ScenarioDefinition[], seed: number, repeat: number, sweep: number): Job[] {
  const jobs: Job[] = [];
  for (const def of scenarios)
    for (let k = 0; k < repeat; k++) {
      const s = (seed + k) >>> 0;
      const variants = def.variants ? def.variants({ sweep, seed: s }) : [null];
      for (const variant of variants) jobs.push({ def, variant, seed: s, label: variant ? `${def.name}#${variant.id}` : def.name });
    }
  return jobs;
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function classify(e: unknown): { message: string; stage?: string; cause?: string } {
  if (e instanceof StageTimeout) return { message: e.message, stage: `boot stage '${e.stage}'`, cause: e.stack };
  if (e instanceof CheckFailed) return { message: e.message, stage: `check '${e.check}'`, cause: e.stack };
  const err = e instanceof Error ? e : new Error(String(e));
  return { message: err.message, cause: err.stack };
}

/** `run`, or a ScenarioTimeout after `ms`; the abandoned run ends when the board is released. */
async function withDeadline(run: Promise<void>, ms: number, label: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  run.catch(() => undefined);
  try {
    await Promise.race([run, new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new ScenarioTimeout(label, ms)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

export async function runScenarios(o: RunOptions): Promise<RunSummary> {
  const seed = o.seed ?? randomSeed();
  const repeat = o.repeat ?? 1;
  const sweep = o.sweep ?? DEFAULT_SWEEP;
  const runId = o.runId ?? newRunId();
  const dir = resolve(o.reportsDir ?? REPORTS_DIR, runId);
  const workDir = o.workDir ?? join(LAB_CACHE_DIR, 'runs', runId);
  const progress = o.onProgress ?? (() => undefined);
  const jobs = shardJobs(planJobs(o.scenarios, seed, repeat, sweep), o.shard);
  const nJobs = Math.max(1, Math.min(o.jobs ?? 1, jobs.length));

  const first = typeof o.board === 'function' ? await o.board() : o.board;
  const client = first.client && first.client !== 'flipside' ? first.client : undefined;
  const settings: RunSettings = { ...(o.injectBug ? { injectBug: o.injectBug } : {}), ...(sweep !== DEFAULT_SWEEP ? { sweep } : {}), ...(client ? { client } : {}) };
  const recorded = Object.keys(settings).length ? { settings } : {};
  const journal = RunJournal.open(dir, { id: runId, boards: [first.name], seed, ...recorded });
  progress(`run ${runId}: ${jobs.length} scenario run(s) on ${first.name}, seed ${seed}${client ? `, client ${client}` : ''}${o.injectBug ? `, injected bug ${o.injectBug}` : ''}${o.shard ? `, shard ${o.shard.index}/${o.shard.count}` : ''}${nJobs > 1 ? `, ${nJobs} jobs` : ''}`);
  const prepared = new Set<Board>();
  let next = 0;
  let done = 0;

  const runOne = async (board: Board, job: Job, index: number): Promise<void> => {
    const purpose = job.variant ? `${job.def.purpose} (${job.variant.describe})` : job.def.purpose;
    const rec = journal.startScenario({ scenario: job.label, board: board.name, seed: job.seed, ...recorded, purpose });
    const tl = rec.timeline;
    const missing = missingNeeds(job.def, board);
    if (missing.length > 0) {
      // A capability the client gives (exact cuts at its states) is named as the client's.
      const who = board.client && board.client !== 'flipside' ? `${board.name} with the ${board.client} client` : board.name;
      rec.finish({ status: 'skipped', failure: { message: `${who} lacks ${missing.join(', ')}` } });
      progress(`[${++done}/${jobs.length}] SKIP ${job.label} (${who} lacks ${missing.join(', ')})`);
      return;
    }
    progress(`[${done + 1}/${jobs.length}] ... ${job.label}${job.variant ? ` (${job.variant.describe})` : ''}`);
    const unsubscribe = board.caps.console.onLine((l) => tl.appendConsoleLine(l));
    const canary = { path: CANARY_PATH, content: canaryContent(job.seed) };
    const dataFiles: DataFiles = { [canary.path]: { content: Buffer.from(canary.content) } };
    const managed = job.def.needs.includes('server');
    // The daemon is not part of standalone mode: init must not start it next to our commands.
    if (!managed) dataFiles['/data/flipside/client.disabled'] = { content: Buffer.from('standalone scenarios\n') };
    // Scenarios tune the client through its fallback config, which survives the update.
    Object.assign(
      dataFiles,
      clientDataFiles(board.client ?? 'flipside', {
        config: { ...job.def.deviceConfig },
        managed,
        ...(job.def.requireSignature ? { verifyKeyPem: labSigningKeys().verifyKeyPem } : {}),
      }),
    );
    for (const role of job.def.artifacts ?? []) {
      const host = board.artifacts[role];
      if (!host) throw new Error(`${board.name} has no '${role}' artifact (prepare() built none)`);
      dataFiles[devicePathOf(role)] = { path: host };
    }
    let server: LabServer | null = null;
    let status: ScenarioStatus = 'passed';
    let failure: ReturnType<typeof classify> | undefined;
    let state: ReturnType<typeof createContext> | null = null;
    try {
      if (managed) server = await LabServer.start(tl, { seed: job.seed, ...(board.serverListen ? { listen: board.serverListen } : {}), ...(board.deviceServerHost ? { deviceHost: board.deviceServerHost } : {}) });
      state = createContext({ def: job.def, board, seed: job.seed, timeline: tl, params: { sweep }, variant: job.variant, server });
      await board.reset({ runDir: join(workDir, `${String(index).padStart(3, '0')}-${job.label.replace(/[^a-z0-9-]+/gi, '_')}`), dataFiles, ...(server ? { serverPort: server.devicePort } : {}) });
      tl.append({ source: 'harness', kind: 'start', text: `${job.label} on ${board.name}, seed ${job.seed}${job.variant ? `: ${job.variant.describe}` : ''}` });
      await withDeadline(job.def.run(state.ctx), job.def.timeoutMs ?? DEFAULT_SCENARIO_TIMEOUT_MS, job.label);
      state.dispose();
      if (o.invariants !== false) {
        const expected = state.expectedFinal() ?? [board.versions.current];
        await checkInvariants(state.ctx, { expected, canary, server });
      }
    } catch (e) {
      failure = classify(e);
      status = e instanceof CheckFailed || e instanceof StageTimeout || e instanceof ScenarioTimeout ? 'failed' : 'error';
      tl.append({ source: 'harness', kind: 'error', text: failure.message });
    } finally {
      state?.dispose();
      unsubscribe();
      try {
        for (const log of await board.release()) rec.addArtifact(log);
      } catch (e) {
        tl.append({ source: 'harness', kind: 'error', text: `releasing the board failed: ${(e as Error).message}` });
      }
      await server?.close().catch(() => undefined);
    }
    const r = rec.finish({ status, ...(failure ? { failure } : {}) });
    const word = status === 'passed' ? 'PASS' : status === 'failed' ? 'FAIL' : 'ERROR';
    progress(`[${++done}/${jobs.length}] ${word} ${job.label} in ${secs(r.durationMs)}${failure ? `: ${failure.message.split('\n')[0]}\n    replay: ${replayCommand(r)}` : ''}`);
  };

  const worker = async (board: Board): Promise<void> => {
    if (!prepared.has(board)) {
      prepared.add(board);
      await board.prepare((l) => progress(`  ${l}`));
    }
    for (;;) {
      const i = next++;
      if (i >= jobs.length) return;
      await runOne(board, jobs[i]!, i);
    }
  };

  try {
    const boards = [first];
    for (let j = 1; j < nJobs; j++) boards.push(await (o.board as () => Promise<Board>)());
    await Promise.all(boards.map(worker));
  } finally {
    journal.close();
  }
  const record = journal.record();
  const reports = writeReports(record, dir);
  const c = countByStatus(record.scenarios);
  const failed = c.failed + c.error;
  progress(`${c.passed} passed, ${failed} failed${c.skipped ? `, ${c.skipped} skipped` : ''} — ${reports.html} (journal ${join(dir, JOURNAL_FILE)})`);
  return { runId, dir, reports, results: record.scenarios, passed: c.passed, failed, skipped: c.skipped, exitCode: failed > 0 ? 1 : 0 };
}
