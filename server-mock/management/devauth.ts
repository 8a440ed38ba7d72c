// devauth v2: list devices and their auth sets, accept/reject an auth set, preauthorize,
// decommission, revoke tokens.
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { userGuard } from '../auth/guards.js';
import { canonicalPem, parseDevicePublicKey, PublicKeyError } from '../auth/request-signature.js';
import { canonicalJson } from '../device/identity.js';
import { errorSchema, badRequest, conflict, notFound } from '../http-errors.js';
import { deviceStatusChanged } from '../integrations/device-events.js';
import type { DeviceRow, AuthSetStatus } from '../store/store.js';
import { pagingQuery, setPageHeaders, sendPage } from './paging.js';
import { mapAsync } from '../async-array.js';

const BASE = '/api/management/v2/devauth';
const tags = ['Management API: devauth'];
const DEVICE_STATUSES = ['pending', 'accepted', 'rejected', 'preauthorized', 'noauth'];

const authSetSchema = {
  type: 'object',
  properties: { id: { type: 'string' }, identity_data: { type: 'object', additionalProperties: true }, pubkey: { type: 'string' }, ts: { type: 'string' }, status: { type: 'string' } },
} as const;
const deviceSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    identity_data: { type: 'object', additionalProperties: true },
    status: { type: 'string' },
    created_ts: { type: 'string' },
    updated_ts: { type: 'string' },
    auth_sets: { type: 'array', items: authSetSchema },
    decommissioning: { type: 'boolean' },
    check_in_time: { type: 'string' },
  },
} as const;
const deviceParams = { type: 'object', properties: { id: { type: 'string' }, aid: { type: 'string' } } } as const;

