// flipside-server: start the server (TLS by default with a generated CA), `init` the first
// admin, `set-password` of a user, or print the `routes` authorization table. Options also come from FLIPSIDE_SERVER_* environment variables.
import { Command, CommanderError } from 'commander';
import { resolve, join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { authorizationMarkdown, sortedTable } from './auth/authorization-table.js';
import { pathToFileURL } from 'node:url';
import { DEFAULT_RECORDING_RETENTION } from './deviceconnect/retention.js';

// The server (fastify, SQLite, x509) loads only when a command runs: `--help` stays instant.
const server = () => import('./app.js');
const tlsModule = () => import('./tls.js');
type ServerApp = Awaited<ReturnType<typeof import('./app.js').buildServer>>;

const env = process.env;

function intOption(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new CommanderError(2, 'flipside.bad-number', `not a number: ${v}`);
  return n;
}

function positiveIntOption(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new CommanderError(2, 'flipside.bad-number', `not a positive whole number: ${v}`);
  return n;
}

/** A listen failure people can act on, or null for one this does not know. */
export function listenError(e: NodeJS.ErrnoException, host: string, port: number): string | null {
  if (e.code === 'EADDRINUSE') return `port ${port} on ${host} is already in use (another flipside-server?). Stop that one, or pick another port: --port <n> or FLIPSIDE_SERVER_PORT.`;
  if (e.code === 'EACCES') return `no permission to listen on port ${port} (ports below 1024 need root). Pick a port above 1023: --port <n>.`;
  if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') return `${host} is not an address of this machine. Use --host 0.0.0.0 (every interface) or --host 127.0.0.1 (this machine only).`;
  return null;
}

/** After the listening line: where the web UI is, who can reach the server, which CA to trust. */
export function startupNotes(o: { host: string; port: number; caPath?: string }): string {
  const scheme = o.caPath ? 'https' : 'http';
  const lines = [`  web UI: ${scheme}://localhost:${o.port}/ (log in with the admin made by \`flipside-server init\`)`];
  if (o.host === '0.0.0.0' || o.host === '::') lines.push(`  bound to every network interface (${o.host}): devices on your network can reach it; --host 127.0.0.1 keeps it to this machine`);
  if (o.caPath) lines.push(`  devices and browsers must trust ${o.caPath} (the device config's ServerCertificate; see README "Trust the server's CA")`);
  return `${lines.join('\n')}\n`;
}

/** listen(2)'s backlog asked for; Linux caps it at net.core.somaxconn. */
export const LISTEN_BACKLOG = 4096;

/** --database-pool, or FLIPSIDE_DATABASE_POOL as the raw string (commander does not parse defaults). */
export function poolSizeOf(v: number | string | undefined): number | undefined {
  if (typeof v !== 'string') return v;
  try {
    return positiveIntOption(v);
  } catch (e) {
    // Thrown from an action, so commander does not print it: said here.
    process.stderr.write(`flipside-server: FLIPSIDE_DATABASE_POOL: ${(e as Error).message}\n`);
    throw e;
  }
}

export function databaseOf(url: string | undefined, poolSize?: number): { url: string; poolSize?: number } | undefined {
  if (url === undefined || url === '') return undefined;
  if (!/^postgres(ql)?:\/\//.test(url)) {
    // Thrown from an action, so commander does not print it: said here.
    const why = `--database: ${url} is not a postgres:// URL (postgres://user@host:5432/database)`;
    process.stderr.write(`flipside-server: ${why}\n`);
    throw new CommanderError(2, 'flipside.bad-database', why);
  }
  return { url, ...(poolSize !== undefined ? { poolSize } : {}) };
}

/**
 * --workers N's supervisor: the once-only start-up work, then the workers (workers.ts). The
 * listening line and the notes are printed once every worker listens.
 */
async function supervise(o: { workers: number; http: boolean; host: string; tlsName?: string[] }, dataDir: string, database: { url: string }): Promise<number> {
  const tls = o.http ? undefined : await (await tlsModule()).ensureTls(dataDir, o.tlsName ?? []);
  const [{ loadOrCreateSecrets }, { openPostgresStore }, { BlobStore }, { superviseWorkers }] = await Promise.all([
    import('./auth/secrets.js'),
    import('./store/postgres.js'),
    import('./store/blobs.js'),
    import('./workers.js'),
  ]);
  loadOrCreateSecrets(dataDir);
  // Opening the store runs the schema migrations, once, before any worker.
  const store = await openPostgresStore(database);
  try {
    const orphans = new BlobStore(dataDir).removeOrphans(await store.artifactIds());
    if (orphans.length) process.stderr.write(`flipside-server: removed blobs without a database row: ${orphans.join(', ')}\n`);
  } finally {
    await store.close();
  }
  return superviseWorkers({
    workers: o.workers,
    log: (line) => process.stderr.write(`flipside-server: ${line}\n`),
    onListening: (address) => {
      const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
      process.stdout.write(`flipside-server listening on ${tls ? 'https' : 'http'}://${address}${tls ? ` ca=${tls.caPath}` : ''} (${o.workers} workers)\n`);
      process.stdout.write(startupNotes({ host: host === '::' ? '::' : host, port, caPath: tls?.caPath }));
    },
  });
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = new Command('flipside-server')
    .description('Mender-compatible OTA update server')
    .exitOverride()
    .option('--data-dir <dir>', 'where the database, blobs, keys and TLS files live (FLIPSIDE_SERVER_DATA_DIR)', env.FLIPSIDE_SERVER_DATA_DIR ?? './flipside-data')
    .option('--port <n>', 'port (FLIPSIDE_SERVER_PORT)', intOption, Number(env.FLIPSIDE_SERVER_PORT ?? 8443))
    .option('--host <addr>', 'address to listen on (FLIPSIDE_SERVER_HOST)', env.FLIPSIDE_SERVER_HOST ?? '0.0.0.0')
    .option('--http', 'plain HTTP instead of TLS (FLIPSIDE_SERVER_HTTP=1)', env.FLIPSIDE_SERVER_HTTP === '1')
    .option('--public-url <url>', 'base URL put in download links (FLIPSIDE_SERVER_PUBLIC_URL)', env.FLIPSIDE_SERVER_PUBLIC_URL)
    .option('--link-host <name...>', 'host names a request may put in download links when --public-url is unset (FLIPSIDE_SERVER_LINK_HOSTS, comma separated)', env.FLIPSIDE_SERVER_LINK_HOSTS?.split(','))
    .option('--tls-name <name...>', 'extra DNS names / IPs for the server certificate (FLIPSIDE_SERVER_TLS_NAMES, comma separated)', env.FLIPSIDE_SERVER_TLS_NAMES?.split(','))
    .option('--jwt-ttl <seconds>', 'device token lifetime (FLIPSIDE_SERVER_JWT_TTL)', intOption, env.FLIPSIDE_SERVER_JWT_TTL ? Number(env.FLIPSIDE_SERVER_JWT_TTL) : undefined)
    .option('--log-level <level>', 'pino log level (FLIPSIDE_SERVER_LOG_LEVEL)', env.FLIPSIDE_SERVER_LOG_LEVEL ?? 'info')
    .option('--recording-max-age-days <n>', 'delete terminal session recordings older than this (FLIPSIDE_SERVER_RECORDING_MAX_AGE_DAYS)', intOption, Number(env.FLIPSIDE_SERVER_RECORDING_MAX_AGE_DAYS ?? DEFAULT_RECORDING_RETENTION.maxAgeDays))
    .option('--recording-max-mib <n>', 'keep at most this many MiB of terminal session recordings, the oldest deleted first (FLIPSIDE_SERVER_RECORDING_MAX_MIB)', intOption, Number(env.FLIPSIDE_SERVER_RECORDING_MAX_MIB ?? DEFAULT_RECORDING_RETENTION.maxTotalBytes / 2 ** 20))
    .option('--database <url>', 'PostgreSQL instead of SQLite in the data dir: postgres://user@host:port/db (FLIPSIDE_DATABASE_URL)', env.FLIPSIDE_DATABASE_URL)
    .option('--workers <n>', 'server processes sharing the port (N > 1 needs --database; FLIPSIDE_SERVER_WORKERS)', intOption, Number(env.FLIPSIDE_SERVER_WORKERS ?? 1))
    // Each of a request's queries waits for a free connection (store/pool-timing.ts logs the
    // wait): more connections let more requests' queries run in one event-loop turn. Per process.
    .option('--database-pool <n>', 'PostgreSQL connections per server process, half for pipelined queries, half for transactions (default 10; FLIPSIDE_DATABASE_POOL)', positiveIntOption, env.FLIPSIDE_DATABASE_POOL ? positiveIntOption(env.FLIPSIDE_DATABASE_POOL) : undefined);

  program.action(async (o: { dataDir: string; database?: string; databasePool?: number | string; port: number; host: string; http: boolean; publicUrl?: string; tlsName?: string[]; linkHost?: string[]; jwtTtl?: number; logLevel: string; recordingMaxAgeDays: number; recordingMaxMib: number; workers: number }) => {
    const dataDir = resolve(o.dataDir);
    const database = databaseOf(o.database, poolSizeOf(o.databasePool));
    let worker: import('./app.js').BuildServerOptions['worker'];
    if (o.workers > 1) {
      const [{ default: cluster }, workers] = await Promise.all([import('node:cluster'), import('./workers.js')]);
      if (!database) {
        process.stderr.write(`flipside-server: ${workers.WORKERS_NEED_POSTGRES}\n`);
        code = 2;
        return;
      }
      if (cluster.isPrimary) {
        code = await supervise(o, dataDir, database);
        return;
      }
      const [{ ClusterRelay }, { SharedLimits }] = await Promise.all([import('./deviceconnect/cluster-relay.js'), import('./cluster-shared.js')]);
      worker = {
        slot: workers.workerSlot() ?? cluster.worker!.id,
        relay: new ClusterRelay(cluster.worker!.id, process as never),
        shared: new SharedLimits(process as never),
        leaseOwner: workers.workerLeaseOwner(),
      };
    }
    // The supervisor made the TLS files: a worker only reads them.
    const tls = o.http ? undefined : await (await tlsModule()).ensureTls(dataDir, o.tlsName ?? []);
    // Log lines leave from libuv's thread pool, not the event loop: a synchronous write per line
    // was 7 % of the server's main-thread time in the 4,000-device fleet run, and a write to a
    // file on a busy disk can block for as long as the disk makes it. Lines are gathered into
    // writes of 8 KiB (or what came in the last 0.5 s): handing a write to the pool costs the
    // loop tens of µs, and up to milliseconds when the box is busy (waking a pool thread), which
    // a write per line or two made 10 % of the main thread's samples in the 2,000-device run.
    // pino flushes what is buffered when the process exits.
    const logStream = (await import('pino')).default.destination({ dest: 1, sync: false, minLength: 8 * 1024, periodicFlush: 500 });
    const app = await (await server()).buildServer({
      dataDir,
      worker,
      logger: { level: o.logLevel, stream: logStream, ...(worker ? { base: { pid: process.pid, worker: worker.slot } } : {}) },
      publicUrl: o.publicUrl,
      linkHosts: [...(o.tlsName ?? []), ...(o.linkHost ?? [])],
      jwtTtlSeconds: o.jwtTtl,
      deviceConnect: { recordings: { maxAgeDays: o.recordingMaxAgeDays, maxTotalBytes: o.recordingMaxMib * 2 ** 20 } },
      https: tls ? { key: tls.key, cert: tls.cert } : undefined,
      database,
    });
    let address: string;
    try {
      // The kernel's cap (net.core.somaxconn, 4096 on current Linux) as Go's net.Listen (Mender's
      // server) takes it, not Node's 511: a rollout's reboots reconnect thousands of devices within
      // seconds, and a full accept queue drops their SYNs, which the client resends after 1, 3, 7,
      // 15 s (3,000 devices at load 8: 30,000 drops, a status report after a reboot p99 44 s).
      address = await app.listen({ port: o.port, host: o.host, backlog: LISTEN_BACKLOG });
    } catch (e) {
      await app.close();
      const why = listenError(e as NodeJS.ErrnoException, o.host, o.port);
      if (!why) throw e;
      process.stderr.write(`flipside-server: ${why}\n`);
      code = 1;
      return;
    }
    app.log.info({ address, data_dir: dataDir, ca: tls?.caPath }, 'flipside-server listening');
    // A line per 10 s: what a stalled loop cost every request (loop-delay.ts).
    const { logLoopDelay } = await import('./loop-delay.js');
    logLoopDelay((w, msg) => app.log.info(w, msg)); // unref'd: ends with the process
    // On PostgreSQL, beside it: where queries' time went in the same window (store/pool-timing.ts).
    const timing = (app.flipside.store as { timing?: import('./store/pool-timing.js').PoolTiming }).timing;
    if (timing) {
      const { POOL_TIMING_MESSAGE } = await import('./store/pool-timing.js');
      setInterval(() => {
        const w = timing.take();
        if (w) app.log.info(w, POOL_TIMING_MESSAGE);
      }, 10_000).unref();
    }
    if (worker) {
      // The supervisor prints the listening line once for all; a worker runs until it is told to
      // stop, or until the supervisor is gone (its IPC channel closed: killed, say).
      await new Promise<void>((done) => {
        let stopping = false;
        const stop = (why: string) => {
          if (stopping) return;
          stopping = true;
          app.log.info({ reason: why }, 'worker shutting down');
          void app.close().then(done);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('disconnect', () => stop('the supervisor is gone'));
      });
      // The IPC channel would keep this process alive.
      if (process.connected) process.disconnect();
      return;
    }
    // One plain line for scripts and humans: where to connect, and which CA to trust.
    process.stdout.write(`flipside-server listening on ${address}${tls ? ` ca=${tls.caPath}` : ''}\n`);
    process.stdout.write(startupNotes({ host: o.host, port: (app.server.address() as { port: number }).port, caPath: tls?.caPath }));
    if ((await app.flipside.store.countUsers()) === 0) app.log.warn('no users yet: run `flipside-server init --admin-email ... --admin-password ...`');
    await new Promise<void>((done) => {
      const stop = (sig: string) => {
        app.log.info({ signal: sig }, 'shutting down');
        void app.close().then(done);
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
  });

  /** Runs a command on the data dir's server without listening; a refused input (ApiError) exits 1. */
  const onDataDir = async (name: string, run: (app: ServerApp, dataDir: string) => Promise<void>): Promise<void> => {
    const { dataDir: dir, database } = program.opts<{ dataDir: string; database?: string }>();
    const dataDir = resolve(dir);
    const [{ buildServer }, { ApiError }] = await Promise.all([server(), import('./http-errors.js')]);
    const app = await buildServer({ dataDir, database: databaseOf(database), oneOff: true });
    try {
      await run(app, dataDir);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      process.stderr.write(`flipside-server ${name}: ${e.message}\n`);
      code = 1;
    } finally {
      await app.close();
    }
  };

  program
    .command('routes')
    .description('print the authorization table: every management route and the roles allowed')
    .option('--json', 'as JSON instead of markdown')
    .action(async (o: { json?: boolean }) => {
      const dataDir = mkdtempSync(join(tmpdir(), 'flipside-routes-'));
      try {
        const app = await (await server()).buildServer({ dataDir, oneOff: true });
        const table = sortedTable(app.authorizationTable);
        await app.close();
        process.stdout.write(o.json ? `${JSON.stringify(table, null, 2)}\n` : authorizationMarkdown(table));
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    });

  program
    .command('init')
    .description('create the first admin user')
    .requiredOption('--admin-email <email>', 'e-mail (login name)', env.FLIPSIDE_SERVER_ADMIN_EMAIL)
    .requiredOption('--admin-password <password>', 'password, at least 8 characters', env.FLIPSIDE_SERVER_ADMIN_PASSWORD)
    .action(async (o: { adminEmail: string; adminPassword: string }) =>
      onDataDir('init', async (app, dataDir) => {
        const { createUser } = await import('./management/useradm.js');
        const user = await createUser(app.flipside, o.adminEmail, o.adminPassword);
        await app.flipside.store.audit('cli', 'user.create', 'user', user.id, { email: user.email });
        process.stdout.write(`created user ${user.email} (${user.id}) in ${dataDir}\n`);
      }),
    );

  program
    .command('set-password')
    .description("set a user's password (a forgotten one: over the API each user changes only their own)")
    .requiredOption('--email <email>', 'the user (login name)', env.FLIPSIDE_SERVER_USER_EMAIL)
    .requiredOption('--password <password>', 'new password, at least 8 characters (FLIPSIDE_SERVER_USER_PASSWORD keeps it out of ps)', env.FLIPSIDE_SERVER_USER_PASSWORD)
    .action(async (o: { email: string; password: string }) =>
      onDataDir('set-password', async (app) => {
        const { setPassword } = await import('./management/useradm.js');
        const user = await setPassword(app.flipside, o.email, o.password);
        await app.flipside.store.audit('cli', 'user.update', 'user', user.id, { email: user.email, password_changed: true });
        process.stdout.write(`password set for ${user.email}; their sessions have ended\n`);
      }),
    );

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return 0;
      return e.exitCode || 2;
    }
    throw e;
  }
  return code;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (c) => {
      process.exitCode = c;
    },
    (e: unknown) => {
      process.stderr.write(`flipside-server: ${(e as Error).stack ?? e}\n`);
      process.exitCode = 1;
    },
  );
}
