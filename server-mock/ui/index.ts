// The web UI: a small single-page app (plain ES modules + CSS, no build step) served at `/` and
// `/ui/*`, plus two routes the front end needs beyond Mender's API: a change stream (SSE) and a
// dashboard summary. The UI logs in with useradm and calls the management API with the same
// bearer token as any script; it keeps the token in sessionStorage (see README in this folder).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerResponse } from 'node:http';
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, extname, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import type { ServerContext } from '../context.js';
import { userGuard } from '../auth/guards.js';
import { errorSchema, notFound } from '../http-errors.js';
import { FINAL_DEVICE_STATUSES } from '../store/store.js';
import { deploymentOutcome } from '../deployments/outcome.js';
import { rolloutTimeline } from '../deployments/timeline.js';
import { fleetReport } from '../inventory/fleet-report.js';
import { mapAsync } from '../async-array.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Everything the page may load comes from this origin; inline script and style are refused. */
export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; " +
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** The public/ folder beside this module; from the compiled tree (dist/) the source one. */
export function assetDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'public'), join(here, '..', '..', '..', 'server-mock', 'ui', 'public')];
  const found = candidates.find((d) => existsSync(join(d, 'index.html')));
  if (!found) throw new Error(`web UI assets not found in ${candidates.join(' or ')}`);
  return found;
}

/** Reads every asset once at startup: a few tens of kilobytes, served from memory. */
export function loadAssets(dir: string): Map<string, Asset> {
  const out = new Map<string, Asset>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      if (statSync(join(dir, r)).isDirectory()) walk(r);
      else if (TYPES[extname(name)]) {
        out.set(r, asset(readFileSync(join(dir, r)), extname(name)));
      }
    }
  };
  walk('');
  return out;
}

/**
 * Browser files of npm packages, served under /ui/vendor/ from node_modules as the packages ship
 * them (no build step, nothing from a CDN): xterm.js and its fit addon for the device terminal,
 * @msgpack/msgpack's ES modules for the deviceconnect protocol. Folder in the URL → the package
 * folder it reads, and which files of it (a folder's files keep their relative imports working).
 */
export const VENDOR: Record<string, { pkg: string; dir: string; files?: string[] }> = {
  xterm: { pkg: '@xterm/xterm', dir: '', files: ['lib/xterm.mjs', 'css/xterm.css'] },
  'xterm-fit': { pkg: '@xterm/addon-fit', dir: '', files: ['lib/addon-fit.mjs'] },
  msgpack: { pkg: '@msgpack/msgpack', dir: 'dist.esm' },
};

/** Reads the VENDOR files into `assets` as `vendor/<name>/<file name or path below dir>`. */
export function loadVendorAssets(assets: Map<string, Asset>): void {
  const require = createRequire(import.meta.url);
  for (const [name, v] of Object.entries(VENDOR)) {
    // A package's main entry is always resolvable; its folder is where package.json sits above it.
    let root = dirname(require.resolve(v.pkg));
    while (!existsSync(join(root, 'package.json'))) root = dirname(root);
    const base = join(root, v.dir);
    if (v.files) {
      for (const f of v.files) {
        const body = readFileSync(join(base, f));
        assets.set(`vendor/${name}/${f.split('/').pop()}`, asset(body, extname(f)));
      }
    } else {
      for (const [rel, a] of loadAssets(base)) if (/\.m?js$/.test(rel)) assets.set(`vendor/${name}/${rel}`, a);
    }
  }
}

