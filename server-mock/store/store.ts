// Every database access of the server goes through this module. SQLite in WAL mode, and group
// commit with the fsync off the event loop: every write joins one open transaction that commits
// once the event loop has run the requests that arrived together; the WAL file is then fsynced
// on libuv's thread pool (synchronous=NORMAL: SQLite itself does not fsync on COMMIT), and replies
// wait for that fsync (durable(), awaited in an onSend hook in app.ts). So an acknowledged
// request still survives a SIGKILL or a power cut, as with synchronous=FULL, but concurrent
// writers share one fsync and no request waits behind another's fsync (the fleet benchmark:
// fsync takes 4-80 ms on a busy disk, and with one per write on the event loop, polls queued
// behind status writes). Multi-row changes run in one transaction (a savepoint in the group).
import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, fsync, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { SCHEMA_SQL, SCHEMA_VERSION } from './schema.js';

export type DeviceStatus = 'pending' | 'accepted' | 'rejected' | 'preauthorized' | 'noauth';
export type AuthSetStatus = 'pending' | 'accepted' | 'rejected' | 'preauthorized';

export interface DeviceRow {
  id: string;
  id_data: string;
  status: DeviceStatus;
  created_ts: string;
  updated_ts: string;
}
export interface AuthSetRow {
  id: string;
  device_id: string;
  pubkey: string;
  status: AuthSetStatus;
  ts: string;
}
export interface UserRow {
  id: string;
  email: string;
  password_hash: string;
  created_ts: string;
  updated_ts: string;
}
export interface PersonalTokenRow {
  id: string;
  user_id: string;
  name: string;
  expiration_date: string;
  created_ts: string;
  last_used: string | null;
}
export interface IntegrationRow {
  id: string;
  provider: string;
  credentials: unknown;
  created_ts: string;
}
export interface InventoryAttribute {
  name: string;
  value: unknown;
  scope: string;
}
export interface ArtifactRow {
  id: string;
  name: string;
  description: string;
  device_types: string[];
  size: number;
  checksum: string;
  meta: ArtifactMeta;
  modified: string;
}
/** What the reader told us about an artifact, kept for listings and depends matching. */
export interface ArtifactMeta {
  format: string;
  version: number;
  signed: boolean;
  artifact_provides: Record<string, string>;
  artifact_depends: Record<string, unknown>;
  clears_artifact_provides: string[];
  updates: Array<{ type_info: { type: string | null }; files: Array<{ name: string; checksum: string; size: number; date: string }>; meta_data: unknown }>;
}
export interface Phase {
  id: string;
  batch_size?: number;
  start_ts: string;
  device_count: number;
}
export type DeploymentStatus = 'scheduled' | 'pending' | 'inprogress' | 'finished';
export interface DeploymentRow {
  id: string;
  name: string;
  artifact_name: string;
  created: string;
  finished: string | null;
  status: DeploymentStatus;
  device_count: number;
  max_devices: number | null;
  retries: number;
  phases: Phase[];
  error_threshold: number | null;
  stop_reason: string | null;
  target: string;
}
export interface RecordingRow {
  session_id: string;
  device_id: string;
  user_email: string;
  start_ts: string;
  end_ts: string | null;
  bytes: number;
  truncated: number;
}
export interface DeploymentDeviceRow {
  deployment_id: string;
  device_id: string;
  status: string;
  substate: string | null;
  phase: number;
  attempts: number;
  created: string;
  started: string | null;
  finished: string | null;
  device_type: string | null;
  has_log: number;
}
/** A webhook delivery not ended yet (webhook_outbox), as a server process claims it. */
export interface WebhookOutboxRow {
  event_id: string;
  integration_id: string;
  /** The event's JSON, the exact bytes signed and posted. */
  body: string;
  /** Attempts made so far. */
  attempts: number;
  /** When the next attempt is due, ms since the epoch. */
  next_at: number;
}
/** A device's artifact download in a deployment, as the download route saw it (download_progress). */
export interface DownloadProgressRow {
  deployment_id: string;
  device_id: string;
  artifact_id: string;
  /** Where the latest request got to: its first byte's offset plus the bytes sent. */
  position: number;
  /** The artifact's size. */
  total: number;
  /** Bytes sent over all requests (more than total when parts were sent twice). */
  served: number;
  requests: number;
  /** Requests that asked for a Range starting past byte 0. */
  resumes: number;
  /** Requests after the first that started from byte 0 again. */
  restarts: number;
  last_at: string;
}
export interface FleetDeviceRow {
  id: string;
  id_data: string;
  check_in_time: string | null;
  grp: string | null;
  /** JSON text as stored in inventory, or null when never reported. */
  device_type: string | null;
  artifact_name: string | null;
}
export interface DeploymentDeviceEvent {
  device_id: string;
  status: string;
  ts: string;
}
export interface LogMessage {
  timestamp: string;
  level: string;
  message: string;
}
export interface AuditEntry {
  seq: number;
  time: string;
  actor: string;
  action: string;
  object_type: string;
  object_id: string;
  detail: Record<string, unknown>;
}
/** Which audit entries a listing wants: every field optional; times are ISO strings, inclusive. */
export interface AuditFilter {
  objectType?: string;
  objectId?: string;
  actor?: string;
  after?: string;
  before?: string;
  /** Oldest first (the default is newest first). */
  ascending?: boolean;
}

/**
 * The WHERE and ORDER BY of an audit listing, for both stores (their placeholders are both `?`).
 * `time` is always toISOString() output, so text order is time order.
 */
export function auditQuery(f: AuditFilter): { where: string; order: string; params: string[] } {
  const terms: string[] = [];
  const params: string[] = [];
  const add = (term: string, v: string | undefined) => {
    if (v === undefined) return;
    terms.push(term);
    params.push(v);
  };
  add('object_type = ?', f.objectType);
  add('object_id = ?', f.objectId);
  add('actor = ?', f.actor);
  add('time >= ?', f.after);
  add('time <= ?', f.before);
  return { where: terms.length ? `WHERE ${terms.join(' AND ')}` : '', order: `ORDER BY seq ${f.ascending ? 'ASC' : 'DESC'}`, params };
}

export interface FilterRow {
  id: string;
  name: string;
  terms: FilterTerm[];
  created_ts: string;
}
export interface FilterTerm {
  scope: string;
  attribute: string;
  type: string;
  value?: unknown;
}

/** Statuses after which a device is done with a deployment. */
export const FINAL_DEVICE_STATUSES = new Set(['success', 'failure', 'already-installed', 'noartifact', 'aborted', 'decommissioned']);
/** Every other status a device can have in a deployment (a test checks the two lists cover all). */
export const OPEN_DEVICE_STATUSES = ['pending', 'downloading', 'installing', 'rebooting', 'pause_before_installing', 'pause_before_rebooting', 'pause_before_committing'] as const;
/** Is any device of the deployment still open? Index seeks on (deployment_id, status), not a count. */
export const ANY_OPEN_DEVICE_SQL = `SELECT 1 AS x FROM deployment_devices WHERE deployment_id = ? AND status IN (${OPEN_DEVICE_STATUSES.map((s) => `'${s}'`).join(', ')}) LIMIT 1`;
/** Has any device of the deployment started (left pending)? Only asked until the first one has. */
export const ANY_STARTED_DEVICE_SQL = "SELECT 1 AS x FROM deployment_devices WHERE deployment_id = ? AND status != 'pending' LIMIT 1";
/** Has the deployment any device at all? */
export const ANY_DEVICE_SQL = 'SELECT 1 AS x FROM deployment_devices WHERE deployment_id = ? LIMIT 1';

/**
 * A deployment's status from its devices without counting them: finished once no device is open
 * (and there is one), in progress once any device started; three index seeks at most.
 */
export function deploymentStatusFrom(q: { anyOpen: boolean; anyDevice: boolean; anyStarted: () => boolean }, current: DeploymentStatus): DeploymentStatus {
  if (!q.anyOpen && q.anyDevice) return 'finished';
  if (current === 'inprogress') return current;
  return q.anyStarted() ? 'inprogress' : current;
}

/** Device status follows its auth sets: accepted > preauthorized > pending > rejected. */
export function deviceStatusOf(sets: Array<{ status: AuthSetStatus }>): DeviceStatus {
  const statuses = new Set(sets.map((s) => s.status));
  for (const s of ['accepted', 'preauthorized', 'pending', 'rejected'] as const) if (statuses.has(s)) return s;
  return 'noauth';
}

export function now(): string {
  return new Date().toISOString();
}

