// The base URL a client reached us on, for links we hand back: the configured public URL; else
// the request's Host when it names this server (one of `linkHosts`: localhost, this machine's
// name and addresses, the TLS names and any configured host); else the local address the
// connection came in on. A Host header nobody configured never shapes a link.
import { hostname, networkInterfaces } from 'node:os';
import type { FastifyRequest } from 'fastify';

/** The names a Host header may use to shape links when no public URL is set. */
export function defaultLinkHosts(extra: string[] = []): Set<string> {
  const names = ['localhost', hostname(), ...extra];
  for (const addrs of Object.values(networkInterfaces())) for (const a of addrs ?? []) names.push(a.address);
  return new Set(names.map((n) => n.toLowerCase().replace(/^\[|\]$/g, '')));
}

function hostnameOf(host: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(host) ?? /^([^:]+)(?::\d+)?$/.exec(host);
  return (m?.[1] ?? '').toLowerCase();
}

export function baseUrl(req: FastifyRequest, publicUrl?: string): string {
  if (publicUrl) return publicUrl.replace(/\/+$/, '');
  const known = (req.server as { flipside?: { linkHosts?: Set<string> } }).flipside?.linkHosts;
  if (known?.has(hostnameOf(req.host))) return `${req.protocol}://${req.host}`;
  const local = req.socket?.localAddress?.replace(/^::ffff:/, '');
  if (!local) return `${req.protocol}://localhost`;
  return `${req.protocol}://${local.includes(':') ? `[${local}]` : local}:${req.socket.localPort}`;
}
