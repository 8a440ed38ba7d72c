// Mender's deviceconfig service: a user sets a device's configuration (key → string value), the
// device fetches it, applies it (client/configure) and reports what it applied. The management
// view shows both, so a difference between `configured` and `reported` is visible. The device
// fetches on its inventory cycle; deploy wraps the configuration in a deployment of that one
// device instead, whose artifact (a mender-configure payload, device/download.ts) the device's
// update client installs like any other.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { deviceGuard } from '../auth/guards.js';
import { errorSchema, notFound } from '../http-errors.js';
import { now, type DeploymentRow } from '../store/store.js';

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
  const mustDevice = async (id: string) => {
    if (!(await ctx.store.device(id))) throw notFound(`device ${id} not found`);
  };

  app.get<{ Params: { deviceId: string } }>(
    `${MGMT}/:deviceId`,
    { schema: { tags: ['Management API: deviceconfig'], summary: "The device's configuration: configured and reported", params, response: { 404: errorSchema } } },
    async (req) => {
      await mustDevice(req.params.deviceId);
      const row = await ctx.store.deviceConfig(req.params.deviceId);
      const deploymentId = await ctx.store.latestConfigurationDeployment(req.params.deviceId);
      return {
        id: req.params.deviceId,
        configured: row?.configured ?? {},
        reported: row?.reported ?? {},
        ...(deploymentId ? { deployment_id: deploymentId } : {}),
        ...(row?.updated_ts ? { updated_ts: row.updated_ts } : {}),
        ...(row?.reported_ts ? { reported_ts: row.reported_ts } : {}),
      };
    },
  );

  app.put<{ Params: { deviceId: string }; Body: Record<string, string> }>(
    `${MGMT}/:deviceId`,
    { schema: { tags: ['Management API: deviceconfig'], summary: "Set the device's configuration", params, body: configSchema, response: { 400: errorSchema, 404: errorSchema } } },
    async (req, reply) => {
      await mustDevice(req.params.deviceId);
      await ctx.store.setConfigured(req.params.deviceId, req.body);
      await ctx.store.audit(req.userEmail!, 'deviceconfig.set', 'device', req.params.deviceId, { keys: Object.keys(req.body).slice(0, 50) });
      return reply.code(204).send();
    },
  );

  app.post<{ Params: { deviceId: string }; Body: { retries?: number; update_control_map?: Record<string, unknown> } }>(
    `${MGMT}/:deviceId/deploy`,
    {
      schema: {
        tags: ['Management API: deviceconfig'],
        summary: "Deploy the device's configuration: a deployment of this device whose artifact carries it",
        params,
        body: {
          type: 'object',
          properties: { retries: { type: 'integer', minimum: 0, maximum: 100 }, update_control_map: { type: 'object', description: 'Enterprise: accepted and not used' } },
        },
        response: { 200: { type: 'object', properties: { deployment_id: { type: 'string' } } }, 400: errorSchema, 404: errorSchema },
      },
    },
    async (req) => {
      const id = req.params.deviceId;
      const dev = await ctx.store.device(id);
      // As in Mender, only accepted (provisioned) devices are known to deviceconfig.
      if (dev?.status !== 'accepted') throw notFound(dev ? `device ${id} is ${dev.status}, not accepted` : `device ${id} not found`);
      const configuration = (await ctx.store.deviceConfig(id))?.configured ?? {};
      const created = now();
      const deploymentId = randomUUID();
      const name = `configuration-${deploymentId}`;
      const dep: DeploymentRow = {
        id: deploymentId,
        name,
        artifact_name: name,
        created,
        finished: null,
        status: 'pending',
        device_count: 1,
        max_devices: 1,
        retries: req.body?.retries ?? 0,
        phases: [{ id: randomUUID(), start_ts: created, device_count: 1 }],
        error_threshold: null,
        stop_reason: null,
        target: 'configuration',
      };
      await ctx.store.insertConfigurationDeployment(dep, id, configuration);
      await ctx.store.audit(req.userEmail!, 'deviceconfig.deploy', 'device', id, { deployment_id: deploymentId, keys: Object.keys(configuration).slice(0, 50) });
      return { deployment_id: deploymentId };
    },
  );

  app.get(DEVICE, { preHandler: deviceGuard(ctx), schema: { tags: ['Device API: deviceconfig'], summary: 'The configuration to apply', response: { 401: errorSchema } } }, async (req) => {
    return (await ctx.store.deviceConfig(req.deviceId!))?.configured ?? {};
  });

  app.put<{ Body: Record<string, string> }>(
    DEVICE,
    { preHandler: deviceGuard(ctx), schema: { tags: ['Device API: deviceconfig'], summary: 'Report the applied configuration', body: configSchema, response: { 400: errorSchema, 401: errorSchema } } },
    async (req, reply) => {
      await ctx.store.setReported(req.deviceId!, req.body);
      return reply.code(204).send();
    },
  );
}
