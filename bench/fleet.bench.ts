// Fleet benchmark (issue #19): simulated devices on the real device API over HTTPS against the
// reference server in its own process, one phased rollout to all of them (harness/fleet/).
// Environment: FLEET_DEVICES (comma list, default "1000,10000"), FLEET_POLL_SECONDS (60),
// FLEET_JITTER (0.5), FLEET_WORKERS (device processes, 1), FLEET_REPEAT (runs per size, 1),
// FLEET_CPU_PROF (a folder: the server writes a V8 CPU profile there).
// The last stdout line is JSON: {"stores":[{"store":"sqlite","devices":…,"pollP99Ms":…,…}]}.
import { runFleet, type FleetResult } from '../harness/fleet/fleet.js';

const env = process.env;
const sizes = (env.FLEET_DEVICES ?? '1000,10000').split(',').map(Number);
const repeat = Number(env.FLEET_REPEAT ?? 1);
const results: FleetResult[] = [];

for (const devices of sizes) {
  for (let r = 0; r < repeat; r++) {
    console.log(`\n--- ${devices} devices, run ${r + 1}/${repeat}`);
    const result = await runFleet({
      devices,
      pollSeconds: Number(env.FLEET_POLL_SECONDS ?? 60),
      jitter: Number(env.FLEET_JITTER ?? 0.5),
      workers: Number(env.FLEET_WORKERS ?? 1),
      seed: r + 1,
      cpuProfDir: env.FLEET_CPU_PROF,
      log: (l) => console.log(l),
    });
    results.push(result);
    const { wrongStatuses, counters, ...short } = result;
    console.log(JSON.stringify(short));
    if (wrongStatuses.length) console.log(`wrong statuses (first ${wrongStatuses.length}):\n  ${wrongStatuses.join('\n  ')}`);
  }
}

console.log('\ndevices  poll p50/p99 ms  bare TLS p50/p99 ms  status p50/p99 ms  rollout s  server CPU %  server RSS MB  errors  load  statuses');
for (const r of results) {
  const errors = Object.values(r.errors).reduce((a, n) => a + n, 0);
  console.log(
    `${String(r.devices).padStart(7)}  ${`${r.pollP50Ms}/${r.pollP99Ms}`.padStart(15)}  ${`${r.baselineP50Ms}/${r.baselineP99Ms}`.padStart(19)}  ${`${r.statusP50Ms}/${r.statusP99Ms}`.padStart(17)}  ${String(r.rolloutSeconds).padStart(9)}  ${String(r.serverCpuPercent).padStart(12)}  ${String(r.serverRssPeakMb).padStart(13)}  ${String(errors).padStart(6)}  ${String(r.loadAverage).padStart(4)}  ${r.rolloutComplete && r.statusesRight ? 'all right' : 'WRONG'}`,
  );
}
console.log(JSON.stringify({ stores: results.map(({ wrongStatuses, ...r }) => ({ ...r, wrongStatuses: wrongStatuses.length })) }));
process.exitCode = results.every((r) => r.rolloutComplete && r.statusesRight) ? 0 : 1;