/** One group commit: the writes of the requests that ran in one event-loop turn. */
interface Group {
  done: Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** Why a request's reply failed when SQLite rolled its group back (see noticeRollback). */
export const GROUP_ROLLED_BACK = 'FLIPSIDE_GROUP_ROLLED_BACK';
function groupRolledBack(): Error {
  return Object.assign(new Error('another write in the same group commit failed and SQLite rolled the group back: nothing of this request was stored'), { code: GROUP_ROLLED_BACK });
}

export interface DeviceConfigRow {
  device_id: string;
  configured: Record<string, string>;
  reported: Record<string, string>;
  updated_ts: string | null;
  reported_ts: string | null;
}

export class Store {
  readonly db: Database.Database;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    // Owner-only: the database holds password hashes and device keys. SQLite gives the -wal and
    // -shm files the database file's mode.
    const dbPath = join(dataDir, 'flipside.db');
    closeSync(openSync(dbPath, 'a', 0o600));
    for (const f of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
    this.db = new Database(dbPath);
    this.db.pragma('journal_mode = WAL');
    // NORMAL: COMMIT does not fsync; commitGroup fsyncs the WAL before any reply (see above).
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA_SQL);
    this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    // The WAL exists while a WAL-mode connection is open; fsync on this descriptor makes every
    // frame written so far durable (fsync is per file, not per descriptor).
    this.walFd = openSync(join(dataDir, 'flipside.db-wal'), 'r');
  }
  private readonly walFd: number;

  close(): void {
    // A long write cut short by the close leaves nothing half done (its group goes back).
    if (this.holds > 0) this.rollbackGroup();
    this.commitGroup();
    fsyncSync(this.walFd);
    closeSync(this.walFd);
    this.db.close();
  }

  // Compiling SQL costs more than running these small queries: each statement is prepared once.
  private readonly statements = new Map<string, Database.Statement>();
  private stmt(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    if (!st.readonly) this.joinGroup();
    return st;
  }

  tx<T>(fn: () => T): T {
    this.joinGroup();
    return this.db.transaction(fn)();
  }

  private group: Group | null = null;
  private groupStatements?: { begin: Database.Statement; commit: Database.Statement; rollback: Database.Statement };

  /** Opens the group transaction unless one is open; it commits on the next setImmediate. */
  private joinGroup(): void {
    this.noticeRollback();
    if (this.group) return;
    this.groupStatements ??= { begin: this.db.prepare('BEGIN IMMEDIATE'), commit: this.db.prepare('COMMIT'), rollback: this.db.prepare('ROLLBACK') };
    this.groupStatements.begin.run();
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    done.catch(() => {}); // a failure is reported to the requests that wait on it
    this.group = { done, resolve, reject };
    setImmediate(() => this.commitGroup());
  }

  /** Rows a slice of a long write (sliced) changes before the event loop gets a turn: about 25 ms of SQLite work here. */
  static readonly SLICE_ROWS = 500;
  /** Long writes in progress: the group does not commit while one is. */
  private holds = 0;

  /**
   * A write too big for one event-loop turn, one slice of items per turn, all in the open group
   * transaction, which does not commit until the last slice ran: the write stays atomic, and
   * between slices the loop serves other requests. Their writes join the same group and their
   * replies wait for its commit (as every reply waits for its group's); their reads see the
   * slices so far, as they would see the whole write a turn later. A slice that fails rolls the
   * whole group back: its other writers learn it (noticeRollback) and this one throws.
   */
  private async sliced<T>(items: readonly T[], first: () => void, each: (slice: readonly T[]) => void): Promise<void> {
    this.holds++;
    try {
      this.joinGroup();
      const group = this.group;
      const run = (fn: () => void): void => {
        try {
          this.db.transaction(fn)();
        } catch (e) {
          this.rollbackGroup();
          throw e;
        }
      };
      run(first);
      for (let i = 0; i < items.length; i += Store.SLICE_ROWS) {
        if (i > 0) {
          await new Promise((r) => setImmediate(r));
          // Another request's write that failed may have made SQLite roll the group back.
          this.noticeRollback();
          if (this.group !== group) throw groupRolledBack();
        }
        run(() => each(items.slice(i, i + Store.SLICE_ROWS)));
      }
    } finally {
      this.holds--;
      // The commit that joinGroup scheduled was held back: this turn's other writes join it too.
      if (this.holds === 0 && this.group) setImmediate(() => this.commitGroup());
    }
  }

  /** Rolls the open group back; its waiters fail with groupRolledBack. */
  private rollbackGroup(): void {
    if (this.db.inTransaction) this.groupStatements!.rollback.run();
    this.noticeRollback();
  }

  /** Committed groups waiting for an fsync, and whether one is running (one at a time). */
  private committed: Group[] = [];
  /** The batch whose fsync is running (one at a time). */
  private syncing: Group[] | null = null;

  // SQLite rolls the whole transaction back by itself on some errors (SQLITE_FULL, SQLITE_IOERR,
  // SQLITE_NOMEM): the group's earlier writes, other requests' included, are gone. Its waiters
  // fail with an error that says so (a 503 in app.ts), and the next write opens a new group
  // instead of running outside any transaction.
  private noticeRollback(): void {
    const g = this.group;
    if (!g || this.db.inTransaction) return;
    this.group = null;
    g.reject(groupRolledBack());
  }

  /** Commits the open group transaction now and schedules its fsync; its waiters learn the outcome. */
  commitGroup(): void {
    this.noticeRollback();
    const g = this.group;
    if (!g || this.holds > 0) return;
    this.group = null;
    try {
      this.groupStatements!.commit.run();
    } catch (e) {
      if (this.db.inTransaction) this.groupStatements!.rollback.run();
      g.reject(e);
      return;
    }
    this.committed.push(g);
    this.syncWal();
  }

  // One fsync in flight: the groups committed while it runs share the next one, so a slow disk
  // makes the batches bigger rather than queueing fsyncs on the thread pool (which file reads
  // for downloads also need).
  private syncWal(): void {
    if (this.syncing || this.committed.length === 0) return;
    const batch = this.committed;
    this.committed = [];
    this.syncing = batch;
    fsync(this.walFd, (e) => {
      this.syncing = null;
      for (const g of batch) {
        if (e) g.reject(e);
        else g.resolve();
      }
      this.syncWal();
    });
  }

  /** Resolves once every write made so far is on disk; undefined when none is waiting. */
  // Groups reach the disk in order and one fsync covers every frame before it, so the newest
  // group not yet synced stands for all of them.
  durable(): Promise<void> | undefined {
    this.noticeRollback();
    return (this.group ?? this.committed.at(-1) ?? this.syncing?.at(-1))?.done;
  }

  /** Every row this connection changed so far: the server's writes all go through it (see ui/index.ts). */
  changeCounter(): number {
    return (this.stmt('SELECT total_changes() AS n').get() as { n: number }).n;
  }

  // ---- users and tokens

  createUser(email: string, passwordHash: string): UserRow {
    const ts = now();
    const row: UserRow = { id: randomUUID(), email, password_hash: passwordHash, created_ts: ts, updated_ts: ts };
    this.stmt('INSERT INTO users VALUES (@id, @email, @password_hash, @created_ts, @updated_ts)').run(row);
    return row;
  }
  userByEmail(email: string): UserRow | undefined {
    return this.stmt('SELECT * FROM users WHERE email = ?').get(email) as UserRow | undefined;
  }
  userById(id: string): UserRow | undefined {
    return this.stmt('SELECT * FROM users WHERE id = ?').get(id) as UserRow | undefined;
  }
  listUsers(): UserRow[] {
    return this.stmt('SELECT * FROM users ORDER BY created_ts').all() as UserRow[];
  }
  updateUser(id: string, change: { email?: string; passwordHash?: string }): boolean {
    return this.stmt('UPDATE users SET email = COALESCE(?, email), password_hash = COALESCE(?, password_hash), updated_ts = ? WHERE id = ?')
      .run(change.email ?? null, change.passwordHash ?? null, now(), id).changes > 0;
  }
  /**
   * Changes a user's e-mail, password and roles in one transaction; keepToken keeps the session
   * that changed its own password valid for the new one (see keepUserToken).
   */
  changeUser(id: string, change: { email?: string; passwordHash?: string; roles?: string[]; keepToken?: { jti: string; passwordFingerprint: string; exp: number } }): void {
    this.tx(() => {
      if (change.email !== undefined || change.passwordHash !== undefined) this.updateUser(id, { email: change.email, passwordHash: change.passwordHash });
      if (change.keepToken) this.keepUserToken(change.keepToken.jti, change.keepToken.passwordFingerprint, change.keepToken.exp);
      if (change.roles !== undefined) this.setUserRoles(id, change.roles);
    });
  }
  deleteUser(id: string): boolean {
    return this.stmt('DELETE FROM users WHERE id = ?').run(id).changes > 0;
  }
  countUsers(): number {
    return (this.stmt('SELECT COUNT(*) AS n FROM users').get() as { n: number }).n;
  }
  createPersonalToken(userId: string, name: string, expiration: string): PersonalTokenRow {
    const row: PersonalTokenRow = { id: randomUUID(), user_id: userId, name, expiration_date: expiration, created_ts: now(), last_used: null };
    this.stmt('INSERT INTO personal_tokens VALUES (@id, @user_id, @name, @expiration_date, @created_ts, @last_used)').run(row);
    return row;
  }
  personalToken(id: string): PersonalTokenRow | undefined {
    return this.stmt('SELECT * FROM personal_tokens WHERE id = ?').get(id) as PersonalTokenRow | undefined;
  }
  listPersonalTokens(userId: string): PersonalTokenRow[] {
    return this.stmt('SELECT * FROM personal_tokens WHERE user_id = ? ORDER BY created_ts').all(userId) as PersonalTokenRow[];
  }
  /** Records a personal token's use; at most once a minute, so a busy script does not write on every call. */
  touchPersonalToken(id: string): void {
    const ts = now();
    this.stmt('UPDATE personal_tokens SET last_used = ? WHERE id = ? AND (last_used IS NULL OR last_used < ?)').run(ts, id, new Date(Date.now() - 60_000).toISOString());
  }
  deletePersonalToken(userId: string, id: string): boolean {
    return this.stmt('DELETE FROM personal_tokens WHERE id = ? AND user_id = ?').run(id, userId).changes > 0;
  }

