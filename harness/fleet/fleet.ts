// A fleet run: N simulated devices (device.ts) on the real device API over HTTPS against a
// reference server in its own process, one phased rollout to all of them, and what it cost.
// Steps: start the server, upload a small artifact, preauthorize every device through the
// management API, boot the devices (spread over one poll interval, in this process or in worker
// processes), create the deployment once all are polling, watch it until it finishes, stop the
// devices, then check every device's final status on the server against the seeded plan.
import { fork, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { getPriority, loadavg, setPriority, tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeArtifactToBuffer } from '../../artifact/to-buffer.js';
import { DeviceGroup, type GroupReport, type GroupSpec } from './group.js';
import { fleetDeviceKey, fleetIdentity } from './keys.js';
import { Management } from './management.js';
import { expectedFinalStatus } from './plan.js';
import { ServerProcess } from './server-process.js';
import { Baseline } from './baseline.js';
import { Latencies, percentile, round } from './stats.js';
import { OwnStalls } from './own-stalls.js';
import { FLEET_DEFAULTS } from './defaults.js';
import { FreshDatabase } from './database.js';

export interface FleetOptions {
  devices: number;
  /** Device processes; 0 runs the devices in this process. */
  workers: number;
  pollSeconds: number;
  jitter: number;
  /**
   * Devices power on at uniformly random times over this many seconds. Default: one poll
   * interval, so that from the start the server sees what a fleet in its steady state sends
   * (each device's poll at a random phase of the interval) rather than a power-on storm.
   */
  bootSeconds?: number;
  /** A PostgreSQL server (postgres://…/db): each run gets a fresh database on it. Default SQLite. */
  databaseUrl?: string;
  /** Per attempt. */
  failureRate: number;
  /** Attempts after a failure the deployment allows (Mender's retries). */
  retries: number;
  /** Percent of failed devices that stops the rollout; null for none. */
  errorThreshold: number | null;
  /** Percent of the devices in each phase but the last, and the seconds between phase starts. */
  phases: { batchPercents: number[]; gapSeconds: number };
  artifactBytes: number;
  installSeconds: number;
  rebootSeconds: number;
  /** Give up on the rollout after this long. */
  timeoutSeconds: number;
  seed: number;
  /** Concurrent preauthorize requests. */
  admitConcurrency: number;
  /** A V8 CPU profile of the server goes here. */
  cpuProfDir?: string;
  /** More node flags for the server process (`--trace-gc`). */
  serverNodeArgs?: string[];
  /** More node flags for the device processes (`--cpu-prof`). */
  simNodeArgs?: string[];
  /**
   * The device processes' nice value (workers > 0). They share the box with the server they
   * measure: at the default 10 the server and its database get a core first when both want one,
   * as on a machine of their own, and the devices use what is left. The devices' own waits for a
   * core stay in their latencies (and out of the "net" ones), so it can only make them look worse.
   */
  deviceNice: number;
  /** Each device process appends its requests over 30 ms here, with their wall-clock start (GroupSpec). */
  slowSamplesFile?: string;
  /** Copy the server's log here at the end (the data dir it lives in is removed). */
  serverLogCopy?: string;
  serverLogLevel?: string;
  /** An empty PostgreSQL database used as it is (the run's rows stay in it); `databaseUrl` makes a fresh one instead. */
  database?: string;
  /** Server processes (flipside-server --workers; more than 1 needs `database` or `databaseUrl`). */
  serverWorkers?: number;
  /** PostgreSQL connections per server process (flipside-server --database-pool; default 10). */
  databasePool?: number;
  /** Called at each look at the rollout (about once a second): tests act on the server mid-rollout. */
  onRollout?: (look: { status: Record<string, number>; server: ServerProcess }) => void | Promise<void>;
  /**
   * Called the moment the server acknowledges a device's status report, so a test can act at an
   * exact point of the rollout rather than at a look. Devices in this process only (workers 0).
   */
  onDeviceStatus?: (report: { index: number; status: string; server: ServerProcess }) => void;
  log?: (line: string) => void;
}

export { FLEET_DEFAULTS };

export interface FleetResult {
  store: 'sqlite' | 'postgres';
  serverWorkers: number;
  devices: number;
  workers: number;
  /** The nice value the device processes ran at, as each read it (FleetOptions.deviceNice; the highest if they differ). */
  deviceNice: number;
  pollSeconds: number;
  jitter: number;
  bootSpreadSeconds: number;
  pollP50Ms: number;
  pollP99Ms: number;
  /**
   * Poll and status latency less the time the device's own simulator process was stalled while
   * the request ran (own-stalls.ts): a lower bound of what the server and network cost, where the
   * raw numbers are an upper bound (a real device does not share its CPU with 5,000 others).
   */
  pollNetP50Ms: number;
  pollNetP99Ms: number;
  statusNetP50Ms: number;
  statusNetP99Ms: number;
  /** The bare TLS floor less the orchestrator's own stalls, the same way. */
  baselineNetP99Ms: number;
  /** Share of the device processes' time their loops were stalled (over 2 ms at a time), percent. */
  simStalledPercent: number;
  /** A bare HTTPS 204 over a fresh connection on the same machine at the same time (baseline.ts). */
  baselineP50Ms: number;
  baselineP99Ms: number;
  polls: number;
  statusP50Ms: number;
  statusP99Ms: number;
  statusWrites: number;
  downloadP99Ms: number;
  bytesDownloaded: number;
  admitSeconds: number;
  bootSeconds: number;
  rolloutSeconds: number;
  rolloutComplete: boolean;
  statusesRight: boolean;
  wrongStatuses: string[];
  final: Record<string, number>;
  stopReason: string | null;
  serverCpuPercent: number;
  serverRssPeakMb: number;
  serverLogMb: number;
  simCpuPercent: number;
  /** The machine's 1-minute load average at the end of the rollout (other work on the box). */
  loadAverage: number;
  /**
   * Event-loop delay while the devices ran (max over 10 s windows for the server; whole-run max
   * and p99 for each device process): a request's latency includes the loop delay of both ends,
   * so these say whose stall a latency tail is. serverLoopStalls: the windows over 200 ms.
   */
  serverLoopDelayMaxMs: number;
  serverLoopStalls: Array<{ time: string; maxMs: number; worker?: number }>;
  simLoopDelayMaxMs: number;
  simLoopDelayP99Ms: number;
  /** This process's (which probes the bare TLS floor and watches the rollout). */
  orchestratorLoopDelayMaxMs: number;
  errors: Record<string, number>;
  counters: Record<string, number>;
}

const ADMIN = { email: 'fleet@example.com', password: 'fleet-run-password' };
const DEVICE_TYPE = 'fleet-sim';
const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));
// Resolved here so a worker starts whatever the caller's working directory.
const TSX = import.meta.resolve('tsx');

