// The audit log of management actions, newest first (Mender's auditlogs path and entry shape).
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { userGuard } from '../auth/guards.js';
import { errorSchema } from '../http-errors.js';
import { pagingQuery, setPageHeaders } from './paging.js';
import { mapAsync } from '../async-array.js';

interface AuditQuery {
  object_type?: string;
  object_id?: string;
  actor_id?: string;
  created_after?: number;
  created_before?: number;
  sort: 'asc' | 'desc';
  page: number;
  per_page: number;
}

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
  app.get<{ Querystring: AuditQuery }>(
    '/api/management/v1/auditlogs/logs',
    {
      preHandler: userGuard(ctx),
      schema: {
        tags: ['Management API: audit log'],
        querystring: {
          type: 'object',
          properties: {
            object_type: { type: 'string' },
            object_id: { type: 'string' },
            actor_id: { type: 'string' },
            created_after: { type: 'integer', minimum: 0 },
            created_before: { type: 'integer', minimum: 0 },
            sort: { type: 'string', enum: ['asc', 'desc'], default: 'desc' },
            ...pagingQuery,
          },
        },
        response: {
          200: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                time: { type: 'string' },
                action: { type: 'string' },
                actor: { type: 'object', properties: { id: { type: 'string' }, type: { type: 'string' }, email: { type: 'string' } } },
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
    async (req, reply) => {
      const q = req.query;
      // The UI filters by user id (actor_id), object id, object type and a unix-seconds time range;
      // entries keep the actor's e-mail, so the id is looked up once.
      const actorEmail = q.actor_id === undefined ? undefined : ((await ctx.store.userById(q.actor_id))?.email ?? '');
      const filter = {
        objectType: q.object_type,
        objectId: q.object_id,
        actor: actorEmail,
        after: q.created_after === undefined ? undefined : new Date(q.created_after * 1000).toISOString(),
        before: q.created_before === undefined ? undefined : new Date(q.created_before * 1000).toISOString(),
        ascending: q.sort === 'asc',
      };
      // The page is read from the store, filtered and ordered there, never the whole log.
      setPageHeaders(req, reply, await ctx.store.countAudit(filter), q.page, q.per_page);
      const picked = await ctx.store.auditLog({ ...filter, limit: q.per_page, offset: (q.page - 1) * q.per_page });
      const ids = new Map<string, string>();
      const actorId = async (email: string) => {
        if (!ids.has(email)) ids.set(email, (await ctx.store.userByEmail(email))?.id ?? email);
        return ids.get(email)!;
      };
      return mapAsync(picked, async (e) => ({
        time: e.time,
        action: e.action,
        actor: { id: e.actor === 'system' ? 'system' : await actorId(e.actor), type: e.actor === 'system' ? 'system' : 'user', email: e.actor },
        object: { type: e.object_type, id: e.object_id, ...(await objectDetail(e.object_type, e.object_id, e.detail)) },
        change: JSON.stringify(e.detail),
      }));
    },
  );
}
