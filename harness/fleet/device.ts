// One simulated device: the managed-mode client's own API code (client/api: signed auth, the
// v2 → v1 update check, status reports with retries, log upload) driven by a small loop instead of
// the full daemon and installers. It boots, authenticates, sends its inventory, polls at the
// configured interval with jitter, and for an update walks the status sequence a real Mender
// client sends: downloading (a full GET of the artifact through its signed link, bytes counted),
// installing, then rebooting and success — or failure, while installing or after the reboot,
// as the seeded plan says. A reboot is a new process: the token is forgotten and the device
// authenticates again. Each device keeps its connection alive between requests (Go's
// http.Transport does; the server closes it when idle) and retries what failed on the network
// as a real client does (backoff.ts): a failed step never ends the device's loop, and an update
// cut short by the network resumes with the same planned outcome at the next poll.
import { ApiClient } from '../../client/api/client.js';
import { checkUpdate, reportStatus, uploadLog, type UpdateInfo } from '../../client/api/deployments.js';
import { DeploymentAborted, ApiError, NetworkError } from '../../client/api/errors.js';
import { httpRequest } from '../../client/api/http.js';
import { inventoryBody, INVENTORY_PATH } from '../../client/inventory/send.js';
import { Agent } from 'node:https';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { DeviceKey } from '../../client/identity/device-key.js';
import { attemptOutcome, type AttemptOutcome } from './plan.js';
import { pollDelayMs, retryDelayMs } from './backoff.js';
import type { Latencies } from './stats.js';

export interface DeviceTiming {
  pollSeconds: number;
  /** Each wait is pollSeconds × a uniform factor in [1 - jitter, 1 + jitter]. */
  jitter: number;
  installSeconds: number;
  rebootSeconds: number;
}

export interface DeviceMetrics {
  poll: Latencies;
  status: Latencies;
  download: Latencies;
  counters: Record<string, number>;
  errors: Map<string, number>;
}

export interface DeviceResult {
  index: number;
  deviceId: string | null;
  attempts: number;
  /** The last final status this device reported and the server took (or 'aborted' on a 409). */
  reported: string | null;
  bytes: number;
}

export interface FleetDeviceOptions {
  index: number;
  seed: number;
  serverUrl: string;
  /** Trusts the server's CA; one per process, shared by its devices. */
  tls: SecureContext;
  key: DeviceKey;
  identity: Record<string, string>;
  deviceType: string;
  artifactName: string;
  failureRate: number;
  timing: DeviceTiming;
  metrics: DeviceMetrics;
  random: () => number;
  /** Called when the server has acknowledged each status report (in-process devices only). */
  onStatus?: (index: number, status: string) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Node's TLS client builds the server's certificate with its whole issuer chain as JS objects
 * after every full handshake (~160 µs of CPU here, a quarter of a device process's busy time at
 * 10,000 devices) only to check the server's name, which reads the leaf's fields alone; OpenSSL
 * has already verified the chain by then. Handing it the leaf checks the same things and sends
 * the same bytes, and leaves more of the shared box to the server being measured.
 */
export class FleetAgent extends Agent {
  override createConnection(...args: Parameters<Agent['createConnection']>): ReturnType<Agent['createConnection']> {
    const socket = super.createConnection(...args);
    if (socket instanceof TLSSocket) socket.getPeerCertificate = leafCertificate as TLSSocket['getPeerCertificate'];
    return socket;
  }
}

function leafCertificate(this: TLSSocket): ReturnType<TLSSocket['getPeerCertificate']> {
  return TLSSocket.prototype.getPeerCertificate.call(this, false);
}

export class FleetDevice {
  private readonly api: ApiClient;
  private artifactName: string;
  private attempts = 0;
  private reported: string | null = null;
  private bytes = 0;
  private stopping = false;
  private wake: (() => void) | null = null;
  private inventoryDue = true;
  /** The attempt in progress: one the network cut short resumes with its planned outcome. */
  private current: { deploymentId: string; outcome: AttemptOutcome } | null = null;
  // One connection, kept open between requests. No TLS session cache: Mender's Go client sets
  // none, so every new connection is a full handshake for the server.
  private readonly agent = new FleetAgent({ keepAlive: true, maxSockets: 1, maxCachedSessions: 0 });

  constructor(private readonly o: FleetDeviceOptions) {
    this.artifactName = o.artifactName;
    const identity = JSON.stringify(o.identity);
    this.api = new ApiClient({ servers: [o.serverUrl], key: o.key, identity: async () => identity, secureContext: o.tls, agent: this.agent, timeoutMs: 60_000 });
  }

  result(): DeviceResult {
    const token = this.api.token;
    const deviceId = token ? (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sub: string }).sub : null;
    return { index: this.o.index, deviceId, attempts: this.attempts, reported: this.reported, bytes: this.bytes };
  }

  /** Ends the loop after the current step (an update in progress runs to its end). */
  stop(): void {
    this.stopping = true;
    this.wake?.();
  }

