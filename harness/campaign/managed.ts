// Managed mode on a campaign board: `flipside daemon` (the device bundle, in-process) against the
// worker's reference server (managed-server.ts), and one crash state of a managed flow end to end.
//
// The driver runs the daemon until it is settled: it logged that it started the reboot (the board
// is powered off and on and the daemon starts again, as systemd would), or it polled and the
// server offered nothing (idle). Either ends the run as a SIGTERM does (emitted in-process: the
// daemon's own handlers stop it between steps).
//
// A crash state: the image goes on the board, the server goes back to what it had acknowledged
// before the cut, the power comes on, the daemon recovers and runs until idle, and then:
//  - the device settled (one version committed and running, env valid, /data canary intact, no
//    deployment or queued report left),
//  - server and device agree: the flow's deployment ended success with the new version running,
//    or failure with the old one; a final status the server acknowledged is never contradicted
//    (no report answered 409, the stored status unchanged),
//  - the outcome the stored facts promise (a cut in the download may cost nothing: the spool
//    resumes it; a failing artifact never stays),
//  - where the old version runs, a retry: a new deployment of the good artifact, polled and
//    completed by the daemon (success on the server, the new version committed).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkCopy } from '../../bootenv/uboot-env-format.js';
import { expectedOutcome, envOf, settledCheck, type Verdict } from './check.js';
import { materialize, type CrashState, type Image } from './crash-states.js';
import type { Flow } from './flows.js';
import type { ManagedServer } from './managed-server.js';
import { phaseAt } from './plan.js';
import type { Phase } from './flows.js';
import { VERSIONS, type SimBoard } from './sim.js';
import type { Trace } from './trace.js';
import { traceOp } from '../../client/test-hooks.js';

/** Power cycles one settle may take (install reboot, rollback reboot, and spare). */
const MAX_STARTS = 6;
/** A daemon start that has not settled after this long is a failure (a hang), not a slow machine. */
const SETTLE_LIMIT_MS = Number(process.env.FLIPSIDE_CAMPAIGN_SETTLE_MS ?? 120_000);

export interface DaemonRun {
  /** How each start ended. */
  starts: ('rebooting' | 'idle' | 'exited' | 'hung')[];
  transcript: string[];
  ok: boolean;
  reason?: string;
}

/** One start of the daemon: until it starts the reboot, goes idle, exits or hangs. */
async function daemonStart(board: SimBoard, bundle: string, server: ManagedServer, transcript: string[]): Promise<'rebooting' | 'idle' | 'exited' | 'hung'> {
  let ended: 'rebooting' | 'idle' | 'hung' | null = null;
  let pulse: NodeJS.Timeout | null = null;
  // The daemon may not be listening for SIGTERM yet (it returns from run() first, then waits for
  // it): the signal is repeated until the call returns.
  const end = (why: 'rebooting' | 'idle' | 'hung'): void => {
    if (ended) return;
    ended = why;
    const emit = () => process.emit('SIGTERM', 'SIGTERM');
    emit();
    pulse = setInterval(emit, 5);
  };
  // Idle: polled and offered nothing, with no final status still queued (it goes out next cycle).
  server.onIdle = () => {
    if (!existsSync(join(board.dir, PENDING))) end('idle');
  };
  const guard = setTimeout(() => end('hung'), SETTLE_LIMIT_MS);
  let lines = '';
  try {
    const r = await board.client(bundle, ['daemon'], (text) => {
      lines += text;
      if (/reboot started/.test(text)) end('rebooting');
    });
    const tail = lines.trim().split('\n').filter((l) => l && !/TEST BUILD/.test(l));
    transcript.push(`$ flipside daemon → exit ${r.code}, ${ended ?? 'exited'}`, ...tail.slice(-8).map((l) => `  ${l}`));
    return ended ?? 'exited';
  } finally {
    clearTimeout(guard);
    if (pulse) clearInterval(pulse);
    server.onIdle = null;
  }
}

