// A campaign worker process: records flows and checks crash states on its own scratch boards
// (one per boot logic), with the client bundles loaded in-process. Driven over IPC by campaign.ts.
import { checkCrashState, retryHits, STAGE_MS } from './check.js';
import { crashStatesAt, type CrashState } from './crash-states.js';
import { FLOWS, type ArtifactRole } from './flows.js';
import { SimBoard } from './sim.js';
import { readTrace, type Trace } from './trace.js';
import type { BootScriptBug } from '../host-sim/boot-script.js';

export interface WorkerSetup {
  artifacts: Record<ArtifactRole, string>;
  /** Client bundle per client variant ('clean' or a client mutant's name). */
  bundles: Record<string, string>;
  partitionSize: number;
  seed: number;
  extra: number;
  /** false: run every retry instead of looking repeated ones up (the bench's baseline). */
  retryMemo?: boolean;
}

export interface CheckItem {
  /** Position in the parent's list. */
  n: number;
  flow: string;
  clientVariant: string;
  bootBug: BootScriptBug | null;
  trace: { file: string; root: string };
  cut: number;
  index: number;
}

export type ToWorker =
  | { type: 'init'; setup: WorkerSetup }
  | { type: 'record'; id: number; flow: string; clientVariant: string; bootBug: BootScriptBug | null; file: string }
  | { type: 'check'; items: CheckItem[] }
  | { type: 'exit' };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'recorded'; id: number; root: string; log: string[] }
  | { type: 'result'; n: number; ok: boolean; stage?: string; reason?: string; outcome?: 'new' | 'old'; retried?: boolean; transcript?: string[]; label: string; ms: number }
  | { type: 'error'; message: string };

let setup: WorkerSetup | null = null;
const boards = new Map<string, Promise<SimBoard>>();
const traces = new Map<string, Trace>();

function boardFor(bug: BootScriptBug | null): Promise<SimBoard> {
  const key = bug ?? 'clean';
  let b = boards.get(key);
  if (!b) {
    b = SimBoard.create({ partitionSize: setup!.partitionSize, bootBug: bug });
    boards.set(key, b);
  }
  return b;
}

function traceOf(file: string, root: string): Trace {
  let t = traces.get(file);
  if (!t) {
    t = readTrace(file, root);
    traces.set(file, t);
  }
  return t;
}

const send = (m: FromWorker): void => {
  process.send!(m);
};

let queue: Promise<void> = Promise.resolve();
let statesKey = '';
let statesAtCut: CrashState[] = [];

async function handle(m: ToWorker): Promise<void> {
  if (m.type === 'init') {
    setup = m.setup;
    send({ type: 'ready' });
    return;
  }
  if (m.type === 'exit') {
    if (process.env.FLIPSIDE_CAMPAIGN_TIMING) process.stderr.write(`stage ms: ${JSON.stringify(Object.fromEntries(Object.entries(STAGE_MS).map(([k, v]) => [k, Math.round(v)])))} retries looked up ${retryHits}\n`);
    for (const b of boards.values()) await (await b).destroy();
    process.exit(0);
  }
  if (!setup) throw new Error('worker: no init');
  if (m.type === 'record') {
    const flow = FLOWS.find((f) => f.name === m.flow)!;
    const board = await boardFor(m.bootBug);
    const r = await board.record(flow, setup.bundles[m.clientVariant]!, setup.artifacts, m.file);
    send({ type: 'recorded', id: m.id, root: board.dir, log: r.log });
    return;
  }
  for (const it of m.items) {
    const t0 = performance.now();
    const flow = FLOWS.find((f) => f.name === it.flow)!;
    const trace = traceOf(it.trace.file, it.trace.root);
    // Items come grouped by cut: the states of the last cut are kept (enumerating them walks the trace).
    const key = `${it.trace.file}:${it.cut}`;
    if (statesKey !== key) [statesKey, statesAtCut] = [key, crashStatesAt(trace, it.cut, setup.seed, setup.extra)];
    const state = statesAtCut[it.index];
    if (!state) {
      send({ type: 'result', n: it.n, ok: false, stage: 'campaign', reason: `no crash state ${it.index} at cut ${it.cut}`, label: '?', ms: 0 });
      continue;
    }
    const board = await boardFor(it.bootBug);
    let v;
    try {
      v = await checkCrashState(board, { flow, trace, state, bundle: setup.bundles[it.clientVariant]!, artifacts: setup.artifacts, memo: setup.retryMemo !== false });
    } catch (e) {
      v = { ok: false as const, stage: 'harness', reason: e instanceof Error ? e.stack ?? e.message : String(e) };
    }
    board.slotAIntact = v.ok;
    send({ type: 'result', n: it.n, label: state.label, ms: performance.now() - t0, ...v });
  }
}

process.on('message', (m: ToWorker) => {
  queue = queue.then(() => handle(m)).catch((e: unknown) => send({ type: 'error', message: e instanceof Error ? e.stack ?? e.message : String(e) }));
});