  // ---- settings (useradm's global and per-user settings: free-form JSON with an ETag)

  settings(scope: string): { body: Record<string, unknown>; etag: string } | undefined {
    const r = this.stmt('SELECT body, etag FROM settings WHERE scope = ?').get(scope) as { body: string; etag: string } | undefined;
    return r && { body: JSON.parse(r.body), etag: r.etag };
  }
  /** Replaces the settings of a scope when `ifMatch` (if given) is the current ETag; the new ETag, or undefined on a mismatch. */
  saveSettings(scope: string, body: Record<string, unknown>, ifMatch?: string): string | undefined {
    return this.tx(() => {
      const current = this.settings(scope);
      if (ifMatch !== undefined && current?.etag !== ifMatch) return undefined;
      const etag = randomUUID();
      this.stmt('INSERT INTO settings (scope, body, etag) VALUES (?, ?, ?) ON CONFLICT(scope) DO UPDATE SET body = excluded.body, etag = excluded.etag').run(scope, JSON.stringify(body), etag);
      return etag;
    });
  }

  // ---- iot-manager integrations

  createIntegration(provider: string, credentials: unknown): IntegrationRow {
    const row = { id: randomUUID(), provider, credentials, created_ts: now() };
    this.stmt('INSERT INTO integrations VALUES (?, ?, ?, ?)').run(row.id, provider, JSON.stringify(credentials), row.created_ts);
    return row;
  }
  integrations(): IntegrationRow[] {
    return (this.stmt('SELECT * FROM integrations ORDER BY created_ts, id').all() as Array<Omit<IntegrationRow, 'credentials'> & { credentials: string }>).map((r) => ({
      ...r,
      credentials: JSON.parse(r.credentials),
    }));
  }
  setIntegrationCredentials(id: string, credentials: unknown): boolean {
    return this.stmt('UPDATE integrations SET credentials = ? WHERE id = ?').run(JSON.stringify(credentials), id).changes > 0;
  }
  deleteIntegration(id: string): boolean {
    return this.stmt('DELETE FROM integrations WHERE id = ?').run(id).changes > 0;
  }

  recordEvent(e: { id: string; type: string; time: string; data: unknown }, deliveries: unknown[]): void {
    this.stmt('INSERT INTO iot_events (id, type, time, data, deliveries) VALUES (?, ?, ?, ?, ?)').run(e.id, e.type, e.time, JSON.stringify(e.data), JSON.stringify(deliveries));
  }
  addEventDelivery(eventId: string, delivery: { integration_id: string }): void {
    this.tx(() => {
      const r = this.stmt('SELECT deliveries FROM iot_events WHERE id = ?').get(eventId) as { deliveries: string } | undefined;
      if (!r) return;
      this.stmt('UPDATE iot_events SET deliveries = ? WHERE id = ?').run(JSON.stringify([...JSON.parse(r.deliveries), delivery]), eventId);
    });
  }
  /** Events, newest first. */
  events(opts: { limit: number; offset: number; integrationId?: string }): Array<{ id: string; type: string; time: string; data: unknown; delivery_statuses: unknown[] }> {
    // Filtered before paging, or a page of another integration's events would come back short.
    const rows = (opts.integrationId === undefined
      ? this.stmt('SELECT * FROM iot_events ORDER BY seq DESC LIMIT ? OFFSET ?').all(opts.limit, opts.offset)
      : this.stmt("SELECT * FROM iot_events WHERE EXISTS (SELECT 1 FROM json_each(deliveries) WHERE json_extract(value, '$.integration_id') = ?) ORDER BY seq DESC LIMIT ? OFFSET ?").all(opts.integrationId, opts.limit, opts.offset)) as Array<{ id: string; type: string; time: string; data: string; deliveries: string }>;
    return rows.map((r) => ({ id: r.id, type: r.type, time: r.time, data: JSON.parse(r.data), delivery_statuses: JSON.parse(r.deliveries) }));
  }

  // ---- iot-manager's devices

  provisionIotDevice(deviceId: string): void {
    this.stmt('INSERT INTO iot_devices VALUES (?, ?) ON CONFLICT(device_id) DO UPDATE SET provisioned_ts = excluded.provisioned_ts').run(deviceId, now());
  }
  isIotDevice(deviceId: string): boolean {
    return this.stmt('SELECT 1 FROM iot_devices WHERE device_id = ?').get(deviceId) !== undefined;
  }

  /**
   * A user's roles; undefined for users from before roles existed (they were all administrators
   * and stay so until their roles are set).
   */
  userRoles(userId: string): string[] | undefined {
    if (!this.stmt('SELECT 1 FROM user_role_sets WHERE user_id = ?').get(userId)) return undefined;
    return (this.stmt('SELECT role FROM user_roles WHERE user_id = ? ORDER BY role').all(userId) as Array<{ role: string }>).map((r) => r.role);
  }
  setUserRoles(userId: string, roles: string[]): void {
    this.tx(() => {
      this.stmt('INSERT OR IGNORE INTO user_role_sets VALUES (?)').run(userId);
      this.stmt('DELETE FROM user_roles WHERE user_id = ?').run(userId);
      for (const r of new Set(roles)) this.stmt('INSERT INTO user_roles VALUES (?, ?)').run(userId, r);
    });
  }

  /** Records a logged-out user token until it would have expired anyway. */
  revokeUserToken(jti: string, exp: number): void {
    this.stmt('INSERT OR IGNORE INTO revoked_user_tokens VALUES (?, ?)').run(jti, exp);
  }
  isUserTokenRevoked(jti: string): boolean {
    return this.stmt('SELECT 1 FROM revoked_user_tokens WHERE jti = ?').get(jti) !== undefined;
  }
  /** Keeps a session valid for the password it set (see auth/guards.ts). */
  keepUserToken(jti: string, passwordFingerprint: string, exp: number): void {
    this.stmt('INSERT OR REPLACE INTO kept_user_tokens VALUES (?, ?, ?)').run(jti, passwordFingerprint, exp);
  }
  keptUserTokenFingerprint(jti: string): string | undefined {
    return (this.stmt('SELECT password_fingerprint FROM kept_user_tokens WHERE jti = ?').get(jti) as { password_fingerprint: string } | undefined)?.password_fingerprint;
  }

  // ---- devices and auth sets