export async function devauthRoutes(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  const { ctx } = opts;
  const guard = userGuard(ctx);

  async function view(d: DeviceRow) {
    const identity = JSON.parse(d.id_data);
    const seen = await ctx.store.checkInTime(d.id);
    return {
      id: d.id,
      identity_data: identity,
      status: d.status,
      created_ts: d.created_ts,
      updated_ts: d.updated_ts,
      auth_sets: (await ctx.store.authSets(d.id)).map((s) => ({ id: s.id, identity_data: identity, pubkey: s.pubkey, ts: s.ts, status: s.status })),
      decommissioning: false,
      ...(seen ? { check_in_time: seen } : {}),
    };
  }
  const deviceEvents = async (before: DeviceRow) => deviceStatusChanged(ctx, before, await ctx.store.device(before.id));
  async function mustDevice(id: string): Promise<DeviceRow> {
    const d = await ctx.store.device(id);
    if (!d) throw notFound('device not found');
    return d;
  }

  app.get<{ Querystring: { status?: string; page: number; per_page: number } }>(
    `${BASE}/devices`,
    {
      preHandler: guard,
      schema: {
        tags,
        querystring: { type: 'object', properties: { status: { type: 'string', enum: DEVICE_STATUSES }, ...pagingQuery } },
        response: { 200: { type: 'array', items: deviceSchema }, 400: errorSchema, 401: errorSchema },
      },
    },
    async (req, reply) => {
      const { page, per_page } = req.query;
      setPageHeaders(req, reply, await ctx.store.countDevices(req.query.status), page, per_page);
      return mapAsync(await ctx.store.listDevices({ status: req.query.status, limit: per_page, offset: (page - 1) * per_page }), view);
    },
  );

  app.post<{ Querystring: { page: number; per_page: number }; Body: { status?: string[]; id?: string[] } }>(
    `${BASE}/devices/search`,
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'Devices by status and/or id',
        querystring: { type: 'object', properties: { ...pagingQuery } },
        body: {
          type: 'object',
          properties: {
            status: { anyOf: [{ type: 'array', items: { type: 'string', enum: DEVICE_STATUSES } }, { type: 'string', enum: DEVICE_STATUSES }] },
            id: { anyOf: [{ type: 'array', items: { type: 'string' } }, { type: 'string' }] },
          },
        },
        response: { 200: { type: 'array', items: deviceSchema }, 400: errorSchema, 401: errorSchema },
      },
    },
    async (req, reply) => {
      // Mender takes a single value or a list for each.
      const list = (v: string | string[] | undefined) => (v === undefined ? undefined : Array.isArray(v) ? v : [v]);
      const statuses = list(req.body?.status);
      const ids = list(req.body?.id);
      const { page, per_page } = req.query;
      if (!ids && (!statuses || statuses.length === 1)) {
        // The common search (all devices, or one status) pages in the store, as the GET list does.
        const status = statuses?.[0];
        setPageHeaders(req, reply, await ctx.store.countDevices(status), page, per_page);
        return mapAsync(await ctx.store.listDevices({ status, limit: per_page, offset: (page - 1) * per_page }), view);
      }
      const all = (ids ? (await mapAsync(ids, (id) => ctx.store.device(id))).filter((d): d is DeviceRow => !!d) : await ctx.store.listDevices({ limit: -1, offset: 0 }))
        .filter((d) => !statuses || statuses.includes(d.status));
      return mapAsync(sendPage(req, reply, all, page, per_page), view);
    },
  );

  app.get<{ Querystring: { status?: string } }>(
    `${BASE}/devices/count`,
    {
      preHandler: guard,
      schema: {
        tags,
        querystring: { type: 'object', properties: { status: { type: 'string', enum: DEVICE_STATUSES } } },
        response: { 200: { type: 'object', properties: { count: { type: 'integer' } } }, 400: errorSchema, 401: errorSchema },
      },
    },
    async (req) => ({ count: await ctx.store.countDevices(req.query.status) }),
  );

  app.post<{ Body: { identity_data: Record<string, unknown>; pubkey: string; force?: boolean } }>(
    `${BASE}/devices`,
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'Preauthorize a device (identity and key)',
        body: {
          type: 'object',
          required: ['identity_data', 'pubkey'],
          properties: { identity_data: { type: 'object', minProperties: 1, additionalProperties: true }, pubkey: { type: 'string', minLength: 1 }, force: { type: 'boolean' } },
        },
        response: { 201: { type: 'null' }, 400: errorSchema, 401: errorSchema, 409: errorSchema },
      },
    },
    async (req, reply) => {
      let pem: string;
      try {
        pem = canonicalPem(parseDevicePublicKey(req.body.pubkey));
      } catch (e) {
        if (e instanceof PublicKeyError) throw badRequest(e.message);
        throw e;
      }
      const r = await ctx.store.preauthorize(canonicalJson(req.body.identity_data), pem);
      if (!r) throw conflict('device already exists with this key');
      await ctx.store.audit(req.userEmail!, 'device.preauthorize', 'device', r.device.id, { identity_data: req.body.identity_data });
      return reply.code(201).header('Location', `${BASE}/devices/${r.device.id}`).send();
    },
  );

  app.get<{ Params: { id: string } }>(
    `${BASE}/devices/:id`,
    { preHandler: guard, schema: { tags, params: deviceParams, response: { 200: deviceSchema, 401: errorSchema, 404: errorSchema } } },
    async (req) => view(await mustDevice(req.params.id)),
  );

  app.delete<{ Params: { id: string } }>(
    `${BASE}/devices/:id`,
    { preHandler: guard, schema: { tags, summary: 'Decommission a device', params: deviceParams, response: { 204: { type: 'null' }, 401: errorSchema, 404: errorSchema } } },
    async (req, reply) => {
      const before = await ctx.store.device(req.params.id);
      if (!before || !(await ctx.store.decommission(before.id))) throw notFound('device not found');
      await ctx.store.audit(req.userEmail!, 'device.decommission', 'device', req.params.id, {});
      await deviceStatusChanged(ctx, before, undefined);
      return reply.code(204).send();
    },
  );

  app.delete<{ Params: { id: string; aid: string } }>(
    `${BASE}/devices/:id/auth/:aid`,
    { preHandler: guard, schema: { tags, params: deviceParams, response: { 204: { type: 'null' }, 401: errorSchema, 404: errorSchema } } },
    async (req, reply) => {
      const set = await ctx.store.authSet(req.params.aid);
      if (!set || set.device_id !== req.params.id) throw notFound('auth set not found');
      const before = await mustDevice(req.params.id);
      await ctx.store.deleteAuthSet(set.id);
      await deviceEvents(before);
      await ctx.store.audit(req.userEmail!, 'device.authset.delete', 'device', req.params.id, { auth_set: set.id });
      return reply.code(204).send();
    },
  );

  app.get<{ Params: { id: string; aid: string } }>(
    `${BASE}/devices/:id/auth/:aid/status`,
    { preHandler: guard, schema: { tags, params: deviceParams, response: { 200: { type: 'object', properties: { status: { type: 'string' } } }, 401: errorSchema, 404: errorSchema } } },
    async (req) => {
      const set = await ctx.store.authSet(req.params.aid);
      if (!set || set.device_id !== req.params.id) throw notFound('auth set not found');
      return { status: set.status };
    },
  );

  app.put<{ Params: { id: string; aid: string }; Body: { status: AuthSetStatus } }>(
    `${BASE}/devices/:id/auth/:aid/status`,
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'Accept, reject or reset an auth set',
        params: deviceParams,
        body: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['accepted', 'rejected', 'pending'] } } },
        response: { 204: { type: 'null' }, 400: errorSchema, 401: errorSchema, 404: errorSchema },
      },
    },
    async (req, reply) => {
      const set = await ctx.store.authSet(req.params.aid);
      if (!set || set.device_id !== req.params.id) throw notFound('auth set not found');
      const before = await mustDevice(req.params.id);
      await ctx.store.setAuthSetStatus(set.id, req.body.status);
      await deviceEvents(before);
      await ctx.store.audit(req.userEmail!, `device.${req.body.status === 'accepted' ? 'accept' : req.body.status === 'rejected' ? 'reject' : 'reset'}`, 'device', req.params.id, { auth_set: set.id });
      return reply.code(204).send();
    },
  );

  app.delete<{ Params: { id: string } }>(
    `${BASE}/tokens/:id`,
    { preHandler: guard, schema: { tags, summary: 'Revoke a device token', params: deviceParams, response: { 204: { type: 'null' }, 401: errorSchema, 404: errorSchema } } },
    async (req, reply) => {
      if (!(await ctx.store.deleteDeviceToken(req.params.id))) throw notFound('token not found');
      await ctx.store.audit(req.userEmail!, 'device.token.revoke', 'token', req.params.id, {});
      return reply.code(204).send();
    },
  );

  // Flipside has no device limit; Mender answers 0 for "no limit" and its UI reads it so.
  app.get(
    `${BASE}/limits/max_devices`,
    { preHandler: guard, schema: { tags, summary: 'The device limit (0: none)', response: { 200: { type: 'object', properties: { limit: { type: 'integer' } } }, 401: errorSchema } } },
    async () => ({ limit: 0 }),
  );
}
