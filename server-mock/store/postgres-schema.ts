// The PostgreSQL schema: the SQLite schema's tables (schema.ts) in PostgreSQL's words. Text sorts
// bytewise (COLLATE "C") as in SQLite, so listings come out in the same order on both stores.
// MIGRATIONS[i] takes a database from version i to i + 1; the schema_version table holds the
// version, and openPostgresStore runs the missing steps under an advisory lock, so several server
// processes starting at once migrate once.
import { SCHEMA_SQL } from './schema.js';

/** SQLite's schema text, rewritten where the two differ (types, autoincrement, triggers, upserts). */
function fromSqlite(sql: string): string {
  return sql
    .replace(/-- .*$/gm, '')
    .replace(/INTEGER PRIMARY KEY AUTOINCREMENT/g, 'BIGSERIAL PRIMARY KEY')
    .replace(/\bBLOB\b/g, 'BYTEA')
    .replace(/\bREAL\b/g, 'DOUBLE PRECISION')
    .replace(/\bINTEGER\b/g, 'BIGINT')
    .replace(/\bTEXT\b/g, 'TEXT COLLATE "C"')
    // SQLite-only statements: the backfills for data directories older than a table, and the triggers (below).
    .replace(/INSERT INTO deployment_device_events[\s\S]*?FROM deployment_device_events\);/, '')
    .replace(/CREATE TRIGGER[\s\S]*?END;/g, '')
    .replace(/INSERT OR IGNORE INTO iot_devices[^;]*;/, '');
}

const V1 = `
${fromSqlite(SCHEMA_SQL)}
ALTER TABLE configuration_deployments ADD COLUMN IF NOT EXISTS seq BIGSERIAL;
CREATE OR REPLACE FUNCTION flipside_deployment_device_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO deployment_device_events (deployment_id, device_id, status, ts) VALUES (NEW.deployment_id, NEW.device_id, NEW.status, NEW.created);
  RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION flipside_deployment_device_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO deployment_device_events (deployment_id, device_id, status, ts)
  VALUES (NEW.deployment_id, NEW.device_id, NEW.status,
          COALESCE(NEW.finished, to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')));
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS deployment_device_added ON deployment_devices;
CREATE TRIGGER deployment_device_added AFTER INSERT ON deployment_devices FOR EACH ROW EXECUTE FUNCTION flipside_deployment_device_added();
DROP TRIGGER IF EXISTS deployment_device_moved ON deployment_devices;
CREATE TRIGGER deployment_device_moved AFTER UPDATE OF status ON deployment_devices FOR EACH ROW
  WHEN (NEW.status IS DISTINCT FROM OLD.status) EXECUTE FUNCTION flipside_deployment_device_moved();
`;

// The index refreshDeploymentStatus seeks (schema.ts); V1 of a new database has it already.
const V2 = `CREATE INDEX IF NOT EXISTS deployment_devices_status ON deployment_devices(deployment_id, status);`;

export const PG_MIGRATIONS: readonly string[] = [V1, V2];
export const PG_SCHEMA_VERSION = PG_MIGRATIONS.length;