  deviceByIdData(idData: string): DeviceRow | undefined {
    return this.stmt('SELECT * FROM devices WHERE id_data = ?').get(idData) as DeviceRow | undefined;
  }
  device(id: string): DeviceRow | undefined {
    return this.stmt('SELECT * FROM devices WHERE id = ?').get(id) as DeviceRow | undefined;
  }
  listDevices(opts: { status?: string; limit: number; offset: number }): DeviceRow[] {
    if (opts.status) {
      return this.stmt('SELECT * FROM devices WHERE status = ? ORDER BY created_ts, id LIMIT ? OFFSET ?').all(opts.status, opts.limit, opts.offset) as DeviceRow[];
    }
    return this.stmt('SELECT * FROM devices ORDER BY created_ts, id LIMIT ? OFFSET ?').all(opts.limit, opts.offset) as DeviceRow[];
  }
  countDevices(status?: string): number {
    const row = status
      ? this.stmt('SELECT COUNT(*) AS n FROM devices WHERE status = ?').get(status)
      : this.stmt('SELECT COUNT(*) AS n FROM devices').get();
    return (row as { n: number }).n;
  }
  /**
   * Each accepted device with what the fleet charts group it by: device type and installed
   * artifact as it last reported them (inventory scope, JSON text), group and last check-in.
   */
  fleetDevices(): FleetDeviceRow[] {
    return this.stmt(
      `SELECT d.id, d.id_data, c.check_in_time, i.grp,
         (SELECT value FROM inventory v WHERE v.device_id = d.id AND v.scope = 'inventory' AND v.name = 'device_type') AS device_type,
         (SELECT value FROM inventory v WHERE v.device_id = d.id AND v.scope = 'inventory' AND v.name = 'artifact_name') AS artifact_name
       FROM devices d LEFT JOIN device_checkins c ON c.device_id = d.id LEFT JOIN inventory_devices i ON i.device_id = d.id
       WHERE d.status = 'accepted' ORDER BY d.created_ts, d.id`,
    ).all() as FleetDeviceRow[];
  }
  acceptedDeviceIds(): string[] {
    return (this.stmt("SELECT id FROM devices WHERE status = 'accepted' ORDER BY created_ts, id").all() as { id: string }[]).map((r) => r.id);
  }
  authSets(deviceId: string): AuthSetRow[] {
    return this.stmt('SELECT * FROM auth_sets WHERE device_id = ? ORDER BY ts, id').all(deviceId) as AuthSetRow[];
  }
  authSet(id: string): AuthSetRow | undefined {
    return this.stmt('SELECT * FROM auth_sets WHERE id = ?').get(id) as AuthSetRow | undefined;
  }

  /**
   * Finds or creates the device and auth set of an auth request (Mender's model: a device is its
   * identity, each key it presents is an auth set). A preauthorized set is accepted on first
   * contact. Returns the auth set as it stands after the request.
   */
  recordAuthRequest(idData: string, pubkey: string): { device: DeviceRow; authSet: AuthSetRow } {
    return this.tx(() => {
      const ts = now();
      let device = this.deviceByIdData(idData);
      if (!device) {
        device = { id: randomUUID(), id_data: idData, status: 'pending', created_ts: ts, updated_ts: ts };
        this.stmt('INSERT INTO devices VALUES (@id, @id_data, @status, @created_ts, @updated_ts)').run(device);
      }
      let set = this.stmt('SELECT * FROM auth_sets WHERE device_id = ? AND pubkey = ?').get(device.id, pubkey) as AuthSetRow | undefined;
      if (!set) {
        set = { id: randomUUID(), device_id: device.id, pubkey, status: 'pending', ts };
        this.stmt('INSERT INTO auth_sets VALUES (@id, @device_id, @pubkey, @status, @ts)').run(set);
      } else if (set.status === 'preauthorized') {
        this.setAuthSetStatusInTx(set, 'accepted');
        set = this.authSet(set.id)!;
      }
      this.refreshDeviceStatus(device.id);
      return { device: this.device(device.id)!, authSet: set };
    });
  }

  /** True when this identity already has this key (an auth request that adds nothing). */
  hasAuthSet(idData: string, pubkey: string): boolean {
    return this.stmt('SELECT 1 FROM auth_sets a JOIN devices d ON d.id = a.device_id WHERE d.id_data = ? AND a.pubkey = ?').get(idData, pubkey) !== undefined;
  }
  countPendingAuthSets(): number {
    return (this.stmt("SELECT COUNT(*) AS n FROM auth_sets WHERE status = 'pending'").get() as { n: number }).n;
  }

  /** Preauthorizes identity+key; false when that identity already has that key. */
  preauthorize(idData: string, pubkey: string): { device: DeviceRow; authSet: AuthSetRow } | undefined {
    return this.tx(() => {
      const ts = now();
      let device = this.deviceByIdData(idData);
      if (!device) {
        device = { id: randomUUID(), id_data: idData, status: 'preauthorized', created_ts: ts, updated_ts: ts };
        this.stmt('INSERT INTO devices VALUES (@id, @id_data, @status, @created_ts, @updated_ts)').run(device);
      }
      const existing = this.stmt('SELECT 1 FROM auth_sets WHERE device_id = ? AND pubkey = ?').get(device.id, pubkey);
      if (existing) return undefined;
      const set: AuthSetRow = { id: randomUUID(), device_id: device.id, pubkey, status: 'preauthorized', ts };
      this.stmt('INSERT INTO auth_sets VALUES (@id, @device_id, @pubkey, @status, @ts)').run(set);
      this.refreshDeviceStatus(device.id);
      return { device: this.device(device.id)!, authSet: set };
    });
  }

  setAuthSetStatus(authSetId: string, status: AuthSetStatus): boolean {
    return this.tx(() => {
      const set = this.authSet(authSetId);
      if (!set) return false;
      this.setAuthSetStatusInTx(set, status);
      this.refreshDeviceStatus(set.device_id);
      return true;
    });
  }

  private setAuthSetStatusInTx(set: AuthSetRow, status: AuthSetStatus): void {
    // A device has at most one accepted key: accepting one rejects the others (Mender does so).
    if (status === 'accepted') {
      this.stmt("UPDATE auth_sets SET status = 'rejected' WHERE device_id = ? AND id != ? AND status = 'accepted'").run(set.device_id, set.id);
      this.stmt('DELETE FROM device_tokens WHERE device_id = ? AND auth_set_id != ?').run(set.device_id, set.id);
    } else {
      this.stmt('DELETE FROM device_tokens WHERE auth_set_id = ?').run(set.id);
    }
    this.stmt('UPDATE auth_sets SET status = ? WHERE id = ?').run(status, set.id);
  }

  deleteAuthSet(authSetId: string): boolean {
    return this.tx(() => {
      const set = this.authSet(authSetId);
      if (!set) return false;
      this.stmt('DELETE FROM auth_sets WHERE id = ?').run(authSetId);
      const left = this.authSets(set.device_id);
      if (left.length === 0) this.removeDeviceInTx(set.device_id);
      else this.refreshDeviceStatus(set.device_id);
      return true;
    });
  }

  /** Device status follows its auth sets: accepted > preauthorized > pending > rejected. */
  private refreshDeviceStatus(deviceId: string): void {
    const status = deviceStatusOf(this.authSets(deviceId));
    this.stmt('UPDATE devices SET status = ?, updated_ts = ? WHERE id = ? AND status != ?').run(status, now(), deviceId, status);
  }

  /** Decommission: the device, its keys, tokens and inventory go; its unfinished deployments end. */
  decommission(deviceId: string): boolean {
    return this.tx(() => {
      if (!this.device(deviceId)) return false;
      this.removeDeviceInTx(deviceId);
      return true;
    });
  }

  private removeDeviceInTx(deviceId: string): void {
    this.endOpenDeploymentsInTx(deviceId);
    this.stmt('DELETE FROM devices WHERE id = ?').run(deviceId);
    this.stmt('DELETE FROM inventory WHERE device_id = ?').run(deviceId);
    this.stmt('DELETE FROM inventory_devices WHERE device_id = ?').run(deviceId);
    this.stmt('DELETE FROM device_checkins WHERE device_id = ?').run(deviceId);
    this.lastCheckIn.delete(deviceId);
    this.stmt('DELETE FROM device_config WHERE device_id = ?').run(deviceId);
  }

  /** Every unfinished deployment of the device ends for it as decommissioned; how many. */
  endOpenDeploymentsOf(deviceId: string): number {
    return this.tx(() => this.endOpenDeploymentsInTx(deviceId));
  }
  private endOpenDeploymentsInTx(deviceId: string): number {
    const ts = now();
    const open = this.stmt(`SELECT deployment_id FROM deployment_devices WHERE device_id = ? AND status NOT IN (${[...FINAL_DEVICE_STATUSES].map(() => '?').join(',')})`)
      .all(deviceId, ...FINAL_DEVICE_STATUSES) as { deployment_id: string }[];
    for (const { deployment_id } of open) {
      this.stmt("UPDATE deployment_devices SET status = 'decommissioned', finished = ? WHERE deployment_id = ? AND device_id = ?").run(ts, deployment_id, deviceId);
      this.refreshDeploymentStatus(deployment_id);
    }
    return open.length;
  }

  // ---- device tokens

  addDeviceToken(jti: string, deviceId: string, authSetId: string, exp: number): void {
    this.stmt('INSERT INTO device_tokens VALUES (?, ?, ?, ?)').run(jti, deviceId, authSetId, exp);
  }
  deviceToken(jti: string): { jti: string; device_id: string; auth_set_id: string; exp: number } | undefined {
    return this.stmt('SELECT * FROM device_tokens WHERE jti = ?').get(jti) as { jti: string; device_id: string; auth_set_id: string; exp: number } | undefined;
  }
  deleteDeviceToken(jti: string): boolean {
    return this.stmt('DELETE FROM device_tokens WHERE jti = ?').run(jti).changes > 0;
  }
  pruneExpiredDeviceTokens(nowSeconds: number): void {
    this.stmt('DELETE FROM revoked_user_tokens WHERE exp <= ?').run(nowSeconds);
    this.stmt('DELETE FROM kept_user_tokens WHERE exp <= ?').run(nowSeconds);
    this.stmt('DELETE FROM device_tokens WHERE exp < ?').run(nowSeconds);
  }

