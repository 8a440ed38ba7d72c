// The whole SQLite schema in one place. Bumping SCHEMA_VERSION needs a migration step in
// openDatabase; until the first release the schema only grows with CREATE ... IF NOT EXISTS.
export const SCHEMA_VERSION = 1;

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  password_hash TEXT NOT NULL,
  created_ts TEXT NOT NULL,
  updated_ts TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS personal_tokens (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  expiration_date TEXT NOT NULL,
  created_ts TEXT NOT NULL,
  last_used TEXT,
  UNIQUE (user_id, name)
);
CREATE TABLE IF NOT EXISTS user_roles (
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role TEXT NOT NULL,
  PRIMARY KEY (user_id, role)
);
CREATE TABLE IF NOT EXISTS user_role_sets (
  user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS revoked_user_tokens (
  jti TEXT PRIMARY KEY,
  exp INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
  id TEXT PRIMARY KEY,
  id_data TEXT NOT NULL UNIQUE,
  status TEXT NOT NULL,
  created_ts TEXT NOT NULL,
  updated_ts TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_sets (
  id TEXT PRIMARY KEY,
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  pubkey TEXT NOT NULL,
  status TEXT NOT NULL,
  ts TEXT NOT NULL,
  UNIQUE (device_id, pubkey)
);
CREATE TABLE IF NOT EXISTS device_tokens (
  jti TEXT PRIMARY KEY,
  device_id TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
  auth_set_id TEXT NOT NULL REFERENCES auth_sets(id) ON DELETE CASCADE,
  exp INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS device_tokens_device ON device_tokens(device_id);
CREATE TABLE IF NOT EXISTS inventory (
  device_id TEXT NOT NULL,
  scope TEXT NOT NULL,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (device_id, scope, name)
);
CREATE TABLE IF NOT EXISTS inventory_devices (
  device_id TEXT PRIMARY KEY,
  grp TEXT,
  updated_ts TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS filters (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  terms TEXT NOT NULL,
  created_ts TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS artifacts (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  device_types TEXT NOT NULL,
  size INTEGER NOT NULL,
  checksum TEXT NOT NULL,
  meta TEXT NOT NULL,
  modified TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS artifacts_name ON artifacts(name);
CREATE TABLE IF NOT EXISTS deployments (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  artifact_name TEXT NOT NULL,
  created TEXT NOT NULL,
  finished TEXT,
  status TEXT NOT NULL,
  device_count INTEGER NOT NULL,
  max_devices INTEGER,
  retries INTEGER NOT NULL,
  phases TEXT NOT NULL,
  error_threshold REAL,
  stop_reason TEXT,
  target TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deployment_devices (
  deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  device_id TEXT NOT NULL,
  status TEXT NOT NULL,
  substate TEXT,
  phase INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  created TEXT NOT NULL,
  started TEXT,
  finished TEXT,
  device_type TEXT,
  has_log INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (deployment_id, device_id)
);
CREATE INDEX IF NOT EXISTS deployment_devices_device ON deployment_devices(device_id, status);
-- A device's history deletion hides its finished deployments; the deployments' own counts stay.
CREATE TABLE IF NOT EXISTS deployment_devices_deleted (
  deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  device_id TEXT NOT NULL,
  deleted TEXT NOT NULL,
  PRIMARY KEY (deployment_id, device_id)
);
CREATE TABLE IF NOT EXISTS deployment_logs (
  deployment_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  messages TEXT NOT NULL,
  PRIMARY KEY (deployment_id, device_id)
);
CREATE TABLE IF NOT EXISTS audit_log (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  time TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  object_type TEXT NOT NULL,
  object_id TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS device_config (
  device_id TEXT PRIMARY KEY,
  configured TEXT NOT NULL DEFAULT '{}',
  reported TEXT NOT NULL DEFAULT '{}',
  updated_ts TEXT,
  reported_ts TEXT
);
`;
