// Inventory v1 (devices, attributes, static groups) and v2 (search, attribute names, saved
// filters as dynamic groups, in Mender's enterprise style).
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { userGuard } from '../auth/guards.js';
import { createHash } from 'node:crypto';
import { errorSchema, notFound, conflict, badRequest, ApiError } from '../http-errors.js';
import { matchesAll, filterTermSchema, validateTerms } from '../inventory/filter.js';
import type { FilterTerm } from '../store/store.js';
import { pagingQuery, pageOf, sendPage } from './paging.js';
import { filterAsync, mapAsync } from '../async-array.js';

const V1 = '/api/management/v1/inventory';
const V2 = '/api/management/v2/inventory';
const tags = ['Management API: inventory'];
const GROUP_NAME = '^[A-Za-z0-9_-]{1,1024}$';

const attributeSchema = { type: 'object', properties: { name: { type: 'string' }, value: {}, scope: { type: 'string' } } } as const;
const deviceSchema = {
  type: 'object',
  properties: { id: { type: 'string' }, attributes: { type: 'array', items: attributeSchema }, updated_ts: { type: 'string' } },
} as const;
const filterSchema = {
  type: 'object',
  properties: { id: { type: 'string' }, name: { type: 'string' }, terms: { type: 'array', items: filterTermSchema } },
} as const;
const groupParams = { type: 'object', properties: { name: { type: 'string', pattern: GROUP_NAME }, id: { type: 'string' } } } as const;
const idList = { type: 'array', items: { type: 'string' }, minItems: 1 } as const;

/** Ids of the accepted devices matching the saved filter's terms. */
export async function devicesMatchingFilter(ctx: ServerContext, terms: FilterTerm[]): Promise<string[]> {
  return filterAsync(await ctx.store.acceptedDeviceIds(), async (id) => matchesAll(terms, await ctx.store.inventory(id)));
}

