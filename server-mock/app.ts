// buildServer: the reference server as a Fastify instance, one plugin per concern. Tests call it
// and use app.inject; cli.ts calls it and listens.
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import multipart from '@fastify/multipart';
import websocket from '@fastify/websocket';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { openSqliteStore, type FlipsideStore } from './store/api.js';
import { BlobStore } from './store/blobs.js';
import { loadOrCreateSecrets } from './auth/secrets.js';
import type { ServerContext } from './context.js';
import { DeviceAdmission, DEFAULT_DEVICE_ADMISSION, type DeviceAdmissionOptions } from './device/admission.js';
import { PasswordHasher } from './auth/password.js';
import { LoginThrottle, DEFAULT_LOGIN_THROTTLE, inProcessGate, type LoginThrottleOptions } from './auth/login-throttle.js';
import { ApiError, explainLibraryError } from './http-errors.js';
import { acceptEmptyJsonBody } from './empty-json-body.js';
import { defaultLinkHosts } from './request-url.js';
import { installAuthorization } from './auth/authorize.js';
import { bearerFromWebSocketProtocol, chooseProtocol } from './auth/websocket-bearer.js';
import { roleRoutes } from './management/roles.js';
import { deviceAuthRoutes } from './device/auth.js';
import { deviceDeploymentRoutes } from './device/deployments.js';
import { deviceInventoryRoutes } from './device/inventory.js';
import { deviceDownloadRoutes } from './device/download.js';
import { useradmRoutes } from './management/useradm.js';
import { artifactRoutes } from './management/artifacts.js';
import { devauthRoutes } from './management/devauth.js';
import { inventoryRoutes } from './management/inventory.js';
import { deploymentRoutes } from './management/deployments.js';
import { auditRoutes } from './management/audit.js';
import { iotManagerRoutes } from './management/iot-manager.js';
import { admissionRoutes } from './management/admission.js';
import { uiPlugin } from './ui/index.js';
import { WebhookDispatcher } from './integrations/webhooks.js';
import { ConnectHub } from './deviceconnect/hub.js';
import { DownloadProgress, DEFAULT_FLUSH_MS } from './deployments/download-progress.js';
import { deviceConnectRoutes } from './deviceconnect/routes.js';
import { deviceConfigRoutes } from './deviceconfig/routes.js';
import { MAX_FRAME_BYTES } from '../connect-protocol/protocol.js';

export interface BuildServerOptions {
  /** Blobs, keys and TLS files; also the SQLite database unless `database` names a PostgreSQL one. */
  dataDir: string;
  /** A PostgreSQL database (and optionally a schema in it) instead of SQLite in dataDir. */
  database?: { url: string; schema?: string; poolSize?: number };
  /** pino options, true for defaults, false (default) for silence. */
  logger?: boolean | object;
  /** Lifetime of device JWTs (default one week, as Mender). */
  jwtTtlSeconds?: number;
  /** Lifetime of user JWTs from login (default one day). */
  userJwtTtlSeconds?: number;
  /** Lifetime of artifact download links (default one hour). */
  linkTtlSeconds?: number;
  /** Base URL for download links (default: the request's Host if it is one of linkHosts). */
  publicUrl?: string;
  /** More host names a request's Host may put in links (localhost and this machine's are in). */
  linkHosts?: string[];
  /** Largest artifact accepted (default 10 GiB). */
  maxArtifactBytes?: number;
  /** Login throttling limits (defaults in auth/login-throttle.ts); `now` is for tests. */
  loginThrottle?: Partial<LoginThrottleOptions> & { now?: () => number };
  /** Device admission limits (defaults in device/admission.ts); `now` is for tests. */
  deviceAdmission?: Partial<DeviceAdmissionOptions> & { now?: () => number };
  /** TLS key and certificate (PEM); plain HTTP without. */
  https?: { key: string | Buffer; cert: string | Buffer };
  /** Waits between webhook delivery attempts (default 1 s, 10 s, 60 s). */
  webhookRetryDelaysMs?: number[];
  /** deviceconnect: how long a file transfer waits for the device, ping interval (tests shorten them). */
  deviceConnect?: { transferIdleMs?: number; pingIntervalMs?: number; recordings?: Partial<import('./deviceconnect/retention.js').RecordingRetention> };
  /** How often download progress moves to the database while bytes flow (default 2 s; always at a request's end). */
  downloadProgressFlushMs?: number;
  /**
   * One of several processes of `flipside-server --workers N` (workers.ts): its slot (1..N, in
   * the X-Flipside-Worker header and the logs), the deviceconnect relay to the other workers,
   * the supervisor's login throttle and admission rate (cluster-shared.ts), and the name its
   * webhook leases carry (given by the supervisor, which tells the others when this one dies).
   * The supervisor did the once-only start-up work (removing orphaned blobs, emptying tmp/).
   */
  worker?: {
    slot: number;
    relay: import('./deviceconnect/cluster-relay.js').ClusterRelay;
    shared: import('./cluster-shared.js').SharedLimits;
    leaseOwner: string;
  };
  /**
   * A one-off command on the data dir (`init`, `set-password`), not a server: it takes over no
   * webhook deliveries left by others (a server may be running on the same data dir).
   */
  oneOff?: boolean;
  /** Adds hooks before the server is ready (the power-cut campaign watches the device's status reports). */
  extend?: (app: FastifyInstance) => void;
}

