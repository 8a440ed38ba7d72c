// A browser's WebSocket cannot send an Authorization header, and the web UI keeps its token out
// of cookies (ui/README.md). So the UI offers its token as a WebSocket subprotocol, as Kubernetes'
// dashboard does: `new WebSocket(url, ['flipside', 'flipside.bearer.<JWT>'])` (a JWT's characters
// are all allowed in a subprotocol name). The hook turns that into the Authorization header before
// the authorization hook reads it, and the server answers with the plain `flipside` protocol, so
// the token is never echoed back. Other clients (mender-cli, devices) send the header as before.
import type { FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';

export const WS_PROTOCOL = 'flipside';
const PREFIX = `${WS_PROTOCOL}.bearer.`;

/** The bearer token offered as a subprotocol, if any. */
export function tokenFromProtocols(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header.join(',') : header;
  return value
    ?.split(',')
    .map((p) => p.trim())
    .find((p) => p.startsWith(PREFIX) && p.length > PREFIX.length)
    ?.slice(PREFIX.length);
}

/** onRequest hook: an upgrade request with the token as a subprotocol gets it as its bearer header. */
export async function bearerFromWebSocketProtocol(req: FastifyRequest): Promise<void> {
  if (req.headers.authorization || req.headers.upgrade?.toLowerCase() !== 'websocket') return;
  const token = tokenFromProtocols(req.headers['sec-websocket-protocol']);
  if (token) req.headers.authorization = `Bearer ${token}`;
}

/** ws' handleProtocols: choose `flipside` (never the token); no subprotocol when it was not offered. */
export function chooseProtocol(offered: Set<string>, _req: IncomingMessage): string | false {
  return offered.has(WS_PROTOCOL) ? WS_PROTOCOL : false;
}