export async function inventoryRoutes(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  const { ctx } = opts;
  const guard = userGuard(ctx);

  // Inventory holds the devices that were accepted (Mender adds them on acceptance).
  async function view(id: string) {
    return { id, attributes: await ctx.store.inventory(id), updated_ts: (await ctx.store.inventoryDevice(id))?.updated_ts ?? (await ctx.store.device(id))!.updated_ts };
  }
  async function mustAccepted(id: string): Promise<void> {
    if ((await ctx.store.device(id))?.status !== 'accepted') throw notFound('device not found');
  }
  /** Inventory knows every device that ever asked to join, pending ones included (as Mender's does). */
  async function mustKnown(id: string): Promise<void> {
    if (!(await ctx.store.device(id))) throw notFound('device not found');
  }
  /** The device's ETag: a digest of its tags, so it changes exactly when the tags do. */
  async function etagOf(id: string): Promise<string> {
    const tagsOf = (await ctx.store.inventory(id)).filter((a) => a.scope === 'tags');
    return createHash('sha256').update(JSON.stringify(tagsOf)).digest('base64url').slice(0, 22);
  }

  app.get<{ Querystring: { group?: string; has_group?: boolean; page: number; per_page: number } }>(
    `${V1}/devices`,
    {
      preHandler: guard,
      schema: {
        tags,
        querystring: { type: 'object', properties: { group: { type: 'string' }, has_group: { type: 'boolean' }, ...pagingQuery } },
        response: { 200: { type: 'array', items: deviceSchema }, 400: errorSchema, 401: errorSchema },
      },
    },
    async (req, reply) => {
      let ids = await ctx.store.acceptedDeviceIds();
      const q = req.query;
      if (q.group !== undefined) ids = await filterAsync(ids, async (id) => (await ctx.store.inventoryDevice(id))?.grp === q.group);
      if (q.has_group !== undefined) ids = await filterAsync(ids, async (id) => Boolean((await ctx.store.inventoryDevice(id))?.grp) === q.has_group);
      return mapAsync(sendPage(req, reply, ids, q.page, q.per_page), view);
    },
  );

  app.get<{ Params: { id: string } }>(
    `${V1}/devices/:id`,
    { preHandler: guard, schema: { tags, params: groupParams, response: { 200: deviceSchema, 401: errorSchema, 404: errorSchema } } },
    async (req, reply) => {
      await mustKnown(req.params.id);
      void reply.header('ETag', `"${(await etagOf(req.params.id))}"`);
      return view(req.params.id);
    },
  );

  app.delete<{ Params: { id: string } }>(
    `${V1}/devices/:id`,
    { preHandler: guard, schema: { tags, summary: "Drop a device's inventory (attributes, tags, group)", params: groupParams, response: { 204: { type: 'null' }, 401: errorSchema } } },
    async (req, reply) => {
      await ctx.store.deleteInventory(req.params.id);
      await ctx.store.audit(req.userEmail!, 'inventory.device.delete', 'device', req.params.id, {});
      return reply.code(204).send();
    },
  );

  // Tags: PUT replaces the device's tags, PATCH adds or changes some; If-Match guards against a
  // concurrent edit (412 when the ETag moved on).
  for (const method of ['PUT', 'PATCH'] as const) {
    app.route<{ Params: { id: string }; Body: Array<{ name: string; value: string; description?: string }>; Headers: { 'if-match'?: string } }>({
      method,
      url: `${V1}/devices/:id/tags`,
      preHandler: guard,
      schema: {
        tags,
        summary: method === 'PUT' ? "Replace a device's tags" : "Add or change a device's tags",
        params: groupParams,
        body: {
          type: 'array',
          maxItems: 20,
          items: { type: 'object', required: ['name', 'value'], properties: { name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,1024}$' }, value: { type: 'string', maxLength: 4096 }, description: { type: 'string' } } },
        },
        response: { 200: { type: 'null' }, 400: errorSchema, 401: errorSchema, 404: errorSchema, 412: errorSchema },
      },
      handler: async (req, reply) => {
        await mustKnown(req.params.id);
        const ifMatch = req.headers['if-match']?.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
        if (ifMatch && ifMatch !== (await etagOf(req.params.id))) throw new ApiError(412, 'the device changed since it was read (If-Match does not match the ETag)');
        const names = req.body.map((x) => x.name);
        if (new Set(names).size !== names.length) throw badRequest('a tag is given twice');
        await ctx.store.setInventory(req.params.id, 'tags', req.body.map((x) => ({ name: x.name, value: x.value })), method === 'PUT');
        await ctx.store.audit(req.userEmail!, 'inventory.tags', 'device', req.params.id, { tags: Object.fromEntries(req.body.map((x) => [x.name, x.value])), replace: method === 'PUT' });
        return reply.code(200).header('ETag', `"${(await etagOf(req.params.id))}"`).send();
      },
    });
  }

  app.put<{ Params: { id: string }; Body: { group: string } }>(
    `${V1}/devices/:id/group`,
    {
      preHandler: guard,
      schema: {
        tags,
        params: groupParams,
        body: { type: 'object', required: ['group'], properties: { group: { type: 'string', pattern: GROUP_NAME } } },
        response: { 204: { type: 'null' }, 400: errorSchema, 401: errorSchema, 404: errorSchema },
      },
    },
    async (req, reply) => {
      await mustAccepted(req.params.id);
      await ctx.store.setGroup(req.params.id, req.body.group);
      await ctx.store.audit(req.userEmail!, 'inventory.group.assign', 'device', req.params.id, { group: req.body.group });
      return reply.code(204).send();
    },
  );

  app.get<{ Params: { id: string } }>(
    `${V1}/devices/:id/group`,
    { preHandler: guard, schema: { tags, params: groupParams, response: { 200: { type: 'object', properties: { group: { type: 'string', nullable: true } } }, 401: errorSchema, 404: errorSchema } } },
    async (req) => {
      await mustAccepted(req.params.id);
      return { group: (await ctx.store.inventoryDevice(req.params.id))?.grp ?? null };
    },
  );

  app.delete<{ Params: { id: string; name: string } }>(
    `${V1}/devices/:id/group/:name`,
    { preHandler: guard, schema: { tags, params: groupParams, response: { 204: { type: 'null' }, 400: errorSchema, 401: errorSchema, 404: errorSchema } } },
    async (req, reply) => {
      if ((await ctx.store.clearGroup(req.params.name, [req.params.id])) === 0) throw notFound('device not in this group');
      await ctx.store.audit(req.userEmail!, 'inventory.group.unassign', 'device', req.params.id, { group: req.params.name });
      return reply.code(204).send();
    },
  );

  app.get(`${V1}/groups`, { preHandler: guard, schema: { tags, response: { 200: { type: 'array', items: { type: 'string' } }, 401: errorSchema } } }, async () => ctx.store.groups());

  app.get<{ Params: { name: string }; Querystring: { page: number; per_page: number } }>(
    `${V1}/groups/:name/devices`,
    {
      preHandler: guard,
      schema: { tags, params: groupParams, querystring: { type: 'object', properties: pagingQuery }, response: { 200: { type: 'array', items: { type: 'string' } }, 400: errorSchema, 401: errorSchema, 404: errorSchema } },
    },
    async (req, reply) => {
      const members = await ctx.store.groupMembers(req.params.name);
      if (members.length === 0) throw notFound('group not found');
      return sendPage(req, reply, members, req.query.page, req.query.per_page);
    },
  );

  app.patch<{ Params: { name: string }; Body: string[] }>(
    `${V1}/groups/:name/devices`,
    {
      preHandler: guard,
      schema: { tags, summary: 'Add devices to a static group', params: groupParams, body: idList, response: { 200: { type: 'object', properties: { updated_count: { type: 'integer' }, matched_count: { type: 'integer' } } }, 400: errorSchema, 401: errorSchema } },
    },
    async (req) => {
      // matched: accepted devices among those given; updated: those not already in the group.
      const ids = await filterAsync([...new Set(req.body)], async (id) => (await ctx.store.device(id))?.status === 'accepted');
      const changed = await filterAsync(ids, async (id) => (await ctx.store.inventoryDevice(id))?.grp !== req.params.name);
      await ctx.store.setGroupOf(changed, req.params.name);
      await ctx.store.audit(req.userEmail!, 'inventory.group.assign', 'group', req.params.name, { devices: changed });
      return { updated_count: changed.length, matched_count: ids.length };
    },
  );

  app.delete<{ Params: { name: string }; Body: string[] }>(
    `${V1}/groups/:name/devices`,
    {
      preHandler: guard,
      schema: { tags, summary: 'Remove devices from a static group', params: groupParams, body: idList, response: { 200: { type: 'object', properties: { updated_count: { type: 'integer' } } }, 400: errorSchema, 401: errorSchema } },
    },
    async (req) => {
      const n = await ctx.store.clearGroup(req.params.name, req.body);
      await ctx.store.audit(req.userEmail!, 'inventory.group.unassign', 'group', req.params.name, { devices: req.body });
      return { updated_count: n };
    },
  );

  app.delete<{ Params: { name: string } }>(
    `${V1}/groups/:name`,
    { preHandler: guard, schema: { tags, params: groupParams, response: { 200: { type: 'object', properties: { updated_count: { type: 'integer' } } }, 400: errorSchema, 401: errorSchema, 404: errorSchema } } },
    async (req) => {
      const n = await ctx.store.clearGroup(req.params.name);
      if (n === 0) throw notFound('group not found');
      await ctx.store.audit(req.userEmail!, 'inventory.group.delete', 'group', req.params.name, {});
      return { updated_count: n };
    },
  );

  app.post<{ Body: { page?: number; per_page?: number; filters?: FilterTerm[]; device_ids?: string[] } }>(
    `${V2}/filters/search`,
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'Search devices by inventory attributes',
        body: {
          type: 'object',
          properties: {
            page: { type: 'integer', minimum: 1 },
            per_page: { type: 'integer', minimum: 1, maximum: 500 },
            filters: { type: 'array', items: filterTermSchema },
            device_ids: { type: 'array', items: { type: 'string' } },
            sort: {},
            attributes: {},
            text: {},
          },
        },
        response: { 200: { type: 'array', items: deviceSchema }, 400: errorSchema, 401: errorSchema },
      },
    },
    async (req, reply) => {
      const terms = req.body.filters ?? [];
      validateTerms(terms);
      // Every device, pending ones too: Mender's UI lists pending devices with an identity status filter.
      let ids = await filterAsync(await ctx.store.inventoryDeviceIds(), async (id) => matchesAll(terms, await ctx.store.inventory(id)));
      if (req.body.device_ids?.length) ids = ids.filter((id) => req.body.device_ids!.includes(id));
      return mapAsync(sendPage(req, reply, ids, req.body.page ?? 1, req.body.per_page ?? 20), view);
    },
  );

  app.get(
    `${V2}/filters/attributes`,
    { preHandler: guard, schema: { tags, response: { 200: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, scope: { type: 'string' }, count: { type: 'integer' } } } }, 401: errorSchema } } },
    async () => {
      const counts = new Map<string, { name: string; scope: string; count: number }>();
      for (const id of await ctx.store.acceptedDeviceIds()) {
        for (const a of await ctx.store.inventory(id)) {
          const k = `${a.scope}\0${a.name}`;
          const c = counts.get(k) ?? { name: a.name, scope: a.scope, count: 0 };
          c.count++;
          counts.set(k, c);
        }
      }
      return [...counts.values()].sort((x, y) => y.count - x.count || x.name.localeCompare(y.name));
    },
  );

  app.post<{ Body: { name: string; terms: FilterTerm[] } }>(
    `${V2}/filters`,
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'Save a filter (a dynamic group)',
        body: { type: 'object', required: ['name', 'terms'], properties: { name: { type: 'string', pattern: GROUP_NAME }, terms: { type: 'array', items: filterTermSchema, minItems: 1 } } },
        response: { 201: { type: 'null' }, 400: errorSchema, 401: errorSchema, 409: errorSchema },
      },
    },
    async (req, reply) => {
      validateTerms(req.body.terms);
      if ((await ctx.store.filters()).some((f) => f.name === req.body.name)) throw conflict('a filter with this name exists');
      const f = await ctx.store.createFilter(req.body.name, req.body.terms);
      await ctx.store.audit(req.userEmail!, 'inventory.filter.create', 'filter', f.id, { name: f.name });
      return reply.code(201).header('Location', `${V2}/filters/${f.id}`).send();
    },
  );

  app.get(`${V2}/filters`, { preHandler: guard, schema: { tags, response: { 200: { type: 'array', items: filterSchema }, 401: errorSchema } } }, async () =>
    (await ctx.store.filters()).map(({ id, name, terms }) => ({ id, name, terms })),
  );

  app.get<{ Params: { id: string } }>(
    `${V2}/filters/:id`,
    { preHandler: guard, schema: { tags, params: groupParams, response: { 200: filterSchema, 401: errorSchema, 404: errorSchema } } },
    async (req) => {
      const f = await ctx.store.filter(req.params.id);
      if (!f) throw notFound('filter not found');
      return { id: f.id, name: f.name, terms: f.terms };
    },
  );

  app.delete<{ Params: { id: string } }>(
    `${V2}/filters/:id`,
    { preHandler: guard, schema: { tags, params: groupParams, response: { 204: { type: 'null' }, 401: errorSchema, 404: errorSchema } } },
    async (req, reply) => {
      if (!(await ctx.store.deleteFilter(req.params.id))) throw notFound('filter not found');
      await ctx.store.audit(req.userEmail!, 'inventory.filter.delete', 'filter', req.params.id, {});
      return reply.code(204).send();
    },
  );

  app.get(
    `${V2}/statistics`,
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'Accepted and pending devices (all of the standard tier)',
        response: { 200: { type: 'object', properties: { devices_by_status: { type: 'object', additionalProperties: { type: 'object', additionalProperties: { type: 'integer' } } } } }, 401: errorSchema },
      },
    },
    async () => {
      const tier = (n: number) => ({ standard: n, micro: 0, system: 0 });
      return { devices_by_status: { accepted: tier(await ctx.store.countDevices('accepted')), pending: tier(await ctx.store.countDevices('pending')) } };
    },
  );

  app.post<{ Body: { scope: 'identity' | 'tags'; name: string; value_prefix: string; page?: number; per_page?: number } }>(
    '/api/management/v2alpha1/inventory/identities/search',
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'Devices whose identity or tag attribute starts with a prefix',
        body: {
          type: 'object',
          required: ['scope', 'name', 'value_prefix'],
          properties: { scope: { type: 'string', enum: ['identity', 'tags'] }, name: { type: 'string', minLength: 1 }, value_prefix: { type: 'string' }, attributes: {}, page: { type: 'integer', minimum: 1 }, per_page: { type: 'integer', minimum: 1, maximum: 500 } },
        },
        response: { 200: { type: 'array', items: deviceSchema }, 400: errorSchema, 401: errorSchema },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const ids = await filterAsync(await ctx.store.inventoryDeviceIds(), async (id) => (await ctx.store.inventory(id)).some((a) => a.scope === b.scope && a.name === b.name && typeof a.value === 'string' && a.value.startsWith(b.value_prefix)));
      return mapAsync(sendPage(req, reply, ids, b.page ?? 1, b.per_page ?? 20), view);
    },
  );
}
