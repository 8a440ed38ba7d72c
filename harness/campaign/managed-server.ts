// The server side of the managed campaign: the bundled reference server (server-mock, SQLite) in
// each campaign worker's process, beside the daemon it serves.
//  - prepareManagedServer (the parent, once): a template data folder with the artifacts uploaded,
//    the campaign device preauthorized (its key is put on every board) and one deployment per
//    managed flow. Each worker copies it, so deployment ids, the device id and the link-signing
//    and JWT keys are the same on every worker and a crash state recorded on one is checked on any.
//  - ManagedServer (a worker): that copy served on 127.0.0.1. Its hooks put every status report the
//    server acknowledged into the trace as a mark (`server took <status>`: cuts before and after
//    each acknowledgement), answer the first attempts of a final status with 503 (a busy server at
//    the end of a deployment: the report must be queued and sent again, never dropped), tell the
//    daemon driver when the device polled and got nothing (idle), and ask the daemon for an update
//    check as soon as its inventory arrived (SIGUSR1, as `flipside check-update`) instead of after
//    UpdatePollIntervalSeconds.
import { cpSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../server-mock/app.js';
import { ADMIN, createDeployment, login, startScratchServer, uploadArtifact } from '../../server-mock/admin-client.js';
import { createDeviceKey, KEY_FILE } from '../../client/identity/device-key.js';
import { traceOp } from '../../client/test-hooks.js';
import { VERSIONS } from './sim.js';

export const CAMPAIGN_IDENTITY = { mac: '02:00:00:ca:00:01', serial: 'flipside-campaign' };

/** Final statuses a device reports; the server answers the first FINAL_REFUSALS attempts of each with 503. */
const FINAL = new Set(['success', 'failure', 'already-installed']);
export const FINAL_REFUSALS = 3;

export interface ManagedSetup {
  /** Server data folder to copy (SQLite, blobs, secrets). */
  template: string;
  /** The device key (PEM) every managed board stores. */
  keyPem: string;
  deviceId: string;
  /** Deployment per managed flow, and the artifact name a retry deploys. */
  deployments: Record<string, string>;
  retryArtifact: string;
}

/** The parent's one-time setup: artifacts uploaded, device preauthorized, a deployment per flow. */
export async function prepareManagedServer(work: string, flows: { name: string; artifact: string; artifactName: string }[]): Promise<ManagedSetup> {
  const template = join(work, 'server-template');
  const s = await startScratchServer({ dataDir: template });
  try {
    const uploaded = new Set<string>();
    for (const f of flows) {
      if (uploaded.has(f.artifact)) continue;
      uploaded.add(f.artifact);
      const r = await uploadArtifact(s, readFileSync(f.artifact));
      if (r.statusCode !== 201) throw new Error(`managed campaign: uploading ${f.artifact} failed: ${r.statusCode} ${r.body}`);
    }
    const key = await createDeviceKey(join(work, 'device-key'), 'ed25519');
    const pre = await s.app.inject({ method: 'POST', url: '/api/management/v2/devauth/devices', headers: s.auth, payload: { identity_data: CAMPAIGN_IDENTITY, pubkey: key.publicKeyPem } });
    if (pre.statusCode !== 201) throw new Error(`managed campaign: preauthorizing the device failed: ${pre.statusCode} ${pre.body}`);
    const deviceId = String(pre.headers.location).split('/').pop()!;
    // Accepted outright (a preauthorized device is accepted at its first auth request; a deployment wants it accepted now).
    const dev = (await s.app.inject({ method: 'GET', url: `/api/management/v2/devauth/devices/${deviceId}`, headers: s.auth })).json<{ auth_sets: { id: string }[] }>();
    for (const a of dev.auth_sets) {
      const r = await s.app.inject({ method: 'PUT', url: `/api/management/v2/devauth/devices/${deviceId}/auth/${a.id}/status`, headers: s.auth, payload: { status: 'accepted' } });
      if (r.statusCode !== 204) throw new Error(`managed campaign: accepting the device failed: ${r.statusCode} ${r.body}`);
    }
    const deployments: Record<string, string> = {};
    for (const f of flows) deployments[f.name] = await createDeployment(s, { name: f.name, artifact_name: f.artifactName, devices: [deviceId] });
    return { template, keyPem: readFileSync(join(work, 'device-key', KEY_FILE), 'utf8'), deviceId, deployments, retryArtifact: VERSIONS.next };
  } finally {
    await s.close();
  }
}

export interface Received {
  status: string;
  code: number;
}

export class ManagedServer {
  /** Status reports of the device since the last reset, with the answer's code. */
  received: Received[] = [];
  /** Every request of the device since the last reset (`METHOD path → code`), for the transcript of a failure. */
  requests: string[] = [];
  /** Called when the device polled for a deployment and got none. */
  onIdle: (() => void) | null = null;
  /** Refusals left per status report (the 503 fault). */
  readonly refusalsLeft = new Map<string, number>();
  private adminAuth: { authorization: string } | null = null;

  private constructor(
    private app: FastifyInstance,
    readonly url: string,
    readonly setup: ManagedSetup,
    private readonly dir: string,
  ) {}

  private static async open(setup: ManagedSetup, dir: string, port: number, current: () => ManagedServer | null): Promise<FastifyInstance> {
    rmSync(dir, { recursive: true, force: true });
    cpSync(setup.template, dir, { recursive: true });
    const app = await buildServer({ dataDir: dir, extend: (app) => hooks(app, current) });
    await app.listen({ port, host: '127.0.0.1' });
    return app;
  }

  static async start(setup: ManagedSetup, dir: string): Promise<ManagedServer> {
    let self: ManagedServer | null = null;
    const app = await ManagedServer.open(setup, dir, 0, () => self);
    self = new ManagedServer(app, `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, setup, dir);
    return self;
  }
  private async auth(): Promise<{ authorization: string }> {
    this.adminAuth ??= { authorization: `Bearer ${await login(this.app, ADMIN.email, ADMIN.password)}` };
    return this.adminAuth;
  }

  /**
   * The server as it was at a cut of `flow`: a fresh copy of the template (on the same port), its
   * deployment at the last status the server had acknowledged (pending when none), the other
   * flows' deployments closed for this device, the refusals of final statuses armed again.
   */
  async reset(flow: string, status: string): Promise<void> {
    await this.app.close();
    this.adminAuth = null;
    const port = new URL(this.url).port;
    this.app = await ManagedServer.open(this.setup, this.dir, Number(port), () => this);
    const store = this.app.flipside.store;
    for (const [name, id] of Object.entries(this.setup.deployments)) {
      if (name !== flow) {
        await store.setDeviceDeploymentStatus(id, this.setup.deviceId, 'aborted', null);
        continue;
      }
      if (status !== 'pending') await store.setDeviceDeploymentStatus(id, this.setup.deviceId, status, null, { attempts: status === 'pending' ? 0 : 1 });
    }
    this.received = [];
    this.requests = [];
    this.refusalsLeft.clear();
  }

  /** The device's status in a deployment, as the server stores it. */
  async statusIn(deployment: string): Promise<string | null> {
    return (await this.app.flipside.store.deploymentDevice(deployment, this.setup.deviceId))?.status ?? null;
  }

  /** A new deployment of the good artifact to the device (the retry after a failed update). */
  async deployRetry(): Promise<string> {
    const id = await createDeployment({ app: this.app, auth: await this.auth() }, { name: 'campaign retry', artifact_name: this.setup.retryArtifact, devices: [this.setup.deviceId] });
    return id;
  }

  async close(): Promise<void> {
    await this.app.close();
  }
}

/** The status a device's status report carries (null: not a status report). */
function statusOf(url: string, body: unknown): string | null {
  if (!/\/deployments\/device\/deployments\/[^/]+\/status$/.test(url)) return null;
  const s = (body as { status?: unknown } | undefined)?.status;
  return typeof s === 'string' ? s : null;
}

/** The campaign's hooks on the server (see the head of this file); `self` is null until it listens. */
function hooks(app: FastifyInstance, current: () => ManagedServer | null): void {
  app.addHook('preHandler', async (req, reply) => {
    const self = current();
    const status = statusOf(req.url, req.body);
    if (!status || !FINAL.has(status) || !self) return;
    // A final status the server already holds is a repeat (the device's queue after a cut): answered as usual.
    const deployment = /deployments\/([^/]+)\/status$/.exec(req.url)?.[1];
    const now = deployment ? await self.statusIn(deployment) : null;
    if (now && FINAL.has(now)) return;
    const key = `${req.url}|${status}`;
    const left = self.refusalsLeft.get(key) ?? FINAL_REFUSALS;
    if (left > 0) {
      self.refusalsLeft.set(key, left - 1);
      return reply.code(503).send({ error: 'campaign: the server is busy (a final status is refused a few times)' });
    }
  });
  app.addHook('onSend', async (req, reply, payload) => {
    const self = current();
    if (!self) return payload;
    self.requests.push(`${req.method} ${req.url.replace(/\?.*/, '')}${statusOf(req.url, req.body) ? ` ${statusOf(req.url, req.body)}` : ''} → ${reply.statusCode}`);
    const status = statusOf(req.url, req.body);
    if (status) {
      self.received.push({ status, code: reply.statusCode });
      if (reply.statusCode < 300) traceOp({ op: 'mark', point: `server took ${status}` });
    } else if (/\/deployments\/device\/deployments\/next/.test(req.url) && reply.statusCode === 204) {
      const idle = self.onIdle;
      if (idle) setImmediate(idle);
    } else if (req.url.startsWith('/api/devices/v1/inventory/device/attributes') && reply.statusCode < 300) {
      setImmediate(() => process.emit('SIGUSR1', 'SIGUSR1'));
    }
    return payload;
  });
}
