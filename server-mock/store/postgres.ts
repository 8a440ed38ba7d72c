// The PostgreSQL store: the same contract as the SQLite store (api.ts), for several server
// processes sharing one database. Each method is one statement (durable when its Promise
// resolves: PostgreSQL commits with its own WAL fsync) or one transaction. Whatever reads before
// it writes either says what it expects in the write itself (ON CONFLICT, WHERE status = the one
// read) or locks the row it decides on first (SELECT ... FOR UPDATE), so two processes cannot
// both act on the same stale read: a deployment's status is recomputed under its row lock, and
// an auth request finds or creates its device under the device row's lock.
import postgres from 'postgres';
import { randomUUID } from 'node:crypto';
import { PG_MIGRATIONS, PG_SCHEMA_VERSION } from './postgres-schema.js';
import type { FlipsideStore } from './api.js';
import { PoolTiming } from './pool-timing.js';
import { Coalesced } from './coalesced.js';
import {
  FINAL_DEVICE_STATUSES, auditQuery, deploymentStatusFrom, ANY_OPEN_DEVICE_SQL, ANY_DEVICE_SQL, ANY_STARTED_DEVICE_SQL, deviceStatusOf, now,
  type ArtifactRow, type AuditEntry, type AuditFilter, type AuthSetRow, type AuthSetStatus, type DeploymentDeviceEvent, type DeploymentDeviceRow, type DeploymentRow,
  type DeviceConfigRow, type DeviceRow, type DeviceStatus, type DownloadProgressRow, type FilterRow, type FilterTerm,
  type FleetDeviceRow, type IntegrationRow, type InventoryAttribute, type LogMessage, type PersonalTokenRow, type RecordingRow, type UserRow, type WebhookOutboxRow,
} from './store.js';

/** The driver's handle: the pool, or one transaction's connection inside sql.begin. */
type Pool = postgres.Sql<{ int8: number }>;
type Db = Pool | postgres.TransactionSql<{ int8: number }>;

const FINAL = [...FINAL_DEVICE_STATUSES];
const FINAL_LIST = FINAL.map((s) => `'${s}'`).join(',');

/**
 * SQL with `?` placeholders (as the SQLite store writes them) turned into PostgreSQL's $n. The
 * driver (postgres.js) prepares each text once per connection (parsed and planned once, then only
 * bound and run) and pipelines: many queries in flight on one connection, written in one socket
 * write and answered in one read. With node-postgres a connection carried one query per event-loop
 * turn of this busy server, which capped the store at ~900 queries a second (README, Scaling).
 */
const converted = new Map<string, string>();
/** The store's statements are a fixed set; past this many texts, the rest are not prepared. */
const MAX_PREPARED = 1000;
function numbered(sql: string): { text: string; prepare: boolean } {
  let text = converted.get(sql);
  if (text === undefined) {
    let n = 0;
    text = sql.replace(/\?/g, () => `$${++n}`);
    if (converted.size < MAX_PREPARED) converted.set(sql, text);
    else return { text, prepare: false };
  }
  return { text, prepare: true };
}
/** cached plan must not change result type: a table's columns changed under a prepared statement. */
const STALE_PREPARED = '0A000';

/** The pool or one transaction: the queries one method runs, timed (pool-timing.ts). */
class Sql {
  constructor(
    private readonly on: Db,
    private readonly timing: PoolTiming,
    /** The pool whose queue a query may wait in; none inside a transaction (its connection is its own). */
    private readonly queue: Pool | undefined,
  ) {}
  async all<T>(sql: string, ...params: unknown[]): Promise<T[]> {
    // A plain array, as node-postgres's rows and the SQLite store's are (the driver's is a subclass).
    return Array.from(await this.query(sql, params)) as T[];
  }
  async get<T>(sql: string, ...params: unknown[]): Promise<T | undefined> {
    return (await this.all<T>(sql, ...params))[0];
  }
  async run(sql: string, ...params: unknown[]): Promise<number> {
    return (await this.query(sql, params)).count ?? 0;
  }
  private async query(sql: string, params: unknown[]): Promise<postgres.RowList<postgres.Row[]>> {
    const { text, prepare } = numbered(sql);
    // Queued (no connection free to pipeline on) right now: the pool's queue, as the log shows it.
    if (this.queue) this.timing.waitingNow(this.queue.stats.waiting);
    const t0 = performance.now();
    try {
      // A text without values still goes as one extended-protocol statement (simple: false), as
      // node-postgres sent it: never several statements in one string.
      return await this.on.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare, simple: false });
    } finally {
      this.timing.queried(performance.now() - t0);
    }
  }
}

export interface PostgresStoreOptions {
  /** postgres://user@host:port/database */
  url: string;
  /** A schema to keep the tables in (created when missing); default: the connection's search_path (public). */
  schema?: string;
  /** Connections per process (default 10): half pipelined queries, half transactions (poolSplit). */
  poolSize?: number;
}

/**
 * The connections for pipelined queries and those for transactions, from --database-pool N: two
 * pools, so a transaction never waits in the queue the reads wait in. With one pool, a
 * transaction needs a connection with nothing in flight, and the driver's queue is first come,
 * first served: every query asked after it waited too (3,000 devices booting, 1,000 first-auth
 * transactions in 10 s: up to 2,425 queries queued, polls 4 s at p99). Pipelined, a few
 * connections carry the queries; a transaction holds its connection for all its round trips.
 * At least one of each: a pool of 1 opens 2.
 */
export function poolSplit(size: number): { queries: number; transactions: number } {
  if (!Number.isInteger(size) || size < 1) throw new Error(`database pool size ${size}: a whole number of connections, 1 or more`);
  const queries = Math.max(1, Math.ceil(size / 2));
  return { queries, transactions: Math.max(1, size - queries) };
}

function connectPool(url: string, opts: { max: number; schema?: string }): Pool {
  return postgres(url, {
    max: opts.max,
    // A connection closed when idle takes its prepared statements with it; a fleet's load comes
    // in waves, and ten idle connections cost PostgreSQL little.
    idle_timeout: 60,
    // int8 (COUNT, BIGINT columns, BIGSERIAL) as a number, as SQLite gives it: sizes and counts
    // stay far below 2^53.
    types: { int8: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) } },
    // undefined binds as NULL, as node-postgres and better-sqlite3 bind it.
    transform: { undefined: null },
    onnotice: () => {},
    ...(opts.schema ? { connection: { search_path: opts.schema } } : {}),
  });
}

export async function openPostgresStore(opts: PostgresStoreOptions): Promise<PostgresStore> {
  if (opts.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(opts.schema)) throw new Error(`schema name ${JSON.stringify(opts.schema)}: lower-case letters, digits and _ only`);
  const split = poolSplit(opts.poolSize ?? 10);
  const schema = opts.schema ? { schema: opts.schema } : {};
  const pool = connectPool(opts.url, { max: split.queries, ...schema });
  const txPool = connectPool(opts.url, { max: split.transactions, ...schema });
  try {
    await migrate(txPool, opts.schema);
  } catch (e) {
    await Promise.all([pool.end(), txPool.end()]);
    throw e;
  }
  return new PostgresStore(pool, txPool);
}

