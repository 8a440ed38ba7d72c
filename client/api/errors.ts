// Typed errors of the device API client. The daemon decides on the type (retry later, fail the
// deployment, re-authenticate), never on message text.

/** The server answered, but not with what the call needs. */
export class ApiError extends Error {
  readonly status: number;
  readonly url: string;
  /** The start of the response body (error bodies are small JSON: {"error": ...}). */
  readonly bodySnippet: string;

  constructor(message: string, o: { status: number; url: string; body?: Buffer | string }) {
    const snippet = snippetOf(o.body);
    super(`${message}: HTTP ${o.status} from ${o.url}${snippet ? ` (${snippet})` : ''}`);
    this.name = 'ApiError';
    this.status = o.status;
    this.url = o.url;
    this.bodySnippet = snippet;
  }
}

/** 401 on authentication: pending, rejected or unknown device (the server never says which). */
export class NotAuthorized extends ApiError {
  constructor(o: { url: string; body?: Buffer | string }) {
    super('device not authorized', { status: 401, ...o });
    this.name = 'NotAuthorized';
  }
}

/** 409 on a status report: the deployment was aborted on the server; the device must stop. */
export class DeploymentAborted extends ApiError {
  readonly deploymentId: string;

  constructor(deploymentId: string, o: { url: string; body?: Buffer | string }) {
    super(`deployment ${deploymentId} was aborted on the server`, { status: 409, ...o });
    this.name = 'DeploymentAborted';
    this.deploymentId = deploymentId;
  }
}

/** No HTTP answer at all: refused, reset, DNS, TLS, or timed out. Worth trying the next server. */
export class NetworkError extends Error {
  readonly url: string;
  readonly code: string;

  constructor(url: string, code: string, message: string, options?: { cause?: unknown }) {
    super(`${url}: ${message}`, options);
    this.name = 'NetworkError';
    this.url = url;
    this.code = code;
  }
}

/** A download could not deliver the artifact's bytes exactly once and in order. */
export class DownloadError extends Error {
  readonly url: string;
  readonly code: 'BAD_URL' | 'HTTP_STATUS' | 'NO_LENGTH' | 'BAD_RANGE' | 'SIZE_CHANGED' | 'ARTIFACT_CHANGED' | 'TOO_MANY_RESUMES' | 'ABORTED' | 'TOO_LONG';
  /** The HTTP status, for HTTP_STATUS (403 = an expired link). */
  status?: number;
  readonly received: number;

  constructor(code: DownloadError['code'], url: string, received: number, message: string, options?: { cause?: unknown }) {
    super(`download ${url} (${received} bytes received): ${message}`, options);
    this.name = 'DownloadError';
    this.code = code;
    this.url = url;
    this.received = received;
  }
}

/** Bad data from the server: a 200 whose body is not what the API promises. */
export class ProtocolError extends ApiError {
  constructor(message: string, o: { status: number; url: string; body?: Buffer | string }) {
    super(message, o);
    this.name = 'ProtocolError';
  }
}

const SNIPPET_MAX = 200;

function snippetOf(body: Buffer | string | undefined): string {
  if (body === undefined) return '';
  const s = (typeof body === 'string' ? body : body.subarray(0, SNIPPET_MAX * 4).toString('utf8')).replace(/\s+/g, ' ').trim();
  return s.length > SNIPPET_MAX ? `${s.slice(0, SNIPPET_MAX)}…` : s;
}
