// Fleet benchmark (issue #19): simulated devices on the real device API over HTTPS against the
// reference server in its own process, one phased rollout to all of them (harness/fleet/).
// Environment: FLEET_STORES ("sqlite,postgres"), FLEET_DEVICES (comma list, "10000"),
// FLEET_POLL_SECONDS (120), FLEET_JITTER (0.5), FLEET_BOOT_SECONDS (one poll interval),
// FLEET_PHASE_GAP (60), FLEET_WORKERS (device processes, 2), FLEET_REPEAT (runs per size, 1),
// FLEET_SERVER_WORKERS (flipside-server --workers, 1; more needs postgres), FLEET_DATABASE_POOL
// (flipside-server --database-pool, PostgreSQL connections per server process, default 10), FLEET_CPU_PROF (a folder: the server writes a V8 CPU profile there),
// FLEET_SERVER_NODE_ARGS (space-separated node flags for the server, e.g. --trace-gc),
// FLEET_SIM_NODE_ARGS (node flags for the device processes, e.g. --cpu-prof --cpu-prof-dir=DIR),
// FLEET_DEVICE_NICE (the device processes' nice value, 10: the server gets a core first; 0 to compare),
// FLEET_SLOW_SAMPLES (a file: each device process appends its polls and status writes over 30 ms as
// "epoch-ms-at-start ms net-ms kind" lines, to line tails up with the server's log),
// FLEET_SERVER_LOG (copy the server's log to this path, suffixed with store and size), FLEET_DATABASE_URL (a
// PostgreSQL server; without it `ci/postgres.sh` starts a throwaway one for the run and stops it:
// in FLIPSIDE_PG_DIR on FLIPSIDE_PG_PORT, default /tmp/flipside-fleet-pg and 55439).
// With the defaults a 10,000-device run takes about 12 minutes: admission, a 120 s boot, and a
// rollout of 60 s + up to 180 s to the next poll + one more poll for the 2 % that retry.
// The last stdout line is JSON: {"stores":[{"store":"sqlite","devices":…,"pollP99Ms":…,…}]}.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runFleet, type FleetResult } from '../harness/fleet/fleet.js';

const env = process.env;
/** A space-separated list of node flags from the environment. */
const nodeArgs = (flags: string): string[] => flags.split(' ').filter(Boolean);
const stores = (env.FLEET_STORES ?? 'sqlite,postgres').split(',');
const sizes = (env.FLEET_DEVICES ?? '10000').split(',').map(Number);
const repeat = Number(env.FLEET_REPEAT ?? 1);
const results: FleetResult[] = [];
const failed: Array<{ store: string; devices: number; rolloutComplete: false; error: string }> = [];

// A throwaway PostgreSQL of this bench's own (not the one the tests share), stopped at the end.
const PG_SCRIPT = fileURLToPath(new URL('../ci/postgres.sh', import.meta.url));
// FLIPSIDE_PG_DIR / FLIPSIDE_PG_PORT choose another one (two benches at once must not share it).
const pgEnv = { ...env, FLIPSIDE_PG_DIR: env.FLIPSIDE_PG_DIR ?? '/tmp/flipside-fleet-pg', FLIPSIDE_PG_PORT: env.FLIPSIDE_PG_PORT ?? '55439' };
let startedPg = false;
function databaseUrl(): string {
  if (env.FLEET_DATABASE_URL) return env.FLEET_DATABASE_URL;
  startedPg = true;
  return execFileSync('bash', [PG_SCRIPT], { env: pgEnv, encoding: 'utf8' }).trim();
}

