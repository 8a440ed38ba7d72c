// Mender's deviceconfig service: a user sets a device's configuration (key → string value), the
// device fetches it, applies it (client/configure) and reports what it applied. The management
// view shows both, so a difference between `configured` and `reported` is visible. The device
// fetches on its inventory cycle; Mender's deploy endpoint (which wraps the configuration in a
// deployment) is not offered.
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { deviceGuard } from '../auth/guards.js';
import { errorSchema, notFound } from '../http-errors.js';

const MGMT = '/api/management/v1/deviceconfig/configurations/device';
const DEVICE = '/api/devices/v1/deviceconfig/configuration';
/** Keys and values as Mender's configure add-on allows them: strings, a bounded count. */
const configSchema = {
  type: 'object',
  maxProperties: 1000,
  propertyNames: { minLength: 1, maxLength: 4096 },
  additionalProperties: { type: 'string', maxLength: 4096 },
} as const;

export async function deviceConfigRoutes(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  const { ctx } = opts;
  const params = { type: 'object', properties: { deviceId: { type: 'string', maxLength: 64 } }, required: ['deviceId'] } as const;
  const mustDevice = (id: string) => {
    if (!ctx.store.device(id)) throw notFound(`device ${id} not found`);
  };

  app.get<{ Params: { deviceId: string } }>(
    `${MGMT}/:deviceId`,
    { schema: { tags: ['Management API: deviceconfig'], summary: "The device's configuration: configured and reported", params, response: { 404: errorSchema } } },
    async (req) => {
      mustDevice(req.params.deviceId);
      const row = ctx.store.deviceConfig(req.params.deviceId);
      return {
        id: req.params.deviceId,
        configured: row?.configured ?? {},
        reported: row?.reported ?? {},
        ...(row?.updated_ts ? { updated_ts: row.updated_ts } : {}),
        ...(row?.reported_ts ? { reported_ts: row.reported_ts } : {}),
      };
    },
  );

  app.put<{ Params: { deviceId: string }; Body: Record<string, string> }>(
    `${MGMT}/:deviceId`,
    { schema: { tags: ['Management API: deviceconfig'], summary: "Set the device's configuration", params, body: configSchema, response: { 400: errorSchema, 404: errorSchema } } },
    async (req, reply) => {
      mustDevice(req.params.deviceId);
      ctx.store.setConfigured(req.params.deviceId, req.body);
      ctx.store.audit(req.userEmail!, 'deviceconfig.set', 'device', req.params.deviceId, { keys: Object.keys(req.body).slice(0, 50) });
      return reply.code(204).send();
    },
  );

  app.get(DEVICE, { preHandler: deviceGuard(ctx), schema: { tags: ['Device API: deviceconfig'], summary: 'The configuration to apply', response: { 401: errorSchema } } }, async (req) => {
    return ctx.store.deviceConfig(req.deviceId!)?.configured ?? {};
  });

  app.put<{ Body: Record<string, string> }>(
    DEVICE,
    { preHandler: deviceGuard(ctx), schema: { tags: ['Device API: deviceconfig'], summary: 'Report the applied configuration', body: configSchema, response: { 400: errorSchema, 401: errorSchema } } },
    async (req, reply) => {
      ctx.store.setReported(req.deviceId!, req.body);
      return reply.code(204).send();
    },
  );
}
