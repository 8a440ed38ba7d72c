// The device deployments API: check for an update, report status, upload the deployment log.
// The update check walks the same three endpoints in the same order as the Mender 3.5.3 client
// (POST v2 → POST v1 → GET v1), moving on when the server refuses one with a 4xx/5xx (the
// open-source server has no v2 route and answers 404). 409 and 429 stop the walk: the server
// asked us to come back later, so RetryLater carries its Retry-After.
import { z } from 'zod';
import type { ApiClient, ApiCall } from './client.js';
import { ApiError, DeploymentAborted, NetworkError, ProtocolError } from './errors.js';
import { goJson, goStruct, type JsonValue } from './go-json.js';
import type { HttpResponse } from './http.js';
import { parseRetryAfter } from './retry-after.js';

const V1 = '/api/devices/v1/deployments/device/deployments';
const V2_NEXT = '/api/devices/v2/deployments/device/deployments/next';

export interface UpdateInfo {
  id: string;
  artifactName: string;
  uri: string;
  /** When the download link stops working (ISO time), if the server said. */
  expire?: string;
  deviceTypes: string[];
}

/** The server asked to be polled later (409 or 429); retryAfterMs from Retry-After when given. */
export class RetryLater extends ApiError {
  readonly retryAfterMs: number | null;
  constructor(o: { status: number; url: string; body?: Buffer; retryAfterMs: number | null }) {
    super('server asked to retry later', o);
    this.name = 'RetryLater';
    this.retryAfterMs = o.retryAfterMs;
  }
}

const instructionsSchema = z.object({
  id: z.string().min(1),
  artifact: z.object({
    artifact_name: z.string().min(1),
    source: z.object({ uri: z.string().min(1), expire: z.string().optional() }),
    device_types_compatible: z.array(z.string()).min(1),
  }),
});

/** What the device provides: artifact_name, device_type and every stored provide. */
export type Provides = Record<string, string>;

function checkRequests(provides: Provides): ApiCall[] {
  if (!provides.artifact_name || !provides.device_type) {
    throw new TypeError('checkUpdate needs artifact_name and device_type in provides');
  }
  const query = new URLSearchParams([
    ['artifact_name', provides.artifact_name],
    ['device_type', provides.device_type],
  ]);
  return [
    { method: 'POST', path: V2_NEXT, json: goStruct([['device_provides', provides], ['update_control_map', true]]) },
    { method: 'POST', path: `${V1}/next`, json: goJson(provides) },
    { method: 'GET', path: `${V1}/next?${query}` },
  ];
}

function retryLater(res: HttpResponse): RetryLater {
  return new RetryLater({ status: res.status, url: res.url, body: res.body, retryAfterMs: parseRetryAfter(res.headers['retry-after']) });
}

/** The next deployment for this device, or null when there is none (204). */
export async function checkUpdate(api: ApiClient, provides: Provides): Promise<UpdateInfo | null> {
  let last: HttpResponse | null = null;
  for (const call of checkRequests(provides)) {
    const res = await api.request(call);
    if (res.status === 204) return null;
    if (res.status === 200) return parseInstructions(res);
    if (res.status === 409 || res.status === 429) throw retryLater(res);
    if (res.status === 401) throw new ApiError('update check not authorized after re-authentication', res);
    last = res;
    if (res.status < 400 || res.status >= 600) break;
  }
  throw new ApiError('update check failed on every endpoint', last!);
}

function parseInstructions(res: HttpResponse): UpdateInfo {
  let json: unknown;
  try {
    json = JSON.parse(res.body.toString('utf8'));
  } catch {
    throw new ProtocolError('update check answered 200 with invalid JSON', res);
  }
  const r = instructionsSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ProtocolError(`update check answered 200 without ${issue.path.join('.') || 'an object'} (${issue.message})`, res);
  }
  const a = r.data.artifact;
  return { id: r.data.id, artifactName: a.artifact_name, uri: a.source.uri, expire: a.source.expire, deviceTypes: a.device_types_compatible };
}

export type ReportableStatus =
  | 'downloading'
  | 'pause_before_installing'
  | 'installing'
  | 'pause_before_rebooting'
  | 'rebooting'
  | 'pause_before_committing'
  | 'success'
  | 'failure'
  | 'already-installed';

