// Deployments: create (device list, all devices, static group, saved filter), phases, retries,
// max_devices, an error threshold that stops the rollout, abort, statistics, per-device status
// and logs.
import type { FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { ServerContext } from '../context.js';
import { userGuard } from '../auth/guards.js';
import { errorSchema, notFound, ApiError } from '../http-errors.js';
import { now, type DeploymentRow, type DeploymentDeviceRow } from '../store/store.js';
import { planPhases, type PhaseInput } from '../deployments/phases.js';
import { deploymentOutcome } from '../deployments/outcome.js';
import type { DownloadView } from '../deployments/download-progress.js';
import { devicesMatchingFilter } from './inventory.js';
import { pagingQuery, pageOf, sendPage } from './paging.js';
import { filterAsyncInSlices, mapAsync } from '../async-array.js';

const V1 = '/api/management/v1/deployments/deployments';
const tags = ['Management API: deployments'];
const unprocessable = (msg: string) => new ApiError(422, msg);

interface NewDeployment {
  name: string;
  artifact_name: string;
  devices?: string[];
  all_devices?: boolean;
  filter_id?: string;
  phases?: PhaseInput[];
  retries?: number;
  max_devices?: number;
  /** Percent of the deployment's devices that may fail before the rest are stopped. */
  error_threshold?: number;
}

const commonProps = {
  name: { type: 'string', minLength: 1, maxLength: 256 },
  artifact_name: { type: 'string', minLength: 1 },
  phases: {
    type: 'array',
    maxItems: 100,
    items: { type: 'object', properties: { batch_size: { type: 'integer', minimum: 1, maximum: 100 }, start_ts: { type: 'string' } } },
  },
  retries: { type: 'integer', minimum: 0, maximum: 100 },
  max_devices: { type: 'integer', minimum: 1 },
  error_threshold: { type: 'number', minimum: 0, maximum: 100, description: 'Stop the deployment once failed devices exceed this percent of its devices' },
  force_installation: { type: 'boolean' },
} as const;

const deploymentSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    artifact_name: { type: 'string' },
    created: { type: 'string' },
    finished: { type: 'string' },
    status: { type: 'string' },
    device_count: { type: 'integer' },
    max_devices: { type: 'integer' },
    retries: { type: 'integer' },
    artifacts: { type: 'array', items: { type: 'string' } },
    phases: { type: 'array', items: { type: 'object', additionalProperties: true } },
    error_threshold: { type: 'number' },
    stop_reason: { type: 'string' },
    outcome: { type: 'string', description: 'Flipside: what the deployment came to (succeeded, failed, incomplete, stopped, aborted) or its rollout state' },
    type: { type: 'string' },
    statistics: { type: 'object', properties: { status: { type: 'object', additionalProperties: { type: 'integer' } } } },
    filter: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' }, terms: { type: 'array', items: { type: 'object', additionalProperties: true } } } },
    groups: { type: 'array', items: { type: 'string' } },
  },
} as const;

/**
 * What a deployment was made for, as Mender shows it: `groups` for a static group, `filter`
 * ({id, name, terms}, kept as it was then) for a saved filter. Mender's UI names the deployment's
 * target from these (deriveDeploymentGroup).
 */
function targetView(target: string): { groups?: string[]; filter?: { id?: string; name?: string; terms: unknown[] } } {
  if (target.startsWith('group:')) return { groups: [target.slice('group:'.length)] };
  if (!target.startsWith('filter:')) return {};
  const rest = target.slice('filter:'.length);
  try {
    const f = JSON.parse(rest) as { id: string; name: string; terms: unknown[] };
    return { filter: { id: f.id, name: f.name, terms: f.terms } };
  } catch {
    // Deployments made before the filter was kept whole: its name only.
    return { filter: { name: rest, terms: [] } };
  }
}

const deviceDeploymentSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    status: { type: 'string' },
    substate: { type: 'string' },
    created: { type: 'string' },
    started: { type: 'string' },
    finished: { type: 'string' },
    device_type: { type: 'string' },
    log: { type: 'boolean' },
    attempts: { type: 'integer' },
    deployment_id: { type: 'string' },
    download: {
      type: 'object',
      description: "Flipside: the artifact download as the server served it (absent before the device's first request)",
      properties: {
        bytes: { type: 'integer', description: 'Where the latest request got to (byte offset in the artifact)' },
        total: { type: 'integer', description: "The artifact's size" },
        served: { type: 'integer', description: 'Bytes sent over all requests' },
        requests: { type: 'integer' },
        resumes: { type: 'integer', description: 'Requests that resumed with a Range past byte 0' },
        restarts: { type: 'integer', description: 'Requests after the first that started from byte 0 again' },
        last_at: { type: 'string' },
        active: { type: 'boolean', description: 'A request is sending bytes now' },
      },
    },
  },
} as const;

/** A device's deployment history item: Mender's DeviceDeploymentV1 (the deployment and the device's part). */
const historyItemSchema = {
  type: 'object',
  properties: { id: { type: 'string' }, deployment: deploymentSchema, device: { ...deviceDeploymentSchema, properties: { ...deviceDeploymentSchema.properties, deleted: { type: 'string' } } } },
} as const;

const idParams = { type: 'object', properties: { id: { type: 'string' }, device_id: { type: 'string' }, name: { type: 'string' } } } as const;

