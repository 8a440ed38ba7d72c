// The daemon's wiring from flipside.conf (mender.conf keys) to an ApiClient and a PollSchedule.
// TenantToken, ServerCertificate, RetryPollIntervalSeconds, RetryPollCount and DeviceKeyType
// are read from the config's pass-through keys until config.ts declares them; each is checked
// here so a wrong type is a CONFIG error naming the key, not a crash later.
import type { ClientConfig } from '../config.js';
import { ClientError } from '../errors.js';
import { isKeyType, DEFAULT_KEY_TYPE, type DeviceKey, type KeyType } from '../identity/device-key.js';
import { ApiClient } from './client.js';
import { loadServerCa } from './http.js';
import type { PollConfig } from './poll.js';

export interface ApiSettings {
  servers: string[];
  tenantToken?: string;
  serverCertificate?: string;
  keyType: KeyType;
  poll: PollConfig;
}

function optional<T>(c: ClientConfig, name: string, check: (v: unknown) => v is T, want: string): T | undefined {
  const v = (c as Record<string, unknown>)[name];
  if (v === undefined) return undefined;
  if (!check(v)) throw new ClientError('CONFIG', `invalid configuration ${c.source}: ${name}: expected ${want}`);
  return v;
}

const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isPositiveInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;
const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;

/** Servers: the Servers list in order, else ServerURL (Mender's precedence). */
export function apiSettings(c: ClientConfig): ApiSettings {
  const servers = c.Servers?.length ? c.Servers.map((s) => s.ServerURL) : c.ServerURL ? [c.ServerURL] : [];
  if (servers.length === 0) throw new ClientError('CONFIG', `invalid configuration ${c.source}: ServerURL or Servers is needed in managed mode`);
  const keyType = optional(c, 'DeviceKeyType', (v): v is KeyType => typeof v === 'string' && isKeyType(v), 'ed25519, rsa3072 or ecdsa-p256');
  return {
    servers,
    tenantToken: optional(c, 'TenantToken', (v): v is string => typeof v === 'string', 'a string'),
    serverCertificate: optional(c, 'ServerCertificate', isString, 'a file path'),
    keyType: keyType ?? DEFAULT_KEY_TYPE,
    poll: {
      updatePollSeconds: c.UpdatePollIntervalSeconds,
      inventoryPollSeconds: c.InventoryPollIntervalSeconds,
      retryPollSeconds: optional(c, 'RetryPollIntervalSeconds', isPositiveInt, 'a positive integer'),
      retryPollCount: optional(c, 'RetryPollCount', isCount, 'an integer >= 0'),
    },
  };
}

export async function createApiClient(
  c: ClientConfig,
  o: { key: DeviceKey; identity: () => Promise<string>; onAuthenticated?: (server: string) => void; timeoutMs?: number },
): Promise<{ api: ApiClient; settings: ApiSettings; ca: string[] | undefined }> {
  const settings = apiSettings(c);
  const ca = await loadServerCa(settings.serverCertificate);
  const api = new ApiClient({ servers: settings.servers, key: o.key, identity: o.identity, tenantToken: settings.tenantToken, ca, timeoutMs: o.timeoutMs, onAuthenticated: o.onAuthenticated });
  return { api, settings, ca };
}