/** Power-on + daemon, repeated while the daemon asks for a reboot, until it is idle. */
export async function runDaemonUntilIdle(board: SimBoard, bundle: string, server: ManagedServer, o: { powerFirst: boolean; trace?: boolean }): Promise<DaemonRun> {
  const run: DaemonRun = { starts: [], transcript: [], ok: true };
  let power = o.powerFirst;
  for (let i = 0; i < MAX_STARTS; i++) {
    if (power) {
      if (o.trace) traceOp({ op: 'mark', point: 'power-on' });
      const b = await board.boot();
      run.transcript.push(`power-on: ${b.log.join('; ')}${b.ok ? '' : ` → ${b.reason}`}`);
      if (!b.ok) return { ...run, ok: false, reason: `the board does not boot: ${b.reason}` };
    }
    if (o.trace) traceOp({ op: 'mark', point: 'flipside daemon' });
    const end = await daemonStart(board, bundle, server, run.transcript);
    run.starts.push(end);
    if (end === 'idle') return run;
    if (end !== 'rebooting') return { ...run, ok: false, reason: end === 'hung' ? `the daemon did not settle within ${SETTLE_LIMIT_MS / 1000} s` : 'the daemon exited on its own' };
    power = true;
  }
  return { ...run, ok: false, reason: `the daemon still asked for a reboot after ${MAX_STARTS} starts` };
}

/** The statuses the server acknowledged before op `cut` (its `server took` marks). */
export function serverTookBefore(t: Trace, cut: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < cut; i++) {
    const o = t.ops[i]!;
    if (o.op === 'mark' && o.point.startsWith('server took ')) out.push(o.point.slice('server took '.length));
  }
  return out;
}

const STORE = 'data/flipside/state.json';
const PENDING = 'data/flipside/pending-report.json';
const FINAL = new Set(['success', 'failure', 'already-installed']);

/** The download links the daemon stored name the recording worker's server: this worker's serves the same (same keys, same database). */
function onThisServer(img: Image, url: string): Image {
  const files = new Map(img.files);
  for (const [p, b] of img.files) {
    if (!/^data\/flipside\/download\/[^/]+\/checkpoint\.json$/.test(p)) continue;
    try {
      const cp = JSON.parse(b.toString('utf8')) as { url?: string };
      if (!cp.url) continue;
      const u = new URL(cp.url);
      const here = new URL(url);
      u.host = here.host;
      files.set(p, Buffer.from(`${JSON.stringify({ ...cp, url: u.toString() })}\n`));
    } catch {
      // torn: the daemon must find that out itself
    }
  }
  return { ...img, files };
}

export interface ManagedCheckInput {
  flow: Flow;
  trace: Trace;
  state: CrashState;
  bundle: string;
}