export interface RetryOptions {
  /** Attempts in all (default 5). */
  attempts?: number;
  /** First wait; doubles each retry, capped at maxDelayMs (defaults 1 s and 60 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Injected for tests. */
  sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Network failures, 5xx and 429 pass; anything else is the server's final word. */
function isTransient(e: unknown): boolean {
  return e instanceof NetworkError || (e instanceof ApiError && !(e instanceof DeploymentAborted) && (e.status >= 500 || e.status === 429));
}

async function withRetries<T>(o: RetryOptions, fn: () => Promise<T>): Promise<T> {
  const attempts = Math.max(1, o.attempts ?? 5);
  const sleep = o.sleep ?? realSleep;
  let delay = o.baseDelayMs ?? 1000;
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (i >= attempts || !isTransient(e)) throw e;
      const hinted = e instanceof RetryLater ? e.retryAfterMs : null;
      await sleep(hinted ?? delay);
      delay = Math.min(delay * 2, o.maxDelayMs ?? 60_000);
    }
  }
}

function expectNoContent(res: HttpResponse, what: string, deploymentId: string): void {
  if (res.status === 204 || res.status === 200) return;
  if (res.status === 409) throw new DeploymentAborted(deploymentId, res);
  if (res.status === 429) throw retryLater(res);
  throw new ApiError(what, res);
}

/** PUT .../{id}/status; DeploymentAborted on 409; transient failures retried with backoff. */
export async function reportStatus(api: ApiClient, id: string, status: ReportableStatus, substate?: string, retry: RetryOptions = {}): Promise<void> {
  const fields: Array<[string, JsonValue]> = [['status', status]];
  if (substate) fields.push(['substate', substate]);
  const json = goStruct(fields);
  await withRetries(retry, async () => {
    const res = await api.request({ method: 'PUT', path: `${V1}/${encodeURIComponent(id)}/status`, json });
    expectNoContent(res, `reporting status ${status}`, id);
  });
}

export interface LogMessage {
  timestamp: Date | string;
  level: string;
  message: string;
}

export const TRUNCATED_MARKER = '(THE ORIGINAL LOGS WERE TOO BIG, THIS LOG IS TRUNCATED)';
/** Mender's services refuse bodies over 1 MiB by default. */
const DEFAULT_MAX_LOG_BYTES = 1024 * 1024;

function rfc3339(t: Date | string): string {
  // Second precision, as Mender 3.5.3 writes its deployment log.
  return typeof t === 'string' ? t : t.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function logLine(m: LogMessage): string {
  // Field order level, message, timestamp: the recorded 3.5.3 log upload.
  return goStruct([
    ['level', m.level],
    ['message', m.message],
    ['timestamp', rfc3339(m.timestamp)],
  ]);
}

/** The log body; when too big the oldest lines go and a marker says so (as Mender does). */
export function logBody(messages: LogMessage[], maxBytes = DEFAULT_MAX_LOG_BYTES): string {
  if (messages.length === 0) throw new TypeError('uploadLog needs at least one message');
  const lines = messages.map(logLine);
  const frame = (ls: string[]): string => `{"messages":[${ls.join(',')}]}`;
  let body = frame(lines);
  if (Buffer.byteLength(body) <= maxBytes) return body;
  const marker = logLine({ level: 'info', message: TRUNCATED_MARKER, timestamp: messages[0]!.timestamp });
  const kept: string[] = [];
  let size = Buffer.byteLength(frame([marker])) + 1;
  for (let i = lines.length - 1; i >= 0; i--) {
    const n = Buffer.byteLength(lines[i]!) + 1;
    if (size + n > maxBytes) break;
    kept.unshift(lines[i]!);
    size += n;
  }
  body = frame([marker, ...kept]);
  return body;
}

/** PUT .../{id}/log with Mender's {"messages": [...]} body. */
export async function uploadLog(api: ApiClient, id: string, messages: LogMessage[], retry: RetryOptions & { maxBytes?: number } = {}): Promise<void> {
  const json = logBody(messages, retry.maxBytes);
  await withRetries(retry, async () => {
    const res = await api.request({ method: 'PUT', path: `${V1}/${encodeURIComponent(id)}/log`, json });
    expectNoContent(res, 'uploading the deployment log', id);
  });
}