try {
  for (const store of stores) {
    if (store !== 'sqlite' && store !== 'postgres') throw new Error(`FLEET_STORES: unknown store ${store} (sqlite, postgres)`);
    const url = store === 'postgres' ? databaseUrl() : undefined;
    for (const devices of sizes) {
      for (let r = 0; r < repeat; r++) {
        console.log(`\n--- ${store}: ${devices} devices, run ${r + 1}/${repeat}`);
        const result = await runFleet({
          devices,
          pollSeconds: Number(env.FLEET_POLL_SECONDS ?? 120),
          jitter: Number(env.FLEET_JITTER ?? 0.5),
          ...(env.FLEET_BOOT_SECONDS ? { bootSeconds: Number(env.FLEET_BOOT_SECONDS) } : {}),
          phases: { batchPercents: [10], gapSeconds: Number(env.FLEET_PHASE_GAP ?? 60) },
          workers: Number(env.FLEET_WORKERS ?? 2),
          serverWorkers: Number(env.FLEET_SERVER_WORKERS ?? 1),
          ...(env.FLEET_DATABASE_POOL ? { databasePool: Number(env.FLEET_DATABASE_POOL) } : {}),
          seed: r + 1,
          ...(url ? { databaseUrl: url } : {}),
          cpuProfDir: env.FLEET_CPU_PROF,
          ...(env.FLEET_SERVER_LOG ? { serverLogCopy: `${env.FLEET_SERVER_LOG}.${store}-${devices}-${r + 1}` } : {}),
          ...(env.FLEET_SERVER_NODE_ARGS ? { serverNodeArgs: nodeArgs(env.FLEET_SERVER_NODE_ARGS) } : {}),
          ...(env.FLEET_SIM_NODE_ARGS ? { simNodeArgs: nodeArgs(env.FLEET_SIM_NODE_ARGS) } : {}),
          ...(env.FLEET_DEVICE_NICE ? { deviceNice: Number(env.FLEET_DEVICE_NICE) } : {}),
          ...(env.FLEET_SLOW_SAMPLES ? { slowSamplesFile: env.FLEET_SLOW_SAMPLES } : {}),
          log: (l) => console.log(l),
        }).catch((e: unknown) => {
          // One store's failed run is a result too: the other store still runs.
          console.log(`${store} run failed: ${(e as Error).message}`);
          failed.push({ store, devices, rolloutComplete: false, error: (e as Error).message });
          return null;
        });
        if (!result) continue;
        results.push(result);
        const { wrongStatuses, counters, ...short } = result;
        console.log(JSON.stringify(short));
        if (wrongStatuses.length) console.log(`wrong statuses (first ${wrongStatuses.length}):\n  ${wrongStatuses.join('\n  ')}`);
      }
    }
  }
} finally {
  if (startedPg) execFileSync('bash', [PG_SCRIPT, 'stop'], { env: pgEnv, stdio: 'inherit' });
}

// "net": less the time the measuring process's own loop was stalled during each request
// (harness/fleet/own-stalls.ts): the server's share lies between net and raw.
console.log('\nstore     devices  poll p50/p99 ms  net p50/p99 ms  bare TLS p50/p99 ms  status p50/p99 ms  status net p99  rollout s  server CPU %  server RSS MB  loop max ms server/sim  errors  load  statuses');
for (const r of results) {
  const errors = Object.values(r.errors).reduce((a, n) => a + n, 0);
  console.log(
    `${r.store.padEnd(8)}  ${String(r.devices).padStart(7)}  ${`${r.pollP50Ms}/${r.pollP99Ms}`.padStart(15)}  ${`${r.pollNetP50Ms}/${r.pollNetP99Ms}`.padStart(14)}  ${`${r.baselineP50Ms}/${r.baselineP99Ms}`.padStart(19)}  ${`${r.statusP50Ms}/${r.statusP99Ms}`.padStart(17)}  ${String(r.statusNetP99Ms).padStart(14)}  ${String(r.rolloutSeconds).padStart(9)}  ${String(r.serverCpuPercent).padStart(12)}  ${String(r.serverRssPeakMb).padStart(13)}  ${`${r.serverLoopDelayMaxMs}/${r.simLoopDelayMaxMs}`.padStart(20)}  ${String(errors).padStart(6)}  ${String(r.loadAverage).padStart(4)}  ${r.rolloutComplete && r.statusesRight ? 'all right' : 'WRONG'}`,
  );
}
for (const r of results) console.log(`${r.store} ${r.devices}: device processes stalled ${r.simStalledPercent} % of the time (over 2 ms at a time); bare TLS p99 net of the orchestrator's stalls ${r.baselineNetP99Ms} ms`);
// The devices' own counts (status retries, resumed attempts, ...): a tail made of client retry
// sleeps shows here, not in the server's log.
for (const r of results) console.log(`${r.store} ${r.devices}: device counters ${JSON.stringify(r.counters)}`);
for (const r of results) {
  // Whose stall a tail is: the server's 10 s windows with a loop blocked over 200 ms.
  if (r.serverLoopStalls.length) console.log(`${r.store} ${r.devices}: server loop stalls (10 s windows over 200 ms): ${r.serverLoopStalls.map((s) => `${s.time}${s.worker ? ` w${s.worker}` : ''} ${s.maxMs} ms`).join(', ')}`);
}
for (const f of failed) console.log(`${f.store.padEnd(8)}  ${String(f.devices).padStart(7)}  failed: ${f.error}`);
console.log(JSON.stringify({ stores: [...results.map(({ wrongStatuses, counters: _c, ...r }) => ({ ...r, wrongStatuses: wrongStatuses.length })), ...failed] }));
process.exitCode = failed.length === 0 && results.every((r) => r.rolloutComplete && r.statusesRight) ? 0 : 1;
