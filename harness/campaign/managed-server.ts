// The server side of the managed campaign: the bundled reference server (server-mock, SQLite) in
// each campaign worker's process, beside the daemon it serves.
//  - prepareManagedServer (the parent, once): a template data folder with the artifacts uploaded,
//    the campaign device preauthorized (its key is put on every board) and one deployment per
//    managed flow. Each worker copies it, so deployment ids, the device id and the link-signing
//    and JWT keys are the same on every worker and a crash state recorded on one is checked on any.
//  - ManagedServer (a worker): that copy served on 127.0.0.1, one server for all the worker's
//    crash states: reset() puts the template's rows back in place (one SQLite transaction from a
//    pristine copy attached beside it) instead of building a new server (1.5-2.5 s of Fastify
//    plugin and schema set-up per crash state, most of a managed check). Its hooks put every status report the
//    server acknowledged into the trace as a mark (`server took <status>`: cuts before and after
//    each acknowledgement), answer the first attempts of a final status with 503 (a busy server at
//    the end of a deployment: the report must be queued and sent again, never dropped), tell the
//    daemon driver when the device polled and got nothing (idle), and ask the daemon for an update
//    check as soon as its inventory arrived (SIGUSR1, as `flipside check-update`) instead of after
//    UpdatePollIntervalSeconds.
import { cpSync, readFileSync, rmSync } from 'node:fs';
import type Database from 'better-sqlite3';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../server-mock/app.js';
import { SqliteStore } from '../../server-mock/store/api.js';
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
  // SQLite even when the tests' PostgreSQL is set: the workers copy this folder and reset its file.
  const s = await startScratchServer({ dataDir: template }, { sqlite: true });
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
    private restore: TemplateRestore,
    private readonly dir: string,
    private readonly restartEach: boolean,
  ) {}

  /** The server on a fresh copy of the template, and a pristine copy it never writes (the rows reset() puts back). */
  private static async open(setup: ManagedSetup, dir: string, port: number, current: () => ManagedServer | null): Promise<{ app: FastifyInstance; restore: TemplateRestore }> {
    for (const d of [dir, `${dir}.pristine`]) {
      rmSync(d, { recursive: true, force: true });
      cpSync(setup.template, d, { recursive: true });
    }
    const app = await buildServer({ dataDir: dir, extend: (app) => hooks(app, current) });
    await app.listen({ port, host: '127.0.0.1' });
    const store = app.flipside.store;
    if (!(store instanceof SqliteStore)) throw new Error('managed campaign: the server must run on SQLite');
    return { app, restore: templateRestore(store, join(`${dir}.pristine`, 'flipside.db')) };
  }

  /** `restartEach`: every reset builds a new server instead (the bench's baseline: how managed checks ran before). */
  static async start(setup: ManagedSetup, dir: string, o: { restartEach?: boolean } = {}): Promise<ManagedServer> {
    let self: ManagedServer | null = null;
    const { app, restore } = await ManagedServer.open(setup, dir, 0, () => self);
    self = new ManagedServer(app, `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, setup, restore, dir, o.restartEach === true);
    return self;
  }

  private async auth(): Promise<{ authorization: string }> {
    // The admin's token outlives a reset: the template holds the same user, keys and no revocation.
    this.adminAuth ??= { authorization: `Bearer ${await login(this.app, ADMIN.email, ADMIN.password)}` };
    return this.adminAuth;
  }

  /**
   * The server as it was at a cut of `flow`: the template's rows (as a fresh copy would hold them),
   * its deployment at the last status the server had acknowledged (pending when none), the other
   * flows' deployments closed for this device, the refusals of final statuses armed again.
   */
  async reset(flow: string, status: string): Promise<void> {
    if (this.restartEach) {
      await this.app.close();
      this.adminAuth = null;
      ({ app: this.app, restore: this.restore } = await ManagedServer.open(this.setup, this.dir, Number(new URL(this.url).port), () => this));
    } else {
      // Download numbers the server holds in memory go to their rows first (and leave memory), so
      // the restore below replaces them too.
      await this.app.flipside.downloads.flush();
      this.restore();
      await this.app.flipside.store.durable();
    }
    const store = this.app.flipside.store;
    for (const [name, id] of Object.entries(this.setup.deployments)) {
      if (name !== flow) {
        await store.setDeviceDeploymentStatus(id, this.setup.deviceId, 'aborted', null);
        continue;
      }
      if (status !== 'pending') await store.setDeviceDeploymentStatus(id, this.setup.deviceId, status, null, { attempts: 1 });
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
    rmSync(`${this.dir}.pristine`, { recursive: true, force: true });
  }
}

/** Puts every row of the store back to the pristine database's, in one transaction. */
type TemplateRestore = () => void;

/**
 * The restore of a SQLite store from a pristine copy of its database, attached to its connection.
 * Every table is emptied and refilled; a trigger's rows (deployment_device_events, written when
 * deployment_devices rows go in) are refilled after the tables whose triggers write them, and
 * AUTOINCREMENT counters come back too, so the store holds exactly what the copy holds. Foreign
 * keys are checked at the commit (deferred), as the rows go in table by table.
 */
export function templateRestore(store: SqliteStore, pristineDb: string): TemplateRestore {
  const db: Database.Database = store.sync.db;
  // ATTACH cannot run inside a transaction: the store's open group (if any) commits first.
  store.sync.commitGroup();
  db.prepare('ATTACH DATABASE ? AS pristine').run(pristineDb);
  const names = (schema: string, type: string) => (db.prepare(`SELECT name, sql FROM ${schema}.sqlite_master WHERE type = ?`).all(type) as { name: string; sql: string }[]);
  const tables = names('pristine', 'table').map((t) => t.name).filter((n) => !n.startsWith('sqlite_'));
  const written = new Set(names('main', 'trigger').flatMap((t) => [...t.sql.matchAll(/INSERT\s+INTO\s+(\w+)/gi)].map((m) => m[1]!)));
  const order = [...tables.filter((t) => !written.has(t)), ...tables.filter((t) => written.has(t))];
  const q = (t: string) => `"${t.replace(/"/g, '""')}"`;
  const empty = tables.map((t) => db.prepare(`DELETE FROM main.${q(t)}`));
  const refill = order.flatMap((t) => [...(written.has(t) ? [db.prepare(`DELETE FROM main.${q(t)}`)] : []), db.prepare(`INSERT INTO main.${q(t)} SELECT * FROM pristine.${q(t)}`)]);
  const hasSeq = ['main', 'pristine'].every((s) => names(s, 'table').some((t) => t.name === 'sqlite_sequence'));
  const seq = hasSeq ? [db.prepare('DELETE FROM main.sqlite_sequence'), db.prepare('INSERT INTO main.sqlite_sequence SELECT * FROM pristine.sqlite_sequence')] : [];
  return () =>
    store.sync.tx(() => {
      db.pragma('defer_foreign_keys = ON');
      for (const st of [...empty, ...refill, ...seq]) st.run();
    });
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
