// The bundled reference server as a managed-mode scenario sees it: a fresh server (its own SQLite
// folder) per scenario, reached by the device only through a FaultProxy (network faults, bytes
// sent for byte triggers), driven through the management API: accept the device, upload, deploy,
// and every per-device deployment status put on the timeline as a server event (and offered to
// the fault scheduler as a 'server-status' source).
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { acceptDevice, createDeployment, startScratchServer, uploadArtifact, type ScratchServer } from '../../server-mock/admin-client.js';
import { FaultProxy } from '../network/fault-proxy.js';
import type { Timeline } from '../run/timeline.js';
import type { ByteCounter, StatusSource } from '../faults/sources.js';

/** Mender's final per-device statuses. */
export const FINAL_STATUSES = ['success', 'failure', 'aborted', 'noartifact', 'already-installed', 'decommissioned'];

interface DeviceRow {
  id: string;
  status: string;
}

export class LabServer {
  readonly proxy: FaultProxy;
  private readonly statusListeners = new Set<(s: string) => void>();
  private watchers = new Set<NodeJS.Timeout>();
  /** Every status the server recorded for the watched deployment, in order (deduplicated runs). */
  readonly statuses: string[] = [];
  /** The deployments this run created (the invariants check each one's final status). */
  readonly deployments: { id: string; device: string; artifactName: string }[] = [];

  private constructor(
    private readonly server: ScratchServer,
    proxy: FaultProxy,
    private readonly timeline: Timeline,
  ) {
    this.proxy = proxy;
  }

  static async start(timeline: Timeline, opts: { seed?: number; listen?: { host: string; port: number } } = {}): Promise<LabServer> {
    const server = await startScratchServer();
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    const port = (server.app.server.address() as AddressInfo).port;
    const proxy = new FaultProxy({
      target: { host: '127.0.0.1', port },
      name: 'device-link',
      cutGraceMs: 500,
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
      ...(opts.listen ? { listen: opts.listen } : {}),
    });
    const at = await proxy.listen();
    const lab = new LabServer(server, proxy, timeline);
    timeline.append({ source: 'server', kind: 'start', text: `reference server on 127.0.0.1:${port}, the device reaches it through the fault proxy on ${at.host}:${at.port}` });
    return lab;
  }

  /** Where the board's network must send the device's server traffic. */
  get devicePort(): number {
    return this.proxy.port;
  }

  get bytesSent(): ByteCounter {
    return { onBytes: (l) => this.proxy.onBytes(l, 'down') };
  }

  get statusSource(): StatusSource {
    return {
      onStatus: (l) => {
        this.statusListeners.add(l);
        return () => this.statusListeners.delete(l);
      },
    };
  }

  private event(kind: string, text: string, data?: unknown): void {
    this.timeline.append({ source: 'server', kind, text, ...(data !== undefined ? { data } : {}) });
  }

  /** Waits for the device to ask for authentication, then accepts it (the operator's click). */
  async acceptDevice(identity: Record<string, string> | null, timeoutMs: number): Promise<string> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const ids = identity ? [identity] : await this.pendingIdentities();
      for (const id of ids) {
        try {
          const dev = await acceptDevice(this.server, id);
          this.event('accepted', `device ${dev} accepted (${JSON.stringify(id)})`);
          return dev;
        } catch {
          /* not asked yet */
        }
      }
      if (Date.now() > until) throw new Error(`no device asked the server for authentication within ${Math.round(timeoutMs / 1000)} s`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  private async pendingIdentities(): Promise<Record<string, string>[]> {
    const r = await this.server.app.inject({ method: 'GET', url: '/api/management/v2/devauth/devices?per_page=500', headers: this.server.auth });
    return r.json<Array<{ identity_data: Record<string, string>; auth_sets: Array<{ status: string }> }>>()
      .filter((d) => d.auth_sets.some((a) => a.status === 'pending'))
      .map((d) => d.identity_data);
  }

  async upload(path: string): Promise<void> {
    const r = await uploadArtifact(this.server, await readFile(path));
    if (r.statusCode !== 201) throw new Error(`upload of ${path} refused: ${r.statusCode} ${r.body}`);
    this.event('upload', `artifact uploaded: ${path.split('/').pop()}`);
  }

  /** Deploys `artifactName` to the device and starts watching its status. */
  async deploy(artifactName: string, deviceId: string): Promise<string> {
    const id = await createDeployment(this.server, { name: `lab ${artifactName}`, artifact_name: artifactName, devices: [deviceId] });
    this.event('deployment', `deployment ${id}: ${artifactName} → ${deviceId}`);
    this.deployments.push({ id, device: deviceId, artifactName });
    this.watch(id, deviceId);
    return id;
  }

  private async deviceStatus(deployment: string, deviceId: string): Promise<string | null> {
    const r = await this.server.app.inject({ method: 'GET', url: `/api/management/v1/deployments/deployments/${deployment}/devices`, headers: this.server.auth });
    if (r.statusCode !== 200) return null;
    return r.json<DeviceRow[]>().find((d) => d.id === deviceId)?.status ?? null;
  }

  private watch(deployment: string, deviceId: string): void {
    let last: string | null = null;
    const timer = setInterval(() => {
      void this.deviceStatus(deployment, deviceId).then((s) => {
        if (!s || s === last) return;
        last = s;
        this.statuses.push(s);
        this.event('status', `device status: ${s}`, { deployment, device: deviceId, status: s });
        this.statusListeners.forEach((l) => l(s));
      }, () => undefined);
    }, 250);
    this.watchers.add(timer);
  }

  /** The final status the server recorded, once there is one. */
  async waitFinal(deployment: string, deviceId: string, timeoutMs: number): Promise<string> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.deviceStatus(deployment, deviceId);
      if (s && FINAL_STATUSES.includes(s)) return s;
      if (Date.now() > until) throw new Error(`the server has no final status for the device after ${Math.round(timeoutMs / 1000)} s (last: ${s ?? 'none'})`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** The device's current inventory artifact_name as the server last heard it. */
  async reportedArtifact(deviceId: string): Promise<string | null> {
    const r = await this.server.app.inject({ method: 'GET', url: `/api/management/v1/inventory/devices/${deviceId}`, headers: this.server.auth });
    if (r.statusCode !== 200) return null;
    return r.json<{ attributes?: Array<{ name: string; value: unknown }> }>().attributes?.find((a) => a.name === 'artifact_name')?.value as string | null ?? null;
  }

  async close(): Promise<void> {
    for (const t of this.watchers) clearInterval(t);
    this.watchers.clear();
    await this.proxy.close();
    await this.server.close();
  }
}