  // ---- inventory

  /** Replaces (PUT) or merges (PATCH) a device's inventory attributes of one scope. */
  setInventory(deviceId: string, scope: string, attrs: Array<{ name: string; value: unknown }>, replace: boolean): void {
    this.tx(() => {
      if (replace) this.stmt('DELETE FROM inventory WHERE device_id = ? AND scope = ?').run(deviceId, scope);
      const put = this.stmt('INSERT OR REPLACE INTO inventory VALUES (?, ?, ?, ?)');
      for (const a of attrs) put.run(deviceId, scope, a.name, JSON.stringify(a.value));
      this.touchInventoryDevice(deviceId);
    });
  }
  private touchInventoryDevice(deviceId: string): void {
    this.stmt('INSERT INTO inventory_devices (device_id, grp, updated_ts) VALUES (?, NULL, ?) ON CONFLICT(device_id) DO UPDATE SET updated_ts = excluded.updated_ts').run(deviceId, now());
  }
  /** A device's attributes: its own (inventory), tags, and what Mender's inventory keeps in system and identity scope. */
  inventory(deviceId: string): InventoryAttribute[] {
    const rows = this.stmt('SELECT scope, name, value FROM inventory WHERE device_id = ? ORDER BY scope, name').all(deviceId) as { scope: string; name: string; value: string }[];
    const attrs: InventoryAttribute[] = rows.map((r) => ({ name: r.name, value: JSON.parse(r.value), scope: r.scope }));
    const inv = this.inventoryDevice(deviceId);
    if (inv?.grp) attrs.push({ name: 'group', value: inv.grp, scope: 'system' });
    const dev = this.device(deviceId);
    if (dev) {
      attrs.push({ name: 'created_ts', value: dev.created_ts, scope: 'system' });
      attrs.push({ name: 'updated_ts', value: inv?.updated_ts ?? dev.updated_ts, scope: 'system' });
      const seen = this.checkInTime(deviceId);
      if (seen) attrs.push({ name: 'check_in_time', value: seen, scope: 'system' });
    }
    if (dev) attrs.push({ name: 'status', value: dev.status, scope: 'identity' });
    if (dev) for (const [k, v] of Object.entries(JSON.parse(dev.id_data) as Record<string, unknown>)) attrs.push({ name: k, value: v, scope: 'identity' });
    return attrs;
  }
  /** Records that the device talked to us; written at most once a minute per device (memory-throttled). */
  checkIn(deviceId: string): void {
    const t = Date.now();
    if (t - (this.lastCheckIn.get(deviceId) ?? 0) < 60_000) return;
    this.lastCheckIn.set(deviceId, t);
    this.stmt('INSERT INTO device_checkins VALUES (?, ?) ON CONFLICT(device_id) DO UPDATE SET check_in_time = excluded.check_in_time').run(deviceId, new Date(t).toISOString());
  }
  private readonly lastCheckIn = new Map<string, number>();
  checkInTime(deviceId: string): string | undefined {
    return (this.stmt('SELECT check_in_time FROM device_checkins WHERE device_id = ?').get(deviceId) as { check_in_time: string } | undefined)?.check_in_time;
  }
  /** Drops what inventory holds of a device (attributes, tags, group); the device stays in devauth. */
  deleteInventory(deviceId: string): void {
    this.tx(() => {
      this.stmt('DELETE FROM inventory WHERE device_id = ?').run(deviceId);
      this.stmt('DELETE FROM inventory_devices WHERE device_id = ?').run(deviceId);
    });
  }
  inventoryDevice(deviceId: string): { device_id: string; grp: string | null; updated_ts: string } | undefined {
    return this.stmt('SELECT * FROM inventory_devices WHERE device_id = ?').get(deviceId) as { device_id: string; grp: string | null; updated_ts: string } | undefined;
  }
  /** Devices known to inventory: every device that has an auth record. */
  inventoryDeviceIds(): string[] {
    return (this.stmt('SELECT id FROM devices ORDER BY created_ts, id').all() as { id: string }[]).map((r) => r.id);
  }
  /** Puts each device in the group, in one transaction. */
  setGroupOf(deviceIds: string[], group: string): void {
    this.tx(() => deviceIds.forEach((id) => this.setGroup(id, group)));
  }
  setGroup(deviceId: string, group: string | null): void {
    this.stmt('INSERT INTO inventory_devices (device_id, grp, updated_ts) VALUES (?, ?, ?) ON CONFLICT(device_id) DO UPDATE SET grp = excluded.grp, updated_ts = excluded.updated_ts').run(deviceId, group, now());
  }
  groups(): string[] {
    return (this.stmt('SELECT DISTINCT grp FROM inventory_devices WHERE grp IS NOT NULL ORDER BY grp').all() as { grp: string }[]).map((r) => r.grp);
  }
  groupMembers(group: string): string[] {
    return (this.stmt('SELECT device_id FROM inventory_devices WHERE grp = ? ORDER BY device_id').all(group) as { device_id: string }[]).map((r) => r.device_id);
  }
  clearGroup(group: string, deviceIds?: string[]): number {
    return this.tx(() => {
      if (!deviceIds) return this.stmt('UPDATE inventory_devices SET grp = NULL WHERE grp = ?').run(group).changes;
      let n = 0;
      for (const id of deviceIds) n += this.stmt('UPDATE inventory_devices SET grp = NULL WHERE grp = ? AND device_id = ?').run(group, id).changes;
      return n;
    });
  }

  createFilter(name: string, terms: FilterTerm[]): FilterRow {
    const row = { id: randomUUID(), name, terms, created_ts: now() };
    this.stmt('INSERT INTO filters VALUES (?, ?, ?, ?)').run(row.id, name, JSON.stringify(terms), row.created_ts);
    return row;
  }
  filters(): FilterRow[] {
    return (this.stmt('SELECT * FROM filters ORDER BY name').all() as Array<Omit<FilterRow, 'terms'> & { terms: string }>).map((r) => ({ ...r, terms: JSON.parse(r.terms) }));
  }
  filter(id: string): FilterRow | undefined {
    return this.filters().find((f) => f.id === id);
  }
  deleteFilter(id: string): boolean {
    return this.stmt('DELETE FROM filters WHERE id = ?').run(id).changes > 0;
  }

  // ---- artifacts

