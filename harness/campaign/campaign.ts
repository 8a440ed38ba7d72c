// `flipside-lab campaign`: records each flow once per client/boot variant, plans every cut point
// and its crash states, checks them on --jobs worker processes, and runs the mutant catalogue
// (each mutant stops at the first crash state that catches it). Writes reports/<run>/ like `run`.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FAILING_HEALTH_CHECK, writeCorruptArtifact } from '../board/lab-artifacts.js';
import { writeArtifact } from '../../artifact/writer.js';
import { writeRootfsArtifact } from '../host-sim/artifacts.js';
import { simRootfs } from '../host-sim/lab-board.js';
import { defaultSimulatedBoard } from '../host-sim/board.js';
import { buildClientModule } from './client-module.js';
import { FLOWS, type ArtifactRole, type Mode, type Phase } from './flows.js';
import { prepareManagedServer } from './managed-server.js';
import type { Mutant } from './mutants.js';
import { planFlow, sample, searchOrder, type PlannedState } from './plan.js';
import { Pool } from './pool.js';
import { readTrace } from './trace.js';
import { VERSIONS } from './sim.js';
import type { CheckItem } from './worker.js';
import type { BootScriptBug } from '../host-sim/boot-script.js';
import { shardJobs, type Shard } from '../scenario/shard.js';
import { DEFAULTS } from './defaults.js';

export interface CampaignOptions {
  board: 'host-sim';
  /** Standalone flows (the CLI), managed flows (the daemon and the server), or both. Default standalone. */
  mode?: Mode | 'all';
  cuts?: number;
  /** Budget of the managed flows' clean crash states (each costs a daemon run); default: every one. */
  managedCuts?: number;
  phase: Phase | 'all';
  mutants: Mutant[];
  seed: number;
  jobs: number;
  reportsDir: string;
  partitionMiB: number;
  /** Seeded random mixes per cut point beyond the named crash states. */
  extra: number;
  /** Replay one crash state: flow, cut, index (with --mutants naming at most one mutant). */
  only?: { flow: string; cut: number; index: number };
  onProgress?: (p: Progress) => void;
  /** CI runners split a campaign: every n-th planned crash state and every n-th mutant. */
  shard?: Shard;
  /** false: every retry runs, none is looked up (the bench's baseline). */
  retryMemo?: boolean;
  /** true: a new reference server per managed crash state, not a reset in place (the bench's baseline). */
  managedServerRestart?: boolean;
}

export interface Progress {
  phase: 'setup' | 'clean' | 'mutants';
  done: number;
  total: number;
  failures: number;
  perState: Record<string, { done: number; failed: number }>;
  message?: string;
}

export interface CutResult extends PlannedState {
  ok: boolean;
  stage?: string;
  reason?: string;
  outcome?: 'new' | 'old';
  retried?: boolean;
  transcript?: string[];
  ms: number;
}

export interface MutantResult {
  name: string;
  where: 'client' | 'boot';
  what: string;
  caught: boolean;
  checked: number;
  first?: CutResult;
  replay: string;
}

export interface CampaignResult {
  runId: string;
  dir: string;
  seed: number;
  results: CutResult[];
  mutants: MutantResult[];
  /** Mutants asked for that no flow of this run's mode can show, and why. */
  notSearched: { name: string; why: string }[];
  flows: { name: string; ops: number; cutPoints: number; named: number; checked: number; log10Possible: number; log: string[] }[];
  seconds: number;
  jobs: number;
  partitionBytes: number;
  artifactBytes: number;
  downloadedBytes: number;
}

export function replayCommand(seed: number, s: { flow: string; cut: number; index: number }, mutant?: string, o: { partitionMiB?: number; extra?: number } = {}): string {
  const mode = FLOWS.find((f) => f.name === s.flow)?.mode === 'managed' ? ' --mode managed' : '';
  const extra = [o.partitionMiB && o.partitionMiB !== DEFAULTS.partitionMiB ? ` --partition-mib ${o.partitionMiB}` : '', o.extra !== undefined && o.extra !== DEFAULTS.extra ? ` --mixes ${o.extra}` : ''].join('');
  return `flipside-lab campaign --board host-sim --client flipside${mode} --seed ${seed} --only ${s.flow}:${s.cut}:${s.index}${mutant ? ` --mutants ${mutant}` : ''}${extra}`;
}

