// The management API calls a fleet run makes, over HTTPS as an operator's script would: log in,
// preauthorize devices, upload the artifact, create the phased deployment, watch it, and read back
// every device's status.
import { Agent } from 'node:https';
import { createSecureContext, type SecureContext } from 'node:tls';
import { httpRequest, type HttpResponse } from '../../client/api/http.js';
import { NetworkError } from '../../client/api/errors.js';
import { multipartBody } from '../../server-mock/admin-client.js';

const MAX_BODY = 256 * 1024 * 1024;

export interface DeploymentView {
  id: string;
  status: string;
  device_count: number;
  stop_reason?: string;
  statistics: { status: Record<string, number> };
}

export interface DeploymentDeviceView {
  id: string;
  status: string;
  attempts: number;
}

export class Management {
  private constructor(
    private readonly base: string,
    private readonly tls: SecureContext,
    private readonly token: string,
  ) {}

  // Kept-alive connections, as an operator's script keeps them: 10,000 preauthorizations over
  // fresh TLS connections were most of the admission's cost.
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 32 });

  /** Closes the kept-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  static async login(base: string, caPem: string, email: string, password: string): Promise<Management> {
    const res = await httpRequest({
      method: 'POST',
      url: `${base}/api/management/v1/useradm/auth/login`,
      headers: { Authorization: `Basic ${Buffer.from(`${email}:${password}`).toString('base64')}` },
      ca: [caPem],
    });
    if (res.status !== 200) throw new Error(`login failed: HTTP ${res.status} ${res.body.toString()}`);
    return new Management(base, createSecureContext({ ca: caPem }), res.body.toString().trim());
  }

  /**
   * One call; a network error (a reset on a swamped server) is retried a few times with backoff,
   * as a script would, so one lost connection does not end a fleet run. A preauthorization whose
   * answer was lost comes back 409 on the retry: that error says so.
   */
  private async call(method: string, path: string, body?: Buffer, contentType = 'application/json'): Promise<HttpResponse> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.token}` };
    if (body) headers['Content-Type'] = contentType;
    for (let attempt = 1; ; attempt++) {
      try {
        return await httpRequest({ method, url: `${this.base}${path}`, headers, body, secureContext: this.tls, agent: this.agent, maxBodyBytes: MAX_BODY, timeoutMs: 120_000 });
      } catch (e) {
        if (!(e instanceof NetworkError) || attempt >= 5) throw e;
        await new Promise((r) => setTimeout(r, 1000 * 2 ** attempt));
      }
    }
  }

  private async json<T>(method: string, path: string, body?: unknown, want = 200): Promise<{ res: HttpResponse; value: T }> {
    const res = await this.call(method, path, body === undefined ? undefined : Buffer.from(JSON.stringify(body)));
    if (res.status !== want) throw new Error(`${method} ${path}: HTTP ${res.status} ${res.body.toString().slice(0, 300)}`);
    return { res, value: (res.body.length ? JSON.parse(res.body.toString()) : undefined) as T };
  }

  /** Preauthorizes identity + key; the new device's id (from Location). */
  async preauthorize(identity: Record<string, string>, pubkey: string): Promise<string> {
    const { res } = await this.json('POST', '/api/management/v2/devauth/devices', { identity_data: identity, pubkey }, 201);
    return String(res.headers.location).split('/').pop()!;
  }

  /** Devices with this auth status (devauth's count). */
  async countDevices(status: string): Promise<number> {
    return (await this.json<{ count: number }>('GET', `/api/management/v2/devauth/devices/count?status=${status}`)).value.count;
  }

  async uploadArtifact(content: Buffer): Promise<void> {
    const { body, contentType } = multipartBody({ size: String(content.length), description: 'fleet run' }, { content });
    const res = await this.call('POST', '/api/management/v1/deployments/artifacts', body, contentType);
    if (res.status !== 201) throw new Error(`artifact upload: HTTP ${res.status} ${res.body.toString().slice(0, 300)}`);
  }

  async createDeployment(body: Record<string, unknown>): Promise<string> {
    const { res } = await this.json('POST', '/api/management/v1/deployments/deployments', body, 201);
    return String(res.headers.location).split('/').pop()!;
  }

  async deployment(id: string): Promise<DeploymentView> {
    return (await this.json<DeploymentView>('GET', `/api/management/v1/deployments/deployments/${id}`)).value;
  }

  async deploymentDevices(id: string): Promise<DeploymentDeviceView[]> {
    return (await this.json<DeploymentDeviceView[]>('GET', `/api/management/v1/deployments/deployments/${id}/devices`)).value;
  }
}
