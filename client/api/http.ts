// One HTTP(S) request with a deadline, a bounded response body and the device's trust store.
// node:http(s) rather than fetch: we need per-request CA lists, socket-level errors we can type,
// and (in download.ts) Range requests with backpressure.
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { readFile } from 'node:fs/promises';
import { rootCertificates, type SecureContext } from 'node:tls';
import { NetworkError } from './errors.js';

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: Buffer;
  /** Whole request deadline (connect, send, receive). */
  timeoutMs?: number;
  /** CA certificates (PEM) to trust; undefined = Node's defaults. */
  ca?: string[];
  /**
   * A TLS context built once (tls.createSecureContext({ca})) instead of one per request from
   * `ca`: OpenSSL 3 makes each context in about a millisecond, which a device polling once a
   * minute never notices but a process simulating 10,000 devices does (harness/fleet).
   */
  secureContext?: SecureContext;
  /** Largest response body read into memory. */
  maxBodyBytes?: number;
  /**
   * A keep-alive agent to reuse connections (the simulated fleet gives each device one, as Go's
   * http.Transport keeps a device's connection open); default none: one connection per request.
   */
  agent?: http.Agent;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  url: string;
}

export const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_BODY = 1024 * 1024;

/**
 * The CA list for `ServerCertificate`: the system CAs plus the PEM file's certificates, so a
 * private CA adds trust rather than replacing it (as Mender appends to the system pool).
 */
export async function loadServerCa(serverCertificate?: string): Promise<string[] | undefined> {
  if (!serverCertificate) return undefined;
  let pem: string;
  try {
    pem = await readFile(serverCertificate, 'utf8');
  } catch (e) {
    throw new NetworkError(serverCertificate, 'CA_FILE', `cannot read ServerCertificate: ${(e as Error).message}`, { cause: e });
  }
  const certs = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!certs) throw new NetworkError(serverCertificate, 'CA_FILE', 'ServerCertificate holds no PEM certificate');
  return [...rootCertificates, ...certs];
}

/** Starts a request; the caller owns the response stream. Used by download.ts. */
export function openRequest(
  r: Pick<HttpRequest, 'method' | 'url' | 'headers' | 'ca' | 'secureContext' | 'body' | 'agent'>,
  signal?: AbortSignal,
): { req: http.ClientRequest; response: Promise<IncomingMessage> } {
  let target: URL;
  try {
    target = new URL(r.url);
  } catch {
    throw new NetworkError(r.url, 'BAD_URL', 'not a valid URL');
  }
  const lib = target.protocol === 'https:' ? https : target.protocol === 'http:' ? http : null;
  if (!lib) throw new NetworkError(r.url, 'BAD_URL', `unsupported protocol ${target.protocol}`);
  const headers = { ...r.headers };
  if (r.body) headers['Content-Length'] = String(r.body.length);
  const tls = r.secureContext ? { secureContext: r.secureContext } : { ca: r.ca };
  const req = lib.request(target, { method: r.method, headers, ...tls, signal, agent: r.agent ?? false });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    // `on`, not `once`: a socket can error again after the response started; a second
    // rejection is a no-op but an unlistened 'error' would crash the process.
    req.on('error', (e: NodeJS.ErrnoException) => reject(toNetworkError(r.url, e)));
  });
  req.end(r.body);
  return { req, response };
}

export function toNetworkError(url: string, e: NodeJS.ErrnoException): NetworkError {
  if (e instanceof NetworkError) return e;
  const code = e.name === 'AbortError' ? 'ABORTED' : (e.code ?? 'NETWORK');
  return new NetworkError(url, code, e.message, { cause: e });
}

/**
 * Sends a request and reads the whole (bounded) response. Rejects only with NetworkError. A
 * kept-alive connection the server closed as the request went out fails before any answer: that
 * request is sent once more on a new connection, as Go's http.Transport does for a reused
 * connection (every device API call is safe to repeat: PUTs, and POSTs that only ask).
 */
export async function httpRequest(r: HttpRequest): Promise<HttpResponse> {
  try {
    return await httpRequestOnce(r);
  } catch (e) {
    if (!(e instanceof StaleConnection)) throw e;
    return httpRequestOnce(r);
  }
}

/** A request that failed on a reused keep-alive connection before any response came. */
class StaleConnection extends NetworkError {}

function httpRequestOnce(r: HttpRequest): Promise<HttpResponse> {
  const timeoutMs = r.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const max = r.maxBodyBytes ?? DEFAULT_MAX_BODY;
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (e: NetworkError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(e);
    };
    const { req, response } = openRequest(r);
    let answered = false;
    const timer = setTimeout(() => fail(new NetworkError(r.url, 'TIMEOUT', `no complete answer within ${timeoutMs} ms`)), timeoutMs);
    response.then(
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > max) fail(new NetworkError(r.url, 'BODY_TOO_LARGE', `response body larger than ${max} bytes`));
          else chunks.push(c);
        });
        res.on('error', (e) => fail(toNetworkError(r.url, e)));
        res.on('aborted', () => fail(new NetworkError(r.url, 'ECONNRESET', 'connection closed mid-response')));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), url: r.url });
        });
      },
      (e: NetworkError) => fail(req.reusedSocket && !answered ? new StaleConnection(r.url, e.code, e.message.slice(r.url.length + 2), { cause: e }) : e),
    );
  });
}
