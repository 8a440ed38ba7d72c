// The authenticated device API client: keeps the JWT in memory, adds `Authorization: Bearer`,
// re-authenticates on any 401 and retries the request once (Mender's behaviour), and fails over
// through the `Servers` list when a server cannot be reached. A token belongs to the server that
// issued it, so moving to another server means authenticating there.
import type { SecureContext } from 'node:tls';
import type { DeviceKey } from '../identity/device-key.js';
import { requestToken } from './auth.js';
import { ApiError, NetworkError, NotAuthorized } from './errors.js';
import { httpRequest, DEFAULT_TIMEOUT_MS, type HttpRequest, type HttpResponse } from './http.js';
import { joinUrl } from './url.js';

export interface ApiClientOptions {
  /** Server base URLs in preference order (Mender's Servers[].ServerURL, or ServerURL alone). */
  servers: string[];
  key: DeviceKey;
  /** The id_data string; called on each authentication (the identity script may change its mind). */
  identity: () => Promise<string>;
  tenantToken?: string;
  /** Trusted CAs (loadServerCa()); undefined = Node's defaults. */
  ca?: string[];
  /** Used instead of `ca` when given (see HttpRequest.secureContext). */
  secureContext?: SecureContext;
  /** A keep-alive agent (see HttpRequest.agent); default one connection per request. */
  agent?: HttpRequest['agent'];
  timeoutMs?: number;
  /** Told after each successful authentication (e.g. to resend the inventory). */
  onAuthenticated?: (server: string) => void;
}

export interface ApiCall {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH';
  path: string;
  /** A JSON body, already serialised. */
  json?: string;
  maxBodyBytes?: number;
}

export class ApiClient {
  private jwt: string | null = null;
  private active = 0;
  private readonly servers: string[];

  constructor(private readonly o: ApiClientOptions) {
    if (o.servers.length === 0) throw new TypeError('ApiClient needs at least one server URL');
    this.servers = [...o.servers];
  }

  /** The JWT of the current session, or null before authentication. */
  get token(): string | null {
    return this.jwt;
  }

  get server(): string {
    return this.servers[this.active]!;
  }

  /** Forgets the token: the next request authenticates first. */
  invalidate(): void {
    this.jwt = null;
  }

  /**
   * Authenticates, starting with the current server and going through the list when one fails.
   * NotAuthorized wins over network errors so a pending device is reported as pending.
   */
  async authenticate(): Promise<string> {
    const idData = await this.o.identity();
    let firstDenied: NotAuthorized | null = null;
    let last: unknown = null;
    for (let i = 0; i < this.servers.length; i++) {
      const idx = (this.active + i) % this.servers.length;
      const server = this.servers[idx]!;
      try {
        const token = await requestToken(server, this.o.key, { idData, tenantToken: this.o.tenantToken }, { ca: this.o.ca, secureContext: this.o.secureContext, agent: this.o.agent, timeoutMs: this.timeout });
        this.jwt = token;
        this.active = idx;
        this.o.onAuthenticated?.(server);
        return token;
      } catch (e) {
        if (e instanceof NotAuthorized) firstDenied ??= e;
        else if (!(e instanceof NetworkError) && !(e instanceof ApiError)) throw e;
        last = e;
      }
    }
    throw firstDenied ?? last;
  }

  /** An authenticated request; the response whatever its status, except a second 401. */
  async request(call: ApiCall): Promise<HttpResponse> {
    let reauthenticated = false;
    let unreachable = 0;
    for (;;) {
      const token = this.jwt ?? (await this.authenticate());
      const url = joinUrl(this.server, call.path);
      const headers: Record<string, string> = { Authorization: `Bearer ${token}` };
      if (call.json !== undefined) headers['Content-Type'] = 'application/json';
      let res: HttpResponse;
      try {
        res = await httpRequest({
          method: call.method,
          url,
          headers,
          body: call.json !== undefined ? Buffer.from(call.json) : undefined,
          ca: this.o.ca,
          secureContext: this.o.secureContext,
          agent: this.o.agent,
          timeoutMs: this.timeout,
          maxBodyBytes: call.maxBodyBytes,
        });
      } catch (e) {
        if (!(e instanceof NetworkError) || ++unreachable >= this.servers.length) throw e;
        this.active = (this.active + 1) % this.servers.length;
        this.jwt = null;
        continue;
      }
      if (res.status === 401) {
        this.jwt = null;
        if (!reauthenticated) {
          reauthenticated = true;
          continue;
        }
      }
      return res;
    }
  }

  private get timeout(): number {
    return this.o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }
}