export { DEFAULTS };

// Unique per call, not per second and process: two campaigns one process starts in the same
// second (the tests do) would otherwise share a work folder and overwrite each other's traces.
function runId(): string {
  return `campaign-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

const variantOf = (m: Mutant | null): { client: string; boot: BootScriptBug | null } => (m === null ? { client: 'clean', boot: null } : m.where === 'client' ? { client: m.name, boot: null } : { client: 'clean', boot: m.name });

export async function runCampaign(o: CampaignOptions): Promise<CampaignResult> {
  const t0 = Date.now();
  const id = runId();
  const dir = join(resolve(o.reportsDir), id);
  mkdirSync(dir, { recursive: true });
  const work = join(process.env.FLIPSIDE_CAMPAIGN_WORK ?? (statSafe('/dev/shm') ? '/dev/shm' : dir), `flipside-${id}`);
  mkdirSync(work, { recursive: true });
  const say = (message: string) => o.onProgress?.({ phase: 'setup', done: 0, total: 0, failures: 0, perState: {}, message });
  const spec = defaultSimulatedBoard();
  const size = o.partitionMiB << 20;
  const deviceTypes = [spec.deviceType];

  const pool = { current: null as Pool | null };
  let notSearched: CampaignResult['notSearched'] = [];
  try {
    say('building the client bundles and the artifacts');
    const onlyMutant = o.only && o.mutants.length === 1 ? o.mutants[0]! : null;
    const modes: Mode[] = o.mode === 'all' ? ['standalone', 'managed'] : [o.mode ?? 'standalone'];
    const flows = o.only ? FLOWS.filter((f) => f.name === o.only!.flow) : FLOWS.filter((f) => modes.includes(f.mode));
    if (flows.length === 0) throw new Error(`--only: no flow ${o.only!.flow}; flows: ${FLOWS.map((f) => f.name).join(', ')}`);
    // A mutant is searched on the flows of its mode (a managed-only bug cannot show in a standalone run).
    const flowsOf = (m: Mutant | null) => (m === null || o.only ? flows : flows.filter((f) => m.modes.includes(f.mode)));
    const mutants = o.mutants.filter((m) => flowsOf(m).length > 0);
    // Named and left out: no flow of this run's mode can show them (the report says why).
    notSearched = o.only ? [] : o.mutants.filter((m) => flowsOf(m).length === 0).map((m) => ({ name: m.name, why: m.modes.includes('managed') ? `a ${m.modes.join('/')} bug: no flow of this mode runs the code it breaks` : m.notManaged ?? 'not searched on the managed flows' }));
    const clientMutants = mutants.filter((m) => m.where === 'client').map((m) => m.name);
    const variants = o.only ? [variantOf(onlyMutant).client] : ['clean', ...clientMutants];
    const bundles: Record<string, string> = {};
    await Promise.all(variants.map(async (v) => (bundles[v] = await buildClientModule(join(work, `flipside-${v}.cjs`), v === 'clean' ? undefined : (v as never)))));
    const artifacts: Record<ArtifactRole, string> = {
      // gzip, as artifacts usually are: the payload then reaches the client in zlib's 16 KiB
      // chunks, each its own partition write (and cut point), not in 1 MiB pieces.
      next: await writeRootfsArtifact(work, VERSIONS.next, simRootfs(VERSIONS.next, size), { deviceTypes, compression: 'gzip' }),
      broken: await writeRootfsArtifact(work, VERSIONS.broken, simRootfs(VERSIONS.broken, size, { broken: true }), { deviceTypes, compression: 'gzip' }),
      corrupt: join(work, 'corrupt.mender'),
      unhealthy: join(work, 'unhealthy.mender'),
    };
    await writeCorruptArtifact(artifacts.corrupt, spec.deviceType, `${VERSIONS.next}-corrupt`);
    const unhealthy = `${VERSIONS.next}-unhealthy`;
    await writeArtifact(
      { type: 'rootfs-image', name: unhealthy, deviceTypes, files: [{ name: 'rootfs.img', content: simRootfs(unhealthy, size) }], compression: 'gzip', softwareVersion: unhealthy, scripts: [FAILING_HEALTH_CHECK] },
      artifacts.unhealthy,
    );

    const jobs = Math.max(1, o.jobs);
    say(`starting ${jobs} worker(s)`);
    const managedFlows = flows.filter((f) => f.mode === 'managed');
    const managed = managedFlows.length
      ? await prepareManagedServer(
          work,
          managedFlows.map((f) => ({ name: f.name, artifact: artifacts[f.deploys!], artifactName: f.deploys === 'unhealthy' ? unhealthy : VERSIONS.next })),
        )
      : undefined;
    pool.current = await Pool.start(jobs, { artifacts, bundles, partitionSize: size, seed: o.seed, extra: o.extra, retryMemo: o.retryMemo !== false, ...(managed ? { managed, managedServerRestart: o.managedServerRestart === true } : {}) });
    const p = pool.current;

    // Record every flow for every variant that will be checked.
    const runs: (Mutant | null)[] = o.only ? [onlyMutant] : [null, ...mutants];
    say(`recording ${flows.length} flow(s) × ${runs.length} variant(s)`);
    const traces = new Map<string, { file: string; root: string; log: string[] }>();
    await Promise.all(
      runs.flatMap((m) =>
        flowsOf(m).map(async (f) => {
          const v = variantOf(m);
          const file = join(work, `${m?.name ?? 'clean'}-${f.name}.trace`);
          const r = await p.record(f.name, v.client, v.boot, file);
          traces.set(`${m?.name ?? 'clean'}/${f.name}`, { file, root: r.root, log: r.log });
        }),
      ),
    );

    const planOf = (m: Mutant | null) =>
      flowsOf(m).map((f) => {
        const t = traces.get(`${m?.name ?? 'clean'}/${f.name}`)!;
        const trace = readTrace(t.file, t.root);
        return { flow: f, trace, t, plan: planFlow(f, trace, o.seed, o.extra, o.only ? 'all' : o.phase) };
      });
    const toItems = (m: Mutant | null, states: PlannedState[], n0: number): CheckItem[] => {
      const v = variantOf(m);
      return states.map((s, i) => {
        const t = traces.get(`${m?.name ?? 'clean'}/${s.flow}`)!;
        return { n: n0 + i, flow: s.flow, clientVariant: v.client, bootBug: v.boot, trace: { file: t.file, root: t.root }, cut: s.cut, index: s.index };
      });
    };

    // The clean client: every planned state (or the sample), all must pass.
    let results: CutResult[] = [];
    const flowInfo: CampaignResult['flows'] = [];
    let downloadedBytes = 0;
    if (!o.only || !onlyMutant) {
      const plans = planOf(null);
      let all: PlannedState[] = plans.flatMap((x) => x.plan.states);
      if (o.only) all = all.filter((s) => s.cut === o.only!.cut && s.index === o.only!.index);
      const isManaged = (s: PlannedState) => FLOWS.find((f) => f.name === s.flow)!.mode === 'managed';
      const picked = shardJobs([...sample(all.filter((s) => !isManaged(s)), o.cuts, o.seed), ...sample(all.filter(isManaged), o.managedCuts, o.seed)], o.shard);
      for (const x of plans) {
        flowInfo.push({ name: x.flow.name, ops: x.trace.ops.length, cutPoints: x.plan.cutPoints, named: x.plan.named, checked: picked.filter((s) => s.flow === x.flow.name).length, log10Possible: x.plan.log10Possible, log: x.t.log });
        if (x.flow.name === 'update') downloadedBytes = x.trace.ops.reduce((a, op) => a + (op.op === 'write' && op.path.startsWith('disk/rootfs') ? op.length : 0), 0);
      }
      const perState: Progress['perState'] = {};
      let failures = 0;
      let done = 0;
      await p.run(toItems(null, picked, 0), 8, (r) => {
        const s = picked[r.n]!;
        done++;
        results[r.n] = { ...s, ok: r.ok, label: r.label, ms: r.ms, ...(r.stage ? { stage: r.stage } : {}), ...(r.reason ? { reason: r.reason } : {}), ...(r.outcome ? { outcome: r.outcome } : {}), ...(r.retried !== undefined ? { retried: r.retried } : {}), ...(r.transcript ? { transcript: r.transcript } : {}) };
        const ps = (perState[s.point] ??= { done: 0, failed: 0 });
        ps.done++;
        if (!r.ok) {
          ps.failed++;
          failures++;
        }
        o.onProgress?.({ phase: 'clean', done, total: picked.length, failures, perState });
      });
      results = results.filter((r) => r !== undefined);
    }

    // The mutants: each until its first catch.
    const mutantResults: MutantResult[] = [];
    const mutantRuns = o.only ? (onlyMutant ? [onlyMutant] : []) : shardJobs(mutants, o.shard);
    let n0 = 0;
    const byMutant = new Map<string, { m: Mutant; states: PlannedState[]; items: CheckItem[]; checked: number; hits: (CutResult & { at: number })[] }>();
    for (const m of mutantRuns) {
      let states = planOf(m).flatMap((x) => x.plan.states);
      if (o.only) states = states.filter((s) => s.cut === o.only!.cut && s.index === o.only!.index);
      // Plain states first, spread over every (flow, state point, kind of crash state): see searchOrder.
      states = searchOrder(states, o.seed);
      const items = toItems(m, states, n0);
      n0 += items.length;
      byMutant.set(m.name, { m, states, items, checked: 0, hits: [] });
    }
    const all = [...byMutant.values()];
    // Round-robin so every mutant advances at once and stops early.
    const interleaved: CheckItem[] = [];
    for (let i = 0; all.some((x) => i < x.items.length); i++) for (const x of all) if (i < x.items.length) interleaved.push(x.items[i]!);
    const owner = new Map<number, (typeof all)[number]>();
    for (const x of all) for (const it of x.items) owner.set(it.n, x);
    let doneM = 0;
    let lastCaught = '';
    if (interleaved.length) {
      await p.run(interleaved, 4, (r) => {
        const x = owner.get(r.n)!;
        const s = x.states[r.n - x.items[0]!.n]!;
        x.checked++;
        doneM++;
        if (!r.ok) {
          if (x.hits.length === 0) lastCaught = `${x.m.name} at ${s.flow}:${s.cut}:${s.index}`;
          x.hits.push({ ...s, at: r.n, ok: false, label: r.label, ms: r.ms, ...(r.stage ? { stage: r.stage } : {}), ...(r.reason ? { reason: r.reason } : {}), ...(r.outcome ? { outcome: r.outcome } : {}), ...(r.transcript ? { transcript: r.transcript } : {}) });
          p.drop((it) => owner.get(it.n) === x);
        }
        o.onProgress?.({ phase: 'mutants', done: doneM, total: interleaved.length, failures: all.filter((y) => y.hits.length > 0).length, perState: {}, message: `${all.filter((y) => y.hits.length > 0).length}/${all.length} caught${lastCaught ? `, last ${lastCaught}` : ''}` });
      });
    }
    for (const x of all) {
      const hit = x.hits.sort((a, b) => a.at - b.at)[0];
      const first = hit ? (({ at: _at, ...rest }) => rest)(hit) : undefined;
      mutantResults.push({
        name: x.m.name,
        where: x.m.where,
        what: x.m.what,
        caught: !!first,
        checked: x.checked,
        ...(first ? { first } : {}),
        replay: first ? replayCommand(o.seed, first, x.m.name, o) : '',
      });
    }
    return {
      runId: id,
      dir,
      seed: o.seed,
      results,
      mutants: mutantResults,
      notSearched,
      flows: flowInfo,
      seconds: (Date.now() - t0) / 1000,
      jobs,
      partitionBytes: size,
      artifactBytes: statSync(artifacts.next).size,
      downloadedBytes,
    };
  } finally {
    await pool.current?.close();
    rmSync(work, { recursive: true, force: true });
  }
}

function statSafe(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}