  insertArtifact(a: ArtifactRow): void {
    this.stmt('INSERT INTO artifacts VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(a.id, a.name, a.description, JSON.stringify(a.device_types), a.size, a.checksum, JSON.stringify(a.meta), a.modified);
  }
  private artifactFromRow(r: Record<string, unknown>): ArtifactRow {
    return { ...(r as unknown as ArtifactRow), device_types: JSON.parse(r.device_types as string), meta: JSON.parse(r.meta as string) };
  }
  artifact(id: string): ArtifactRow | undefined {
    const r = this.stmt('SELECT * FROM artifacts WHERE id = ?').get(id) as Record<string, unknown> | undefined;
    return r && this.artifactFromRow(r);
  }
  artifactsByName(name: string): ArtifactRow[] {
    return (this.stmt('SELECT * FROM artifacts WHERE name = ? ORDER BY modified').all(name) as Record<string, unknown>[]).map((r) => this.artifactFromRow(r));
  }
  listArtifacts(): ArtifactRow[] {
    return (this.stmt('SELECT * FROM artifacts ORDER BY modified, id').all() as Record<string, unknown>[]).map((r) => this.artifactFromRow(r));
  }
  artifactIds(): Set<string> {
    return new Set((this.stmt('SELECT id FROM artifacts').all() as { id: string }[]).map((r) => r.id));
  }
  deleteArtifact(id: string): boolean {
    return this.stmt('DELETE FROM artifacts WHERE id = ?').run(id).changes > 0;
  }
  setArtifactDescription(id: string, description: string): boolean {
    return this.stmt('UPDATE artifacts SET description = ?, modified = ? WHERE id = ?').run(description, now(), id).changes > 0;
  }
  /** A release's notes and tags (empty when never edited). */
  releaseInfo(name: string): { notes: string; tags: string[]; modified?: string } {
    const r = this.stmt('SELECT notes, tags, modified FROM releases WHERE name = ?').get(name) as { notes: string; tags: string; modified: string } | undefined;
    return r ? { notes: r.notes, tags: JSON.parse(r.tags), modified: r.modified } : { notes: '', tags: [] };
  }
  saveReleaseInfo(name: string, change: { notes?: string; tags?: string[] }): void {
    this.tx(() => {
      const cur = this.releaseInfo(name);
      this.stmt('INSERT INTO releases (name, notes, tags, modified) VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET notes = excluded.notes, tags = excluded.tags, modified = excluded.modified')
        .run(name, change.notes ?? cur.notes, JSON.stringify(change.tags ?? cur.tags), now());
    });
  }
  deleteReleaseInfo(name: string): void {
    this.stmt('DELETE FROM releases WHERE name = ?').run(name);
  }
  /** Every tag of every release that still has artifacts, sorted. */
  releaseTags(): string[] {
    const rows = this.stmt('SELECT tags FROM releases r WHERE EXISTS (SELECT 1 FROM artifacts a WHERE a.name = r.name)').all() as { tags: string }[];
    return [...new Set(rows.flatMap((r) => JSON.parse(r.tags) as string[]))].sort();
  }

  /** True when an unfinished deployment still needs an artifact of this name. */
  artifactNameInActiveDeployment(name: string): boolean {
    return !!this.stmt("SELECT 1 FROM deployments WHERE artifact_name = ? AND status != 'finished' LIMIT 1").get(name);
  }

  // ---- deployments

  /**
   * The deployment and its devices, atomically. A big one (10,000 devices: about 0.5 s of SQLite
   * work on this box, idle, which stalled every request) goes in slices, one per event-loop turn
   * (see sliced); a small one in this turn.
   */
  async insertDeployment(d: DeploymentRow, devices: Array<{ id: string; phase: number }>): Promise<void> {
    if (devices.length <= Store.SLICE_ROWS) return this.insertDeploymentNow(d, devices);
    await this.sliced(devices, () => this.insertDeploymentNow(d, []), (slice) => this.insertDeploymentDevices(d, slice));
  }
  private insertDeploymentNow(d: DeploymentRow, devices: ReadonlyArray<{ id: string; phase: number }>): void {
    this.tx(() => {
      this.stmt('INSERT INTO deployments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(d.id, d.name, d.artifact_name, d.created, d.finished, d.status, d.device_count, d.max_devices, d.retries, JSON.stringify(d.phases), d.error_threshold, d.stop_reason, d.target);
      this.insertDeploymentDevices(d, devices);
    });
  }
  private insertDeploymentDevices(d: DeploymentRow, devices: ReadonlyArray<{ id: string; phase: number }>): void {
    const put = this.stmt("INSERT INTO deployment_devices (deployment_id, device_id, status, phase, attempts, created) VALUES (?, ?, 'pending', ?, 0, ?)");
    for (const dev of devices) put.run(d.id, dev.id, dev.phase, d.created);
  }
  private deploymentFromRow(r: Record<string, unknown>): DeploymentRow {
    return { ...(r as unknown as DeploymentRow), phases: JSON.parse(r.phases as string) };
  }
  deployment(id: string): DeploymentRow | undefined {
    const r = this.stmt('SELECT * FROM deployments WHERE id = ?').get(id) as Record<string, unknown> | undefined;
    return r && this.deploymentFromRow(r);
  }
  listDeployments(status?: string): DeploymentRow[] {
    const rows = status
      ? this.stmt('SELECT * FROM deployments WHERE status = ? ORDER BY created DESC, id').all(status)
      : this.stmt('SELECT * FROM deployments ORDER BY created DESC, id').all();
    return (rows as Record<string, unknown>[]).map((r) => this.deploymentFromRow(r));
  }
  deploymentDevices(deploymentId: string): DeploymentDeviceRow[] {
    return this.stmt('SELECT * FROM deployment_devices WHERE deployment_id = ? ORDER BY device_id').all(deploymentId) as DeploymentDeviceRow[];
  }
  deploymentDevice(deploymentId: string, deviceId: string): DeploymentDeviceRow | undefined {
    return this.stmt('SELECT * FROM deployment_devices WHERE deployment_id = ? AND device_id = ?').get(deploymentId, deviceId) as DeploymentDeviceRow | undefined;
  }
  /** The device's deployments, newest first, without those its history deletion hid. */
  deviceDeploymentHistory(deviceId: string): DeploymentDeviceRow[] {
    return this.stmt(
      `SELECT dd.* FROM deployment_devices dd
       WHERE dd.device_id = ? AND NOT EXISTS (SELECT 1 FROM deployment_devices_deleted x WHERE x.deployment_id = dd.deployment_id AND x.device_id = dd.device_id)
       ORDER BY dd.created DESC`,
    ).all(deviceId) as DeploymentDeviceRow[];
  }
  /** Hides the device's finished deployments from its history (Mender marks them deleted); how many. */
  deleteDeviceHistory(deviceId: string): number {
    return this.stmt(
      `INSERT OR IGNORE INTO deployment_devices_deleted (deployment_id, device_id, deleted)
       SELECT deployment_id, device_id, ? FROM deployment_devices WHERE device_id = ? AND status IN (${[...FINAL_DEVICE_STATUSES].map(() => '?').join(',')})`,
    ).run(now(), deviceId, ...FINAL_DEVICE_STATUSES).changes;
  }
  /**
   * What a device's poll reads first: whom its token is recorded for (undefined: revoked) and its
   * open deployments. One call, so a store across the network answers both in one statement.
   */
  deviceTokenAndOpenDeployments(jti: string, deviceId: string): { tokenDeviceId: string | undefined; opened: Array<DeploymentDeviceRow & { dep: DeploymentRow }> } {
    return { tokenDeviceId: this.deviceToken(jti)?.device_id, opened: this.openDeploymentsForDevice(deviceId) };
  }
  /** The device's unfinished deployments, oldest first (Mender serves the oldest). */
  openDeploymentsForDevice(deviceId: string): Array<DeploymentDeviceRow & { dep: DeploymentRow }> {
    const rows = this.stmt(
        `SELECT dd.*, d.id AS d_id FROM deployment_devices dd JOIN deployments d ON d.id = dd.deployment_id
         WHERE dd.device_id = ? AND d.status != 'finished' AND dd.status NOT IN (${[...FINAL_DEVICE_STATUSES].map(() => '?').join(',')})
         ORDER BY d.created, d.id`,
      )
      .all(deviceId, ...FINAL_DEVICE_STATUSES) as Array<DeploymentDeviceRow & { d_id: string }>;
    return rows.map((r) => ({ ...r, dep: this.deployment(r.d_id)! }));
  }

  /**
   * Sets a device's status in a deployment and keeps the deployment's own status in step. With
   * ifStatus, only while the device's status is still that one (a compare-and-set: a status
   * report decided on what it read); false when nothing changed.
   */
  setDeviceDeploymentStatus(deploymentId: string, deviceId: string, status: string, substate: string | null, extra: { attempts?: number; deviceType?: string; ifStatus?: string } = {}): boolean {
    return this.tx(() => {
      const ts = now();
      const final = FINAL_DEVICE_STATUSES.has(status);
      const changed = this.stmt(
          `UPDATE deployment_devices SET status = ?, substate = ?, finished = ?,
             started = CASE WHEN started IS NULL AND ? != 'pending' THEN ? ELSE started END,
             attempts = COALESCE(?, attempts), device_type = COALESCE(?, device_type)
           WHERE deployment_id = ? AND device_id = ? AND status = COALESCE(?, status)`,
        )
        .run(status, substate, final ? ts : null, status, ts, extra.attempts ?? null, extra.deviceType ?? null, deploymentId, deviceId, extra.ifStatus ?? null).changes > 0;
      if (changed) this.refreshDeploymentStatus(deploymentId);
      return changed;
    });
  }

  /** Remembers the device type a device polled with, for the management device lists. */
  setDeploymentDeviceType(deploymentId: string, deviceId: string, deviceType: string): void {
    this.stmt('UPDATE deployment_devices SET device_type = ? WHERE deployment_id = ? AND device_id = ?').run(deviceType, deploymentId, deviceId);
  }

  /** Ends a deployment: every device not yet done becomes aborted. True when it was not finished before. */
  abortDeployment(deploymentId: string, reason: string | null): boolean {
    return this.tx(() => {
      const ts = now();
      const wasOpen = this.deployment(deploymentId)?.status !== 'finished';
      this.stmt(`UPDATE deployment_devices SET status = 'aborted', finished = ? WHERE deployment_id = ? AND status NOT IN (${[...FINAL_DEVICE_STATUSES].map(() => '?').join(',')})`)
        .run(ts, deploymentId, ...FINAL_DEVICE_STATUSES);
      this.stmt("UPDATE deployments SET status = 'finished', finished = ?, stop_reason = COALESCE(stop_reason, ?) WHERE id = ?").run(ts, reason, deploymentId);
      return wasOpen;
    });
  }

  setStopReason(deploymentId: string, reason: string): void {
    this.stmt('UPDATE deployments SET stop_reason = ? WHERE id = ?').run(reason, deploymentId);
  }

  /** Every status the deployment's devices took, oldest first (written by triggers, see schema). */
  deploymentDeviceEvents(deploymentId: string): DeploymentDeviceEvent[] {
    return this.stmt('SELECT device_id, status, ts FROM deployment_device_events WHERE deployment_id = ? ORDER BY ts, seq').all(deploymentId) as DeploymentDeviceEvent[];
  }

  /** Counts per device status, all of Mender's keys present. */
  deploymentStatistics(deploymentId: string): Record<string, number> {
    const stats: Record<string, number> = {
      success: 0, pending: 0, downloading: 0, rebooting: 0, installing: 0, failure: 0, noartifact: 0,
      'already-installed': 0, aborted: 0, pause_before_installing: 0, pause_before_rebooting: 0, pause_before_committing: 0,
    };
    const rows = this.stmt('SELECT status, COUNT(*) AS n FROM deployment_devices WHERE deployment_id = ? GROUP BY status').all(deploymentId) as { status: string; n: number }[];
    for (const r of rows) stats[r.status] = (stats[r.status] ?? 0) + r.n;
    return stats;
  }

  private refreshDeploymentStatus(deploymentId: string): void {
    const dep = this.deployment(deploymentId);
    if (!dep || dep.status === 'finished') return;
    const anyOpen = this.stmt(ANY_OPEN_DEVICE_SQL).get(deploymentId) !== undefined;
    const anyDevice = anyOpen || this.stmt(ANY_DEVICE_SQL).get(deploymentId) !== undefined;
    const status = deploymentStatusFrom({ anyOpen, anyDevice, anyStarted: () => this.stmt(ANY_STARTED_DEVICE_SQL).get(deploymentId) !== undefined }, dep.status);
    if (status !== dep.status) {
      this.stmt('UPDATE deployments SET status = ?, finished = ? WHERE id = ?').run(status, status === 'finished' ? now() : null, deploymentId);
    }
  }

  downloadProgress(deploymentId: string, deviceId: string): DownloadProgressRow | undefined {
    return this.stmt('SELECT * FROM download_progress WHERE deployment_id = ? AND device_id = ?').get(deploymentId, deviceId) as DownloadProgressRow | undefined;
  }
  downloadProgressOf(deploymentId: string): DownloadProgressRow[] {
    return this.stmt('SELECT * FROM download_progress WHERE deployment_id = ?').all(deploymentId) as DownloadProgressRow[];
  }
  /** Upserts rows in one transaction; a row of a deployment no longer stored is skipped. */
  saveDownloadProgress(rows: DownloadProgressRow[]): void {
    if (rows.length === 0) return;
    this.tx(() => {
      const put = this.stmt(
        `INSERT INTO download_progress (deployment_id, device_id, artifact_id, position, total, served, requests, resumes, restarts, last_at)
         SELECT @deployment_id, @device_id, @artifact_id, @position, @total, @served, @requests, @resumes, @restarts, @last_at
         WHERE EXISTS (SELECT 1 FROM deployments WHERE id = @deployment_id)
         ON CONFLICT (deployment_id, device_id) DO UPDATE SET artifact_id = excluded.artifact_id, position = excluded.position, total = excluded.total,
           served = excluded.served, requests = excluded.requests, resumes = excluded.resumes, restarts = excluded.restarts, last_at = excluded.last_at`,
      );
      for (const r of rows) put.run(r);
    });
  }

  saveDeploymentLog(deploymentId: string, deviceId: string, messages: LogMessage[]): void {
    this.tx(() => {
      this.stmt('INSERT OR REPLACE INTO deployment_logs VALUES (?, ?, ?)').run(deploymentId, deviceId, JSON.stringify(messages));
      this.stmt('UPDATE deployment_devices SET has_log = 1 WHERE deployment_id = ? AND device_id = ?').run(deploymentId, deviceId);
    });
  }
  deploymentLog(deploymentId: string, deviceId: string): LogMessage[] | undefined {
    const r = this.stmt('SELECT messages FROM deployment_logs WHERE deployment_id = ? AND device_id = ?').get(deploymentId, deviceId) as { messages: string } | undefined;
    return r && JSON.parse(r.messages);
  }

  // ---- audit log

  audit(actor: string, action: string, objectType: string, objectId: string, detail: Record<string, unknown>): void {
    this.stmt('INSERT INTO audit_log (time, actor, action, object_type, object_id, detail) VALUES (?, ?, ?, ?, ?, ?)').run(now(), actor, action, objectType, objectId, JSON.stringify(detail));
  }
  auditLog(opts: AuditFilter & { limit: number; offset: number }): AuditEntry[] {
    const q = auditQuery(opts);
    const rows = this.stmt(`SELECT * FROM audit_log ${q.where} ${q.order} LIMIT ? OFFSET ?`).all(...q.params, opts.limit, opts.offset);
    return (rows as Array<Omit<AuditEntry, 'detail'> & { detail: string }>).map((r) => ({ ...r, detail: JSON.parse(r.detail) }));
  }
  countAudit(filter: AuditFilter): number {
    const q = auditQuery(filter);
    return (this.stmt(`SELECT COUNT(*) AS n FROM audit_log ${q.where}`).get(...q.params) as { n: number }).n;
  }

  // ---- device configuration (deviceconfig)

  deviceConfig(deviceId: string): DeviceConfigRow | undefined {
    const r = this.stmt('SELECT * FROM device_config WHERE device_id = ?').get(deviceId) as { device_id: string; configured: string; reported: string; updated_ts: string | null; reported_ts: string | null } | undefined;
    return r && { ...r, configured: JSON.parse(r.configured), reported: JSON.parse(r.reported) };
  }
  setConfigured(deviceId: string, configured: Record<string, string>): void {
    this.stmt("INSERT INTO device_config (device_id, configured, updated_ts) VALUES (?, ?, ?) ON CONFLICT(device_id) DO UPDATE SET configured = excluded.configured, updated_ts = excluded.updated_ts").run(deviceId, JSON.stringify(configured), now());
  }
  startRecording(sessionId: string, deviceId: string, userEmail: string): void {
    this.stmt('INSERT OR IGNORE INTO session_recordings (session_id, device_id, user_email, start_ts) VALUES (?, ?, ?, ?)').run(sessionId, deviceId, userEmail, now());
  }
  appendRecording(sessionId: string, seq: number, data: Uint8Array, bytes: number): void {
    this.stmt('INSERT INTO session_recording_chunks VALUES (?, ?, ?)').run(sessionId, seq, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    this.stmt('UPDATE session_recordings SET bytes = ? WHERE session_id = ?').run(bytes, sessionId);
  }
  finishRecording(sessionId: string, truncated: boolean): void {
    this.stmt('UPDATE session_recordings SET end_ts = ?, truncated = ? WHERE session_id = ?').run(now(), truncated ? 1 : 0, sessionId);
  }
  recording(sessionId: string): RecordingRow | undefined {
    return this.stmt('SELECT * FROM session_recordings WHERE session_id = ?').get(sessionId) as RecordingRow | undefined;
  }
  /** Up to `limit` chunks of a recording from `fromSeq` on, in order (playback reads it page by page). */
  recordingChunks(sessionId: string, fromSeq: number, limit: number): Array<{ seq: number; data: Buffer }> {
    return this.stmt('SELECT seq, data FROM session_recording_chunks WHERE session_id = ? AND seq >= ? ORDER BY seq LIMIT ?').all(sessionId, fromSeq, limit) as Array<{ seq: number; data: Buffer }>;
  }
  /** Inserts a configuration deployment: the deployment (one device) and the configuration it carries. */
  insertConfigurationDeployment(d: DeploymentRow, deviceId: string, configuration: Record<string, string>): void {
    this.tx(() => {
      this.insertDeploymentNow(d, [{ id: deviceId, phase: 0 }]);
      this.stmt('INSERT INTO configuration_deployments VALUES (?, ?, ?, ?)').run(d.id, deviceId, JSON.stringify(configuration), d.created);
    });
  }
  /** The configuration a configuration deployment carries; undefined for a software deployment. */
  configurationDeployment(deploymentId: string): { device_id: string; configuration: Record<string, string> } | undefined {
    const r = this.stmt('SELECT device_id, configuration FROM configuration_deployments WHERE deployment_id = ?').get(deploymentId) as { device_id: string; configuration: string } | undefined;
    return r && { device_id: r.device_id, configuration: JSON.parse(r.configuration) };
  }
  /** The device's latest configuration deployment. */
  latestConfigurationDeployment(deviceId: string): string | undefined {
    const r = this.stmt('SELECT deployment_id FROM configuration_deployments WHERE device_id = ? ORDER BY created DESC, rowid DESC LIMIT 1').get(deviceId) as { deployment_id: string } | undefined;
    return r?.deployment_id;
  }
  setReported(deviceId: string, reported: Record<string, string>): void {
    this.stmt("INSERT INTO device_config (device_id, reported, reported_ts) VALUES (?, ?, ?) ON CONFLICT(device_id) DO UPDATE SET reported = excluded.reported, reported_ts = excluded.reported_ts").run(deviceId, JSON.stringify(reported), now());
  }

  // ---- the web UI's list of a device's terminal recordings (ui/index.ts)

  /** The device's recorded terminal sessions, newest first. */
  deviceRecordings(deviceId: string, limit: number): RecordingRow[] {
    return this.stmt('SELECT * FROM session_recordings WHERE device_id = ? ORDER BY start_ts DESC, rowid DESC LIMIT ?').all(deviceId, limit) as RecordingRow[];
  }

  // ---- session recording retention (deviceconnect/retention.ts), kept apart from the rest

  /**
   * Deletes the recordings started before `cutoff`, then the oldest until the rest take at most
   * `maxBytes`; the sessions in `keep` (still running) stay. Returns how many were deleted.
   */
  pruneRecordings(cutoff: string, maxBytes: number, keep: ReadonlySet<string>): number {
    return this.tx(() => {
      const rows = this.stmt('SELECT session_id, start_ts, bytes FROM session_recordings ORDER BY start_ts DESC, rowid DESC').all() as Array<{ session_id: string; start_ts: string; bytes: number }>;
      const del = this.stmt('DELETE FROM session_recordings WHERE session_id = ?');
      let total = 0;
      let full = false;
      let deleted = 0;
      // Newest first: once one does not fit, every older one goes too.
      for (const r of rows) {
        if (keep.has(r.session_id)) {
          total += r.bytes;
          continue;
        }
        full ||= r.start_ts < cutoff || total + r.bytes > maxBytes;
        if (full) {
          del.run(r.session_id);
          deleted++;
        } else total += r.bytes;
      }
      return deleted;
    });
  }
  /** Deletes every recording of a device (it was decommissioned); how many. */
  deleteRecordingsOf(deviceId: string): number {
    return this.stmt('DELETE FROM session_recordings WHERE device_id = ?').run(deviceId).changes;
  }

  // ---- the deployment's status after its devices' (fleet scale, issue #19)

  /**
   * Moves the deployment's status if its devices say it should; true when it moved. Here every
   * status write already does it in its own transaction (one process, one connection); the
   * PostgreSQL store does it after the write's commit, and a management look calls it for both.
   */
  settleDeploymentStatus(deploymentId: string): boolean {
    // Reads only, unless the status moves: a look at a deployment opens no write group.
    const before = this.deployment(deploymentId)?.status;
    this.refreshDeploymentStatus(deploymentId);
    return this.deployment(deploymentId)?.status !== before;
  }

  // ---- fewer round trips on the device API's hot paths (fleet scale, issue #19): one call
  // each here as well, so the callers are the same on both stores (postgres.ts does each in one
  // statement).

  /** The device's row in the deployment and the deployment's row: what a status report decides on. */
  deploymentDeviceWithDeployment(deploymentId: string, deviceId: string): { device: DeploymentDeviceRow; deployment: DeploymentRow } | undefined {
    const device = this.deploymentDevice(deploymentId, deviceId);
    const deployment = device && this.deployment(deploymentId);
    return deployment && { device, deployment };
  }
  /**
   * What a status report reads first: whom its token is recorded for (undefined: revoked) and
   * the device's row in the deployment with the deployment's (deploymentDeviceWithDeployment).
   * One call, so a store across the network answers both in one statement.
   */
  deviceTokenAndDeploymentDevice(jti: string, deploymentId: string, deviceId: string): { tokenDeviceId: string | undefined; rows: { device: DeploymentDeviceRow; deployment: DeploymentRow } | undefined } {
    return { tokenDeviceId: this.deviceToken(jti)?.device_id, rows: this.deploymentDeviceWithDeployment(deploymentId, deviceId) };
  }
  /**
   * A known device's auth request in one step: when the identity's device and this key's auth
   * set are both accepted, records the token `jti` for them and returns their ids; otherwise
   * nothing is written and undefined says the full auth path must decide.
   */
  addTokenForAcceptedKey(idData: string, pubkey: string, jti: string, exp: number): { device_id: string; auth_set_id: string } | undefined {
    const r = this.stmt("SELECT d.id AS device_id, a.id AS auth_set_id FROM devices d JOIN auth_sets a ON a.device_id = d.id WHERE d.id_data = ? AND a.pubkey = ? AND a.status = 'accepted' AND d.status = 'accepted'").get(idData, pubkey) as
      | { device_id: string; auth_set_id: string }
      | undefined;
    if (r) this.addDeviceToken(jti, r.device_id, r.auth_set_id, exp);
    return r;
  }

  // ---- the webhook outbox (integrations/webhooks.ts): deliveries survive their process

  /**
   * Records the event and a delivery per integration, leased to `owner` until `leaseUntil` (ms)
   * and due at `now` (ms): the emitting process tries them at once; another takes them over if
   * it dies. One transaction, so an event recorded always has its deliveries.
   */
  recordWebhookEvent(e: { id: string; type: string; time: string; data: unknown }, integrationIds: string[], body: string, owner: string, now: number, leaseUntil: number): void {
    this.tx(() => {
      this.recordEvent(e, []);
      const add = this.stmt('INSERT INTO webhook_outbox (event_id, integration_id, body, attempts, next_at, lease_owner, lease_until) VALUES (?, ?, ?, 0, ?, ?, ?)');
      for (const id of integrationIds) add.run(e.id, id, body, now, owner, leaseUntil);
    });
  }
  /**
   * Leases to `owner` up to `limit` deliveries due by `dueBy` (ms) that no process holds (no
   * lease, or one ended before `now`), each until its due time or `now`, whichever is later,
   * plus `leaseMs`.
   */
  claimWebhookDeliveries(owner: string, now: number, dueBy: number, leaseMs: number, limit: number): WebhookOutboxRow[] {
    // Read first, outside the group: a sweep that finds nothing (most) writes nothing. One
    // process owns the file, so nothing can claim the rows between the read and the write.
    const rows = this.stmt('SELECT event_id, integration_id, body, attempts, next_at FROM webhook_outbox WHERE next_at <= ? AND (lease_owner IS NULL OR lease_until <= ?) ORDER BY next_at LIMIT ?').all(dueBy, now, limit) as WebhookOutboxRow[];
    if (rows.length === 0) return rows;
    return this.tx(() => {
      const lease = this.stmt('UPDATE webhook_outbox SET lease_owner = ?, lease_until = MAX(next_at, ?) + ? WHERE event_id = ? AND integration_id = ?');
      for (const r of rows) lease.run(owner, now, leaseMs, r.event_id, r.integration_id);
      return rows;
    });
  }
  /** After a failed attempt: the count, the next due time and the lease; false when `owner` no longer holds it. */
  scheduleWebhookRetry(eventId: string, integrationId: string, owner: string, attempts: number, nextAt: number, leaseUntil: number): boolean {
    return this.stmt('UPDATE webhook_outbox SET attempts = ?, next_at = ?, lease_until = ? WHERE event_id = ? AND integration_id = ? AND lease_owner = ?').run(attempts, nextAt, leaseUntil, eventId, integrationId, owner).changes > 0;
  }
  /**
   * Ends a delivery: removes it from the outbox and records how it went on the event. Whoever
   * ends it first records it; false (nothing recorded) when it had ended already (two processes
   * both tried it after a lease ran out).
   */
  finishWebhookDelivery(eventId: string, integrationId: string, delivery: { integration_id: string }): boolean {
    return this.tx(() => {
      if (this.stmt('DELETE FROM webhook_outbox WHERE event_id = ? AND integration_id = ?').run(eventId, integrationId).changes === 0) return false;
      this.addEventDelivery(eventId, delivery);
      return true;
    });
  }
  /** Frees the leases of `owner` (a process that stopped or died), or every lease when null; how many. */
  releaseWebhookLeases(owner: string | null): number {
    // Most calls (every start) find none: no write group for them.
    if (!this.stmt(`SELECT 1 FROM webhook_outbox WHERE ${owner === null ? 'lease_owner IS NOT NULL' : 'lease_owner = ?'} LIMIT 1`).get(...(owner === null ? [] : [owner]))) return 0;
    return (owner === null
      ? this.stmt('UPDATE webhook_outbox SET lease_owner = NULL, lease_until = 0 WHERE lease_owner IS NOT NULL').run()
      : this.stmt('UPDATE webhook_outbox SET lease_owner = NULL, lease_until = 0 WHERE lease_owner = ?').run(owner)
    ).changes;
  }
}
