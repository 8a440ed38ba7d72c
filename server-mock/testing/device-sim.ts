// A simulated Mender device for tests and benches: makes a key (RSA, ECDSA P-256 or Ed25519),
// signs auth requests over the raw body as the Mender client does, polls for deployments,
// reports status and logs, sends inventory, downloads artifacts. Talks to a Fastify instance
// through inject (no sockets) or to a real server over HTTP(S).
import { generateKeyPairSync, sign, randomUUID, type KeyObject } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { FastifyInstance } from 'fastify';

export type KeyKind = 'rsa' | 'ecdsa' | 'ed25519';

export interface SimResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  json<T = unknown>(): T;
  text(): string;
}

export type Transport = (req: { method: string; url: string; headers: Record<string, string>; body?: Buffer }) => Promise<SimResponse>;

function response(status: number, headers: SimResponse['headers'], body: Buffer): SimResponse {
  return { status, headers, body, json: () => JSON.parse(body.toString('utf8')), text: () => body.toString('utf8') };
}

/** Requests through app.inject: fast, no sockets. */
export function injectTransport(app: FastifyInstance): Transport {
  return async ({ method, url, headers, body }) => {
    const r = await app.inject({ method: method as 'GET', url, headers, payload: body });
    return response(r.statusCode, r.headers as SimResponse['headers'], r.rawPayload);
  };
}

