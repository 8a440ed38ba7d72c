// Device inventory: PUT replaces what the device reported, PATCH merges into it.
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { deviceGuard } from '../auth/guards.js';
import { errorSchema, badRequest } from '../http-errors.js';
import { recordCheckIn } from './check-in.js';

export const attributeListSchema = {
  type: 'array',
  items: {
    type: 'object',
    required: ['name', 'value'],
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 1024 },
      // No `type` here: the server's ajv coerces types, which would turn 512 into "512".
      // Checked by validValue in the handler instead.
      value: {},
      description: { type: 'string' },
    },
  },
} as const;

export async function deviceInventoryRoutes(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  const { ctx } = opts;
  const guard = deviceGuard(ctx);
  for (const method of ['PUT', 'PATCH'] as const) {
    app.route<{ Body: Array<{ name: string; value: unknown }> }>({
      method,
      url: '/api/devices/v1/inventory/device/attributes',
      preHandler: guard,
      schema: {
        tags: ['Device API'],
        summary: method === 'PUT' ? 'Replace the device inventory' : 'Update the device inventory',
        body: attributeListSchema,
        response: { 200: { type: 'null' }, 400: errorSchema, 401: errorSchema },
      },
      handler: async (req, reply) => {
        const seen = new Set<string>();
        for (const a of req.body) {
          if (!validValue(a.value)) throw badRequest(`attribute ${a.name}: value must be a string, number, boolean or a list of them`);
          if (seen.has(a.name)) throw badRequest(`attribute ${a.name} given twice`);
          seen.add(a.name);
        }
        recordCheckIn(ctx, req, req.deviceId!);
        await ctx.store.setInventory(req.deviceId!, 'inventory', req.body.map((a) => ({ name: a.name, value: a.value })), method === 'PUT');
        return reply.code(200).send();
      },
    });
  }
}

function isScalar(v: unknown): boolean {
  return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

function validValue(v: unknown): boolean {
  return isScalar(v) || (Array.isArray(v) && v.every(isScalar));
}