const asset = (body: Buffer, ext: string): Asset => ({ body, type: TYPES[ext]!, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` });

function send(req: FastifyRequest, reply: FastifyReply, a: Asset) {
  reply
    .header('content-security-policy', CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-cache')
    .header('etag', a.etag)
    .type(a.type);
  if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
  return reply.send(a.body);
}

/** A device's identity attributes (mac, serial...), or {} for a device no longer known. */
export async function deviceIdentity(ctx: ServerContext, deviceId: string): Promise<Record<string, unknown>> {
  const d = await ctx.store.device(deviceId);
  if (!d) return {};
  try {
    return JSON.parse(d.id_data) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** Devices by status, deployments not finished with their counts, the latest device failures. */
export async function dashboardSummary(ctx: ServerContext) {
  const { store } = ctx;
  const devices: Record<string, number> = {};
  for (const s of ['pending', 'accepted', 'rejected', 'preauthorized']) devices[s] = (await store.countDevices(s));
  const all = await store.listDeployments();
  const active = await mapAsync(
    all.filter((d) => d.status !== 'finished'),
    async (d) => {
      const stats = await store.deploymentStatistics(d.id);
      let done = 0;
      for (const [k, n] of Object.entries(stats)) if (FINAL_DEVICE_STATUSES.has(k)) done += n;
      return { id: d.id, name: d.name, artifact_name: d.artifact_name, status: d.status, outcome: deploymentOutcome({ ...d, statistics: stats }), created: d.created, device_count: d.device_count, done, statistics: stats };
    });
  // What the finished deployments came to: a failed one must not hide behind "finished".
  const outcomes: Record<string, number> = {};
  for (const d of all) {
    if (d.status !== 'finished') continue;
    const o = deploymentOutcome({ ...d, statistics: await store.deploymentStatistics(d.id) });
    outcomes[o] = (outcomes[o] ?? 0) + 1;
  }
  type Failure = { deployment_id: string; deployment_name: string; device_id: string; identity: Record<string, unknown>; device_type: string | null; finished: string | null; log: boolean };
  const failures: Failure[] = [];
  for (const d of all.slice(0, 50)) {
    for (const r of await store.deploymentDevices(d.id)) {
      if (r.status === 'failure') failures.push({ deployment_id: d.id, deployment_name: d.name, device_id: r.device_id, identity: {}, device_type: r.device_type, finished: r.finished, log: r.has_log === 1 });
    }
  }
  failures.sort((a, b) => String(b.finished).localeCompare(String(a.finished)));
  const recent = failures.slice(0, 10);
  for (const f of recent) f.identity = (await deviceIdentity(ctx, f.device_id));
  return { devices, deployments: { active, finished: all.length - active.length, outcomes }, failures: recent };
}

export async function uiPlugin(app: FastifyInstance, opts: { ctx: ServerContext; assetDir?: string }): Promise<void> {
  const { ctx } = opts;
  const assets = loadAssets(opts.assetDir ?? assetDir());
  loadVendorAssets(assets);
  const index = assets.get('index.html');
  if (!index) throw new Error('web UI: index.html missing');
  const guard = userGuard(ctx);
  const tags = ['Web UI'];

  app.get('/', { schema: { hide: true } }, async (req, reply) => send(req, reply, index));
  app.get<{ Params: { '*': string } }>('/ui/*', { schema: { hide: true } }, async (req, reply) => {
    const a = assets.get(req.params['*']);
    if (!a) return reply.code(404).send({ error: 'no such file', request_id: req.id });
    return send(req, reply, a);
  });

  app.get(
    '/ui/api/summary',
    {
      preHandler: guard,
      schema: { tags, summary: 'Dashboard: devices by status, deployments in progress, recent failures', response: { 200: { type: 'object', additionalProperties: true }, 401: errorSchema } },
    },
    async () => dashboardSummary(ctx),
  );

  // Mender's device list of a deployment has no phase; the deployment page draws one bar per phase.
  app.get<{ Params: { id: string } }>(
    '/ui/api/deployments/:id/phases',
    {
      preHandler: guard,
      schema: {
        tags,
        summary: "Each device's phase and identity, and the status counts per phase",
        params: { type: 'object', properties: { id: { type: 'string' } } },
        response: { 200: { type: 'object', additionalProperties: true }, 401: errorSchema, 404: errorSchema },
      },
    },
    async (req) => {
      const dep = await ctx.store.deployment(req.params.id);
      if (!dep) throw notFound('deployment not found');
      const phases = dep.phases.map(() => ({}) as Record<string, number>);
      const devices: Record<string, number> = {};
      // Mender's device list of a deployment names devices by id only; people know them by mac or serial.
      const identity: Record<string, Record<string, unknown>> = {};
      for (const r of await ctx.store.deploymentDevices(dep.id)) {
        devices[r.device_id] = r.phase;
        identity[r.device_id] = (await deviceIdentity(ctx, r.device_id));
        const p = (phases[r.phase] ??= {});
        p[r.status] = (p[r.status] ?? 0) + 1;
      }
      return { phases, devices, identity };
    },
  );

  // The dashboard's fleet charts (software distribution, check-in ages, stale devices): Mender's
  // UI gets these from its reporting service's aggregations, which Flipside does not have.
  app.get<{ Querystring: { stale_after?: number } }>(
    '/ui/api/fleet',
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'Accepted devices by installed release and device type, by last check-in, and the stale ones',
        querystring: {
          type: 'object',
          properties: { stale_after: { type: 'integer', minimum: 1, default: 86_400, description: 'Seconds without a check-in after which a device counts as stale' } },
          additionalProperties: false,
        },
        response: { 200: { type: 'object', additionalProperties: true }, 400: errorSchema, 401: errorSchema, 403: errorSchema },
      },
    },
    async (req) => fleetReport(await ctx.store.fleetDevices(), Date.now(), req.query.stale_after ?? 86_400),
  );

  // Mender's statistics give the counts now; the deployment page also draws how they got there.
  app.get<{ Params: { id: string } }>(
    '/ui/api/deployments/:id/timeline',
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'How many devices were in each status over the rollout, from the recorded status changes',
        params: { type: 'object', properties: { id: { type: 'string' } } },
        response: { 200: { type: 'object', additionalProperties: true }, 401: errorSchema, 403: errorSchema, 404: errorSchema },
      },
    },
    async (req) => {
      const dep = await ctx.store.deployment(req.params.id);
      if (!dep) throw notFound('deployment not found');
      return { ...rolloutTimeline(await ctx.store.deploymentDeviceEvents(dep.id)), created: dep.created, finished: dep.finished, status: dep.status };
    },
  );

  // Mender's UI finds a device's terminal sessions in its audit log; the recordings the server kept
  // are listed here directly, for playback on the device page (deviceconnect's playback route).
  app.get<{ Params: { id: string } }>(
    '/ui/api/devices/:id/recordings',
    {
      config: { permission: 'ConnectToDevices' },
      schema: {
        tags,
        summary: "The device's recorded terminal sessions, newest first (at most 100)",
        params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } } },
        response: { 200: { type: 'array', items: { type: 'object', additionalProperties: true } }, 401: errorSchema, 403: errorSchema, 404: errorSchema },
      },
    },
    async (req) => {
      if (!(await ctx.store.device(req.params.id))) throw notFound(`device ${req.params.id} not found`);
      return (await ctx.store.deviceRecordings(req.params.id, 100)).map((r) => ({ ...r, truncated: r.truncated === 1 }));
    },
  );

  // Change stream. The store's change counter (SQLite: total_changes() of the one connection every
  // write goes through; PostgreSQL: the WAL position, moved by every server process's writes) is
  // read once per tick for all listeners. The browser reads the stream with fetch (EventSource
  // cannot send the bearer token).
  const listeners = new Set<ServerResponse>();
  let version = await ctx.store.changeCounter();
  let seq = 0;
  let reading = false;
  const tick = setInterval(() => {
    if (listeners.size === 0 || reading) return;
    reading = true;
    ctx.store
      .changeCounter()
      .then((n) => {
        if (n === version) return;
        version = n;
        seq++;
        for (const res of listeners) res.write(`id: ${seq}\nevent: change\ndata: {"seq":${seq}}\n\n`);
      })
      .catch((err: unknown) => app.log.warn({ err }, 'change counter not read'))
      .finally(() => (reading = false));
  }, 500);
  const keepalive = setInterval(() => {
    for (const res of listeners) res.write(': keepalive\n\n');
  }, 15_000);
  tick.unref();
  keepalive.unref();
  app.addHook('preClose', async () => {
    clearInterval(tick);
    clearInterval(keepalive);
    for (const res of listeners) res.end();
    listeners.clear();
  });

  app.get(
    '/ui/api/events',
    { preHandler: guard, schema: { tags, summary: 'Server-sent events: `change` whenever stored state changed', response: { 401: errorSchema } } },
    async (req, reply) => {
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        // The hooks' headers (request id, X-Flipside-Worker) too: hijacking skips fastify's send.
        ...(reply.getHeaders() as Record<string, string>),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.write(`retry: 2000\nevent: hello\ndata: {"seq":${seq}}\n\n`);
      listeners.add(res);
      const drop = () => listeners.delete(res);
      req.raw.on('close', drop);
      res.on('close', drop);
    },
  );
}