/** Brings the schema to PG_SCHEMA_VERSION under an advisory lock (several processes may start at once). */
async function migrate(pool: Pool, schema: string | undefined): Promise<void> {
  await pool.begin(async (c) => {
    // One lock per schema: processes sharing a schema migrate it once; other schemas do not wait.
    await c.unsafe("SELECT pg_advisory_xact_lock(hashtext('flipside-schema:' || $1::text))", [schema ?? '']);
    if (schema) await c.unsafe(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await c.unsafe('SET LOCAL client_min_messages = warning');
    await c.unsafe('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    const row = (await c.unsafe<Array<{ version: number }>>('SELECT version FROM schema_version'))[0];
    const at = row?.version ?? 0;
    if (at > PG_SCHEMA_VERSION) throw new Error(`the database's schema is version ${at}, newer than this server's ${PG_SCHEMA_VERSION}: run a newer flipside-server`);
    // Version 1 only grows with CREATE ... IF NOT EXISTS until the first release, as SQLite's schema
    // does: it runs on every start; later versions run once each (several statements each: simple protocol).
    await c.unsafe(PG_MIGRATIONS[0]!);
    for (let v = Math.max(at, 1); v < PG_SCHEMA_VERSION; v++) await c.unsafe(PG_MIGRATIONS[v]!);
    if (row) await c.unsafe('UPDATE schema_version SET version = $1', [PG_SCHEMA_VERSION]);
    else await c.unsafe('INSERT INTO schema_version VALUES ($1)', [PG_SCHEMA_VERSION]);
  });
}

function deploymentFromRow(r: Record<string, unknown>): DeploymentRow {
  return { ...(r as unknown as DeploymentRow), phases: JSON.parse(r.phases as string) };
}
function artifactFromRow(r: Record<string, unknown>): ArtifactRow {
  return { ...(r as unknown as ArtifactRow), device_types: JSON.parse(r.device_types as string), meta: JSON.parse(r.meta as string) };
}

export class PostgresStore implements FlipsideStore {
  private readonly sql: Sql;
  /** Where queries' time went since the server last logged it (pool-timing.ts). */
  readonly timing = new PoolTiming();
  constructor(
    /** Pipelined single statements. */
    readonly pool: Pool,
    /** Transactions only (poolSplit). */
    private readonly txPool: Pool,
  ) {
    this.sql = new Sql(pool, this.timing, pool);
  }

  /**
   * Runs fn in one transaction on a connection of the transactions' pool (poolSplit), its own
   * until it ends; retried when PostgreSQL picks it as a deadlock victim, or when a newer server
   * process's migration made a prepared statement stale (the driver prepares it afresh next time).
   */
  private async tx<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const came = this.timing.waitStarted();
      let t0: number | undefined;
      try {
        return (await this.txPool.begin(async (c) => {
          came();
          t0 = performance.now();
          return { out: await fn(new Sql(c, this.timing, undefined)) };
        })).out;
      } catch (e) {
        const code = (e as { code?: string }).code;
        // 40P01 deadlock, 40001 serialization failure: nothing was stored, the transaction may run again.
        if ((code === '40P01' || code === '40001' || code === STALE_PREPARED) && attempt < 5) continue;
        throw e;
      } finally {
        if (t0 === undefined) came();
        else this.timing.held(performance.now() - t0);
      }
    }
  }

  durable(): Promise<void> | undefined {
    return undefined;
  }
  async close(): Promise<void> {
    await this.checkInWrites.settled();
    await Promise.all([this.pool.end({ timeout: 5 }), this.txPool.end({ timeout: 5 })]);
  }
  /** The WAL insert position: it moves with every write of any process on this database. */
  async changeCounter(): Promise<string> {
    return (await this.sql.get<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn'))!.lsn;
  }

  // ---- users and tokens

  async createUser(email: string, passwordHash: string): Promise<UserRow> {
    const ts = now();
    const row: UserRow = { id: randomUUID(), email, password_hash: passwordHash, created_ts: ts, updated_ts: ts };
    await this.sql.run('INSERT INTO users VALUES (?, ?, ?, ?, ?)', row.id, email, passwordHash, ts, ts);
    return row;
  }
  userByEmail(email: string): Promise<UserRow | undefined> {
    return this.sql.get('SELECT * FROM users WHERE email = ?', email);
  }
  userById(id: string): Promise<UserRow | undefined> {
    return this.sql.get('SELECT * FROM users WHERE id = ?', id);
  }
  listUsers(): Promise<UserRow[]> {
    return this.sql.all('SELECT * FROM users ORDER BY created_ts');
  }
  async updateUser(id: string, change: { email?: string; passwordHash?: string }, sql = this.sql): Promise<boolean> {
    return (await sql.run('UPDATE users SET email = COALESCE(?, email), password_hash = COALESCE(?, password_hash), updated_ts = ? WHERE id = ?', change.email ?? null, change.passwordHash ?? null, now(), id)) > 0;
  }
  async changeUser(id: string, change: { email?: string; passwordHash?: string; roles?: string[]; keepToken?: { jti: string; passwordFingerprint: string; exp: number } }): Promise<void> {
    await this.tx(async (sql) => {
      if (change.email !== undefined || change.passwordHash !== undefined) await this.updateUser(id, { email: change.email, passwordHash: change.passwordHash }, sql);
      if (change.keepToken) await this.keepUserToken(change.keepToken.jti, change.keepToken.passwordFingerprint, change.keepToken.exp, sql);
      if (change.roles !== undefined) await this.setRolesIn(sql, id, change.roles);
    });
  }
  async deleteUser(id: string): Promise<boolean> {
    return (await this.sql.run('DELETE FROM users WHERE id = ?', id)) > 0;
  }
  async countUsers(): Promise<number> {
    return (await this.sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM users'))!.n;
  }
  async createPersonalToken(userId: string, name: string, expiration: string): Promise<PersonalTokenRow> {
    const row: PersonalTokenRow = { id: randomUUID(), user_id: userId, name, expiration_date: expiration, created_ts: now(), last_used: null };
    await this.sql.run('INSERT INTO personal_tokens VALUES (?, ?, ?, ?, ?, ?)', row.id, userId, name, expiration, row.created_ts, null);
    return row;
  }
  personalToken(id: string): Promise<PersonalTokenRow | undefined> {
    return this.sql.get('SELECT * FROM personal_tokens WHERE id = ?', id);
  }
  listPersonalTokens(userId: string): Promise<PersonalTokenRow[]> {
    return this.sql.all('SELECT * FROM personal_tokens WHERE user_id = ? ORDER BY created_ts', userId);
  }
  async touchPersonalToken(id: string): Promise<void> {
    await this.sql.run('UPDATE personal_tokens SET last_used = ? WHERE id = ? AND (last_used IS NULL OR last_used < ?)', now(), id, new Date(Date.now() - 60_000).toISOString());
  }
  async deletePersonalToken(userId: string, id: string): Promise<boolean> {
    return (await this.sql.run('DELETE FROM personal_tokens WHERE id = ? AND user_id = ?', id, userId)) > 0;
  }

  // ---- settings

  async settings(scope: string, sql = this.sql): Promise<{ body: Record<string, unknown>; etag: string } | undefined> {
    const r = await sql.get<{ body: string; etag: string }>('SELECT body, etag FROM settings WHERE scope = ?', scope);
    return r && { body: JSON.parse(r.body), etag: r.etag };
  }
  async saveSettings(scope: string, body: Record<string, unknown>, ifMatch?: string): Promise<string | undefined> {
    const etag = randomUUID();
    if (ifMatch === undefined) {
      await this.sql.run('INSERT INTO settings (scope, body, etag) VALUES (?, ?, ?) ON CONFLICT (scope) DO UPDATE SET body = excluded.body, etag = excluded.etag', scope, JSON.stringify(body), etag);
      return etag;
    }
    // Compare-and-set on the ETag in one statement.
    const n = await this.sql.run('UPDATE settings SET body = ?, etag = ? WHERE scope = ? AND etag = ?', JSON.stringify(body), etag, scope, ifMatch);
    return n > 0 ? etag : undefined;
  }

  // ---- iot-manager integrations

  async createIntegration(provider: string, credentials: unknown): Promise<IntegrationRow> {
    const row = { id: randomUUID(), provider, credentials, created_ts: now() };
    await this.sql.run('INSERT INTO integrations VALUES (?, ?, ?, ?)', row.id, provider, JSON.stringify(credentials), row.created_ts);
    return row;
  }
  async integrations(): Promise<IntegrationRow[]> {
    const rows = await this.sql.all<Omit<IntegrationRow, 'credentials'> & { credentials: string }>('SELECT * FROM integrations ORDER BY created_ts, id');
    return rows.map((r) => ({ ...r, credentials: JSON.parse(r.credentials) }));
  }
  async setIntegrationCredentials(id: string, credentials: unknown): Promise<boolean> {
    return (await this.sql.run('UPDATE integrations SET credentials = ? WHERE id = ?', JSON.stringify(credentials), id)) > 0;
  }
  async deleteIntegration(id: string): Promise<boolean> {
    return (await this.sql.run('DELETE FROM integrations WHERE id = ?', id)) > 0;
  }
  async recordEvent(e: { id: string; type: string; time: string; data: unknown }, deliveries: unknown[]): Promise<void> {
    await this.sql.run('INSERT INTO iot_events (id, type, time, data, deliveries) VALUES (?, ?, ?, ?, ?)', e.id, e.type, e.time, JSON.stringify(e.data), JSON.stringify(deliveries));
  }
  async addEventDelivery(eventId: string, delivery: { integration_id: string }): Promise<void> {
    // Appended in one statement: deliveries finishing at once in two processes both stay.
    await this.sql.run("UPDATE iot_events SET deliveries = (deliveries::jsonb || jsonb_build_array(?::text::jsonb))::text WHERE id = ?", JSON.stringify(delivery), eventId);
  }
  async events(opts: { limit: number; offset: number; integrationId?: string }): Promise<Array<{ id: string; type: string; time: string; data: unknown; delivery_statuses: unknown[] }>> {
    type Row = { id: string; type: string; time: string; data: string; deliveries: string };
    const rows = opts.integrationId === undefined
      ? await this.sql.all<Row>('SELECT * FROM iot_events ORDER BY seq DESC LIMIT ? OFFSET ?', limitOf(opts.limit), opts.offset)
      : await this.sql.all<Row>('SELECT * FROM iot_events WHERE deliveries::jsonb @> jsonb_build_array(jsonb_build_object(\'integration_id\', ?::text)) ORDER BY seq DESC LIMIT ? OFFSET ?', opts.integrationId, limitOf(opts.limit), opts.offset);
    return rows.map((r) => ({ id: r.id, type: r.type, time: r.time, data: JSON.parse(r.data), delivery_statuses: JSON.parse(r.deliveries) }));
  }
  async provisionIotDevice(deviceId: string): Promise<void> {
    await this.sql.run('INSERT INTO iot_devices VALUES (?, ?) ON CONFLICT (device_id) DO UPDATE SET provisioned_ts = excluded.provisioned_ts', deviceId, now());
  }
  async isIotDevice(deviceId: string): Promise<boolean> {
    return (await this.sql.get('SELECT 1 FROM iot_devices WHERE device_id = ?', deviceId)) !== undefined;
  }

  // ---- roles and user tokens

  async userRoles(userId: string): Promise<string[] | undefined> {
    if (!(await this.sql.get('SELECT 1 FROM user_role_sets WHERE user_id = ?', userId))) return undefined;
    return (await this.sql.all<{ role: string }>('SELECT role FROM user_roles WHERE user_id = ? ORDER BY role', userId)).map((r) => r.role);
  }
  async setUserRoles(userId: string, roles: string[]): Promise<void> {
    await this.tx((sql) => this.setRolesIn(sql, userId, roles));
  }
  private async setRolesIn(sql: Sql, userId: string, roles: string[]): Promise<void> {
    await sql.run('INSERT INTO user_role_sets VALUES (?) ON CONFLICT DO NOTHING', userId);
    await sql.run('DELETE FROM user_roles WHERE user_id = ?', userId);
    for (const r of new Set(roles)) await sql.run('INSERT INTO user_roles VALUES (?, ?)', userId, r);
  }
  async revokeUserToken(jti: string, exp: number): Promise<void> {
    await this.sql.run('INSERT INTO revoked_user_tokens VALUES (?, ?) ON CONFLICT DO NOTHING', jti, exp);
  }
  async isUserTokenRevoked(jti: string): Promise<boolean> {
    return (await this.sql.get('SELECT 1 FROM revoked_user_tokens WHERE jti = ?', jti)) !== undefined;
  }
  async keepUserToken(jti: string, passwordFingerprint: string, exp: number, sql = this.sql): Promise<void> {
    await sql.run('INSERT INTO kept_user_tokens VALUES (?, ?, ?) ON CONFLICT (jti) DO UPDATE SET password_fingerprint = excluded.password_fingerprint, exp = excluded.exp', jti, passwordFingerprint, exp);
  }
  async keptUserTokenFingerprint(jti: string): Promise<string | undefined> {
    return (await this.sql.get<{ password_fingerprint: string }>('SELECT password_fingerprint FROM kept_user_tokens WHERE jti = ?', jti))?.password_fingerprint;
  }

  // ---- devices and auth sets

  deviceByIdData(idData: string, sql = this.sql): Promise<DeviceRow | undefined> {
    return sql.get('SELECT * FROM devices WHERE id_data = ?', idData);
  }
  device(id: string, sql = this.sql): Promise<DeviceRow | undefined> {
    return sql.get('SELECT * FROM devices WHERE id = ?', id);
  }
  listDevices(opts: { status?: string; limit: number; offset: number }): Promise<DeviceRow[]> {
    const limit = limitOf(opts.limit);
    if (opts.status) return this.sql.all('SELECT * FROM devices WHERE status = ? ORDER BY created_ts, id LIMIT ? OFFSET ?', opts.status, limit, opts.offset);
    return this.sql.all('SELECT * FROM devices ORDER BY created_ts, id LIMIT ? OFFSET ?', limit, opts.offset);
  }
  async countDevices(status?: string): Promise<number> {
    const row = status ? await this.sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM devices WHERE status = ?', status) : await this.sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM devices');
    return row!.n;
  }
  async fleetDevices(): Promise<FleetDeviceRow[]> {
    // The check-ins this process queued are in (their requests did not wait for them: device/check-in.ts).
    await this.checkInWrites.settled();
    return this.sql.all(
      `SELECT d.id, d.id_data, c.check_in_time, i.grp,
         (SELECT value FROM inventory v WHERE v.device_id = d.id AND v.scope = 'inventory' AND v.name = 'device_type') AS device_type,
         (SELECT value FROM inventory v WHERE v.device_id = d.id AND v.scope = 'inventory' AND v.name = 'artifact_name') AS artifact_name
       FROM devices d LEFT JOIN device_checkins c ON c.device_id = d.id LEFT JOIN inventory_devices i ON i.device_id = d.id
       WHERE d.status = 'accepted' ORDER BY d.created_ts, d.id`,
    );
  }
  async acceptedDeviceIds(): Promise<string[]> {
    return (await this.sql.all<{ id: string }>("SELECT id FROM devices WHERE status = 'accepted' ORDER BY created_ts, id")).map((r) => r.id);
  }
  authSets(deviceId: string, sql = this.sql): Promise<AuthSetRow[]> {
    return sql.all('SELECT * FROM auth_sets WHERE device_id = ? ORDER BY ts, id', deviceId);
  }
  authSet(id: string, sql = this.sql): Promise<AuthSetRow | undefined> {
    return sql.get('SELECT * FROM auth_sets WHERE id = ?', id);
  }

  /** The device row of this identity, created when missing, locked for the rest of the transaction. */
  private async lockDeviceByIdData(sql: Sql, idData: string, status: DeviceStatus): Promise<DeviceRow> {
    const ts = now();
    // Sent together (pipelined: one round trip); PostgreSQL runs them in order, so the SELECT
    // finds the row the INSERT made or met, and waits for its lock.
    const [, device] = await Promise.all([
      sql.run('INSERT INTO devices VALUES (?, ?, ?, ?, ?) ON CONFLICT (id_data) DO NOTHING', randomUUID(), idData, status, ts, ts),
      sql.get<DeviceRow>('SELECT * FROM devices WHERE id_data = ? FOR UPDATE', idData),
    ]);
    return device!;
  }

  /**
   * A device's first auth request (a booting fleet sends thousands at once): 5 round trips holding
   * a transaction's connection, not 11. Statements that need no answer of the one before go
   * together; PostgreSQL runs them in order, each (READ COMMITTED) seeing what committed before
   * it began, so each read still comes after the device row's lock, as it did one by one.
   */
  async recordAuthRequest(idData: string, pubkey: string): Promise<{ device: DeviceRow; authSet: AuthSetRow }> {
    return this.tx(async (sql) => {
      const [device, found] = await Promise.all([
        this.lockDeviceByIdData(sql, idData, 'pending'),
        sql.get<AuthSetRow>('SELECT a.* FROM auth_sets a JOIN devices d ON d.id = a.device_id WHERE d.id_data = ? AND a.pubkey = ?', idData, pubkey),
      ]);
      let set = found;
      let written: Promise<unknown> | undefined;
      if (!set) {
        set = { id: randomUUID(), device_id: device.id, pubkey, status: 'pending', ts: now() };
        written = sql.run('INSERT INTO auth_sets VALUES (?, ?, ?, ?, ?)', set.id, set.device_id, pubkey, set.status, set.ts);
      } else if (set.status === 'preauthorized') {
        written = this.setAuthSetStatusIn(sql, set, 'accepted');
        // Its row as just written (the device row's lock keeps others off it): no read back.
        set = { ...set, status: 'accepted' };
      }
      return { device: await this.refreshDeviceStatus(sql, device.id, written), authSet: set };
    });
  }
  async hasAuthSet(idData: string, pubkey: string): Promise<boolean> {
    return (await this.sql.get('SELECT 1 FROM auth_sets a JOIN devices d ON d.id = a.device_id WHERE d.id_data = ? AND a.pubkey = ?', idData, pubkey)) !== undefined;
  }
  async countPendingAuthSets(): Promise<number> {
    return (await this.sql.get<{ n: number }>("SELECT COUNT(*) AS n FROM auth_sets WHERE status = 'pending'"))!.n;
  }
  async preauthorize(idData: string, pubkey: string): Promise<{ device: DeviceRow; authSet: AuthSetRow } | undefined> {
    return this.tx(async (sql) => {
      const device = await this.lockDeviceByIdData(sql, idData, 'preauthorized');
      if (await sql.get('SELECT 1 FROM auth_sets WHERE device_id = ? AND pubkey = ?', device.id, pubkey)) return undefined;
      const set: AuthSetRow = { id: randomUUID(), device_id: device.id, pubkey, status: 'preauthorized', ts: now() };
      const written = sql.run('INSERT INTO auth_sets VALUES (?, ?, ?, ?, ?)', set.id, set.device_id, pubkey, set.status, set.ts);
      return { device: await this.refreshDeviceStatus(sql, device.id, written), authSet: set };
    });
  }
  /** The auth set and its device, the device row locked (every auth set change of a device runs under it). */
  private async lockAuthSet(sql: Sql, authSetId: string): Promise<AuthSetRow | undefined> {
    const set = await this.authSet(authSetId, sql);
    if (!set) return undefined;
    await sql.get('SELECT 1 FROM devices WHERE id = ? FOR UPDATE', set.device_id);
    return this.authSet(authSetId, sql);
  }
  async setAuthSetStatus(authSetId: string, status: AuthSetStatus): Promise<boolean> {
    return this.tx(async (sql) => {
      const set = await this.lockAuthSet(sql, authSetId);
      if (!set) return false;
      await this.setAuthSetStatusIn(sql, set, status);
      await this.refreshDeviceStatus(sql, set.device_id);
      return true;
    });
  }
  private async setAuthSetStatusIn(sql: Sql, set: AuthSetRow, status: AuthSetStatus): Promise<void> {
    // Sent together (the driver pipelines them on the transaction's connection: one round trip,
    // not three): they touch different rows, under the device row's lock.
    await Promise.all([
      ...(status === 'accepted'
        ? [
            sql.run("UPDATE auth_sets SET status = 'rejected' WHERE device_id = ? AND id != ? AND status = 'accepted'", set.device_id, set.id),
            sql.run('DELETE FROM device_tokens WHERE device_id = ? AND auth_set_id != ?', set.device_id, set.id),
          ]
        : [sql.run('DELETE FROM device_tokens WHERE auth_set_id = ?', set.id)]),
      sql.run('UPDATE auth_sets SET status = ? WHERE id = ?', status, set.id),
    ]);
  }
  async deleteAuthSet(authSetId: string): Promise<boolean> {
    return this.tx(async (sql) => {
      const set = await this.lockAuthSet(sql, authSetId);
      if (!set) return false;
      await sql.run('DELETE FROM auth_sets WHERE id = ?', authSetId);
      if ((await this.authSets(set.device_id, sql)).length === 0) await this.removeDeviceIn(sql, set.device_id);
      else await this.refreshDeviceStatus(sql, set.device_id);
      return true;
    });
  }
  /**
   * The device's status set from its auth sets, and its row as then stored. `writing` (an auth set
   * write sent just before) and the read of the sets share a round trip, as do the update and the
   * read of the row: PostgreSQL runs pipelined statements in order, so each read sees the write.
   */
  private async refreshDeviceStatus(sql: Sql, deviceId: string, writing?: Promise<unknown>): Promise<DeviceRow> {
    const [, sets] = await Promise.all([writing, this.authSets(deviceId, sql)]);
    const status = deviceStatusOf(sets);
    const [, device] = await Promise.all([
      sql.run('UPDATE devices SET status = ?, updated_ts = ? WHERE id = ? AND status != ?', status, now(), deviceId, status),
      this.device(deviceId, sql),
    ]);
    return device!;
  }
  async decommission(deviceId: string): Promise<boolean> {
    return this.tx(async (sql) => {
      if (!(await sql.get('SELECT 1 FROM devices WHERE id = ? FOR UPDATE', deviceId))) return false;
      await this.removeDeviceIn(sql, deviceId);
      return true;
    });
  }
  private async removeDeviceIn(sql: Sql, deviceId: string): Promise<void> {
    await this.endOpenDeploymentsIn(sql, deviceId);
    await sql.run('DELETE FROM devices WHERE id = ?', deviceId);
    await sql.run('DELETE FROM inventory WHERE device_id = ?', deviceId);
    await sql.run('DELETE FROM inventory_devices WHERE device_id = ?', deviceId);
    await sql.run('DELETE FROM device_checkins WHERE device_id = ?', deviceId);
    this.lastCheckIn.delete(deviceId);
    this.queuedCheckIns.delete(deviceId);
    await sql.run('DELETE FROM device_config WHERE device_id = ?', deviceId);
  }
  async endOpenDeploymentsOf(deviceId: string): Promise<number> {
    return this.tx((sql) => this.endOpenDeploymentsIn(sql, deviceId));
  }
  private async endOpenDeploymentsIn(sql: Sql, deviceId: string): Promise<number> {
    const ts = now();
    const open = await sql.all<{ deployment_id: string }>(`SELECT deployment_id FROM deployment_devices WHERE device_id = ? AND status NOT IN (${FINAL_LIST}) ORDER BY deployment_id`, deviceId);
    for (const { deployment_id } of open) {
      await this.lockDeployment(sql, deployment_id);
      await sql.run("UPDATE deployment_devices SET status = 'decommissioned', finished = ? WHERE deployment_id = ? AND device_id = ?", ts, deployment_id, deviceId);
      await this.refreshDeploymentStatus(sql, deployment_id);
    }
    return open.length;
  }

  // ---- device tokens

  async addDeviceToken(jti: string, deviceId: string, authSetId: string, exp: number): Promise<void> {
    await this.sql.run('INSERT INTO device_tokens VALUES (?, ?, ?, ?)', jti, deviceId, authSetId, exp);
  }
  deviceToken(jti: string): Promise<{ jti: string; device_id: string; auth_set_id: string; exp: number } | undefined> {
    return this.sql.get('SELECT * FROM device_tokens WHERE jti = ?', jti);
  }
  async deleteDeviceToken(jti: string): Promise<boolean> {
    return (await this.sql.run('DELETE FROM device_tokens WHERE jti = ?', jti)) > 0;
  }
  async pruneExpiredDeviceTokens(nowSeconds: number): Promise<void> {
    await this.sql.run('DELETE FROM revoked_user_tokens WHERE exp <= ?', nowSeconds);
    await this.sql.run('DELETE FROM kept_user_tokens WHERE exp <= ?', nowSeconds);
    await this.sql.run('DELETE FROM device_tokens WHERE exp < ?', nowSeconds);
  }

  // ---- inventory

  async setInventory(deviceId: string, scope: string, attrs: Array<{ name: string; value: unknown }>, replace: boolean): Promise<void> {
    // One statement (atomic on its own), so a device's inventory is one round trip: each round
    // trip waits for a pooled connection and a turn of the event loop, and at fleet scale that
    // wait is the request's time (README, fleet scale). Replacing deletes the names not sent and
    // upserts the rest: no row is both deleted and inserted by the one statement.
    const names = attrs.map((a) => a.name);
    const values = attrs.map((a) => JSON.stringify(a.value));
    await this.sql.run(
      `WITH ${replace ? 'gone AS (DELETE FROM inventory WHERE device_id = ? AND scope = ? AND NOT (name = ANY(?::text[]))),' : ''}
         put AS (INSERT INTO inventory (device_id, scope, name, value) SELECT ?, ?, n, v FROM unnest(?::text[], ?::text[]) AS a(n, v)
                 ON CONFLICT (device_id, scope, name) DO UPDATE SET value = excluded.value)
       INSERT INTO inventory_devices (device_id, grp, updated_ts) VALUES (?, NULL, ?) ON CONFLICT (device_id) DO UPDATE SET updated_ts = excluded.updated_ts`,
      ...(replace ? [deviceId, scope, names] : []), deviceId, scope, names, values, deviceId, now(),
    );
  }
  async inventory(deviceId: string): Promise<InventoryAttribute[]> {
    const [rows, inv, dev, seen] = await Promise.all([
      this.sql.all<{ scope: string; name: string; value: string }>('SELECT scope, name, value FROM inventory WHERE device_id = ? ORDER BY scope, name', deviceId),
      this.inventoryDevice(deviceId),
      this.device(deviceId),
      this.checkInTime(deviceId),
    ]);
    const attrs: InventoryAttribute[] = rows.map((r) => ({ name: r.name, value: JSON.parse(r.value), scope: r.scope }));
    if (inv?.grp) attrs.push({ name: 'group', value: inv.grp, scope: 'system' });
    if (dev) {
      attrs.push({ name: 'created_ts', value: dev.created_ts, scope: 'system' });
      attrs.push({ name: 'updated_ts', value: inv?.updated_ts ?? dev.updated_ts, scope: 'system' });
      if (seen) attrs.push({ name: 'check_in_time', value: seen, scope: 'system' });
      attrs.push({ name: 'status', value: dev.status, scope: 'identity' });
      for (const [k, v] of Object.entries(JSON.parse(dev.id_data) as Record<string, unknown>)) attrs.push({ name: k, value: v, scope: 'identity' });
    }
    return attrs;
  }
  /**
   * Written at most once a minute per device by this process (a throttle, not state: losing it
   * costs one write). The check-ins of many requests go in one statement: a round trip per poll
   * held a pooled connection for an event-loop turn while the polls and status reports behind it
   * waited for one (README, Scaling). Resolves when the statement that carries this check-in has
   * run.
   */
  async checkIn(deviceId: string): Promise<void> {
    const t = Date.now();
    if (t - (this.lastCheckIn.get(deviceId) ?? 0) < 60_000) return;
    this.lastCheckIn.set(deviceId, t);
    const iso = new Date(t).toISOString();
    if ((this.queuedCheckIns.get(deviceId) ?? '') < iso) this.queuedCheckIns.set(deviceId, iso);
    return this.checkInWrites.run();
  }
  private readonly lastCheckIn = new Map<string, number>();
  /** Check-ins waiting for the next statement, by device. */
  private queuedCheckIns = new Map<string, string>();
  private readonly checkInWrites = new Coalesced(() => this.writeCheckIns());
  private async writeCheckIns(): Promise<void> {
    const batch = [...this.queuedCheckIns].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    this.queuedCheckIns = new Map();
    // Each process throttles on its own (lastCheckIn): under --workers a device may be written
    // once a minute per worker, and a slower process's older time must not replace a newer one.
    // Rows go in device order, so two processes' batches cannot deadlock; a device removed
    // meanwhile gets no row back.
    await this.sql.run(
      `INSERT INTO device_checkins (device_id, check_in_time)
       SELECT x.device_id, x.check_in_time FROM unnest(?::text[], ?::text[]) WITH ORDINALITY AS x(device_id, check_in_time, n)
       WHERE EXISTS (SELECT 1 FROM devices d WHERE d.id = x.device_id) ORDER BY x.n
       ON CONFLICT (device_id) DO UPDATE SET check_in_time = excluded.check_in_time WHERE device_checkins.check_in_time < excluded.check_in_time`,
      batch.map(([id]) => id),
      batch.map(([, iso]) => iso),
    );
  }
  async checkInTime(deviceId: string): Promise<string | undefined> {
    await this.checkInWrites.settled();
    return (await this.sql.get<{ check_in_time: string }>('SELECT check_in_time FROM device_checkins WHERE device_id = ?', deviceId))?.check_in_time;
  }
  async deleteInventory(deviceId: string): Promise<void> {
    await this.tx(async (sql) => {
      await sql.run('DELETE FROM inventory WHERE device_id = ?', deviceId);
      await sql.run('DELETE FROM inventory_devices WHERE device_id = ?', deviceId);
    });
  }
  inventoryDevice(deviceId: string): Promise<{ device_id: string; grp: string | null; updated_ts: string } | undefined> {
    return this.sql.get('SELECT * FROM inventory_devices WHERE device_id = ?', deviceId);
  }
  async inventoryDeviceIds(): Promise<string[]> {
    return (await this.sql.all<{ id: string }>('SELECT id FROM devices ORDER BY created_ts, id')).map((r) => r.id);
  }
  async setGroupOf(deviceIds: string[], group: string): Promise<void> {
    await this.sql.run(
      `INSERT INTO inventory_devices (device_id, grp, updated_ts) SELECT id, ?, ? FROM unnest(?::text[]) AS d(id)
       ON CONFLICT (device_id) DO UPDATE SET grp = excluded.grp, updated_ts = excluded.updated_ts`,
      group, now(), deviceIds,
    );
  }
  async setGroup(deviceId: string, group: string | null): Promise<void> {
    await this.sql.run('INSERT INTO inventory_devices (device_id, grp, updated_ts) VALUES (?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET grp = excluded.grp, updated_ts = excluded.updated_ts', deviceId, group, now());
  }
  async groups(): Promise<string[]> {
    return (await this.sql.all<{ grp: string }>('SELECT DISTINCT grp FROM inventory_devices WHERE grp IS NOT NULL ORDER BY grp')).map((r) => r.grp);
  }
  async groupMembers(group: string): Promise<string[]> {
    return (await this.sql.all<{ device_id: string }>('SELECT device_id FROM inventory_devices WHERE grp = ? ORDER BY device_id', group)).map((r) => r.device_id);
  }
  clearGroup(group: string, deviceIds?: string[]): Promise<number> {
    if (!deviceIds) return this.sql.run('UPDATE inventory_devices SET grp = NULL WHERE grp = ?', group);
    return this.sql.run('UPDATE inventory_devices SET grp = NULL WHERE grp = ? AND device_id = ANY(?::text[])', group, deviceIds);
  }
  async createFilter(name: string, terms: FilterTerm[]): Promise<FilterRow> {
    const row = { id: randomUUID(), name, terms, created_ts: now() };
    await this.sql.run('INSERT INTO filters VALUES (?, ?, ?, ?)', row.id, name, JSON.stringify(terms), row.created_ts);
    return row;
  }
  async filters(): Promise<FilterRow[]> {
    return (await this.sql.all<Omit<FilterRow, 'terms'> & { terms: string }>('SELECT * FROM filters ORDER BY name')).map((r) => ({ ...r, terms: JSON.parse(r.terms) }));
  }
  async filter(id: string): Promise<FilterRow | undefined> {
    return (await this.filters()).find((f) => f.id === id);
  }
  async deleteFilter(id: string): Promise<boolean> {
    return (await this.sql.run('DELETE FROM filters WHERE id = ?', id)) > 0;
  }

  // ---- artifacts and releases

  async insertArtifact(a: ArtifactRow): Promise<void> {
    await this.sql.run('INSERT INTO artifacts VALUES (?, ?, ?, ?, ?, ?, ?, ?)', a.id, a.name, a.description, JSON.stringify(a.device_types), a.size, a.checksum, JSON.stringify(a.meta), a.modified);
  }
  async artifact(id: string): Promise<ArtifactRow | undefined> {
    const r = await this.sql.get<Record<string, unknown>>('SELECT * FROM artifacts WHERE id = ?', id);
    return r && artifactFromRow(r);
  }
  async artifactsByName(name: string): Promise<ArtifactRow[]> {
    return (await this.sql.all<Record<string, unknown>>('SELECT * FROM artifacts WHERE name = ? ORDER BY modified', name)).map(artifactFromRow);
  }
  async listArtifacts(): Promise<ArtifactRow[]> {
    return (await this.sql.all<Record<string, unknown>>('SELECT * FROM artifacts ORDER BY modified, id')).map(artifactFromRow);
  }
  async artifactIds(): Promise<Set<string>> {
    return new Set((await this.sql.all<{ id: string }>('SELECT id FROM artifacts')).map((r) => r.id));
  }
  async deleteArtifact(id: string): Promise<boolean> {
    return (await this.sql.run('DELETE FROM artifacts WHERE id = ?', id)) > 0;
  }
  async setArtifactDescription(id: string, description: string): Promise<boolean> {
    return (await this.sql.run('UPDATE artifacts SET description = ?, modified = ? WHERE id = ?', description, now(), id)) > 0;
  }
  async releaseInfo(name: string): Promise<{ notes: string; tags: string[]; modified?: string }> {
    const r = await this.sql.get<{ notes: string; tags: string; modified: string }>('SELECT notes, tags, modified FROM releases WHERE name = ?', name);
    return r ? { notes: r.notes, tags: JSON.parse(r.tags), modified: r.modified } : { notes: '', tags: [] };
  }
  async saveReleaseInfo(name: string, change: { notes?: string; tags?: string[] }): Promise<void> {
    // What is not given keeps its stored value, decided in the statement itself.
    await this.sql.run(
      `INSERT INTO releases (name, notes, tags, modified) VALUES (?, COALESCE(?, ''), COALESCE(?, '[]'), ?)
       ON CONFLICT (name) DO UPDATE SET notes = COALESCE(?, releases.notes), tags = COALESCE(?, releases.tags), modified = excluded.modified`,
      name, change.notes ?? null, change.tags ? JSON.stringify(change.tags) : null, now(), change.notes ?? null, change.tags ? JSON.stringify(change.tags) : null,
    );
  }
  async deleteReleaseInfo(name: string): Promise<void> {
    await this.sql.run('DELETE FROM releases WHERE name = ?', name);
  }
  async releaseTags(): Promise<string[]> {
    const rows = await this.sql.all<{ tags: string }>('SELECT tags FROM releases r WHERE EXISTS (SELECT 1 FROM artifacts a WHERE a.name = r.name)');
    return [...new Set(rows.flatMap((r) => JSON.parse(r.tags) as string[]))].sort();
  }
  async artifactNameInActiveDeployment(name: string): Promise<boolean> {
    return !!(await this.sql.get("SELECT 1 FROM deployments WHERE artifact_name = ? AND status != 'finished' LIMIT 1", name));
  }

  // ---- deployments

  async insertDeployment(d: DeploymentRow, devices: Array<{ id: string; phase: number }>, sql?: Sql): Promise<void> {
    const run = async (s: Sql) => {
      await s.run('INSERT INTO deployments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        d.id, d.name, d.artifact_name, d.created, d.finished, d.status, d.device_count, d.max_devices, d.retries, JSON.stringify(d.phases), d.error_threshold, d.stop_reason, d.target);
      // Thousands of devices in one statement.
      if (devices.length) {
        await s.run(
          `INSERT INTO deployment_devices (deployment_id, device_id, status, phase, attempts, created)
           SELECT ?, id, 'pending', phase, 0, ? FROM unnest(?::text[], ?::int[]) AS x(id, phase)`,
          d.id, d.created, devices.map((x) => x.id), devices.map((x) => x.phase),
        );
      }
    };
    if (sql) await run(sql);
    else await this.tx(run);
  }
  async deployment(id: string, sql = this.sql): Promise<DeploymentRow | undefined> {
    const r = await sql.get<Record<string, unknown>>('SELECT * FROM deployments WHERE id = ?', id);
    return r && deploymentFromRow(r);
  }
  async listDeployments(status?: string): Promise<DeploymentRow[]> {
    const rows = status
      ? await this.sql.all<Record<string, unknown>>('SELECT * FROM deployments WHERE status = ? ORDER BY created DESC, id', status)
      : await this.sql.all<Record<string, unknown>>('SELECT * FROM deployments ORDER BY created DESC, id');
    return rows.map(deploymentFromRow);
  }
  deploymentDevices(deploymentId: string): Promise<DeploymentDeviceRow[]> {
    return this.sql.all('SELECT * FROM deployment_devices WHERE deployment_id = ? ORDER BY device_id', deploymentId);
  }
  deploymentDevice(deploymentId: string, deviceId: string): Promise<DeploymentDeviceRow | undefined> {
    return this.sql.get('SELECT * FROM deployment_devices WHERE deployment_id = ? AND device_id = ?', deploymentId, deviceId);
  }
  deviceDeploymentHistory(deviceId: string): Promise<DeploymentDeviceRow[]> {
    return this.sql.all(
      `SELECT dd.* FROM deployment_devices dd
       WHERE dd.device_id = ? AND NOT EXISTS (SELECT 1 FROM deployment_devices_deleted x WHERE x.deployment_id = dd.deployment_id AND x.device_id = dd.device_id)
       ORDER BY dd.created DESC`,
      deviceId,
    );
  }
  deleteDeviceHistory(deviceId: string): Promise<number> {
    return this.sql.run(
      `INSERT INTO deployment_devices_deleted (deployment_id, device_id, deleted)
       SELECT deployment_id, device_id, ? FROM deployment_devices WHERE device_id = ? AND status IN (${FINAL_LIST})
       ON CONFLICT DO NOTHING`,
      now(), deviceId,
    );
  }
  /** A device's unfinished deployments (its id is the one parameter), with their deployment rows as d. */
  private static readonly OPEN_FOR_DEVICE = `FROM deployment_devices dd JOIN deployments d ON d.id = dd.deployment_id
    WHERE dd.device_id = ? AND d.status != 'finished' AND dd.status NOT IN (${FINAL_LIST})`;
  async deviceTokenAndOpenDeployments(jti: string, deviceId: string): Promise<{ tokenDeviceId: string | undefined; opened: Array<DeploymentDeviceRow & { dep: DeploymentRow }> }> {
    // One statement for the two reads of every poll: side by side they went to two pooled
    // connections, and a poll waited for the slower of two queues (README, Scaling).
    const row = await this.sql.get<{ token_device: string | null; opened: Array<{ dd: DeploymentDeviceRow; d: Record<string, unknown> }> }>(
      `SELECT (SELECT device_id FROM device_tokens WHERE jti = ?) AS token_device,
         COALESCE((SELECT jsonb_agg(jsonb_build_object('dd', to_jsonb(dd), 'd', to_jsonb(d)) ORDER BY d.created, d.id)
           ${PostgresStore.OPEN_FOR_DEVICE}), '[]'::jsonb) AS opened`,
      jti,
      deviceId,
    );
    return { tokenDeviceId: row?.token_device ?? undefined, opened: (row?.opened ?? []).map(({ dd, d }) => ({ ...dd, dep: deploymentFromRow(d) })) };
  }
  async openDeploymentsForDevice(deviceId: string): Promise<Array<DeploymentDeviceRow & { dep: DeploymentRow }>> {
    // One round trip: the device's rows with their deployment's row as JSON beside them.
    const rows = await this.sql.all<DeploymentDeviceRow & { d: Record<string, unknown> }>(
      `SELECT dd.*, to_jsonb(d) AS d ${PostgresStore.OPEN_FOR_DEVICE} ORDER BY d.created, d.id`,
      deviceId,
    );
    return rows.map(({ d, ...r }) => ({ ...r, dep: deploymentFromRow(d) }));
  }

  /** Locks the deployment's row: its status is recomputed by one transaction at a time. */
  private async lockDeployment(sql: Sql, deploymentId: string): Promise<void> {
    // NO KEY UPDATE: a device's status event (deployment_device_events' foreign key) takes KEY
    // SHARE on this row, which FOR UPDATE would block: every report would wait for the lock.
    await sql.get('SELECT 1 FROM deployments WHERE id = ? FOR NO KEY UPDATE', deploymentId);
  }

  async setDeviceDeploymentStatus(deploymentId: string, deviceId: string, status: string, substate: string | null, extra: { attempts?: number; deviceType?: string; ifStatus?: string } = {}): Promise<boolean> {
    // One statement, without the deployment's row lock: with the lock every status report of a
    // rollout queued behind one row (and its commit's fsync), holding a pooled connection while it
    // waited, so polls queued for connections too (1,000 devices on 2 workers: status p50 25 s).
    // The deployment's own status moves after the commit (settleDeploymentStatus), and only a
    // report that can move it looks: a final one, or any while the deployment is not yet in
    // progress. The others (three of a device's four) cannot, and the look was two more round
    // trips each, every one waiting in the pool's queue (README, fleet scale).
    const ts = now();
    const final = FINAL_DEVICE_STATUSES.has(status);
    const row = await this.sql.get<{ deployment_status: string }>(
      `UPDATE deployment_devices dd SET status = ?, substate = ?, finished = ?,
         started = CASE WHEN dd.started IS NULL AND ? != 'pending' THEN ? ELSE dd.started END,
         attempts = COALESCE(?, dd.attempts), device_type = COALESCE(?, dd.device_type)
       FROM deployments d
       WHERE d.id = dd.deployment_id AND dd.deployment_id = ? AND dd.device_id = ? AND dd.status = COALESCE(?, dd.status)
       RETURNING d.status AS deployment_status`,
      status, substate, final ? ts : null, status, ts, extra.attempts ?? null, extra.deviceType ?? null, deploymentId, deviceId, extra.ifStatus ?? null,
    );
    if (row && (final || row.deployment_status !== 'inprogress')) await this.settleAfterReport(deploymentId);
    return row !== undefined;
  }
  async setDeploymentDeviceType(deploymentId: string, deviceId: string, deviceType: string): Promise<void> {
    await this.sql.run('UPDATE deployment_devices SET device_type = ? WHERE deployment_id = ? AND device_id = ?', deviceType, deploymentId, deviceId);
  }
  async abortDeployment(deploymentId: string, reason: string | null): Promise<boolean> {
    return this.tx(async (sql) => {
      const dep = await sql.get<{ status: string }>('SELECT status FROM deployments WHERE id = ? FOR NO KEY UPDATE', deploymentId);
      const ts = now();
      await sql.run(`UPDATE deployment_devices SET status = 'aborted', finished = ? WHERE deployment_id = ? AND status NOT IN (${FINAL_LIST})`, ts, deploymentId);
      await sql.run("UPDATE deployments SET status = 'finished', finished = ?, stop_reason = COALESCE(stop_reason, ?) WHERE id = ?", ts, reason, deploymentId);
      return dep !== undefined && dep.status !== 'finished';
    });
  }
  async setStopReason(deploymentId: string, reason: string): Promise<void> {
    await this.sql.run('UPDATE deployments SET stop_reason = ? WHERE id = ?', reason, deploymentId);
  }
  deploymentDeviceEvents(deploymentId: string): Promise<DeploymentDeviceEvent[]> {
    return this.sql.all('SELECT device_id, status, ts FROM deployment_device_events WHERE deployment_id = ? ORDER BY ts, seq', deploymentId);
  }
  async deploymentStatistics(deploymentId: string): Promise<Record<string, number>> {
    const stats: Record<string, number> = {
      success: 0, pending: 0, downloading: 0, rebooting: 0, installing: 0, failure: 0, noartifact: 0,
      'already-installed': 0, aborted: 0, pause_before_installing: 0, pause_before_rebooting: 0, pause_before_committing: 0,
    };
    const rows = await this.sql.all<{ status: string; n: number }>('SELECT status, COUNT(*) AS n FROM deployment_devices WHERE deployment_id = ? GROUP BY status', deploymentId);
    for (const r of rows) stats[r.status] = (stats[r.status] ?? 0) + r.n;
    return stats;
  }
  /** Under the deployment's row lock (lockDeployment): counts what is committed, then moves the status. */
  private async refreshDeploymentStatus(sql: Sql, deploymentId: string): Promise<boolean> {
    const look = await this.deploymentStatusLook(sql, deploymentId);
    if (!look) return false;
    await sql.run('UPDATE deployments SET status = ?, finished = ? WHERE id = ?', look.wanted, look.wanted === 'finished' ? now() : null, deploymentId);
    return true;
  }
  /**
   * The status the deployment's committed devices say it should have, when that is not the one
   * it has (and it is not finished); undefined otherwise. One round trip: the deployment's row
   * and index seeks beside it, not a count of every device (store.ts, deploymentStatusFrom).
   */
  private async deploymentStatusLook(sql: Sql, deploymentId: string): Promise<{ wanted: DeploymentRow['status'] } | undefined> {
    const r = await sql.get<{ status: DeploymentRow['status']; any_open: boolean; any_device: boolean; any_started: boolean }>(
      `SELECT d.status, EXISTS (${correlated(ANY_OPEN_DEVICE_SQL)}) AS any_open, EXISTS (${correlated(ANY_DEVICE_SQL)}) AS any_device,
         CASE WHEN d.status = 'inprogress' THEN FALSE ELSE EXISTS (${correlated(ANY_STARTED_DEVICE_SQL)}) END AS any_started
       FROM deployments d WHERE d.id = ?`,
      deploymentId,
    );
    if (!r || r.status === 'finished') return undefined;
    const wanted = deploymentStatusFrom({ anyOpen: r.any_open, anyDevice: r.any_device, anyStarted: () => r.any_started }, r.status);
    return wanted === r.status ? undefined : { wanted };
  }

  downloadProgress(deploymentId: string, deviceId: string): Promise<DownloadProgressRow | undefined> {
    return this.sql.get('SELECT * FROM download_progress WHERE deployment_id = ? AND device_id = ?', deploymentId, deviceId);
  }
  downloadProgressOf(deploymentId: string): Promise<DownloadProgressRow[]> {
    return this.sql.all('SELECT * FROM download_progress WHERE deployment_id = ?', deploymentId);
  }
  async saveDownloadProgress(rows: DownloadProgressRow[]): Promise<void> {
    if (rows.length === 0) return;
    // Every row in one statement: a flush during a rollout carries thousands, and a transaction
    // of one round trip per row held its connection for as many event-loop turns.
    const col = <K extends keyof DownloadProgressRow>(k: K) => rows.map((r) => r[k]);
    await this.sql.run(
      `INSERT INTO download_progress (deployment_id, device_id, artifact_id, position, total, served, requests, resumes, restarts, last_at)
       SELECT x.* FROM unnest(?::text[], ?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[], ?::text[])
         AS x(deployment_id, device_id, artifact_id, position, total, served, requests, resumes, restarts, last_at)
       WHERE EXISTS (SELECT 1 FROM deployments WHERE id = x.deployment_id)
       ON CONFLICT (deployment_id, device_id) DO UPDATE SET artifact_id = excluded.artifact_id, position = excluded.position, total = excluded.total,
         served = excluded.served, requests = excluded.requests, resumes = excluded.resumes, restarts = excluded.restarts, last_at = excluded.last_at`,
      col('deployment_id'), col('device_id'), col('artifact_id'), col('position'), col('total'), col('served'), col('requests'), col('resumes'), col('restarts'), col('last_at'),
    );
  }
  async saveDeploymentLog(deploymentId: string, deviceId: string, messages: LogMessage[]): Promise<void> {
    await this.tx(async (sql) => {
      await sql.run('INSERT INTO deployment_logs VALUES (?, ?, ?) ON CONFLICT (deployment_id, device_id) DO UPDATE SET messages = excluded.messages', deploymentId, deviceId, JSON.stringify(messages));
      await sql.run('UPDATE deployment_devices SET has_log = 1 WHERE deployment_id = ? AND device_id = ?', deploymentId, deviceId);
    });
  }
  async deploymentLog(deploymentId: string, deviceId: string): Promise<LogMessage[] | undefined> {
    const r = await this.sql.get<{ messages: string }>('SELECT messages FROM deployment_logs WHERE deployment_id = ? AND device_id = ?', deploymentId, deviceId);
    return r && JSON.parse(r.messages);
  }

  // ---- audit log

  async audit(actor: string, action: string, objectType: string, objectId: string, detail: Record<string, unknown>): Promise<void> {
    await this.sql.run('INSERT INTO audit_log (time, actor, action, object_type, object_id, detail) VALUES (?, ?, ?, ?, ?, ?)', now(), actor, action, objectType, objectId, JSON.stringify(detail));
  }
  async auditLog(opts: AuditFilter & { limit: number; offset: number }): Promise<AuditEntry[]> {
    const q = auditQuery(opts);
    const rows = await this.sql.all<Omit<AuditEntry, 'detail'> & { detail: string }>(`SELECT * FROM audit_log ${q.where} ${q.order} LIMIT ? OFFSET ?`, ...q.params, limitOf(opts.limit), opts.offset);
    return rows.map((r) => ({ ...r, detail: JSON.parse(r.detail) }));
  }
  async countAudit(filter: AuditFilter): Promise<number> {
    const q = auditQuery(filter);
    return (await this.sql.get<{ n: number }>(`SELECT COUNT(*) AS n FROM audit_log ${q.where}`, ...q.params))!.n;
  }

  // ---- device configuration, terminal recordings

  async deviceConfig(deviceId: string): Promise<DeviceConfigRow | undefined> {
    const r = await this.sql.get<{ device_id: string; configured: string; reported: string; updated_ts: string | null; reported_ts: string | null }>('SELECT * FROM device_config WHERE device_id = ?', deviceId);
    return r && { ...r, configured: JSON.parse(r.configured), reported: JSON.parse(r.reported) };
  }
  async setConfigured(deviceId: string, configured: Record<string, string>): Promise<void> {
    await this.sql.run('INSERT INTO device_config (device_id, configured, updated_ts) VALUES (?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET configured = excluded.configured, updated_ts = excluded.updated_ts', deviceId, JSON.stringify(configured), now());
  }
  async setReported(deviceId: string, reported: Record<string, string>): Promise<void> {
    await this.sql.run('INSERT INTO device_config (device_id, reported, reported_ts) VALUES (?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET reported = excluded.reported, reported_ts = excluded.reported_ts', deviceId, JSON.stringify(reported), now());
  }
  async startRecording(sessionId: string, deviceId: string, userEmail: string): Promise<void> {
    await this.sql.run('INSERT INTO session_recordings (session_id, device_id, user_email, start_ts) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING', sessionId, deviceId, userEmail, now());
  }
  async appendRecording(sessionId: string, seq: number, data: Uint8Array, bytes: number): Promise<void> {
    await this.tx(async (sql) => {
      await sql.run('INSERT INTO session_recording_chunks VALUES (?, ?, ?)', sessionId, seq, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      await sql.run('UPDATE session_recordings SET bytes = ? WHERE session_id = ?', bytes, sessionId);
    });
  }
  async finishRecording(sessionId: string, truncated: boolean): Promise<void> {
    await this.sql.run('UPDATE session_recordings SET end_ts = ?, truncated = ? WHERE session_id = ?', now(), truncated ? 1 : 0, sessionId);
  }
  recording(sessionId: string): Promise<RecordingRow | undefined> {
    return this.sql.get('SELECT * FROM session_recordings WHERE session_id = ?', sessionId);
  }
  recordingChunks(sessionId: string, fromSeq: number, limit: number): Promise<Array<{ seq: number; data: Buffer }>> {
    return this.sql.all('SELECT seq, data FROM session_recording_chunks WHERE session_id = ? AND seq >= ? ORDER BY seq LIMIT ?', sessionId, fromSeq, limit);
  }
  async insertConfigurationDeployment(d: DeploymentRow, deviceId: string, configuration: Record<string, string>): Promise<void> {
    await this.tx(async (sql) => {
      await this.insertDeployment(d, [{ id: deviceId, phase: 0 }], sql);
      await sql.run('INSERT INTO configuration_deployments (deployment_id, device_id, configuration, created) VALUES (?, ?, ?, ?)', d.id, deviceId, JSON.stringify(configuration), d.created);
    });
  }
  async configurationDeployment(deploymentId: string): Promise<{ device_id: string; configuration: Record<string, string> } | undefined> {
    const r = await this.sql.get<{ device_id: string; configuration: string }>('SELECT device_id, configuration FROM configuration_deployments WHERE deployment_id = ?', deploymentId);
    return r && { device_id: r.device_id, configuration: JSON.parse(r.configuration) };
  }
  async latestConfigurationDeployment(deviceId: string): Promise<string | undefined> {
    return (await this.sql.get<{ deployment_id: string }>('SELECT deployment_id FROM configuration_deployments WHERE device_id = ? ORDER BY created DESC, seq DESC LIMIT 1', deviceId))?.deployment_id;
  }

  // ---- terminal recordings: the web UI's list, retention and decommissioning (deviceconnect/retention.ts)

  deviceRecordings(deviceId: string, limit: number): Promise<RecordingRow[]> {
    return this.sql.all('SELECT * FROM session_recordings WHERE device_id = ? ORDER BY start_ts DESC, session_id DESC LIMIT ?', deviceId, limitOf(limit));
  }
  /** As the SQLite store's: by age, then the oldest until the rest fit in maxBytes; `keep` stay. */
  async pruneRecordings(cutoff: string, maxBytes: number, keep: ReadonlySet<string>): Promise<number> {
    return this.tx(async (sql) => {
      const rows = await sql.all<{ session_id: string; start_ts: string; bytes: number }>('SELECT session_id, start_ts, bytes FROM session_recordings ORDER BY start_ts DESC, session_id DESC FOR UPDATE');
      let total = 0;
      let full = false;
      const doomed: string[] = [];
      // Newest first: once one does not fit, every older one goes too.
      for (const r of rows) {
        const bytes = Number(r.bytes);
        if (keep.has(r.session_id)) {
          total += bytes;
          continue;
        }
        full ||= r.start_ts < cutoff || total + bytes > maxBytes;
        if (full) doomed.push(r.session_id);
        else total += bytes;
      }
      for (const id of doomed) await sql.run('DELETE FROM session_recordings WHERE session_id = ?', id);
      return doomed.length;
    });
  }
  async deleteRecordingsOf(deviceId: string): Promise<number> {
    return this.sql.run('DELETE FROM session_recordings WHERE device_id = ?', deviceId);
  }

  // ---- the deployment's status after its devices' (fleet scale, issue #19)

  /**
   * Moves the deployment's status if what is committed of its devices says it should; true when
   * it moved. Decided first without a lock (the common case: a report that moves nothing costs
   * one round trip and waits for no one); a move is made under the deployment's row lock and
   * counted again there. Each status write that can move it calls it after its own commit, so of
   * several concurrent writers the last to commit sees them all (READ COMMITTED: a statement
   * sees what committed before it began). A process killed between the two leaves the move to
   * the next final report or the next look at the deployment (management view).
   */
  async settleDeploymentStatus(deploymentId: string): Promise<boolean> {
    if (!(await this.deploymentStatusLook(this.sql, deploymentId))) return false;
    return this.tx(async (sql) => {
      await this.lockDeployment(sql, deploymentId);
      return this.refreshDeploymentStatus(sql, deploymentId);
    });
  }

  /**
   * settleDeploymentStatus for the status reports of one deployment, coalesced: the reports that
   * come while a look runs share the next one, which starts after each of them committed and so
   * counts them all. A rollout's final reports each asked for a look of their own: a round trip
   * per report in the pool's queue.
   */
  private settleAfterReport(deploymentId: string): Promise<boolean> {
    let look = this.settles.get(deploymentId);
    if (!look) {
      const made = new Coalesced(() => this.settleDeploymentStatus(deploymentId));
      this.settles.set(deploymentId, made);
      look = made;
    }
    const settled = look.run();
    const forget = () => {
      if (look.idle && this.settles.get(deploymentId) === look) this.settles.delete(deploymentId);
    };
    settled.then(forget, forget);
    return settled;
  }
  private readonly settles = new Map<string, Coalesced<boolean>>();

  // ---- fewer round trips on the device API's hot paths (fleet scale, issue #19)

  /** A device's row in a deployment (deployment id, then device id) with the deployment's row as d. */
  private static readonly DEVICE_IN_DEPLOYMENT = `FROM deployment_devices dd JOIN deployments d ON d.id = dd.deployment_id
    WHERE dd.deployment_id = ? AND dd.device_id = ?`;
  async deploymentDeviceWithDeployment(deploymentId: string, deviceId: string): Promise<{ device: DeploymentDeviceRow; deployment: DeploymentRow } | undefined> {
    const r = await this.sql.get<DeploymentDeviceRow & { d: Record<string, unknown> }>(
      `SELECT dd.*, to_jsonb(d) AS d ${PostgresStore.DEVICE_IN_DEPLOYMENT}`,
      deploymentId, deviceId,
    );
    if (!r) return undefined;
    const { d, ...device } = r;
    return { device, deployment: deploymentFromRow(d) };
  }
  async deviceTokenAndDeploymentDevice(jti: string, deploymentId: string, deviceId: string): Promise<{ tokenDeviceId: string | undefined; rows: { device: DeploymentDeviceRow; deployment: DeploymentRow } | undefined }> {
    // One statement for a status report's two reads, as a poll's (deviceTokenAndOpenDeployments):
    // a rollout sends each device's four reports within seconds, most of the fleet's requests.
    const row = await this.sql.get<{ token_device: string | null; reported: { dd: DeploymentDeviceRow; d: Record<string, unknown> } | null }>(
      `SELECT (SELECT device_id FROM device_tokens WHERE jti = ?) AS token_device,
         (SELECT jsonb_build_object('dd', to_jsonb(dd), 'd', to_jsonb(d)) ${PostgresStore.DEVICE_IN_DEPLOYMENT}) AS reported`,
      jti, deploymentId, deviceId,
    );
    const found = row?.reported;
    return { tokenDeviceId: row?.token_device ?? undefined, rows: found ? { device: found.dd, deployment: deploymentFromRow(found.d) } : undefined };
  }
  async addTokenForAcceptedKey(idData: string, pubkey: string, jti: string, exp: number): Promise<{ device_id: string; auth_set_id: string } | undefined> {
    // FOR SHARE: a rejection or decommissioning running meanwhile (it locks the device row and
    // updates the auth set's, then deletes the tokens) is waited for, and the rows it changed
    // are checked again, so no token outlives the acceptance it was issued under.
    return this.sql.get(
      `INSERT INTO device_tokens (jti, device_id, auth_set_id, exp)
       SELECT ?, d.id, a.id, ? FROM devices d JOIN auth_sets a ON a.device_id = d.id
       WHERE d.id_data = ? AND a.pubkey = ? AND a.status = 'accepted' AND d.status = 'accepted' FOR SHARE
       RETURNING device_id, auth_set_id`,
      jti, exp, idData, pubkey,
    );
  }

  // ---- the webhook outbox (integrations/webhooks.ts): deliveries survive their process

  async recordWebhookEvent(e: { id: string; type: string; time: string; data: unknown }, integrationIds: string[], body: string, owner: string, now: number, leaseUntil: number): Promise<void> {
    await this.tx(async (sql) => {
      await sql.run('INSERT INTO iot_events (id, type, time, data, deliveries) VALUES (?, ?, ?, ?, ?)', e.id, e.type, e.time, JSON.stringify(e.data), '[]');
      await sql.run(
        'INSERT INTO webhook_outbox (event_id, integration_id, body, attempts, next_at, lease_owner, lease_until) SELECT ?, i, ?, 0, ?, ?, ? FROM unnest(?::text[]) AS i',
        e.id, body, now, owner, leaseUntil, integrationIds,
      );
    });
  }
  async claimWebhookDeliveries(owner: string, now: number, dueBy: number, leaseMs: number, limit: number): Promise<WebhookOutboxRow[]> {
    // SKIP LOCKED: processes claiming at once take different rows rather than wait for each other.
    return this.sql.all<WebhookOutboxRow>(
      `UPDATE webhook_outbox o SET lease_owner = ?, lease_until = GREATEST(o.next_at, ?::bigint) + ?::bigint
       FROM (SELECT event_id, integration_id FROM webhook_outbox WHERE next_at <= ? AND (lease_owner IS NULL OR lease_until <= ?)
             ORDER BY next_at LIMIT ? FOR UPDATE SKIP LOCKED) due
       WHERE o.event_id = due.event_id AND o.integration_id = due.integration_id
       RETURNING o.event_id, o.integration_id, o.body, o.attempts, o.next_at`,
      owner, now, leaseMs, dueBy, now, limit,
    );
  }
  async scheduleWebhookRetry(eventId: string, integrationId: string, owner: string, attempts: number, nextAt: number, leaseUntil: number): Promise<boolean> {
    return (await this.sql.run('UPDATE webhook_outbox SET attempts = ?, next_at = ?, lease_until = ? WHERE event_id = ? AND integration_id = ? AND lease_owner = ?', attempts, nextAt, leaseUntil, eventId, integrationId, owner)) > 0;
  }
  async finishWebhookDelivery(eventId: string, integrationId: string, delivery: { integration_id: string }): Promise<boolean> {
    // One statement: the delete decides who records, and the append keeps other deliveries'.
    return (await this.sql.run(
      `WITH gone AS (DELETE FROM webhook_outbox WHERE event_id = ? AND integration_id = ? RETURNING event_id)
       UPDATE iot_events SET deliveries = (deliveries::jsonb || jsonb_build_array(?::text::jsonb))::text WHERE id IN (SELECT event_id FROM gone)`,
      eventId, integrationId, JSON.stringify(delivery),
    )) > 0;
  }
  async releaseWebhookLeases(owner: string | null): Promise<number> {
    return owner === null
      ? this.sql.run('UPDATE webhook_outbox SET lease_owner = NULL, lease_until = 0 WHERE lease_owner IS NOT NULL')
      : this.sql.run('UPDATE webhook_outbox SET lease_owner = NULL, lease_until = 0 WHERE lease_owner = ?', owner);
  }
}

/** One of store.ts's per-deployment seeks as a subquery of a query over deployments d. */
function correlated(seek: string): string {
  return seek.replace('deployment_id = ?', 'deployment_id = d.id');
}

/** A fresh, empty schema on this database for one test's server; drop() removes it and its tables. */
export async function scratchSchema(url: string): Promise<{ database: { url: string; schema: string }; drop(): Promise<void> }> {
  const schema = `t_${randomUUID().replace(/-/g, '').slice(0, 20)}`;
  return {
    database: { url, schema },
    drop: () => runAlone(url, `DROP SCHEMA IF EXISTS ${schema} CASCADE`),
  };
}

/**
 * One statement on a connection of its own, closed after: for CREATE/DROP DATABASE (which cannot
 * run in a transaction or beside other statements) and test schemas' clean-up.
 */
export async function runAlone(url: string, statement: string): Promise<void> {
  const c = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await c.unsafe(statement);
  } finally {
    await c.end();
  }
}

/** SQLite reads LIMIT -1 as no limit; PostgreSQL's is LIMIT NULL (ALL). */
function limitOf(limit: number): number | null {
  return limit < 0 ? null : limit;
}
