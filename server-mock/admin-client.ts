// The admin calls made against a reference server in the same process, through Fastify's inject
// (no sockets): a scratch server with an admin logged in, artifact upload, device acceptance,
// deployment creation. The lab (harness/server/lab-server.ts) drives its per-scenario server with
// these; the server's tests reuse them through testing/fixtures.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { buildServer, type BuildServerOptions } from './app.js';
import { createUser } from './management/useradm.js';

/** The admin a scratch server is created with. */
export const ADMIN = { email: 'admin@example.com', password: 'correct-horse-battery' };

/** A server instance and the admin's Authorization header. */
export interface AdminSession {
  app: FastifyInstance;
  /** Authorization header for the admin. */
  auth: { authorization: string };
}

export interface ScratchServer extends AdminSession {
  dataDir: string;
  adminToken: string;
  /** Closes the server; removes its data folder when it made one. */
  close(): Promise<void>;
}

/** A server on a fresh data folder (unless opts.dataDir names one) with ADMIN created and logged in. */
// With FLIPSIDE_TEST_DATABASE_URL set (a PostgreSQL the tests may use), each scratch server gets
// a fresh schema there instead of SQLite, dropped when it closes: the same tests on both stores.
// `sqlite: true` keeps SQLite whatever the environment, for callers that work on its file.
export async function startScratchServer(opts: Partial<BuildServerOptions> = {}, how: { sqlite?: boolean } = {}): Promise<ScratchServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'flipside-server-'));
  const scratch = !opts.database && !how.sqlite && process.env.FLIPSIDE_TEST_DATABASE_URL ? await (await import('./store/postgres.js')).scratchSchema(process.env.FLIPSIDE_TEST_DATABASE_URL) : undefined;
  const app = await buildServer({ ...opts, dataDir, database: opts.database ?? scratch?.database });
  if (!(await app.flipside.store.userByEmail(ADMIN.email))) await createUser(app.flipside, ADMIN.email, ADMIN.password);
  const adminToken = await login(app, ADMIN.email, ADMIN.password);
  return {
    app,
    dataDir,
    adminToken,
    auth: { authorization: `Bearer ${adminToken}` },
    async close() {
      await app.close();
      await scratch?.drop();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function login(app: FastifyInstance, email: string, password: string): Promise<string> {
  const r = await app.inject({
    method: 'POST',
    url: '/api/management/v1/useradm/auth/login',
    headers: { authorization: `Basic ${Buffer.from(`${email}:${password}`).toString('base64')}` },
  });
  if (r.statusCode !== 200) throw new Error(`login failed: ${r.statusCode} ${r.body}`);
  return r.body;
}

/** A multipart/form-data body with fields in order and the artifact last, as mender-cli sends. */
export function multipartBody(fields: Record<string, string>, file?: { field?: string; name?: string; content: Buffer }): { body: Buffer; contentType: string } {
  const boundary = `----flipside${randomBytes(8).toString('hex')}`;
  const parts: Buffer[] = [];
  for (const [k, v] of Object.entries(fields)) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
  }
  if (file) {
    parts.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${file.field ?? 'artifact'}"; filename="${file.name ?? 'a.mender'}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
      ),
    );
    parts.push(file.content, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** Uploads an artifact; returns the response (201 with Location on success). */
export async function uploadArtifact(s: AdminSession, content: Buffer, fields: Record<string, string> = {}) {
  const { body, contentType } = multipartBody({ size: String(content.length), description: 'test', ...fields }, { content });
  return s.app.inject({ method: 'POST', url: '/api/management/v1/deployments/artifacts', headers: { ...s.auth, 'content-type': contentType }, payload: body });
}

/** Accepts every pending auth set of the device with this identity; returns the device id. */
export async function acceptDevice(s: AdminSession, identity: Record<string, string>): Promise<string> {
  const list = await s.app.inject({ method: 'GET', url: '/api/management/v2/devauth/devices?per_page=500', headers: s.auth });
  const want = JSON.stringify(Object.fromEntries(Object.entries(identity).sort()));
  const dev = list.json<Array<{ id: string; identity_data: Record<string, string>; auth_sets: Array<{ id: string; status: string }> }>>().find(
    (d) => JSON.stringify(Object.fromEntries(Object.entries(d.identity_data).sort())) === want,
  );
  if (!dev) throw new Error('device not found');
  for (const a of dev.auth_sets.filter((a) => a.status === 'pending')) {
    const r = await s.app.inject({ method: 'PUT', url: `/api/management/v2/devauth/devices/${dev.id}/auth/${a.id}/status`, headers: s.auth, payload: { status: 'accepted' } });
    if (r.statusCode !== 204) throw new Error(`accept failed: ${r.statusCode} ${r.body}`);
  }
  return dev.id;
}

/** Creates a deployment to devices; returns its id. */
export async function createDeployment(s: AdminSession, body: Record<string, unknown>): Promise<string> {
  const r = await s.app.inject({ method: 'POST', url: '/api/management/v1/deployments/deployments', headers: s.auth, payload: { name: 'test', ...body } });
  if (r.statusCode !== 201) throw new Error(`create deployment failed: ${r.statusCode} ${r.body}`);
  return String(r.headers.location).split('/').pop()!;
}
