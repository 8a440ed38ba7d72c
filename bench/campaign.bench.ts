// Power-cut campaign throughput (issue 16): the host-sim target is ≥ 10,000 cuts (crash states
// included) in ≤ 10 minutes on a 2-core machine with 0 failures. The full run checks every crash
// state the model names on 8 MiB partitions with 80 seeded mixes per cut point (about 11,500; 50
// named ~11,100 until the install's writes changed, 8,299 on 2026-12-04), on 2 workers, setup
// (client bundle, artifacts, recordings) included in the wall time.
// Baseline, measured in the same run: the same seeded sample of BENCH_CAMPAIGN_BASELINE_CUTS states
// with every retry run (no lookup of an already-retried settled device) and with the lookup, so
// the ratio shows what the lookup buys; the load average is printed because the machine is shared.
// Managed mode (the daemon against the bundled server, harness/campaign/managed.ts): a seeded sample
// of BENCH_CAMPAIGN_MANAGED_CUTS crash states of the two managed flows, its cuts/s set beside the
// standalone baseline's measured in the same run (a managed check runs the daemon, one or more
// power cycles and HTTP round trips, where a standalone check runs `flipside resume`). 0 skips it.
// Its own baseline, in the same run: BENCH_CAMPAIGN_MANAGED_BASELINE_CUTS states (the first ones of
// the same seeded sample) with a new reference server per crash state, as managed checks ran before
// the server was reset in place (managed-server.ts); 0 skips it.
import { loadavg, cpus } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCampaign, type CampaignOptions } from '../harness/campaign/campaign.js';

const TARGET_CUTS = 10_000;
const TARGET_SECONDS = 600;
const PARTITION_MIB = Number(process.env.BENCH_CAMPAIGN_PARTITION_MIB ?? '8');
const MIXES = Number(process.env.BENCH_CAMPAIGN_MIXES ?? '80');
const BASELINE_CUTS = Number(process.env.BENCH_CAMPAIGN_BASELINE_CUTS ?? '200');
const JOBS = Number(process.env.BENCH_CAMPAIGN_JOBS ?? '2');
const MANAGED_CUTS = Number(process.env.BENCH_CAMPAIGN_MANAGED_CUTS ?? '100');
/** 0: skip the full standalone run (the managed numbers alone). */
const FULL = process.env.BENCH_CAMPAIGN_FULL !== '0';
const MANAGED_BASELINE_CUTS = Number(process.env.BENCH_CAMPAIGN_MANAGED_BASELINE_CUTS ?? '30');
const reports = mkdtempSync(join(tmpdir(), 'flipside-campaign-bench-'));
const load = (): string => loadavg().map((l) => l.toFixed(1)).join(' ');

async function run(o: Partial<CampaignOptions>): Promise<{ cuts: number; failures: number; seconds: number; crashStates: number; failed: string[] }> {
  const r = await runCampaign({ board: 'host-sim', phase: 'all', mutants: [], seed: 1, jobs: JOBS, reportsDir: reports, partitionMiB: PARTITION_MIB, extra: MIXES, ...o });
  const failed = r.results.filter((x) => !x.ok);
  return { cuts: r.results.length, failures: failed.length, seconds: r.seconds, crashStates: r.results.filter((x) => x.index > 0).length, failed: failed.map((x) => `${x.flow}:${x.cut}:${x.index} ${x.stage}: ${x.reason}`) };
}

try {
  console.log(`${cpus().length} cores, load average ${load()} at the start; ${JOBS} workers, ${PARTITION_MIB} MiB partitions, ${MIXES} mixes per cut point`);
  let standaloneRate: number | null = null;
  if (BASELINE_CUTS > 0) {
    const slow = await run({ cuts: BASELINE_CUTS, retryMemo: false });
    const fast = await run({ cuts: BASELINE_CUTS });
    standaloneRate = fast.cuts / fast.seconds;
    console.log(`baseline: ${slow.cuts} cuts, every retry run      ${slow.seconds.toFixed(1)} s  ${(slow.cuts / slow.seconds).toFixed(1)} cuts/s  1.00x`);
    console.log(`          the same, retries looked up   ${fast.seconds.toFixed(1)} s  ${(fast.cuts / fast.seconds).toFixed(1)} cuts/s  ${(slow.seconds / fast.seconds).toFixed(2)}x faster (load average ${load()})`);
  }
  if (MANAGED_CUTS > 0) {
    // Setup (client bundle, artifacts, the server template, two recorded daemon runs) is in the wall time, as above.
    let managedBase: number | null = null;
    if (MANAGED_BASELINE_CUTS > 0) {
      const b = await run({ mode: 'managed', managedCuts: MANAGED_BASELINE_CUTS, managedServerRestart: true });
      managedBase = b.cuts / b.seconds;
      console.log(`managed baseline: ${b.cuts} cuts with a new server per crash state, ${b.failures} failed, ${b.seconds.toFixed(1)} s, ${managedBase.toFixed(2)} cuts/s (load average ${load()})`);
    }
    const m = await run({ mode: 'managed', managedCuts: MANAGED_CUTS });
    const rate = m.cuts / m.seconds;
    if (managedBase) console.log(`managed, server reset in place: ${(rate / managedBase).toFixed(2)}x the managed baseline`);
    console.log(`managed: ${m.cuts} cuts of the daemon against the server, ${m.failures} failed, ${m.seconds.toFixed(1)} s, ${rate.toFixed(2)} cuts/s${standaloneRate ? `, ${(rate / standaloneRate).toFixed(3)}x the standalone baseline's ${standaloneRate.toFixed(1)} cuts/s` : ''} (load average ${load()})`);
    for (const f of m.failed.slice(0, 5)) console.log(`  managed FAILED ${f}`);
    console.log(`campaign bench: managed ${rate.toFixed(2)} cuts/s (${m.cuts} cuts, ${m.failures} failed)`);
  }
  if (FULL) {
    const all = await run({});
    const rate = all.cuts / all.seconds;
    const met = all.cuts >= TARGET_CUTS && all.seconds <= TARGET_SECONDS && all.failures === 0;
    console.log(`full: ${all.cuts} cuts (${all.crashStates} crash states beyond the plain cut), ${all.failures} failed, ${all.seconds.toFixed(0)} s, ${rate.toFixed(1)} cuts/s; load average ${load()} at the end`);
    console.log(`rate ${(rate / (TARGET_CUTS / TARGET_SECONDS)).toFixed(2)}x the target's ${(TARGET_CUTS / TARGET_SECONDS).toFixed(1)} cuts/s`);
    console.log(`campaign bench: ${all.cuts} cuts in ${all.seconds.toFixed(0)} s (${rate.toFixed(1)} cuts/s, ${all.failures} failed): ${TARGET_CUTS} cuts in ${TARGET_SECONDS / 60} min ${met ? 'MET' : 'NOT MET'}`);
  }
} finally {
  rmSync(reports, { recursive: true, force: true });
}
