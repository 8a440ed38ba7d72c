// The fleet run's defaults, apart from fleet.ts so the CLI's --help shows them without loading
// the simulator.
import type { FleetOptions } from './fleet.js';

export const FLEET_DEFAULTS: FleetOptions = {
  devices: 1000,
  workers: 0,
  pollSeconds: 60,
  jitter: 0.5,
  failureRate: 0.02,
  retries: 1,
  errorThreshold: 10,
  phases: { batchPercents: [10], gapSeconds: 30 },
  artifactBytes: 32 * 1024,
  installSeconds: 2,
  rebootSeconds: 3,
  timeoutSeconds: 900,
  seed: 1,
  admitConcurrency: 16,
  deviceNice: 10,
};
