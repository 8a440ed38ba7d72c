// `flipside-lab campaign`: the CLI face of campaign.ts. Live progress on stderr (cli-progress on a
// terminal, a line every few seconds otherwise), the report paths and a summary at the end, and
// with --json the summary object as the last stdout line. Exit 1 on any failed cut or uncaught mutant.
import { Option, type Command } from 'commander';
import { resolve } from 'node:path';
import { randomSeed } from '../faults/prng.js';
import type { Progress } from './campaign.js';
import { DEFAULTS } from './defaults.js';
import { MODES, PHASES, type Mode, type Phase } from './flows.js';
import { selectMutants } from './mutants.js';
import { parseShard, type Shard } from '../scenario/shard.js';

const int = (name: string, min = 0) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer ≥ ${min}, got ${v}`);
  return n;
};

function parseOnly(v: string): { flow: string; cut: number; index: number } {
  const m = /^([a-z-]+):(\d+):(\d+)$/.exec(v);
  if (!m) throw new Error(`--only wants flow:cut:index (as a replay command prints it), got ${v}`);
  return { flow: m[1]!, cut: Number(m[2]), index: Number(m[3]) };
}

async function progressPrinter(): Promise<{ update: (p: Progress) => void; stop: () => void }> {
  const t0 = Date.now();
  const top = (p: Progress) =>
    Object.entries(p.perState)
      .slice(-3)
      .map(([k, v]) => `${k} ${v.done}${v.failed ? `/${v.failed}✗` : ''}`)
      .join(', ');
  if (process.stderr.isTTY) {
    const { default: cliProgress } = await import('cli-progress');
    const bar = new cliProgress.SingleBar(
      { stream: process.stderr, format: '{phase} [{bar}] {value}/{total} cuts | {failures} failed | ETA {eta_formatted} | {states}', hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    let started = '';
    return {
      update: (p) => {
        if (p.phase === 'setup') return void process.stderr.write(`${p.message}\n`);
        if (started !== p.phase) {
          if (started) bar.stop();
          bar.start(p.total, 0, { phase: p.phase, failures: 0, states: '' });
          started = p.phase;
        }
        bar.update(p.done, { phase: p.phase, failures: p.failures, states: p.phase === 'mutants' ? p.message ?? '' : top(p) });
      },
      stop: () => bar.stop(),
    };
  }
  let last = 0;
  let lastFailures = 0;
  return {
    update: (p) => {
      if (p.phase === 'setup') return void process.stderr.write(`campaign: ${p.message}\n`);
      const now = Date.now();
      // A new failure (a caught mutant) is printed at once: the line names it.
      if (now - last < 5000 && p.done !== p.total && p.failures === lastFailures) return;
      last = now;
      lastFailures = p.failures;
      const rate = p.done / Math.max(1, (now - t0) / 1000);
      const eta = p.done ? Math.round((p.total - p.done) / Math.max(rate, 1e-9)) : 0;
      process.stderr.write(`campaign ${p.phase}: ${p.done}/${p.total} cuts, ${p.failures} failed, ETA ${eta} s${p.phase === 'mutants' ? `, ${p.message ?? ''}` : `; ${top(p)}`}\n`);
    },
    stop: () => undefined,
  };
}

export function registerCampaignCommand(program: Command, setStatus: (code: number) => void, reportsDir: string): Command {
  return program
    .command('campaign')
    .description('power-cut campaign: every cut point and crash state of recorded update runs, checked end to end; seeded bugs must all be caught')
    .option('--board <name>', 'board (host-sim)', 'host-sim')
    .addOption(new Option('--client <client>', 'client under test (mender: QEMU boards only)').choices(['flipside', 'mender']).default('flipside'))
    .option('--crash-images <n>', 'QEMU boards: crash images to boot (a seeded selection of the recorded update\'s crash states)', int('--crash-images', 1), 100)
    .option('--retry-limit <n>', 'QEMU boards: run the retry of the update on at most n images that kept the old version (default: every one)', int('--retry-limit'))
    .option('--time-budget <s>', 'QEMU boards: start no new crash image after s seconds; the rest are reported as not booted', int('--time-budget', 1))
    .option('--no-retry-lookup', 'QEMU boards: run every retry, even where an image with the same settled device (retry key) passed one')
    .option('--compare <file>', "QEMU boards: another run's campaign.json (the other client's): the report sets both side by side per step and kind of cut and names every difference (read when this run ends)")
    .option('--recording <dir>', 'QEMU boards: reuse a recorded update (base.img, write.log) instead of recording one (replays)')
    .addOption(new Option('--mode <mode>', 'host-sim: the standalone client (install/commit), the managed daemon against the bundled server, or both').choices([...MODES, 'all']).default('standalone'))
    .option('--managed-cuts <n>', 'at most n crash states of the managed flows for the clean client (each is a daemon run against the server); default: every one', int('--managed-cuts', 1))
    .option('--cuts <n>', 'at most n crash states for the clean client (a seeded sample keeps every cut point); default: every one the model names', int('--cuts', 1))
    .addOption(new Option('--phase <phase>', 'only cuts in this phase').choices([...PHASES, 'all']).default('all'))
    .option('--mutants <list>', "'all' or a comma-separated list of seeded bugs the campaign must catch", 'none')
    .option('--seed <n>', 'seed of the crash-state samples (printed; the same seed replays the same states)', int('--seed'))
    .option('--jobs <n>', 'worker processes', int('--jobs', 1), 2)
    .option('--partition-mib <n>', 'rootfs partition size of the campaign boards', int('--partition-mib', 1), DEFAULTS.partitionMiB)
    .option('--mixes <n>', 'seeded random crash states per cut point beyond the named ones', int('--mixes'), DEFAULTS.extra)
    .option('--shard <k/n>', 'check only shard k of n of the planned crash states and mutants (CI runners split a campaign)', parseShard)
    .option('--only <id>', 'replay one crash state (from a replay command): flow:cut:index on host-sim, at:variant on QEMU boards')
    .option('--reports <dir>', 'parent folder of the run reports', reportsDir)
    .option('--json', 'print the summary as JSON on the last stdout line')
    .action(async (o: { mode: Mode | 'all'; managedCuts?: number; board: string; client: string; crashImages: number; compare?: string; recording?: string; retryLimit?: number; retryLookup?: boolean; timeBudget?: number; cuts?: number; phase: Phase | 'all'; mutants: string; seed?: number; jobs: number; partitionMib: number; mixes: number; only?: string; reports: string; json?: boolean; shard?: Shard }) => {
      if (o.board !== 'host-sim') return runQemu(o, setStatus);
      if (o.client !== 'flipside') throw new Error(`campaign: --client ${o.client} runs on QEMU boards only; host-sim runs the Flipside client`);
      const mutants = selectMutants(o.mutants);
      const seed = o.seed ?? randomSeed();
      const progress = await progressPrinter();
      let r;
      try {
        const { runCampaign } = await import('./campaign.js');
        r = await runCampaign({ board: 'host-sim', mode: o.mode, ...(o.managedCuts !== undefined ? { managedCuts: o.managedCuts } : {}), cuts: o.cuts, phase: o.phase, mutants, seed, jobs: o.jobs, reportsDir: resolve(o.reports), partitionMiB: o.partitionMib, extra: o.mixes, ...(o.only ? { only: parseOnly(o.only) } : {}), ...(o.shard ? { shard: o.shard } : {}), onProgress: progress.update });
      } finally {
        progress.stop();
      }
      const { writeCampaignReports } = await import('../report/campaign.js');
      const s = writeCampaignReports(r, { partitionMiB: o.partitionMib, extra: o.mixes });
      const lines = [
        `campaign host-sim seed ${seed}: ${s.cuts} cuts at ${s.cutPoints} cut points (${s.crashStates} crash states beyond the plain cut; ${s.cuts} of ${s.crashStatesNamed} named), ${s.failures} failed, ${s.seconds} s with ${s.jobs} worker(s)`,
        ...Object.entries(s.perPhase).map(([k, v]) => `  ${k}: ${v.cuts} cuts, ${v.failed} failed`),
        ...(s.mutants ? [`mutants: ${s.caught}/${s.mutants} caught`, ...s.sensitivity.map((m) => `  ${m.caught ? 'caught' : 'MISSED'} ${m.name} (${m.where}) after ${m.checked} state(s)${m.firstCut ? `: ${m.firstCut}: ${m.why}` : ''}`)] : []),
        ...r.notSearched.map((m) => `  not searched: ${m.name}: ${m.why}`),
        ...s.replay.slice(0, 20).map((c) => `replay: ${c}`),
        `report ${s.html}`,
      ];
      if (o.only) for (const x of [...r.results, ...r.mutants.flatMap((m) => (m.first ? [m.first] : []))]) lines.unshift(`${x.flow} cut ${x.cut} state ${x.index} (${x.label}): ${x.ok ? `passed, ${x.outcome}` : `FAILED at ${x.stage}: ${x.reason}`}`, ...(x.transcript ?? []).map((l) => `  ${l}`));
      for (const l of lines) (o.json ? console.error : console.log)(l);
      if (o.json) console.log(JSON.stringify({ board: s.board, client: s.client, seed: s.seed, cuts: s.cuts, cutPoints: s.cutPoints, crashStates: s.crashStates, crashStatesNamed: s.crashStatesNamed, log10Possible: s.log10Possible, failures: s.failures, seconds: s.seconds, jobs: s.jobs, perState: s.perState, perPhase: s.perPhase, mutants: s.mutants, caught: s.caught, sensitivity: s.sensitivity, notSearched: r.notSearched, replay: s.replay, finalStatuses: s.finalStatuses, downloadedBytes: s.downloadedBytes, artifactBytes: s.artifactBytes, partitionBytes: s.partitionBytes, html: s.html, junit: s.junit, passed: s.cuts - s.failures + s.caught, failed: s.failures + (s.mutants - s.caught) }));
      setStatus(s.failures === 0 && s.caught === s.mutants ? 0 : 1);
    });
}


/** A QEMU board: crash images from one recorded update, booted (harness/campaign/qemu/). */
async function runQemu(o: { board: string; client: string; crashImages: number; compare?: string; recording?: string; retryLimit?: number; retryLookup?: boolean; timeBudget?: number; seed?: number; jobs: number; only?: string; reports: string; json?: boolean }, setStatus: (code: number) => void): Promise<void> {
  const seed = o.seed ?? randomSeed();
  const { runQemuCampaign } = await import('./qemu/qemu-campaign.js');
  const { writeQemuCampaignReports, compareLines, readOtherRun } = await import('../report/qemu-campaign.js');

  const t0 = Date.now();
  const r = await runQemuCampaign({
    board: o.board,
    client: o.client as 'flipside' | 'mender',
    images: o.crashImages,
    seed,
    jobs: o.jobs,
    reportsDir: resolve(o.reports),
    ...(o.recording ? { recording: o.recording } : {}),
    ...(o.retryLimit !== undefined ? { retryLimit: o.retryLimit } : {}),
    ...(o.retryLookup === false ? { noRetryLookup: true } : {}),
    ...(o.timeBudget !== undefined ? { budgetSeconds: o.timeBudget } : {}),
    ...(o.only ? { only: o.only } : {}),
    onProgress: (p) => process.stderr.write(p.phase === 'setup' ? `campaign: ${p.message}\n` : `campaign ${o.board}: ${p.done}/${p.total} crash images, ${p.failures} failed, ${Math.round((Date.now() - t0) / 1000)} s: ${p.message}\n`),
  });
  // Read at the end: the other client's run may still be going when this one starts.
  let other;
  let compareError = '';
  try {
    other = o.compare ? readOtherRun(resolve(o.compare)) : undefined;
  } catch (e) {
    compareError = e instanceof Error ? e.message : String(e);
  }
  const s = writeQemuCampaignReports(r, other);
  const lines = [
    `campaign ${s.board} (${s.client}) seed ${seed}: ${s.cuts} crash images booted${r.notBooted ? ` (${r.notBooted} more selected, not booted: --time-budget)` : ''} of ${s.crashStates} distinct flush-boundary states (~10^${s.log10Possible} crash states with lost/torn unflushed writes), ${s.failures} failed, ${s.seconds} s with ${s.jobs} VM(s), ${s.secondsPerImage} s per image`,
    `  duplicates: ${r.duplicates.length} more selected crash images had the bytes of a booted one (booted once, counted once); retries: ${r.retryLookup.on ? `${r.retryLookup.lookedUp} looked up by retry key, ${r.retryLookup.keys} key(s) run` : `every one run (${r.retryLookup.why})`}`,
    `  mean seconds per image by stage: ${Object.entries(s.meanStages).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `  recorded update: ${r.recording.writes} writes, ${r.recording.flushes} flushes, ${(r.recording.writtenBytes / 2 ** 20).toFixed(0)} MiB${r.recording.seconds !== null ? ` in ${Math.round(r.recording.seconds)} s` : ''}`,
    ...Object.entries(s.perState).map(([k, v]) => `  ${k}: ${v.cuts} images, ${v.failed} failed`),
    ...(s.compare ? compareLines(s.compare) : []),
    ...(compareError ? [`  no comparison: ${compareError}`] : []),
    ...s.replay.slice(0, 20).map((c) => `replay: ${c}`),
    `report ${s.html}`,
  ];
  if (o.only) for (const x of r.results) lines.unshift(`${x.id} (${x.step}, ${x.label}): ${x.verdict.ok ? `passed, ${x.verdict.outcome}` : `FAILED at ${x.verdict.stage}: ${x.verdict.reason}`}`, ...x.verdict.transcript.map((l) => `  ${l}`));
  for (const l of lines) (o.json ? console.error : console.log)(l);
  if (o.json) console.log(JSON.stringify(s));
  setStatus(s.failures === 0 && !compareError ? 0 : 1);
}
