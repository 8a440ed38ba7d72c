// Test helpers: a server on a temp data dir with an admin logged in, artifact uploads built as
// multipart bodies, device acceptance. Used by the server tests and reusable by others.
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { buildServer, type BuildServerOptions } from '../app.js';
import { createUser } from '../management/useradm.js';
import { SimDevice, injectTransport, type SimDeviceOptions } from './device-sim.js';

/** The shared reference folder sits beside the repository (also in CI's fresh clone). */
export { SHARED_DIR, CONFORMANCE_DIR } from '../../test-support/shared-dir.js';
import { CONFORMANCE_DIR } from '../../test-support/shared-dir.js';
export const ADMIN = { email: 'admin@example.com', password: 'correct-horse-battery' };

export interface TestServer {
  app: FastifyInstance;
  dataDir: string;
  adminToken: string;
  /** Authorization header for the admin. */
  auth: { authorization: string };
  close(): Promise<void>;
}

export async function startTestServer(opts: Partial<BuildServerOptions> = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'flipside-server-'));
  const app = await buildServer({ ...opts, dataDir });
  if (!app.flipside.store.userByEmail(ADMIN.email)) await createUser(app.flipside, ADMIN.email, ADMIN.password);
  const adminToken = await login(app, ADMIN.email, ADMIN.password);
  return {
    app,
    dataDir,
    adminToken,
    auth: { authorization: `Bearer ${adminToken}` },
    async close() {
      await app.close();
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

export function conformanceArtifact(name: string): Buffer {
  return readFileSync(join(CONFORMANCE_DIR, `${name}.mender`));
}

/** Uploads an artifact; returns the response (201 with Location on success). */
export async function uploadArtifact(t: TestServer, content: Buffer, fields: Record<string, string> = {}) {
  const { body, contentType } = multipartBody({ size: String(content.length), description: 'test', ...fields }, { content });
  return t.app.inject({ method: 'POST', url: '/api/management/v1/deployments/artifacts', headers: { ...t.auth, 'content-type': contentType }, payload: body });
}

/** Accepts every pending auth set of the device with this identity. */
export async function acceptDevice(t: TestServer, identity: Record<string, string>): Promise<string> {
  const list = await t.app.inject({ method: 'GET', url: '/api/management/v2/devauth/devices?per_page=500', headers: t.auth });
  const want = JSON.stringify(Object.fromEntries(Object.entries(identity).sort()));
  const dev = list.json<Array<{ id: string; identity_data: Record<string, string>; auth_sets: Array<{ id: string; status: string }> }>>().find(
    (d) => JSON.stringify(Object.fromEntries(Object.entries(d.identity_data).sort())) === want,
  );
  if (!dev) throw new Error('device not found');
  for (const s of dev.auth_sets.filter((a) => a.status === 'pending')) {
    const r = await t.app.inject({ method: 'PUT', url: `/api/management/v2/devauth/devices/${dev.id}/auth/${s.id}/status`, headers: t.auth, payload: { status: 'accepted' } });
    if (r.statusCode !== 204) throw new Error(`accept failed: ${r.statusCode} ${r.body}`);
  }
  return dev.id;
}

/** A device that has asked once, been accepted and holds a token. */
export async function acceptedDevice(t: TestServer, opts: SimDeviceOptions = {}): Promise<SimDevice> {
  const d = new SimDevice(injectTransport(t.app), opts);
  const first = await d.authenticate();
  if (first.status !== 401) throw new Error(`expected 401 for a new device, got ${first.status}`);
  await acceptDevice(t, d.identity);
  const second = await d.authenticate();
  if (second.status !== 200) throw new Error(`expected 200 after accept, got ${second.status}`);
  return d;
}

/** Creates a deployment to devices; returns its id. */
export async function createDeployment(t: TestServer, body: Record<string, unknown>): Promise<string> {
  const r = await t.app.inject({ method: 'POST', url: '/api/management/v1/deployments/deployments', headers: t.auth, payload: { name: 'test', ...body } });
  if (r.statusCode !== 201) throw new Error(`create deployment failed: ${r.statusCode} ${r.body}`);
  return String(r.headers.location).split('/').pop()!;
}

/** Writes a small artifact with artifact/writer into memory (module-image with one file). */
export async function makeArtifact(name: string, deviceTypes: string[], opts: { type?: string; content?: Buffer } = {}): Promise<Buffer> {
  const { writeArtifact } = await import('../../artifact/writer.js');
  const dir = mkdtempSync(join(tmpdir(), 'flipside-art-'));
  try {
    const out = join(dir, 'a.mender');
    await writeArtifact(
      { type: opts.type ?? 'single-file', kind: 'module-image', name, deviceTypes, files: [{ name: 'payload.bin', content: opts.content ?? Buffer.from(`payload of ${name}\n`) }] },
      out,
    );
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