declare module 'fastify' {
  interface FastifyInstance {
    flipside: ServerContext;
  }
  interface FastifyRequest {
    /** Set by a route whose reply claims nothing that is not yet on disk (an empty poll). */
    noDurabilityWait?: boolean;
  }
}

export async function buildServer(opts: BuildServerOptions): Promise<FastifyInstance> {
  const dataDir = resolve(opts.dataDir);
  const store: FlipsideStore = opts.database ? await (await import('./store/postgres.js')).openPostgresStore(opts.database) : openSqliteStore(dataDir);
  const blobs = new BlobStore(dataDir, opts.worker?.slot);
  // Not in a worker: another worker may be between a blob's rename and its row's insert.
  const orphans = opts.worker ? [] : blobs.removeOrphans(await store.artifactIds());
  // SQLite belongs to one server process: a webhook lease left in it is a dead process's.
  if (!opts.database && !opts.oneOff) await store.releaseWebhookLeases(null);
  const ctx: ServerContext = {
    store,
    blobs,
    secrets: loadOrCreateSecrets(dataDir),
    jwtTtlSeconds: opts.jwtTtlSeconds ?? 7 * 24 * 3600,
    userJwtTtlSeconds: opts.userJwtTtlSeconds ?? 24 * 3600,
    linkTtlSeconds: opts.linkTtlSeconds ?? 3600,
    maxArtifactBytes: opts.maxArtifactBytes ?? 10 * 1024 ** 3,
    publicUrl: opts.publicUrl,
    webhooks: new WebhookDispatcher(store, {
      retryDelaysMs: opts.webhookRetryDelaysMs,
      owner: opts.worker?.leaseOwner,
      log: (msg, detail) => app.log.info(detail, msg),
    }),
    linkHosts: defaultLinkHosts(opts.linkHosts),
    passwords: new PasswordHasher(),
    // Under --workers N both limits are the supervisor's, so N processes count as one.
    admission: new DeviceAdmission({ ...DEFAULT_DEVICE_ADMISSION, ...opts.deviceAdmission }, opts.deviceAdmission?.now, opts.worker?.shared),
    loginThrottle: opts.worker?.shared ?? inProcessGate(new LoginThrottle({ ...DEFAULT_LOGIN_THROTTLE, ...opts.loginThrottle }, opts.loginThrottle?.now)),
    connect: new ConnectHub(opts.worker?.relay),
    // Called only once requests run, when `app` (declared below) exists.
    downloads: new DownloadProgress(store, opts.downloadProgressFlushMs ?? DEFAULT_FLUSH_MS, (err) => app.log.warn({ err }, 'download progress not saved')),
  };

  const fastifyOpts: FastifyServerOptions & { https?: object } = {
    logger: opts.logger ?? false,
    genReqId: (req) => {
      const given = req.headers['x-men-requestid'];
      return typeof given === 'string' && /^[\w-]{1,64}$/.test(given) ? given : randomUUID();
    },
    bodyLimit: 1024 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
  };
  if (opts.https) fastifyOpts.https = opts.https;
  const app = Fastify(fastifyOpts) as unknown as FastifyInstance;
  app.decorate('flipside', ctx);
  if (orphans.length) app.log.warn({ orphans }, 'removed blobs without a database row');

  acceptEmptyJsonBody(app);
  const workerSlot = opts.worker ? String(opts.worker.slot) : undefined;
  app.addHook('onRequest', async (req, reply) => {
    reply.header('X-Men-Requestid', req.id);
    // Which process served: for load balancer debugging and the multi-worker tests.
    if (workerSlot) reply.header('X-Flipside-Worker', workerSlot);
  });
  // Group commit (store.ts): no reply leaves before the writes it may reflect are on disk.
  // An error reply goes out as it is when the group failed too: it claims nothing was stored, and
  // replacing it would only hide its reason (the SQLITE_FULL that rolled the group back, say).
  app.addHook('onSend', (req, reply, payload, done) => {
    const durable = req.noDurabilityWait ? undefined : store.durable();
    if (!durable) return done(null, payload);
    durable.then(
      () => done(null, payload),
      (e: unknown) => (reply.statusCode >= 400 ? done(null, payload) : done(e as Error)),
    );
  });

  type Thrown = Error & { statusCode?: number; validation?: unknown; code?: string };
  app.setErrorHandler((thrown: Thrown, req, reply) => {
    const err = (thrown instanceof ApiError || thrown.statusCode ? undefined : explainLibraryError(thrown)) ?? thrown;
    // A body left half read would make the next request on this connection wait behind it.
    if (!req.raw.complete) void reply.header('connection', 'close');
    if (err !== thrown) req.log.warn({ err: thrown }, 'request failed');
    let status = err instanceof ApiError ? err.statusCode : (err.statusCode ?? 500);
    if (err instanceof ApiError) void reply.headers(err.headers);
    if ((err as Thrown).validation) status = 400;
    if (status >= 500) req.log.error({ err }, 'request failed');
    else req.log.info({ status, error: err.message }, 'request refused');
    // Errors thrown on purpose (ApiError) say what happened, a 507 or 503 included.
    const message = status >= 500 && !(err instanceof ApiError) ? 'internal error' : err.message;
    void reply.code(status).type('application/json').send({ error: message, request_id: req.id });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: `no route ${req.method} ${req.url.split('?')[0]}`, request_id: req.id });
  });

  await app.register(swagger, {
    openapi: {
      info: { title: 'Flipside server', description: "Mender-compatible device and management APIs", version: '0.1.0' },
      components: {
        securitySchemes: {
          DeviceJWT: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          ManagementJWT: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        },
      },
    },
  });
  await app.register(multipart, { limits: { fileSize: ctx.maxArtifactBytes, files: 1, fields: 10, fieldSize: 64 * 1024 } });

  // On close, WebSockets are cut rather than closed politely: a close handshake with a peer that
  // does not answer would hold the server's shutdown for 30 s.
  await app.register(websocket, {
    options: { maxPayload: MAX_FRAME_BYTES, handleProtocols: chooseProtocol },
    preClose: async () => {
      ctx.connect.closeAll();
      for (const ws of app.websocketServer.clients) ws.terminate();
      await new Promise<void>((r) => app.websocketServer.close(() => r()));
    },
  });
  app.addHook('onRequest', bearerFromWebSocketProtocol);
  installAuthorization(app, ctx);
  await app.register(deviceAuthRoutes, { ctx });
  await app.register(deviceDeploymentRoutes, { ctx });
  await app.register(deviceInventoryRoutes, { ctx });
  await app.register(deviceDownloadRoutes, { ctx });
  await app.register(useradmRoutes, { ctx });
  await app.register(artifactRoutes, { ctx });
  await app.register(devauthRoutes, { ctx });
  await app.register(inventoryRoutes, { ctx });
  await app.register(deploymentRoutes, { ctx });
  await app.register(auditRoutes, { ctx });
  await app.register(iotManagerRoutes, { ctx });
  await app.register(admissionRoutes, { ctx });
  await app.register(roleRoutes, { ctx });
  await app.register(deviceConnectRoutes, { ctx, ...opts.deviceConnect });
  await app.register(deviceConfigRoutes, { ctx });
  await app.register(uiPlugin, { ctx });

  app.get('/api/docs', { schema: { hide: true } }, async () => app.swagger());
  // Expired device tokens are useless rows: drop them now and then.
  const prune = setInterval(() => store.pruneExpiredDeviceTokens(Math.floor(Date.now() / 1000)).catch((err: unknown) => app.log.warn({ err }, 'expired tokens not pruned')), 3600_000);
  prune.unref();
  await store.pruneExpiredDeviceTokens(Math.floor(Date.now() / 1000));
  // Deliveries left by a process that died: at once when the supervisor says so, else on a sweep.
  opts.worker?.shared.onWorkerGone((owner) => void ctx.webhooks.takeOver(owner));
  if (!opts.oneOff) ctx.webhooks.start();
  app.addHook('onClose', async () => {
    clearInterval(prune);
    await ctx.webhooks.stop();
    opts.worker?.shared.close();
    await ctx.downloads.close();
    blobs.close();
    await store.close();
  });
  opts.extend?.(app);
  await app.ready();
  return app;
}
