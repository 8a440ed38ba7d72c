// iot-manager: integrations. Webhooks (provider `webhook`, credentials `{type: "http", http: {url, secret}}`)
// are kept; Azure IoT Hub and AWS IoT Core need those clouds and are refused with a clear error.
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { userGuard } from '../auth/guards.js';
import { errorSchema, badRequest, notFound } from '../http-errors.js';
import type { IntegrationRow } from '../store/store.js';
import { pagingQuery, pageOf } from './paging.js';

const BASE = '/api/management/v1/iot-manager';
const tags = ['Management API: iot-manager'];

interface HttpCredentials {
  type: 'http';
  http: { url: string; secret?: string };
}

const credentialsSchema = {
  type: 'object',
  required: ['type'],
  properties: { type: { type: 'string' }, http: { type: 'object', properties: { url: { type: 'string' }, secret: { type: 'string' } } } },
  additionalProperties: true,
} as const;
const integrationSchema = {
  type: 'object',
  properties: { id: { type: 'string' }, provider: { type: 'string' }, credentials: { type: 'object', additionalProperties: true } },
} as const;

/** Checks webhook credentials: an http(s) URL and a hex secret of at most 64 digits (Mender's rule). */
function webhookCredentials(c: { type: string; http?: { url?: string; secret?: string } }): HttpCredentials {
  if (c.type !== 'http') throw badRequest(`credentials of type ${c.type} are not supported by flipside-server: webhooks take {"type": "http", "http": {"url", "secret"}}`);
  const url = c.http?.url;
  let parsed: URL;
  try {
    parsed = new URL(url ?? '');
  } catch {
    throw badRequest('http.url must be an absolute http or https URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw badRequest('http.url must be an absolute http or https URL');
  const secret = c.http?.secret;
  if (secret !== undefined && !/^[0-9a-f]{1,64}$/.test(secret)) throw badRequest('http.secret must be 1 to 64 lowercase hex digits');
  return { type: 'http', http: { url: parsed.toString(), ...(secret !== undefined ? { secret } : {}) } };
}

/** What the API shows of an integration: never the webhook secret. */
function integrationView(i: IntegrationRow) {
  const c = i.credentials as HttpCredentials;
  return { id: i.id, provider: i.provider, credentials: { type: c.type, http: { url: c.http.url } } };
}

export async function iotManagerRoutes(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  const { ctx } = opts;
  const guard = userGuard(ctx);

  app.get<{ Querystring: { page: number; per_page: number } }>(
    `${BASE}/integrations`,
    { preHandler: guard, schema: { tags, querystring: { type: 'object', properties: { ...pagingQuery } }, response: { 200: { type: 'array', items: integrationSchema }, 401: errorSchema } } },
    async (req) => pageOf(await ctx.store.integrations(), req.query.page, req.query.per_page).map(integrationView),
  );

  app.post<{ Body: { provider: string; credentials: { type: string; http?: { url?: string; secret?: string } } } }>(
    `${BASE}/integrations`,
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'Add a webhook (Azure IoT Hub and AWS IoT Core are not supported)',
        body: { type: 'object', required: ['provider', 'credentials'], properties: { provider: { type: 'string' }, credentials: credentialsSchema } },
        response: { 201: { type: 'null' }, 400: errorSchema, 401: errorSchema },
      },
    },
    async (req, reply) => {
      if (req.body.provider !== 'webhook') {
        throw badRequest(`provider ${req.body.provider} is not supported by flipside-server: only "webhook" integrations (Azure IoT Hub and AWS IoT Core need those clouds)`);
      }
      const row = await ctx.store.createIntegration('webhook', webhookCredentials(req.body.credentials));
      await ctx.store.audit(req.userEmail!, 'integration.create', 'integration', row.id, { provider: row.provider });
      return reply.code(201).header('Location', `${BASE}/integrations/${row.id}`).send();
    },
  );

  app.put<{ Params: { id: string }; Body: { type: string; http?: { url?: string; secret?: string } } }>(
    `${BASE}/integrations/:id/credentials`,
    { preHandler: guard, schema: { tags, body: credentialsSchema, response: { 204: { type: 'null' }, 400: errorSchema, 401: errorSchema, 404: errorSchema } } },
    async (req, reply) => {
      if (!(await ctx.store.setIntegrationCredentials(req.params.id, webhookCredentials(req.body)))) throw notFound('integration not found');
      await ctx.store.audit(req.userEmail!, 'integration.credentials', 'integration', req.params.id, {});
      return reply.code(204).send();
    },
  );

  app.delete<{ Params: { id: string } }>(
    `${BASE}/integrations/:id`,
    { preHandler: guard, schema: { tags, response: { 204: { type: 'null' }, 401: errorSchema, 404: errorSchema } } },
    async (req, reply) => {
      if (!(await ctx.store.deleteIntegration(req.params.id))) throw notFound('integration not found');
      await ctx.store.audit(req.userEmail!, 'integration.delete', 'integration', req.params.id, {});
      return reply.code(204).send();
    },
  );

  // Device state: iot-manager keeps a device's desired and reported state in the cloud
  // integrations the device is attached to (Azure IoT Hub, AWS IoT Core). Webhooks keep none, so a
  // provisioned device has an empty map of states, and asking one integration for it is a 404, as
  // Mender answers for a webhook.
  const deviceParams = { type: 'object', properties: { id: { type: 'string' } } } as const;
  const stateParams = { type: 'object', properties: { id: { type: 'string' }, integrationId: { type: 'string' } } } as const;
  const deviceStateSchema = {
    type: 'object',
    additionalProperties: false,
    properties: { desired: { type: 'object', additionalProperties: true }, reported: { type: 'object', additionalProperties: true } },
  } as const;
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  async function mustIotDevice(id: string): Promise<void> {
    if (!(await ctx.store.isIotDevice(id))) throw notFound('device not found: iot-manager knows a device once it has been accepted');
  }
  async function noStateIn(integrationId: string): Promise<never> {
    if (!UUID.test(integrationId)) throw badRequest('integration ID is not a valid UUID');
    const known = (await ctx.store.integrations()).some((i) => i.id === integrationId);
    throw notFound(
      known
        ? 'device state is not supported by flipside-server: it lives in Azure IoT Hub or AWS IoT Core integrations, which need those clouds, and webhooks keep none'
        : 'integration not found',
    );
  }

  app.get<{ Params: { id: string } }>(
    `${BASE}/devices/:id/state`,
    {
      preHandler: guard,
      schema: { tags, summary: "The device's state in each cloud integration (none: webhooks keep no state)", params: deviceParams, response: { 200: { type: 'object', additionalProperties: deviceStateSchema }, 401: errorSchema, 404: errorSchema } },
    },
    async (req) => {
      await mustIotDevice(req.params.id);
      return {};
    },
  );
  app.get<{ Params: { id: string; integrationId: string } }>(
    `${BASE}/devices/:id/state/:integrationId`,
    { preHandler: guard, schema: { tags, params: stateParams, response: { 200: deviceStateSchema, 400: errorSchema, 401: errorSchema, 404: errorSchema } } },
    async (req) => noStateIn(req.params.integrationId),
  );
  app.put<{ Params: { id: string; integrationId: string }; Body: { desired?: object; reported?: object } }>(
    `${BASE}/devices/:id/state/:integrationId`,
    { preHandler: guard, schema: { tags, params: stateParams, body: deviceStateSchema, response: { 200: deviceStateSchema, 400: errorSchema, 401: errorSchema, 404: errorSchema } } },
    async (req) => noStateIn(req.params.integrationId),
  );
  app.delete<{ Params: { id: string } }>(
    `${BASE}/devices/:id`,
    {
      preHandler: guard,
      schema: { tags, summary: "Detach the device from its cloud integrations (it has none: there is nothing to detach)", params: deviceParams, response: { 204: { type: 'null' }, 401: errorSchema, 404: errorSchema } },
    },
    async (req, reply) => {
      await mustIotDevice(req.params.id);
      return reply.code(204).send();
    },
  );

  app.get<{ Querystring: { page: number; per_page: number; integration_id?: string } }>(
    `${BASE}/events`,
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'Device events sent to the webhooks, newest first, with each delivery',
        querystring: { type: 'object', properties: { integration_id: { type: 'string' }, ...pagingQuery } },
        response: {
          200: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                id: { type: 'string' },
                type: { type: 'string' },
                time: { type: 'string' },
                data: { type: 'object', additionalProperties: true },
                delivery_statuses: { type: 'array', items: { type: 'object', additionalProperties: true } },
              },
            },
          },
          400: errorSchema,
          401: errorSchema,
        },
      },
    },
    async (req) => {
      const { page, per_page, integration_id } = req.query;
      return ctx.store.events({ limit: per_page, offset: (page - 1) * per_page, ...(integration_id ? { integrationId: integration_id } : {}) });
    },
  );
}
