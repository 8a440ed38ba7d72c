// The audit log of management actions, newest first (Mender's auditlogs path and entry shape).
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { userGuard } from '../auth/guards.js';
import { errorSchema } from '../http-errors.js';
import { pagingQuery } from './paging.js';

export async function auditRoutes(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  const { ctx } = opts;
  app.get<{ Querystring: { object_type?: string; page: number; per_page: number } }>(
    '/api/management/v1/auditlogs/logs',
    {
      preHandler: userGuard(ctx),
      schema: {
        tags: ['Management API: audit log'],
        querystring: { type: 'object', properties: { object_type: { type: 'string' }, ...pagingQuery } },
        response: {
          200: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                time: { type: 'string' },
                action: { type: 'string' },
                actor: { type: 'object', properties: { type: { type: 'string' }, email: { type: 'string' } } },
                object: { type: 'object', properties: { type: { type: 'string' }, id: { type: 'string' } } },
                change: { type: 'string' },
              },
            },
          },
          400: errorSchema,
          401: errorSchema,
        },
      },
    },
    async (req) =>
      ctx.store
        .auditLog({ limit: req.query.per_page, offset: (req.query.page - 1) * req.query.per_page, objectType: req.query.object_type })
        .map((e) => ({
          time: e.time,
          action: e.action,
          actor: { type: e.actor === 'system' ? 'system' : 'user', email: e.actor },
          object: { type: e.object_type, id: e.object_id },
          change: JSON.stringify(e.detail),
        })),
  );
}
