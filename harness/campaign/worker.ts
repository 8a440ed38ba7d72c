// A campaign worker process: records flows and checks crash states on its own scratch boards
// (one per boot logic), with the client bundles loaded in-process. Driven over IPC by campaign.ts.
import { checkCrashState, retryHits, STAGE_MS } from './check.js';
import { crashStatesAt, type CrashState } from './crash-states.js';
import { FLOWS, type ArtifactRole } from './flows.js';
import { SimBoard } from './sim.js';
import { readTrace, type Trace } from './trace.js';
import type { BootScriptBug } from '../host-sim/boot-script.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedServer, type ManagedSetup } from './managed-server.js';
import { checkManagedCrashState, runDaemonUntilIdle } from './managed.js';
import { traceOp } from '../../client/test-hooks.js';
import { stepMark } from './flows.js';

export interface WorkerSetup {
  artifacts: Record<ArtifactRole, string>;
  /** Client bundle per client variant ('clean' or a client mutant's name). */
  bundles: Record<string, string>;
  partitionSize: number;
  seed: number;
  extra: number;
  /** false: run every retry instead of looking repeated ones up (the bench's baseline). */
  retryMemo?: boolean;
  /** Managed flows: the server template every worker serves a copy of. */
  managed?: ManagedSetup;
  /** true: a new server per managed crash state instead of a reset in place (the bench's baseline). */
  managedServerRestart?: boolean;
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
let server: Promise<ManagedServer> | null = null;
let serverDir = '';

/** This worker's reference server (managed flows), started on first use. */
function managedServer(): Promise<ManagedServer> {
  if (!setup!.managed) throw new Error('worker: a managed flow without a managed setup');
  if (!server) {
    serverDir = mkdtempSync(join(tmpdir(), 'flipside-campaign-server-'));
    // The daemon's test knobs: millisecond backoffs and report retries instead of Mender's minutes.
    process.env.FLIPSIDE_TEST_BACKOFF_UNIT_MS = '20';
    process.env.FLIPSIDE_TEST_REPORT_INTERVAL_MS = '10';
    server = ManagedServer.start(setup!.managed, join(serverDir, 'server'), { restartEach: setup!.managedServerRestart === true });
  }
  return server;
}

function boardFor(bug: BootScriptBug | null, managed = false): Promise<SimBoard> {
  const key = `${bug ?? 'clean'}${managed ? ':managed' : ''}`;
  let b = boards.get(key);
  if (!b) {
    b = (async () => SimBoard.create({ partitionSize: setup!.partitionSize, bootBug: bug, ...(managed ? { managed: { serverUrl: (await managedServer()).url, keyPem: setup!.managed!.keyPem } } : {}) }))();
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
    if (server) await (await server).close();
    if (serverDir) rmSync(serverDir, { recursive: true, force: true });
    process.exit(0);
  }
  if (!setup) throw new Error('worker: no init');
  if (m.type === 'record') {
    const flow = FLOWS.find((f) => f.name === m.flow)!;
    const board = await boardFor(m.bootBug, flow.mode === 'managed');
    const r = flow.mode === 'managed' ? await recordManaged(board, flow, setup.bundles[m.clientVariant]!, m.file) : await board.record(flow, setup.bundles[m.clientVariant]!, setup.artifacts, m.file);
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
    const board = await boardFor(it.bootBug, flow.mode === 'managed');
    let v;
    try {
      v =
        flow.mode === 'managed'
          ? await checkManagedCrashState(board, await managedServer(), { flow, trace, state, bundle: setup.bundles[it.clientVariant]! })
          : await checkCrashState(board, { flow, trace, state, bundle: setup.bundles[it.clientVariant]!, artifacts: setup.artifacts, memo: setup.retryMemo !== false });
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

/** Records a managed flow: from the base image, the daemon runs with the trace on until idle. */
async function recordManaged(board: SimBoard, flow: (typeof FLOWS)[number], bundle: string, file: string): Promise<{ log: string[] }> {
  const srv = await managedServer();
  await board.restore(board.base);
  rmSync(file, { force: true });
  rmSync(`${file}.data`, { force: true });
  await srv.reset(flow.name, 'pending');
  await board.boot();
  process.env.FLIPSIDE_TEST_TRACE = file;
  process.env.FLIPSIDE_TEST_KILL_AT_BYTE = String(Number.MAX_SAFE_INTEGER);
  try {
    traceOp({ op: 'mark', point: stepMark(flow.steps[0]!) });
    const r = await runDaemonUntilIdle(board, bundle, srv, { powerFirst: false, trace: true });
    const log = [...r.transcript, `server: ${srv.received.map((x) => `${x.status} ${x.code}`).join(', ')}`];
    if (!r.ok) throw new Error(`recording ${flow.name}: ${r.reason}\n${log.join('\n')}`);
    return { log };
  } finally {
    delete process.env.FLIPSIDE_TEST_TRACE;
    delete process.env.FLIPSIDE_TEST_KILL_AT_BYTE;
    board.slotAIntact = false;
  }
}
