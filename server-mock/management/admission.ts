// GET /api/management/v2/devauth/admission (Flipside's own): the pending queue against its cap,
// the admission limits, and how many auth requests the limits refused since the server started,
// so a flood of fake devices shows on the devices page.
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { userGuard } from '../auth/guards.js';
import { errorSchema } from '../http-errors.js';

export async function admissionRoutes(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  const { ctx } = opts;
  const int = { type: 'integer' } as const;
  app.get(
    '/api/management/v2/devauth/admission',
    {
      preHandler: userGuard(ctx),
      schema: {
        tags: ['Management API: devauth'],
        summary: 'Pending queue, admission limits and refusals',
        response: {
          200: {
            type: 'object',
            properties: {
              pending_auth_sets: int,
              max_pending: int,
              queue_policy: { type: 'string' },
              limits: { type: 'object', properties: { max_id_data_bytes: int, max_pubkey_bytes: int, new_per_source_per_minute: int } },
              admitted: int,
              refused_too_large: int,
              refused_rate_limited: int,
              refused_queue_full: int,
              since: { type: 'string' },
            },
          },
          401: errorSchema,
        },
      },
    },
    async () => {
      const a = ctx.admission;
      return {
        pending_auth_sets: await ctx.store.countPendingAuthSets(),
        max_pending: a.opts.maxPending,
        queue_policy: 'refuse',
        limits: { max_id_data_bytes: a.opts.maxIdDataBytes, max_pubkey_bytes: a.opts.maxPubkeyBytes, new_per_source_per_minute: a.opts.newPerSourcePerMinute },
        ...a.stats,
      };
    },
  );
}
