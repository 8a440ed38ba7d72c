// Mender's page/per_page query parameters, and the X-Total-Count and Link headers of a page.
import type { FastifyReply, FastifyRequest } from 'fastify';

export const pagingQuery = {
  page: { type: 'integer', minimum: 1, default: 1 },
  per_page: { type: 'integer', minimum: 1, maximum: 500, default: 20 },
} as const;

export function pageOf<T>(items: T[], page = 1, perPage = 20): T[] {
  return items.slice((page - 1) * perPage, page * perPage);
}

/**
 * Sets X-Total-Count and a Link header with rel="first", "prev" and "next" as Mender does
 * (`<path?query>; rel="next"`, the request's own query with page changed), so scripts that page
 * by Link find every page. For a POST search the page lives in the body; the links then carry it
 * in the query as Mender's do.
 */
export function setPageHeaders(req: FastifyRequest, reply: FastifyReply, total: number, page = 1, perPage = 20): void {
  const [path, search = ''] = req.url.split('?') as [string, string?];
  const link = (p: number, rel: string) => {
    const q = new URLSearchParams(search);
    q.set('page', String(p));
    q.set('per_page', String(perPage));
    return `<${path}?${q.toString()}>; rel="${rel}"`;
  };
  const links = [link(1, 'first')];
  if (page > 1) links.push(link(page - 1, 'prev'));
  if (page * perPage < total) links.push(link(page + 1, 'next'));
  void reply.header('X-Total-Count', String(total)).header('Link', links.join(', '));
}

/** The whole list as one page with its headers, for routes that page an array in memory. */
export function sendPage<T>(req: FastifyRequest, reply: FastifyReply, items: T[], page = 1, perPage = 20): T[] {
  setPageHeaders(req, reply, items.length, page, perPage);
  return pageOf(items, page, perPage);
}
