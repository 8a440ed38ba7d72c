// `flipside-lab fleet`: a fleet run for demos and capacity checks (the same run as
// `npm run bench fleet`): N simulated devices, a phased rollout, the numbers and the check.
import type { Command } from 'commander';
import { FLEET_DEFAULTS } from './defaults.js';

const number = (name: string, min: number, max = Infinity) => (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${name} must be a number in [${min}, ${max}], got ${v}`);
  return n;
};

export function registerFleetCommand(program: Command, setStatus: (code: number) => void): void {
  const d = FLEET_DEFAULTS;
  program
    .command('fleet')
    .description('simulate a fleet on the reference server: N devices, one phased rollout, latency and the final statuses')
    .option('--devices <n>', 'simulated devices', number('--devices', 1), d.devices)
    .option('--workers <n>', 'device processes (0: in this process)', number('--workers', 0), d.workers)
    .option('--poll-seconds <s>', 'update poll interval', number('--poll-seconds', 0.1), d.pollSeconds)
    .option('--jitter <f>', 'each wait is interval x [1-f, 1+f]', number('--jitter', 0, 0.99), d.jitter)
    .option('--failure-rate <f>', 'share of update attempts that fail', number('--failure-rate', 0, 1), d.failureRate)
    .option('--retries <n>', "the deployment's retries", number('--retries', 0, 100), d.retries)
    .option('--error-threshold <pct>', 'stop the rollout above this percent of failed devices (-1: none)', number('--error-threshold', -1, 100), d.errorThreshold ?? -1)
    .option('--phases <pcts>', 'percent of devices in each phase but the last, comma separated', d.phases.batchPercents.join(','))
    .option('--phase-gap <s>', 'seconds between phase starts', number('--phase-gap', 0), d.phases.gapSeconds)
    .option('--timeout <s>', 'give up on the rollout after', number('--timeout', 1), d.timeoutSeconds)
    .option('--seed <n>', 'seed (keys, failures, timing)', number('--seed', 0), d.seed)
    .option('--cpu-prof <dir>', "write the server's V8 CPU profile here")
    .option('--database <url>', 'run the server on this (empty) PostgreSQL database instead of SQLite')
    .option('--server-workers <n>', 'server processes (flipside-server --workers; more than 1 needs --database)', number('--server-workers', 1), 1)
    .option('--database-pool <n>', 'PostgreSQL connections per server process (flipside-server --database-pool)', number('--database-pool', 1))
    .option('--device-nice <n>', 'nice value of the device processes, so the server gets a core first', number('--device-nice', 0, 19), d.deviceNice)
    .option('--json', 'print only the result as JSON')
    .action(async (o: { devices: number; workers: number; pollSeconds: number; jitter: number; failureRate: number; retries: number; errorThreshold: number; phases: string; phaseGap: number; timeout: number; seed: number; cpuProf?: string; json?: boolean; database?: string; databasePool?: number; serverWorkers: number; deviceNice: number }) => {
      const batchPercents = o.phases === '' ? [] : o.phases.split(',').map(number('--phases', 1, 99));
      // Stopped from outside: exit, and the exit handlers take the server and baseline along
      // (worker processes leave when their channel closes).
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(sig === 'SIGINT' ? 130 : 143));
      const { runFleet } = await import('./fleet.js');
      const r = await runFleet({
        devices: Math.floor(o.devices),
        workers: Math.floor(o.workers),
        pollSeconds: o.pollSeconds,
        jitter: o.jitter,
        failureRate: o.failureRate,
        retries: Math.floor(o.retries),
        errorThreshold: o.errorThreshold < 0 ? null : o.errorThreshold,
        phases: { batchPercents, gapSeconds: o.phaseGap },
        timeoutSeconds: o.timeout,
        seed: Math.floor(o.seed),
        ...(o.cpuProf ? { cpuProfDir: o.cpuProf } : {}),
        ...(o.database ? { database: o.database } : {}),
        ...(o.databasePool ? { databasePool: Math.floor(o.databasePool) } : {}),
        serverWorkers: Math.floor(o.serverWorkers),
        deviceNice: Math.floor(o.deviceNice),
        log: o.json ? undefined : (l) => console.log(l),
      });
      console.log(JSON.stringify(r, null, o.json ? undefined : 1));
      setStatus(r.rolloutComplete && r.statusesRight ? 0 : 1);
    });
}
