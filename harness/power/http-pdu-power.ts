// Power through a network PDU's HTTP interface: one request switches the outlet on, another off.
// URL, method, headers and body are templates (`{outlet}`), so most PDUs are a few lines of board
// file; presets cover the common ones.
import { SwitchedPower } from './switched-power.js';
import { fillTemplate, type TemplateVars } from './template.js';

export interface HttpRequestTemplate {
  url: string;
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH';
  headers?: Readonly<Record<string, string>>;
  body?: string;
}

export interface HttpPduPowerOptions {
  name: string;
  on: HttpRequestTemplate;
  off: HttpRequestTemplate;
  vars?: TemplateVars;
  /** Sent as HTTP basic auth (fetch refuses credentials inside URLs). */
  auth?: { user: string; password: string };
  timeoutMs?: number;
}

/** Ready-made request templates; vars: host, outlet (1-based). */
export const HTTP_PDU_PRESETS = {
  /** NETIO PowerPDU/PowerBOX JSON API (M2M API "JSON" enabled, write access). Action 1 = on, 0 = off. */
  netio: {
    on: { url: 'http://{host}/netio.json', method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"Outputs":[{"ID":{outlet},"Action":1}]}' },
    off: { url: 'http://{host}/netio.json', method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"Outputs":[{"ID":{outlet},"Action":0}]}' },
  },
  /** labgrid's "simplerest" convention: GET with the state in the query. */
  simplerest: {
    on: { url: 'http://{host}/outlet/{outlet}?state=1', method: 'GET' },
    off: { url: 'http://{host}/outlet/{outlet}?state=0', method: 'GET' },
  },
} as const satisfies Record<string, { on: HttpRequestTemplate; off: HttpRequestTemplate }>;

interface FilledRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

export class HttpPduPower extends SwitchedPower {
  private readonly requests: { on: FilledRequest; off: FilledRequest };
  private readonly timeoutMs: number;

  constructor(opts: HttpPduPowerOptions) {
    super(opts.name);
    const vars = opts.vars ?? {};
    const auth: Record<string, string> = opts.auth ? { authorization: `Basic ${Buffer.from(`${opts.auth.user}:${opts.auth.password}`).toString('base64')}` } : {};
    this.requests = { on: fill(opts.on, vars, auth, `power ${opts.name} on`), off: fill(opts.off, vars, auth, `power ${opts.name} off`) };
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  protected async switchTo(on: boolean): Promise<void> {
    const req = on ? this.requests.on : this.requests.off;
    const what = `power ${this.name}: ${on ? 'on' : 'off'} request ${req.method} ${req.url}`;
    let res: Response;
    try {
      res = await fetch(req.url, { method: req.method, headers: req.headers, body: req.body, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (e) {
      const err = e as Error & { cause?: Error };
      const why = err.name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : (err.cause?.message ?? err.message);
      throw new Error(`${what} failed: ${why}`, { cause: e });
    }
    const text = await res.text();
    if (!res.ok) throw new Error(`${what} failed: HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`);
  }
}

function fill(t: HttpRequestTemplate, vars: TemplateVars, auth: Record<string, string>, what: string): FilledRequest {
  // Values go in raw into scheme://host:port and percent-encoded into the path and query.
  const authorityEnd = t.url.indexOf('/', t.url.indexOf('://') + 3);
  const url =
    authorityEnd < 0
      ? fillTemplate(t.url, vars)
      : fillTemplate(t.url.slice(0, authorityEnd), vars) + fillTemplate(t.url.slice(authorityEnd), vars, encodeURIComponent);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`${what}: invalid URL ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`${what}: URL must be http or https: ${url}`);
  if (parsed.username || parsed.password) throw new Error(`${what}: put credentials in auth, not in the URL`);
  const method = t.method ?? 'POST';
  if (method === 'GET' && t.body !== undefined) throw new Error(`${what}: a GET request cannot carry a body`);
  const headers: Record<string, string> = { ...auth };
  for (const [k, v] of Object.entries(t.headers ?? {})) headers[k] = fillTemplate(v, vars);
  return { url, method, headers, body: t.body === undefined ? undefined : fillTemplate(t.body, vars) };
}
