// The base URL a client reached us on, for links we hand back: the configured public URL, or
// the request's own protocol and Host.
import type { FastifyRequest } from 'fastify';

export function baseUrl(req: FastifyRequest, publicUrl?: string): string {
  if (publicUrl) return publicUrl.replace(/\/+$/, '');
  return `${req.protocol}://${req.host}`;
}