/** Requests over a real socket; `ca` to trust the server's generated CA. */
export function httpTransport(baseUrl: string, opts: { ca?: string | Buffer; agent?: http.Agent } = {}): Transport {
  const base = new URL(baseUrl);
  return ({ method, url, headers, body }) =>
    new Promise((resolve, reject) => {
      const target = new URL(url, base);
      const lib = target.protocol === 'https:' ? https : http;
      const req = lib.request(
        target,
        { method, headers: body ? { ...headers, 'content-length': String(body.length) } : headers, ca: opts.ca, agent: opts.agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(response(res.statusCode ?? 0, res.headers, Buffer.concat(chunks))));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
}

export function generateDeviceKey(kind: KeyKind): { privateKey: KeyObject; publicKeyPem: string } {
  const pair =
    kind === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : kind === 'ecdsa'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('ed25519');
  return { privateKey: pair.privateKey, publicKeyPem: pair.publicKey.export({ type: 'spki', format: 'pem' }) as string };
}

/** The X-MEN-Signature value for a body, as the Mender client computes it. */
export function signBody(privateKey: KeyObject, body: Buffer): string {
  const alg = privateKey.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  return sign(alg, body, privateKey).toString('base64');
}

export interface SimDeviceOptions {
  keyKind?: KeyKind;
  /** Reuse a key (e.g. to pre-generate keys for many devices). */
  key?: { privateKey: KeyObject; publicKeyPem: string };
  identity?: Record<string, string>;
  deviceType?: string;
  artifactName?: string;
}

export interface Update {
  id: string;
  artifact: { id?: string; artifact_name: string; source: { uri: string; expire: string }; device_types_compatible: string[] };
}

export class SimDevice {
  readonly keyKind: KeyKind;
  readonly privateKey: KeyObject;
  readonly publicKeyPem: string;
  readonly identity: Record<string, string>;
  deviceType: string;
  artifactName: string;
  token?: string;

  constructor(
    readonly transport: Transport,
    opts: SimDeviceOptions = {},
  ) {
    this.keyKind = opts.keyKind ?? 'ed25519';
    const key = opts.key ?? generateDeviceKey(this.keyKind);
    this.privateKey = key.privateKey;
    this.publicKeyPem = key.publicKeyPem;
    this.identity = opts.identity ?? { mac: randomMac(), serial: randomUUID() };
    this.deviceType = opts.deviceType ?? 'qemux86-64';
    this.artifactName = opts.artifactName ?? 'release-0';
  }

  /** The exact bytes and signature of an auth request. */
  authRequest(): { body: Buffer; signature: string } {
    const body = Buffer.from(JSON.stringify({ id_data: JSON.stringify(this.identity), pubkey: this.publicKeyPem, tenant_token: '' }));
    return { body, signature: signBody(this.privateKey, body) };
  }

  /** POSTs an auth request; on 200 keeps the token. */
  async authenticate(): Promise<SimResponse> {
    const { body, signature } = this.authRequest();
    const r = await this.transport({
      method: 'POST',
      url: '/api/devices/v1/authentication/auth_requests',
      headers: { 'content-type': 'application/json', 'x-men-signature': signature },
      body,
    });
    if (r.status === 200) this.token = r.text();
    return r;
  }

  private authed(method: string, url: string, json?: unknown): Promise<SimResponse> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let body: Buffer | undefined;
    if (json !== undefined) {
      headers['content-type'] = 'application/json';
      body = Buffer.from(JSON.stringify(json));
    }
    return this.transport({ method, url, headers, body });
  }

  /** The device's id from its token's sub claim. */
  get deviceId(): string | undefined {
    if (!this.token) return undefined;
    return JSON.parse(Buffer.from(this.token.split('.')[1]!, 'base64url').toString('utf8')).sub;
  }

  async sendInventory(attrs: Array<{ name: string; value: unknown }> = [], method: 'PUT' | 'PATCH' = 'PUT'): Promise<SimResponse> {
    const base = [
      { name: 'device_type', value: this.deviceType },
      { name: 'artifact_name', value: this.artifactName },
    ];
    return this.authed(method, '/api/devices/v1/inventory/device/attributes', [...base, ...attrs.filter((a) => !base.some((b) => b.name === a.name))]);
  }

  /** Polls deployments/next (POST form by default, as 3.x clients do); the update or null. */
  async checkUpdate(opts: { get?: boolean; provides?: Record<string, string> } = {}): Promise<{ response: SimResponse; update: Update | null }> {
    const provides = { artifact_name: this.artifactName, device_type: this.deviceType, ...opts.provides };
    const response = opts.get
      ? await this.authed('GET', `/api/devices/v1/deployments/device/deployments/next?${new URLSearchParams(provides)}`)
      : await this.authed('POST', '/api/devices/v1/deployments/device/deployments/next', provides);
    return { response, update: response.status === 200 ? response.json<Update>() : null };
  }

  reportStatus(deploymentId: string, status: string, substate?: string): Promise<SimResponse> {
    return this.authed('PUT', `/api/devices/v1/deployments/device/deployments/${deploymentId}/status`, substate ? { status, substate } : { status });
  }

  uploadLog(deploymentId: string, messages: Array<{ level: string; message: string; timestamp?: string }>): Promise<SimResponse> {
    const ts = new Date().toISOString();
    return this.authed('PUT', `/api/devices/v1/deployments/device/deployments/${deploymentId}/log`, { messages: messages.map((m) => ({ timestamp: ts, ...m })) });
  }

  /** Downloads from a signed link (no Authorization header, as the client does). */
  download(uri: string, range?: string): Promise<SimResponse> {
    const u = new URL(uri);
    return this.transport({ method: 'GET', url: u.pathname + u.search, headers: range ? { range } : {} });
  }

  /** Runs one whole update: poll, download, report downloading → installing → success. */
  async runUpdate(opts: { fail?: boolean } = {}): Promise<Update | null> {
    const { update } = await this.checkUpdate();
    if (!update) return null;
    await this.reportStatus(update.id, 'downloading');
    const dl = await this.download(update.artifact.source.uri);
    if (dl.status !== 200) throw new Error(`download failed with ${dl.status}`);
    await this.reportStatus(update.id, 'installing');
    if (opts.fail) {
      await this.reportStatus(update.id, 'failure');
      await this.uploadLog(update.id, [{ level: 'error', message: 'simulated failure' }]);
    } else {
      await this.reportStatus(update.id, 'rebooting');
      await this.reportStatus(update.id, 'success');
      this.artifactName = update.artifact.artifact_name;
    }
    return update;
  }
}

function randomMac(): string {
  return Array.from({ length: 6 }, (_, i) => (i === 0 ? 2 : Math.floor(Math.random() * 256)).toString(16).padStart(2, '0')).join(':');
}
