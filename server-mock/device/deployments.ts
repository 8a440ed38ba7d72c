// Mender's device deployments API: check for an update (v1 GET/POST and v2 POST), report status,
// upload the log. Mender clients 3.x first POST the v2 "next" (device_provides and
// update_control_map): served here, so a poll is one request instead of a 404 and a v1 fallback.
// update_control_map is an enterprise feature: accepted and not answered (no maps are kept).
import type { FastifyInstance, FastifyRequest, FastifyReply } from 'fastify';
import type { ServerContext } from '../context.js';
import { deviceGuard, deviceClaimsGuard, deviceTokenOwnedBy } from '../auth/guards.js';
import { nextDeployment, reportStatus, DEVICE_SETTABLE_STATUSES } from '../deployments/rollout.js';
import { signedConfigurationLink, signedDownloadLink } from '../artifacts/links.js';
import { baseUrl } from '../request-url.js';
import { errorSchema, notFound, badRequest } from '../http-errors.js';
import type { LogMessage } from '../store/store.js';
import { recordCheckIn } from './check-in.js';

const BASE = '/api/devices/v1/deployments/device/deployments';

const instructionsSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    artifact: {
      type: 'object',
      properties: {
        id: { type: 'string' },
        artifact_name: { type: 'string' },
        source: { type: 'object', properties: { uri: { type: 'string' }, expire: { type: 'string' } } },
        device_types_compatible: { type: 'array', items: { type: 'string' } },
      },
    },
    type: { type: 'string', enum: ['configuration'] },
  },
} as const;

const responses = { 200: instructionsSchema, 204: { type: 'null' }, 400: errorSchema, 401: errorSchema };

