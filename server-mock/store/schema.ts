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
-- useradm settings: scope 'global' or 'user:<id>'; the body is the client's JSON object.
CREATE TABLE IF NOT EXISTS settings (
  scope TEXT PRIMARY KEY,
  body TEXT NOT NULL,
  etag TEXT NOT NULL
);
-- iot-manager integrations (webhooks); credentials as given, JSON.
CREATE TABLE IF NOT EXISTS integrations (
  id TEXT PRIMARY KEY,
  provider TEXT NOT NULL,
  credentials TEXT NOT NULL,
  created_ts TEXT NOT NULL
);
-- iot-manager events: what was posted to the webhooks and how each delivery went.
CREATE TABLE IF NOT EXISTS iot_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  time TEXT NOT NULL,
  data TEXT NOT NULL,
  deliveries TEXT NOT NULL
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
-- The session a user changed their own password with stays valid for that new password (Mender
-- ends every other session of the user, not that one).
CREATE TABLE IF NOT EXISTS kept_user_tokens (
  jti TEXT PRIMARY KEY,
  password_fingerprint TEXT NOT NULL,
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
-- When a device last talked to the server (auth, poll, inventory), Mender's check_in_time.
CREATE TABLE IF NOT EXISTS device_checkins (
  device_id TEXT PRIMARY KEY,
  check_in_time TEXT NOT NULL
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
-- What a release has beyond its artifacts (a release is the artifacts of one name).
CREATE TABLE IF NOT EXISTS releases (
  name TEXT PRIMARY KEY,
  notes TEXT NOT NULL DEFAULT '',
  tags TEXT NOT NULL DEFAULT '[]',
  modified TEXT NOT NULL
);
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
-- Whether a deployment still has a device to finish, in a few index seeks (refreshDeploymentStatus
-- runs on every status report: counting all of a 10,000-device deployment's rows there was a third
-- of the server's time in the fleet run).
CREATE INDEX IF NOT EXISTS deployment_devices_status ON deployment_devices(deployment_id, status);
-- A device's history deletion hides its finished deployments; the deployments' own counts stay.
CREATE TABLE IF NOT EXISTS deployment_devices_deleted (
  deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  device_id TEXT NOT NULL,
  deleted TEXT NOT NULL,
  PRIMARY KEY (deployment_id, device_id)
);
-- How far each device's artifact download got, seen from the download route (deployments/
-- download-progress.ts): position (where the latest request got to), bytes served in all, requests
-- that resumed (Range from past byte 0) or started over (from byte 0 again).
CREATE TABLE IF NOT EXISTS download_progress (
  deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  device_id TEXT NOT NULL,
  artifact_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  total INTEGER NOT NULL,
  served INTEGER NOT NULL,
  requests INTEGER NOT NULL,
  resumes INTEGER NOT NULL,
  restarts INTEGER NOT NULL,
  last_at TEXT NOT NULL,
  PRIMARY KEY (deployment_id, device_id)
);
-- Every status a device took in a deployment and when: the rollout-over-time chart. Triggers
-- write it, so no code path that changes a status can forget to; a final status carries the row's
-- own finished time. Deployments from before the table get their known points (created, finished),
-- once: only while the table is empty, so opening a large database costs no scan after that.
CREATE TABLE IF NOT EXISTS deployment_device_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
  device_id TEXT NOT NULL,
  status TEXT NOT NULL,
  ts TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deployment_device_events_dep ON deployment_device_events(deployment_id, ts);
INSERT INTO deployment_device_events (deployment_id, device_id, status, ts)
  SELECT deployment_id, device_id, 'pending', created FROM deployment_devices dd
  WHERE NOT EXISTS (SELECT 1 FROM deployment_device_events)
  UNION ALL
  SELECT deployment_id, device_id, status, finished FROM deployment_devices dd
  WHERE finished IS NOT NULL AND NOT EXISTS (SELECT 1 FROM deployment_device_events);
CREATE TRIGGER IF NOT EXISTS deployment_device_added AFTER INSERT ON deployment_devices BEGIN
  INSERT INTO deployment_device_events (deployment_id, device_id, status, ts) VALUES (NEW.deployment_id, NEW.device_id, NEW.status, NEW.created);
END;
CREATE TRIGGER IF NOT EXISTS deployment_device_moved AFTER UPDATE OF status ON deployment_devices WHEN NEW.status != OLD.status BEGIN
  INSERT INTO deployment_device_events (deployment_id, device_id, status, ts)
  VALUES (NEW.deployment_id, NEW.device_id, NEW.status, COALESCE(NEW.finished, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
END;
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
-- iot-manager's devices: provisioned (accepted) and not decommissioned since. The integrations a
-- device is attached to are cloud ones (Azure IoT Hub, AWS IoT Core), which Flipside does not
-- support, so none is recorded. Every accepted device was provisioned: the INSERT fills the table
-- for data directories from before it existed.
CREATE TABLE IF NOT EXISTS iot_devices (
  device_id TEXT PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
  provisioned_ts TEXT NOT NULL
);
INSERT OR IGNORE INTO iot_devices SELECT id, updated_ts FROM devices WHERE status = 'accepted';
-- A configuration deployment (deviceconfig deploy): a deployment of one device whose artifact is
-- generated from this configuration when the device downloads it.
CREATE TABLE IF NOT EXISTS configuration_deployments (
  deployment_id TEXT PRIMARY KEY REFERENCES deployments(id) ON DELETE CASCADE,
  device_id TEXT NOT NULL,
  configuration TEXT NOT NULL,
  created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS configuration_deployments_device ON configuration_deployments(device_id, created);
-- Remote terminal sessions as the user saw them: the device's shell output, in order, for
-- deviceconnect's playback. Bounded per session (deviceconnect/recording.ts); truncated says the
-- rest was not kept.
CREATE TABLE IF NOT EXISTS session_recordings (
  session_id TEXT PRIMARY KEY,
  device_id TEXT NOT NULL,
  user_email TEXT NOT NULL,
  start_ts TEXT NOT NULL,
  end_ts TEXT,
  bytes INTEGER NOT NULL DEFAULT 0,
  truncated INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS session_recording_chunks (
  session_id TEXT NOT NULL REFERENCES session_recordings(session_id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (session_id, seq)
);
CREATE TABLE IF NOT EXISTS device_config (
  device_id TEXT PRIMARY KEY,
  configured TEXT NOT NULL DEFAULT '{}',
  reported TEXT NOT NULL DEFAULT '{}',
  updated_ts TEXT,
  reported_ts TEXT
);
-- Webhook deliveries not ended yet (integrations/webhooks.ts): the body as signed, the attempts
-- made, when the next is due (ms since the epoch), and the server process holding it until
-- lease_until (ms), so that another process takes over the deliveries of one that died.
CREATE TABLE IF NOT EXISTS webhook_outbox (
  event_id TEXT NOT NULL,
  integration_id TEXT NOT NULL,
  body TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER NOT NULL,
  lease_owner TEXT,
  lease_until INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (event_id, integration_id)
);
CREATE INDEX IF NOT EXISTS webhook_outbox_due ON webhook_outbox(next_at);
`;
