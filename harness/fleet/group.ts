// A slice of the fleet run in one process: devices [from, to) with their keys derived from the
// seed, booted at random times over startSpreadSeconds, and a report of what they measured.
// Runs in the orchestrator's process or in a worker process (worker.ts); the report is plain
// data either way.
import { appendFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { createSecureContext } from 'node:tls';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createRng } from '../faults/prng.js';
import { FleetDevice, type DeviceMetrics, type DeviceResult, type DeviceTiming } from './device.js';
import { fleetDeviceKey, fleetIdentity } from './keys.js';
import { Latencies } from './stats.js';
import { OwnStalls } from './own-stalls.js';

export interface GroupSpec {
  seed: number;
  runId: string;
  from: number;
  to: number;
  serverUrl: string;
  caPem: string;
  deviceType: string;
  artifactName: string;
  failureRate: number;
  timing: DeviceTiming;
  startSpreadSeconds: number;
  /** A diagnostic: requests over 30 ms are appended here as "epoch-ms-at-start ms net-ms kind" lines. */
  slowSamplesFile?: string;
}

export interface GroupReport {
  poll: number[];
  status: number[];
  /** The same samples less the time this process's own loop was stalled while each ran (own-stalls.ts). */
  pollNet: number[];
  statusNet: number[];
  /** Milliseconds this process's loop was stalled (over 2 ms at a time) while its devices ran. */
  ownStallMs: number;
  download: number[];
  counters: Record<string, number>;
  errors: Array<[string, number]>;
  devices: DeviceResult[];
  /** CPU seconds this process used (user + system) while its devices ran. */
  cpuSeconds: number;
  /**
   * This process's event-loop delay while its devices ran: a device's request latency includes
   * it, so a stall here is the generator's own tail, not the server's.
   */
  loopDelayMaxMs: number;
  loopDelayP99Ms: number;
  /** The nice value this process ran its devices at (FleetOptions.deviceNice), as the kernel has it. */
  nice: number;
}

export class DeviceGroup {
  private readonly devices: FleetDevice[] = [];
  private readonly runs: Promise<void>[] = [];
  private readonly metrics: DeviceMetrics = { poll: new Latencies(), status: new Latencies(), download: new Latencies(), counters: {}, errors: new Map() };
  private cpuAtStart = process.cpuUsage();
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });
  private readonly stalls = new OwnStalls();

  constructor(private readonly spec: GroupSpec, onStatus?: (index: number, status: string) => void) {
    const rng = createRng(spec.seed ^ 0x5eed ^ spec.from);
    const tls = createSecureContext({ ca: spec.caPem });
    for (let i = spec.from; i < spec.to; i++) {
      this.devices.push(
        new FleetDevice({
          index: i,
          seed: spec.seed,
          serverUrl: spec.serverUrl,
          tls,
          key: fleetDeviceKey(spec.seed, i),
          identity: fleetIdentity(spec.runId, i),
          deviceType: spec.deviceType,
          artifactName: spec.artifactName,
          failureRate: spec.failureRate,
          timing: spec.timing,
          metrics: this.metrics,
          random: rng.next,
          onStatus,
        }),
      );
    }
  }

  start(): void {
    this.cpuAtStart = process.cpuUsage();
    this.loopDelay.enable();
    this.stalls.start();
    const rng = createRng(this.spec.seed ^ 0xb007 ^ this.spec.from);
    for (const d of this.devices) this.runs.push(d.run(rng.next() * this.spec.startSpreadSeconds * 1000));
  }

  /** Stops every device (updates in progress finish) and reports. */
  async stop(): Promise<GroupReport> {
    for (const d of this.devices) d.stop();
    await Promise.all(this.runs);
    const cpu = process.cpuUsage(this.cpuAtStart);
    this.loopDelay.disable();
    this.stalls.stop();
    if (this.spec.slowSamplesFile) {
      appendFileSync(this.spec.slowSamplesFile, [...this.metrics.poll.slowLines(this.stalls, 30, 'poll'), ...this.metrics.status.slowLines(this.stalls, 30, 'status')].join(''));
    }
    return {
      poll: this.metrics.poll.samples,
      status: this.metrics.status.samples,
      pollNet: this.metrics.poll.withoutOwnStalls(this.stalls),
      statusNet: this.metrics.status.withoutOwnStalls(this.stalls),
      ownStallMs: this.stalls.totalMs,
      download: this.metrics.download.samples,
      counters: this.metrics.counters,
      errors: [...this.metrics.errors],
      devices: this.devices.map((d) => d.result()),
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      loopDelayMaxMs: this.loopDelay.count ? this.loopDelay.max / 1e6 : 0,
      loopDelayP99Ms: this.loopDelay.count ? this.loopDelay.percentile(99) / 1e6 : 0,
      nice: getPriority(),
    };
  }
}