export async function checkManagedCrashState(board: SimBoard, server: ManagedServer, x: ManagedCheckInput): Promise<Verdict> {
  const deployment = server.setup.deployments[x.flow.name];
  if (!deployment) throw new Error(`managed flow ${x.flow.name} has no deployment on the server`);
  const img = onThisServer(materialize(x.trace, x.state, board.base), server.url);
  const env0 = envOf(img, board);
  const took = serverTookBefore(x.trace, x.state.cut);
  const acked = took.at(-1) ?? 'pending';
  const phase = phaseAt(x.trace, x.state.cut);
  const transcript: string[] = [`server before the cut: ${took.length ? took.join(', ') : 'nothing acknowledged'}`];
  const fail = (stage: string, reason: string, outcome?: 'new' | 'old'): Verdict => ({ ok: false, stage, reason, ...(outcome ? { outcome } : {}), transcript: [...transcript, `server saw: ${server.requests.join('; ')}`] });

  await server.reset(x.flow.name, acked);
  await board.restore(img);
  const run = await runDaemonUntilIdle(board, x.bundle, server, { powerFirst: true });
  transcript.push(...run.transcript);
  if (!run.ok) return fail('recovery', run.reason!);
  if (existsSync(join(board.dir, STORE))) return fail('recovery', 'the daemon is idle but a deployment is still stored');
  if (existsSync(join(board.dir, PENDING))) return fail('recovery', `the daemon is idle but a final status is still queued: ${readFileSync(join(board.dir, PENDING), 'utf8').trim()}`);

  const settled = await settledCheck(board, 'after recovery');
  if ('reason' in settled) return fail(settled.stage, settled.reason);
  const outcome = settled.name === VERSIONS.next ? 'new' : 'old';

  // Server and device agree.
  const final = await server.statusIn(deployment);
  const contradicted = server.received.find((r) => r.code === 409);
  if (contradicted) return fail('server and device agree', `the device reported ${contradicted.status} and the server refused it (409): it had acknowledged ${acked}`, outcome);
  if (FINAL.has(acked) && final !== acked) return fail('server and device agree', `the server had acknowledged ${acked} before the cut and ends with ${final}`, outcome);
  if (final === 'already-installed') return fail('server and device agree', `the deployment ended already-installed: the device lost track of a deployment it ran (the server had ${acked})`, outcome);
  if (!(final === 'success' && outcome === 'new') && !(final === 'failure' && outcome === 'old')) {
    return fail('server and device agree', `the server says ${final}, the device runs ${settled.name}`, outcome);
  }

  // The outcome the stored facts promise.
  const { want, why } = managedExpectedOutcome(x.flow, img, env0, board.hs.spec.bootloader.bootlimit, phase);
  if (want && outcome !== want) return fail('outcome', `${settled.name} is committed but ${want === 'new' ? VERSIONS.next : VERSIONS.current} was expected: ${why}`, outcome);

  let retried = false;
  if (outcome === 'old') {
    retried = true;
    const id = await server.deployRetry();
    const r = await runDaemonUntilIdle(board, x.bundle, server, { powerFirst: false });
    transcript.push('retry: a new deployment of the good artifact', ...r.transcript);
    if (!r.ok) return fail('retry', r.reason!, outcome);
    const after = await settledCheck(board, 'after the retry');
    if ('reason' in after) return fail(after.stage, after.reason, outcome);
    if (after.name !== VERSIONS.next) return fail('retry', `after the retry ${after.name} is committed, not ${VERSIONS.next}`, outcome);
    const s = await server.statusIn(id);
    if (s !== 'success') return fail('retry', `the retry's deployment ends ${s} on the server, not success`, outcome);
  }
  const l = board.envLayout();
  const file = readFileSync(l.file);
  const bad = l.offsets.findIndex((o) => !checkCopy(file.subarray(o, o + l.size), true).crcOk);
  if (bad >= 0) return fail('env copies', `env copy ${bad + 1} is not CRC-valid at the end`, outcome);
  return { ok: true, outcome, retried };
}

/**
 * What a managed flow's recovery must end with: the standalone rule (expectedOutcome), except
 * where the daemon continues the deployment. A cut in the download or payload write with no
 * deployment stored yet (the server offers it again), or with Download still stored, costs nothing:
 * the daemon resumes the spooled download and must finish. Stored Download is decided by the
 * stored state, not the phase: after the payload's fsync (the flip phase) the state store still
 * says Download until ArtifactInstall is stored, and the daemon resumes it there too.
 */
export function managedExpectedOutcome(flow: Flow, img: Image, env: Record<string, string> | null, bootlimit: number, phase: Phase): { want: 'new' | 'old' | null; why: string } {
  const rec = parseState(img.files.get(STORE));
  if (!flow.mustFail && rec !== 'unreadable') {
    if (rec?.state === 'Download') return { want: 'new', why: `stored Download (cut in the ${phase} phase): the daemon resumes the deployment (spooled download) and must finish it` };
    if (rec === null && (phase === 'download' || phase === 'write')) return { want: 'new', why: `cut in the ${phase} phase before a deployment was stored: the server offers it again and the daemon must finish it` };
  }
  return expectedOutcome(flow, img, env, bootlimit);
}

function parseState(b: Buffer | undefined): { state: string } | null | 'unreadable' {
  if (!b) return null;
  try {
    return JSON.parse(b.toString('utf8')) as { state: string };
  } catch {
    return 'unreadable';
  }
}