export async function deploymentRoutes(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  const { ctx } = opts;
  const guard = userGuard(ctx);

  async function view(d: DeploymentRow) {
    // A server process killed between a device's last status and the deployment's move
    // (store settleDeploymentStatus) leaves the move to the next look: this one.
    if (d.status !== 'finished' && (await ctx.store.settleDeploymentStatus(d.id))) d = (await ctx.store.deployment(d.id)) ?? d;
    const statistics = { status: await ctx.store.deploymentStatistics(d.id) };
    return {
      id: d.id,
      name: d.name,
      artifact_name: d.artifact_name,
      created: d.created,
      ...(d.finished ? { finished: d.finished } : {}),
      // Stored as scheduled until a device starts; once the first phase has begun it is pending.
      status: d.status === 'scheduled' && Date.parse(d.phases[0]?.start_ts ?? d.created) <= Date.now() ? 'pending' : d.status,
      device_count: d.device_count,
      ...(d.max_devices !== null ? { max_devices: d.max_devices } : {}),
      retries: d.retries,
      artifacts: (await ctx.store.artifactsByName(d.artifact_name)).map((a) => a.id),
      phases: d.phases,
      ...(d.error_threshold !== null ? { error_threshold: d.error_threshold } : {}),
      ...(d.stop_reason ? { stop_reason: d.stop_reason } : {}),
      type: (await ctx.store.configurationDeployment(d.id)) ? 'configuration' : 'software',
      statistics,
      ...targetView(d.target),
      outcome: deploymentOutcome({ status: d.status, stop_reason: d.stop_reason, statistics: statistics.status }),
    };
  }
  /** v1 has no `scheduled`: a deployment waiting for its first phase is pending there. */
  async function viewV1(d: DeploymentRow) {
    const v = await view(d);
    return v.status === 'scheduled' ? { ...v, status: 'pending' } : v;
  }
  function deviceView(r: DeploymentDeviceRow, download?: DownloadView) {
    return {
      id: r.device_id,
      deployment_id: r.deployment_id,
      status: r.status,
      ...(r.substate ? { substate: r.substate } : {}),
      created: r.created,
      ...(r.started ? { started: r.started } : {}),
      ...(r.finished ? { finished: r.finished } : {}),
      ...(r.device_type ? { device_type: r.device_type } : {}),
      log: r.has_log === 1,
      attempts: r.attempts,
      ...(download ? { download } : {}),
    };
  }
  /** A deployment's devices with their downloads (one query for all of them). */
  async function devicesWithDownloads(deploymentId: string, rows: DeploymentDeviceRow[]) {
    const downloads = await ctx.downloads.ofDeployment(deploymentId);
    return rows.map((r) => deviceView(r, downloads.get(r.device_id)));
  }
  async function mustDeployment(id: string): Promise<DeploymentRow> {
    const d = await ctx.store.deployment(id);
    if (!d) throw notFound('deployment not found');
    return d;
  }

  async function create(body: NewDeployment, targetIds: string[], target: string, actor: string): Promise<string> {
    if ((await ctx.store.artifactsByName(body.artifact_name)).length === 0) throw unprocessable(`no artifact named ${body.artifact_name}`);
    // Only accepted devices can take part; unknown ids are refused rather than silently dropped.
    const unknown = await filterAsyncInSlices(targetIds, async (id) => (await ctx.store.device(id))?.status !== 'accepted');
    if (unknown.length) throw unprocessable(`not accepted devices: ${unknown.slice(0, 10).join(', ')}`);
    let ids = [...new Set(targetIds)];
    if (body.max_devices !== undefined) ids = ids.slice(0, body.max_devices);
    if (ids.length === 0) throw unprocessable('no devices for the deployment');
    const created = now();
    const { phases, assignment } = planPhases(ids, body.phases, created);
    const firstStart = Date.parse(phases[0]!.start_ts);
    const dep: DeploymentRow = {
      id: randomUUID(),
      name: body.name,
      artifact_name: body.artifact_name,
      created,
      finished: null,
      status: firstStart > Date.now() ? 'scheduled' : 'pending',
      device_count: ids.length,
      max_devices: body.max_devices ?? null,
      retries: body.retries ?? 0,
      phases,
      error_threshold: body.error_threshold ?? null,
      stop_reason: null,
      target,
    };
    await ctx.store.insertDeployment(dep, assignment);
    await ctx.store.audit(actor, 'deployment.create', 'deployment', dep.id, { name: dep.name, artifact_name: dep.artifact_name, device_count: ids.length, target });
    return dep.id;
  }

  const createSchema = (extra: Record<string, unknown>, required: string[]) => ({
    tags,
    body: { type: 'object', required: ['name', 'artifact_name', ...required], properties: { ...commonProps, ...extra } },
    response: { 201: { type: 'null' }, 400: errorSchema, 401: errorSchema, 404: errorSchema, 422: errorSchema },
  });

  for (const url of [V1, '/api/management/v2/deployments/deployments']) {
    app.post<{ Body: NewDeployment }>(
      url,
      {
        preHandler: guard,
        schema: createSchema(
          { devices: { type: 'array', items: { type: 'string' }, maxItems: 100000 }, all_devices: { type: 'boolean' }, filter_id: { type: 'string' } },
          [],
        ),
      },
      async (req, reply) => {
        const b = req.body;
        const targets = [b.devices?.length ? 'devices' : '', b.all_devices ? 'all_devices' : '', b.filter_id ? 'filter_id' : ''].filter(Boolean);
        if (targets.length !== 1) throw new ApiError(400, 'give exactly one of devices, all_devices, filter_id');
        let ids: string[];
        let target: string;
        if (b.all_devices) {
          ids = (await ctx.store.acceptedDeviceIds());
          target = 'all';
        } else if (b.filter_id) {
          const f = await ctx.store.filter(b.filter_id);
          if (!f) throw notFound('filter not found');
          ids = await devicesMatchingFilter(ctx, f.terms);
          target = `filter:${JSON.stringify({ id: f.id, name: f.name, terms: f.terms })}`;
        } else {
          ids = b.devices!;
          target = 'devices';
        }
        const id = await create(b, ids, target, req.userEmail!);
        return reply.code(201).header('Location', `${V1}/${id}`).send();
      },
    );
  }

  app.post<{ Params: { name: string }; Body: NewDeployment }>(
    `${V1}/group/:name`,
    { preHandler: guard, schema: { ...createSchema({}, []), params: idParams } },
    async (req, reply) => {
      const members = await ctx.store.groupMembers(req.params.name);
      if (members.length === 0) throw notFound('group not found');
      const id = await create(req.body, members, `group:${req.params.name}`, req.userEmail!);
      return reply.code(201).header('Location', `${V1}/${id}`).send();
    },
  );

  app.get<{ Querystring: { status?: string; search?: string; page: number; per_page: number; sort?: string } }>(
    V1,
    {
      preHandler: guard,
      schema: {
        tags,
        querystring: {
          type: 'object',
          properties: { status: { type: 'string', enum: ['scheduled', 'pending', 'inprogress', 'finished'] }, search: { type: 'string' }, sort: { type: 'string', enum: ['asc', 'desc'] }, ...pagingQuery },
        },
        response: { 200: { type: 'array', items: deploymentSchema }, 400: errorSchema, 401: errorSchema },
      },
    },
    async (req, reply) => {
      const all = (await ctx.store.listDeployments(req.query.status)).filter((d) => !req.query.search || d.name.includes(req.query.search) || d.artifact_name.includes(req.query.search));
      if (req.query.sort === 'asc') all.reverse();
      return mapAsync(sendPage(req, reply, all, req.query.page, req.query.per_page), viewV1);
    },
  );

  app.get<{ Querystring: { id?: string[]; name?: string; status?: string; page: number; per_page: number; sort?: string } }>(
    '/api/management/v2/deployments/deployments',
    {
      preHandler: guard,
      schema: {
        tags,
        querystring: {
          type: 'object',
          properties: {
            id: { type: 'array', items: { type: 'string' } },
            name: { type: 'string' },
            status: { type: 'string', enum: ['scheduled', 'pending', 'inprogress', 'finished'] },
            sort: { type: 'string', enum: ['asc', 'desc'] },
            ...pagingQuery,
          },
        },
        response: { 200: { type: 'array', items: deploymentSchema }, 400: errorSchema, 401: errorSchema },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const all = (await ctx.store
        .listDeployments(q.status))
        .filter((d) => (!q.id?.length || q.id.includes(d.id)) && (!q.name || d.name === q.name));
      if (q.sort === 'asc') all.reverse();
      return mapAsync(sendPage(req, reply, all, q.page, q.per_page), view);
    },
  );

  app.post<{ Body: { deployment_ids: string[] } }>(
    `${V1}/statistics/list`,
    {
      preHandler: guard,
      schema: {
        tags,
        body: { type: 'object', required: ['deployment_ids'], properties: { deployment_ids: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 1000 } } },
        response: {
          200: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, stats: { type: 'object', additionalProperties: { type: 'integer' } } } } },
          400: errorSchema,
          401: errorSchema,
          404: errorSchema,
        },
      },
    },
    async (req) => mapAsync(req.body.deployment_ids, async (id) => ({ id, stats: await ctx.store.deploymentStatistics((await mustDeployment(id)).id) })),
  );

  app.get<{ Params: { id: string } }>(
    `${V1}/:id`,
    { preHandler: guard, schema: { tags, params: idParams, response: { 200: deploymentSchema, 401: errorSchema, 404: errorSchema } } },
    async (req) => viewV1(await mustDeployment(req.params.id)),
  );

  app.put<{ Params: { id: string }; Body: { status: 'aborted' } }>(
    `${V1}/:id/status`,
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'Abort a deployment',
        params: idParams,
        body: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['aborted'] } } },
        response: { 204: { type: 'null' }, 400: errorSchema, 401: errorSchema, 404: errorSchema, 422: errorSchema },
      },
    },
    async (req, reply) => {
      const d = await mustDeployment(req.params.id);
      if (d.status === 'finished') throw unprocessable('deployment already finished');
      await ctx.store.abortDeployment(d.id, 'aborted');
      await ctx.store.audit(req.userEmail!, 'deployment.abort', 'deployment', d.id, {});
      return reply.code(204).send();
    },
  );

  app.get<{ Params: { id: string } }>(
    `${V1}/:id/statistics`,
    { preHandler: guard, schema: { tags, params: idParams, response: { 200: { type: 'object', additionalProperties: { type: 'integer' } }, 401: errorSchema, 404: errorSchema } } },
    async (req) => ctx.store.deploymentStatistics((await mustDeployment(req.params.id)).id),
  );

  app.get<{ Params: { id: string } }>(
    `${V1}/:id/devices`,
    { preHandler: guard, schema: { tags, params: idParams, response: { 200: { type: 'array', items: deviceDeploymentSchema }, 401: errorSchema, 404: errorSchema } } },
    async (req) => {
      const id = (await mustDeployment(req.params.id)).id;
      return devicesWithDownloads(id, await ctx.store.deploymentDevices(id));
    },
  );

  app.get<{ Params: { id: string }; Querystring: { status?: string; page: number; per_page: number } }>(
    `${V1}/:id/devices/list`,
    {
      preHandler: guard,
      schema: { tags, params: idParams, querystring: { type: 'object', properties: { status: { type: 'string' }, ...pagingQuery } }, response: { 200: { type: 'array', items: deviceDeploymentSchema }, 400: errorSchema, 401: errorSchema, 404: errorSchema } },
    },
    async (req, reply) => {
      const rows = (await ctx.store.deploymentDevices((await mustDeployment(req.params.id)).id)).filter((r) => !req.query.status || r.status === req.query.status);
      return devicesWithDownloads(req.params.id, sendPage(req, reply, rows, req.query.page, req.query.per_page));
    },
  );

  app.get<{ Params: { id: string } }>(
    `${V1}/:id/device_list`,
    { preHandler: guard, schema: { tags, params: idParams, response: { 200: { type: 'array', items: { type: 'string' } }, 401: errorSchema, 404: errorSchema } } },
    async (req) => (await ctx.store.deploymentDevices((await mustDeployment(req.params.id)).id)).map((r) => r.device_id),
  );

  app.get<{ Params: { id: string; device_id: string } }>(
    `${V1}/:id/devices/:device_id/log`,
    { preHandler: guard, schema: { tags, summary: 'The log a device uploaded', params: idParams, response: { 200: { type: 'string' }, 401: errorSchema, 404: errorSchema } } },
    async (req, reply) => {
      const log = await ctx.store.deploymentLog(req.params.id, req.params.device_id);
      if (!log) throw notFound('no log for this device in this deployment');
      return reply.type('text/plain').send(log.map((m) => `${m.timestamp} ${m.level} ${m.message}`).join('\n') + '\n');
    },
  );

  app.get<{ Params: { id: string }; Querystring: { status?: string[]; page: number; per_page: number } }>(
    `${V1}/devices/:id`,
    {
      preHandler: guard,
      schema: {
        tags,
        summary: "A device's deployments, newest first",
        params: idParams,
        // Mender's UI filters by several statuses at once: &status=failure&status=success.
        querystring: { type: 'object', properties: { status: { type: 'array', items: { type: 'string' } }, ...pagingQuery } },
        response: { 200: { type: 'array', items: historyItemSchema }, 400: errorSchema, 401: errorSchema },
      },
    },
    async (req, reply) => {
      const wanted = req.query.status;
      const rows = (await ctx.store.deviceDeploymentHistory(req.params.id)).filter((r) => !wanted?.length || wanted.includes(r.status));
      return mapAsync(sendPage(req, reply, rows, req.query.page, req.query.per_page), async (r) => ({ id: r.deployment_id, deployment: await viewV1(await mustDeployment(r.deployment_id)), device: deviceView(r, await ctx.downloads.ofDevice(r.deployment_id, r.device_id)) }));
    },
  );

  app.delete<{ Params: { id: string } }>(
    `${V1}/devices/:id`,
    { preHandler: guard, schema: { tags, summary: 'Take a device out of every unfinished deployment (decommissioned)', params: idParams, response: { 204: { type: 'null' }, 401: errorSchema } } },
    async (req, reply) => {
      const n = await ctx.store.endOpenDeploymentsOf(req.params.id);
      await ctx.store.audit(req.userEmail!, 'deployment.device_removed', 'device', req.params.id, { deployments: n });
      return reply.code(204).send();
    },
  );

  app.delete<{ Params: { id: string } }>(
    `${V1}/devices/:id/history`,
    { preHandler: guard, schema: { tags, summary: "Hide a device's finished deployments from its history", params: idParams, response: { 204: { type: 'null' }, 401: errorSchema } } },
    async (req, reply) => {
      const n = await ctx.store.deleteDeviceHistory(req.params.id);
      await ctx.store.audit(req.userEmail!, 'deployment.history_deleted', 'device', req.params.id, { entries: n });
      return reply.code(204).send();
    },
  );

  // Mender's UI reads the deployments configuration (delta generation, an enterprise feature) on
  // start-up: Flipside makes no deltas.
  app.get(
    '/api/management/v1/deployments/config',
    { preHandler: guard, schema: { tags, response: { 200: { type: 'object', properties: { delta: { type: 'object', properties: { enabled: { type: 'boolean' } } } } }, 401: errorSchema } } },
    async () => ({ delta: { enabled: false } }),
  );
}
