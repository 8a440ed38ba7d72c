// The audit log of management actions, newest first (Mender's auditlogs path and entry shape).
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { userGuard } from '../auth/guards.js';
import { errorSchema } from '../http-errors.js';
import { pagingQuery } from './paging.js';
import { mapAsync } from '../async-array.js';

export async function auditRoutes(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  const { ctx } = opts;
  /**
   * What Mender's entries say of their object (its UI reads object.user.email, object.artifact.name,
   * object.deployment.name): from the entry's own detail, or the object as it is now.
   */
  async function objectDetail(type: string, id: string, detail: Record<string, unknown>): Promise<Record<string, unknown>> {
    const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
    switch (type) {
      case 'user':
        return { user: { email: str(detail.email) ?? (await ctx.store.userById(id))?.email ?? '' } };
      case 'artifact':
        return { artifact: { name: str(detail.name) ?? (await ctx.store.artifact(id))?.name ?? '' } };
      case 'deployment': {
        const d = await ctx.store.deployment(id);
        return { deployment: { name: str(detail.name) ?? d?.name ?? '', artifact_name: str(detail.artifact_name) ?? d?.artifact_name ?? '' } };
      }
      case 'device': {
        const dev = await ctx.store.device(id);
        return { device: { identity_data: dev ? JSON.parse(dev.id_data) : {} } };
      }
      default:
        return {};
    }
  }
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
                object: {
                  type: 'object',
                  properties: {
                    type: { type: 'string' },
                    id: { type: 'string' },
                    user: { type: 'object', properties: { email: { type: 'string' } } },
                    artifact: { type: 'object', properties: { name: { type: 'string' } } },
                    deployment: { type: 'object', properties: { name: { type: 'string' }, artifact_name: { type: 'string' } } },
                    device: { type: 'object', properties: { identity_data: { type: 'object', additionalProperties: true } } },
                  },
                },
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
      mapAsync(
        await ctx.store.auditLog({ limit: req.query.per_page, offset: (req.query.page - 1) * req.query.per_page, objectType: req.query.object_type }),
        async (e) => ({
          time: e.time,
          action: e.action,
          actor: { type: e.actor === 'system' ? 'system' : 'user', email: e.actor },
          object: { type: e.object_type, id: e.object_id, ...(await objectDetail(e.object_type, e.object_id, e.detail)) },
          change: JSON.stringify(e.detail),
        }),
      ),
  );
}