interface Runner {
  start(spec: GroupSpec): Promise<void>;
  stop(): Promise<GroupReport>;
}

function inProcessRunner(onStatus?: (index: number, status: string) => void): Runner {
  let group: DeviceGroup | null = null;
  return {
    async start(spec) {
      group = new DeviceGroup(spec, onStatus);
      group.start();
    },
    stop: () => group!.stop(),
  };
}

function workerRunner(nodeArgs: string[], nice: number): Runner {
  const child: ChildProcess = fork(WORKER, [], { execArgv: ['--import', TSX, ...nodeArgs], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  // Before it starts its devices (start() below). Only ever raised: that needs no privilege
  // (a child of a process that is already nicer keeps its value).
  if (nice > getPriority(child.pid!)) setPriority(child.pid!, nice);
  const next = <T>(key: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const onMessage = (m: Record<string, unknown>): void => {
        if (key in m) {
          child.off('exit', onExit);
          child.off('message', onMessage);
          resolve(m[key] as T);
        }
      };
      const onExit = (code: number | null): void => reject(new Error(`fleet worker exited with ${code} before '${key}'`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  return {
    async start(spec) {
      const started = next('started');
      child.send({ start: spec });
      await started;
    },
    async stop() {
      const report = next<GroupReport>('report');
      child.send({ stop: true });
      return report;
    },
  };
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runFleet(partial: Partial<FleetOptions> = {}): Promise<FleetResult> {
  const o: FleetOptions = { ...FLEET_DEFAULTS, ...partial };
  if (!Number.isInteger(o.devices) || o.devices < 1) throw new RangeError(`devices must be a positive integer, got ${o.devices}`);
  if (!(o.jitter >= 0 && o.jitter < 1)) throw new RangeError(`jitter must be in [0, 1), got ${o.jitter}`);
  if (!(o.failureRate >= 0 && o.failureRate <= 1)) throw new RangeError(`failureRate must be in [0, 1], got ${o.failureRate}`);
  if (o.onDeviceStatus && o.workers !== 0) throw new RangeError('onDeviceStatus needs the devices in this process (workers 0)');
  // The bench passes FLEET_DEVICE_NICE through unchecked; setPriority would fail only once devices ran.
  if (!Number.isInteger(o.deviceNice) || o.deviceNice < 0 || o.deviceNice > 19) throw new RangeError(`deviceNice must be an integer in [0, 19], got ${o.deviceNice}`);
  const log = o.log ?? (() => {});
  const runId = `fleet${o.seed}-${randomBytes(3).toString('hex')}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'flipside-fleet-'));
  const fresh = o.databaseUrl ? await FreshDatabase.create(o.databaseUrl, runId) : null;
  const database = fresh?.url ?? o.database;
  const server = await ServerProcess.start({ dataDir, admin: ADMIN, cpuProfDir: o.cpuProfDir, nodeArgs: o.serverNodeArgs, logLevel: o.serverLogLevel, database, workers: o.serverWorkers, databasePool: o.databasePool }).catch(async (e: unknown) => {
    await fresh?.drop();
    throw e;
  });
  const runners: Runner[] = [];
  let baseline: Baseline | undefined;
  let mgmt: Management | undefined;
  const bootSpreadSeconds = o.bootSeconds ?? o.pollSeconds;
  try {
    baseline = await Baseline.start(dataDir, server.caPem);
    log(`server pid ${server.pid} on ${server.url}, data in ${dataDir}`);
    const m = (mgmt = await Management.login(server.url, server.caPem, ADMIN.email, ADMIN.password));
    const artifactName = `${runId}-release-2`;
    await mgmt.uploadArtifact(
      await writeArtifactToBuffer({ type: 'single-file', kind: 'module-image', name: artifactName, deviceTypes: [DEVICE_TYPE], files: [{ name: 'payload.bin', content: randomBytes(o.artifactBytes) }] }),
    );

    // Admission: every device preauthorized (identity + key) before it first asks.
    const admitStart = performance.now();
    const deviceIds = new Array<string>(o.devices);
    await pool([...Array(o.devices).keys()], o.admitConcurrency, async (i) => {
      deviceIds[i] = await m.preauthorize(fleetIdentity(runId, i), fleetDeviceKey(o.seed, i).publicKeyPem);
    });
    const admitSeconds = (performance.now() - admitStart) / 1000;
    log(`${o.devices} devices preauthorized in ${admitSeconds.toFixed(1)} s`);

    // Boot the devices, spread over one poll interval as a fleet that powered on at random times.
    const slices = Math.max(1, o.workers);
    const base: Omit<GroupSpec, 'from' | 'to'> = {
      seed: o.seed, runId, serverUrl: server.url, caPem: server.caPem, deviceType: DEVICE_TYPE, artifactName: `${runId}-release-1`, failureRate: o.failureRate,
      timing: { pollSeconds: o.pollSeconds, jitter: o.jitter, installSeconds: o.installSeconds, rebootSeconds: o.rebootSeconds },
      startSpreadSeconds: bootSpreadSeconds,
      ...(o.slowSamplesFile ? { slowSamplesFile: o.slowSamplesFile } : {}),
    };
    const devicesStart = performance.now();
    const devicesStartWall = Date.now();
    const ownLoop = monitorEventLoopDelay({ resolution: 10 });
    ownLoop.enable();
    // The bare TLS floor is probed from this process: its stalls are taken out of it the same way.
    const ownStalls = new OwnStalls();
    ownStalls.start();
    for (let s = 0; s < slices; s++) {
      const onStatus = o.onDeviceStatus && ((index: number, status: string) => o.onDeviceStatus!({ index, status, server }));
      const runner = o.workers === 0 ? inProcessRunner(onStatus) : workerRunner(o.simNodeArgs ?? [], o.deviceNice);
      runners.push(runner);
      await runner.start({ ...base, from: Math.floor((s * o.devices) / slices), to: Math.floor(((s + 1) * o.devices) / slices) });
    }
    log(`devices booting over ${bootSpreadSeconds} s in ${o.workers === 0 ? 'this process' : `${o.workers} worker processes`}`);
    // A preauthorized device is accepted on its first auth request: wait until every one asked.
    const bootDeadline = performance.now() + (bootSpreadSeconds + o.timeoutSeconds) * 1000;
    for (;;) {
      await sleep(1000);
      // A server swamped by the boot may not answer in time: that is not yet, not a failure.
      const accepted = await mgmt.countDevices('accepted').catch((e: unknown) => {
        log(`device count: ${(e as Error).message}`);
        return -1;
      });
      if (accepted === o.devices) break;
      if (performance.now() > bootDeadline) throw new Error(`only ${accepted} of ${o.devices} devices authenticated within ${bootSpreadSeconds + o.timeoutSeconds} s`);
    }
    const bootSeconds = (performance.now() - devicesStart) / 1000;
    log(`all ${o.devices} devices authenticated after ${bootSeconds.toFixed(1)} s`);

    // The rollout: phases of batchPercents, then the rest, gapSeconds apart.
    const created = Date.now();
    const phases = [...o.phases.batchPercents, undefined].map((batch, i) => ({
      ...(batch !== undefined ? { batch_size: batch } : {}),
      start_ts: new Date(created + i * o.phases.gapSeconds * 1000).toISOString(),
    }));
    const cpuBefore = server.sample().cpuSeconds;
    const rolloutStart = performance.now();
    baseline.probe(200);
    const deploymentId = await mgmt.createDeployment({
      name: `fleet ${runId}`, artifact_name: artifactName, devices: deviceIds, phases, retries: o.retries,
      ...(o.errorThreshold !== null ? { error_threshold: o.errorThreshold } : {}),
    });
    log(`deployment ${deploymentId}: phases ${phases.map((p) => p.batch_size ?? 'rest').join(' / ')} ${o.phases.gapSeconds} s apart, retries ${o.retries}`);
    let dep = await mgmt.deployment(deploymentId);
    let lastLine = 0;
    while (dep.status !== 'finished' && performance.now() - rolloutStart < o.timeoutSeconds * 1000) {
      await sleep(1000);
      // One failed look (a reset connection on a swamped server) is not the rollout's end: the
      // next look tells; the 10,000-device run lost 220 s of rollout to one ECONNRESET here.
      dep = await mgmt.deployment(deploymentId).catch((e: unknown) => {
        log(`deployment status: ${(e as Error).message}`);
        return dep;
      });
      await o.onRollout?.({ status: dep.statistics.status, server });
      if (performance.now() - lastLine > 10_000) {
        lastLine = performance.now();
        const s = dep.statistics.status;
        log(`  ${((performance.now() - rolloutStart) / 1000).toFixed(0)} s: ${Object.entries(s).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ')}`);
      }
    }
    const rolloutSeconds = (performance.now() - rolloutStart) / 1000;
    const serverCpu = server.sample().cpuSeconds - cpuBefore;
    const loadAtEnd = loadavg()[0]!;
    await baseline.stop();

    const reports: GroupReport[] = [];
    for (const r of runners) reports.push(await r.stop());
    runners.length = 0;

    // Every device's final status on the server against the plan (and what the device saw).
    const rows = new Map((await mgmt.deploymentDevices(deploymentId)).map((r) => [r.id, r]));
    const stopped = dep.stop_reason === 'error_threshold';
    const wrong: string[] = [];
    const seen = new Map(reports.flatMap((r) => r.devices).map((d) => [d.index, d]));
    for (let i = 0; i < o.devices; i++) {
      const row = rows.get(deviceIds[i]!);
      const want = expectedFinalStatus(o.seed, i, o.failureRate, o.retries);
      const device = seen.get(i);
      const serverRight = !!row && (row.status === want || (stopped && row.status === 'aborted'));
      // An aborted device may have seen the 409 or never have got the deployment at all.
      const deviceAgrees = row?.status === 'aborted' || device?.reported === row?.status;
      if (!serverRight || !deviceAgrees) wrong.push(`device ${i}: server ${row?.status ?? 'missing'}, planned ${want}, device reported ${device?.reported ?? 'nothing'}`);
    }
    const final: Record<string, number> = {};
    for (const r of rows.values()) final[r.status] = (final[r.status] ?? 0) + 1;

    ownStalls.stop();
    const poll = Latencies.merge(reports.map((r) => r.poll));
    const pollNet = Latencies.merge(reports.map((r) => r.pollNet));
    const statusNet = Latencies.merge(reports.map((r) => r.statusNet));
    const baselineNet = Latencies.merge([baseline.latencies.withoutOwnStalls(ownStalls)]);
    const status = Latencies.merge(reports.map((r) => r.status));
    const download = Latencies.merge(reports.map((r) => r.download));
    const counters: Record<string, number> = {};
    const errors: Record<string, number> = {};
    for (const r of reports) {
      for (const [k, n] of Object.entries(r.counters)) counters[k] = (counters[k] ?? 0) + n;
      for (const [k, n] of r.errors) errors[k] = (errors[k] ?? 0) + n;
    }
    const devicesWall = (performance.now() - devicesStart) / 1000;
    ownLoop.disable();
    const serverLoop = await server.loopDelay(devicesStartWall);
    const simCpuSeconds = reports.reduce((a, r) => a + r.cpuSeconds, 0);
    return {
      store: database ? 'postgres' : 'sqlite',
      serverWorkers: o.serverWorkers ?? 1,
      devices: o.devices,
      workers: o.workers,
      deviceNice: Math.max(...reports.map((r) => r.nice)),
      pollSeconds: o.pollSeconds,
      jitter: o.jitter,
      bootSpreadSeconds,
      pollP50Ms: round(percentile(poll, 50)),
      pollP99Ms: round(percentile(poll, 99)),
      pollNetP50Ms: round(percentile(pollNet, 50)),
      pollNetP99Ms: round(percentile(pollNet, 99)),
      statusNetP50Ms: round(percentile(statusNet, 50)),
      statusNetP99Ms: round(percentile(statusNet, 99)),
      baselineNetP99Ms: round(percentile(baselineNet, 99)),
      simStalledPercent: round((100 * reports.reduce((a, r) => a + r.ownStallMs, 0)) / (1000 * devicesWall * reports.length)),
      baselineP50Ms: round(percentile(Latencies.merge([baseline.latencies.samples]), 50)),
      baselineP99Ms: round(percentile(Latencies.merge([baseline.latencies.samples]), 99)),
      polls: poll.length,
      statusP50Ms: round(percentile(status, 50)),
      statusP99Ms: round(percentile(status, 99)),
      statusWrites: status.length,
      downloadP99Ms: round(percentile(download, 99)),
      bytesDownloaded: counters['bytes downloaded'] ?? 0,
      admitSeconds: round(admitSeconds),
      bootSeconds: round(bootSeconds),
      rolloutSeconds: round(rolloutSeconds),
      rolloutComplete: dep.status === 'finished',
      statusesRight: wrong.length === 0,
      wrongStatuses: wrong.slice(0, 20),
      final,
      stopReason: dep.stop_reason ?? null,
      serverCpuPercent: round((100 * serverCpu) / rolloutSeconds),
      serverRssPeakMb: round(server.peakRssBytes / 1024 ** 2),
      serverLogMb: round(server.logBytes / 1024 ** 2),
      simCpuPercent: round((100 * simCpuSeconds) / devicesWall),
      loadAverage: round(loadAtEnd),
      serverLoopDelayMaxMs: round(serverLoop.maxMs),
      serverLoopStalls: serverLoop.stalls.slice(0, 50),
      simLoopDelayMaxMs: round(Math.max(0, ...reports.map((r) => r.loopDelayMaxMs))),
      simLoopDelayP99Ms: round(Math.max(0, ...reports.map((r) => r.loopDelayP99Ms))),
      orchestratorLoopDelayMaxMs: round(ownLoop.max / 1e6),
      errors,
      counters,
    };
  } finally {
    await Promise.allSettled(runners.map((r) => r.stop()));
    await baseline?.stop();
    mgmt?.close();
    await server.stop();
    if (o.serverLogCopy) copyFileSync(server.logPath, o.serverLogCopy);
    await fresh?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