export async function deviceDeploymentRoutes(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  const { ctx } = opts;
  const guard = deviceGuard(ctx);
  // The polls and status reports look the token up themselves, beside their first read.
  const claimsGuard = deviceClaimsGuard(ctx);

  async function answer(req: FastifyRequest, reply: FastifyReply, provides: Record<string, string>) {
    let wrote = false;
    // The token's look and the read of the device's open deployments are one store call (on
    // PostgreSQL one statement). Whatever writes comes after the token's look (auth/guards.ts,
    // deviceClaimsGuard): the check-in too (a hint that the device called, not waited for:
    // check-in.ts), so a revoked token moves nothing.
    const { tokenDeviceId, opened } = await ctx.store.deviceTokenAndOpenDeployments(req.deviceTokenJti!, req.deviceId!);
    deviceTokenOwnedBy(req, tokenDeviceId);
    recordCheckIn(ctx, req, req.deviceId!);
    const next = await nextDeployment(ctx, req.deviceId!, provides, () => (wrote = true), opened);
    if (!next) {
      // "Nothing for you now" stores nothing the device relies on (the check-in time is only a
      // hint, committed with the next group), so it need not wait for an fsync: most polls are
      // this one, and waiting for other requests' fsyncs was most of their time (app.ts, onSend).
      if (!wrote) req.noDurabilityWait = true;
      return reply.code(204).send();
    }
    req.log.info({ device_id: req.deviceId, deployment_id: next.deployment.id }, 'deployment served');
    if (next.configuration) {
      // The artifact is generated on download from the deployment's configuration (mender-configure).
      const deviceType = provides.device_type!;
      const source = signedConfigurationLink(ctx.secrets.linkKey, baseUrl(req, ctx.publicUrl), next.deployment.id, deviceType, req.deviceId!, ctx.linkTtlSeconds);
      return reply.code(200).send({
        id: next.deployment.id,
        artifact: { id: `${next.deployment.id}${req.deviceId}`, artifact_name: next.deployment.artifact_name, source, device_types_compatible: [deviceType] },
        type: 'configuration',
      });
    }
    // Signed for this device and deployment: the download route then records its progress.
    const source = signedDownloadLink(ctx.secrets.linkKey, baseUrl(req, ctx.publicUrl), next.artifact.id, ctx.linkTtlSeconds, { deploymentId: next.deployment.id, deviceId: req.deviceId! });
    return reply.code(200).send({
      id: next.deployment.id,
      artifact: {
        id: next.artifact.id,
        artifact_name: next.artifact.name,
        source,
        device_types_compatible: next.artifact.device_types,
      },
    });
  }

  app.get<{ Querystring: { artifact_name: string; device_type: string } }>(
    `${BASE}/next`,
    {
      preHandler: claimsGuard,
      schema: {
        tags: ['Device API'],
        summary: 'Get next update',
        querystring: {
          type: 'object',
          required: ['artifact_name', 'device_type'],
          properties: { artifact_name: { type: 'string', minLength: 1 }, device_type: { type: 'string', minLength: 1 } },
        },
        response: responses,
      },
    },
    async (req, reply) => answer(req, reply, { artifact_name: req.query.artifact_name, device_type: req.query.device_type }),
  );

  // Mender 3.x clients send what they provide flat; the v2 form wraps it in device_provides
  // (with update_control_map). Both are taken here.
  app.post<{ Body: Record<string, string> & { device_provides?: Record<string, string>; update_control_map?: boolean } }>(
    `${BASE}/next`,
    {
      preHandler: claimsGuard,
      schema: {
        tags: ['Device API'],
        summary: 'Get next update, sending everything the device provides',
        body: {
          type: 'object',
          properties: {
            artifact_name: { type: 'string', minLength: 1 },
            device_type: { type: 'string', minLength: 1 },
            device_provides: { type: 'object', additionalProperties: { type: 'string' } },
            update_control_map: { type: 'boolean' },
          },
          additionalProperties: { type: 'string' },
        },
        response: responses,
      },
    },
    async (req, reply) => {
      const { device_provides, update_control_map: _ucm, ...flat } = req.body;
      const provides = device_provides ?? flat;
      for (const key of ['artifact_name', 'device_type']) {
        if (typeof provides[key] !== 'string' || provides[key] === '') throw badRequest(`${key} is required`);
      }
      return answer(req, reply, provides);
    },
  );

  app.post<{ Body: { device_provides: Record<string, string>; update_control_map?: boolean } }>(
    '/api/devices/v2/deployments/device/deployments/next',
    {
      preHandler: claimsGuard,
      schema: {
        tags: ['Device API'],
        summary: 'Get next update (v2): everything the device provides, in device_provides',
        body: {
          type: 'object',
          required: ['device_provides'],
          properties: {
            device_provides: {
              type: 'object',
              required: ['artifact_name', 'device_type'],
              properties: { artifact_name: { type: 'string', minLength: 1, maxLength: 4096 }, device_type: { type: 'string', minLength: 1, maxLength: 4096 } },
              additionalProperties: { type: 'string' },
            },
            update_control_map: { type: 'boolean' },
          },
        },
        response: responses,
      },
    },
    async (req, reply) => answer(req, reply, req.body.device_provides),
  );

  app.put<{ Params: { id: string }; Body: { status: string; substate?: string } }>(
    `${BASE}/:id/status`,
    {
      preHandler: claimsGuard,
      schema: {
        tags: ['Device API'],
        summary: 'Update the device deployment status',
        params: { type: 'object', properties: { id: { type: 'string' } } },
        body: {
          type: 'object',
          required: ['status'],
          properties: { status: { type: 'string', enum: [...DEVICE_SETTABLE_STATUSES] }, substate: { type: 'string', maxLength: 200 } },
        },
        response: { 204: { type: 'null' }, 400: errorSchema, 401: errorSchema, 404: errorSchema, 409: errorSchema },
      },
    },
    async (req, reply) => {
      // The token's look and the report's first read in one store call; the write after both.
      const { tokenDeviceId, rows } = await ctx.store.deviceTokenAndDeploymentDevice(req.deviceTokenJti!, req.params.id, req.deviceId!);
      deviceTokenOwnedBy(req, tokenDeviceId);
      await reportStatus(ctx, req.deviceId!, req.params.id, req.body.status, req.body.substate ?? null, { rows });
      req.log.info({ device_id: req.deviceId, deployment_id: req.params.id, status: req.body.status }, 'deployment status');
      return reply.code(204).send();
    },
  );

  app.put<{ Params: { id: string }; Body: { messages: LogMessage[] } }>(
    `${BASE}/:id/log`,
    {
      preHandler: guard,
      bodyLimit: 4 * 1024 * 1024,
      schema: {
        tags: ['Device API'],
        summary: 'Upload the device deployment log',
        params: { type: 'object', properties: { id: { type: 'string' } } },
        body: {
          type: 'object',
          required: ['messages'],
          properties: {
            messages: {
              type: 'array',
              minItems: 1,
              items: {
                type: 'object',
                required: ['timestamp', 'level', 'message'],
                properties: { timestamp: { type: 'string' }, level: { type: 'string' }, message: { type: 'string' } },
              },
            },
          },
        },
        response: { 204: { type: 'null' }, 400: errorSchema, 401: errorSchema, 404: errorSchema },
      },
    },
    async (req, reply) => {
      if (!(await ctx.store.deploymentDevice(req.params.id, req.deviceId!))) throw notFound('deployment not found for this device');
      for (const m of req.body.messages) if (Number.isNaN(Date.parse(m.timestamp))) throw badRequest(`bad timestamp ${JSON.stringify(m.timestamp)}`);
      await ctx.store.saveDeploymentLog(req.params.id, req.deviceId!, req.body.messages.map((m) => ({ timestamp: m.timestamp, level: m.level, message: m.message })));
      return reply.code(204).send();
    },
  );
}