  /** Boots after startDelayMs, then polls until stop(); a failed step is retried sooner (backoff.ts). */
  async run(startDelayMs: number): Promise<void> {
    await this.idle(startDelayMs);
    let failures = 0;
    while (!this.stopping) {
      let ok = !this.inventoryDue || (await this.step('inventory', () => this.sendInventory())) !== null;
      if (ok) {
        const update = await this.step('poll', () => this.poll());
        ok = update !== null;
        if (update) ok = (await this.step('update', () => this.install(update))) !== null;
      }
      failures = ok ? 0 : failures + 1;
      if (!ok) this.count('retries after a failed step');
      const { pollSeconds, jitter } = this.o.timing;
      await this.idle(ok ? pollDelayMs(pollSeconds, jitter, this.o.random) : retryDelayMs(failures, pollSeconds, this.o.random));
    }
    this.agent.destroy();
  }

  private async idle(ms: number): Promise<void> {
    if (this.stopping) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
    this.wake = null;
  }

  private count(name: string, n = 1): void {
    this.o.metrics.counters[name] = (this.o.metrics.counters[name] ?? 0) + n;
  }

  /** Runs one step; an error is counted by kind and the loop goes on (as the daemon retries). */
  private async step<T>(what: string, fn: () => Promise<T>): Promise<T | null> {
    try {
      return await fn();
    } catch (e) {
      // The network error's code too: a timeout (a slow server) and a reset (a closed connection) have different causes.
      const kind = `${what}: ${(e as Error).name}${e instanceof ApiError ? ` ${e.status}` : ''}${e instanceof NetworkError ? ` ${e.code}` : ''}`;
      this.o.metrics.errors.set(kind, (this.o.metrics.errors.get(kind) ?? 0) + 1);
      return null;
    }
  }

  private async sendInventory(): Promise<void> {
    const json = inventoryBody([
      { name: 'device_type', value: this.o.deviceType },
      { name: 'artifact_name', value: this.artifactName },
      { name: 'kernel', value: 'Linux 6.1.0 aarch64' },
      { name: 'mac_eth0', value: this.o.identity.mac! },
    ]);
    const res = await this.api.request({ method: 'PUT', path: INVENTORY_PATH, json });
    if (res.status !== 200 && res.status !== 204) throw new ApiError('sending the inventory', res);
    this.inventoryDue = false;
    this.count('inventory');
  }

  /** The update offered, or false for none (null is step()'s "failed"). */
  private async poll(): Promise<UpdateInfo | false> {
    const t0 = performance.now();
    const update = await checkUpdate(this.api, { artifact_name: this.artifactName, device_type: this.o.deviceType });
    this.o.metrics.poll.since(t0);
    this.count('polls');
    return update ?? false;
  }

  private async status(id: string, status: Parameters<typeof reportStatus>[2]): Promise<void> {
    const t0 = performance.now();
    // The retry sleep is the one place a transient failure shows: count it there.
    await reportStatus(this.api, id, status, undefined, { sleep: (ms) => (this.count('status retries'), sleep(ms)) });
    this.o.metrics.status.since(t0);
    this.count('status writes');
    this.o.onStatus?.(this.o.index, status);
  }

  private async download(update: UpdateInfo): Promise<void> {
    const t0 = performance.now();
    // A signed link: no Authorization header, as the client downloads.
    const res = await httpRequest({ method: 'GET', url: update.uri, secureContext: this.o.tls, agent: this.agent, timeoutMs: 120_000, maxBodyBytes: 1024 ** 3 });
    if (res.status !== 200) throw new ApiError('downloading the artifact', res);
    this.o.metrics.download.since(t0);
    this.bytes += res.body.length;
    this.count('bytes downloaded', res.body.length);
  }

  private async install(update: UpdateInfo): Promise<true> {
    if (this.current?.deploymentId !== update.id) {
      this.current = { deploymentId: update.id, outcome: attemptOutcome(this.o.seed, this.o.index, this.attempts, this.o.failureRate) };
      this.attempts++;
    } else this.count('attempts resumed');
    const { outcome } = this.current;
    try {
      await this.status(update.id, 'downloading');
      await this.download(update);
      await this.status(update.id, 'installing');
      await sleep(this.o.timing.installSeconds * 1000 * (0.5 + this.o.random()));
      if (outcome === 'fail-install') return await this.fail(update, 'installing the update failed (simulated)');
      await this.status(update.id, 'rebooting');
      await sleep(this.o.timing.rebootSeconds * 1000 * (0.5 + this.o.random()));
      // A new boot, a new client process: a new connection, and authenticate again.
      this.api.invalidate();
      this.agent.destroy();
      if (outcome === 'fail-commit') return await this.fail(update, 'the new image did not commit; rolled back (simulated)');
      await this.status(update.id, 'success');
      this.finish('success');
      this.artifactName = update.artifactName;
      this.inventoryDue = true; // sent by the loop, retried there if it fails
    } catch (e) {
      if (!(e instanceof DeploymentAborted)) throw e;
      this.finish('aborted');
      this.count('aborted');
    }
    return true;
  }

  private finish(status: string): void {
    this.reported = status;
    this.current = null;
  }

  private async fail(update: UpdateInfo, message: string): Promise<true> {
    await uploadLog(this.api, update.id, [{ timestamp: new Date(), level: 'error', message }]);
    await this.status(update.id, 'failure');
    this.finish('failure');
    return true;
  }
}
