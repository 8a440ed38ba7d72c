// The dashboard's fleet charts from the accepted devices: which release runs on how many devices
// of each type (software distribution), how long ago devices last checked in, and which are
// stale (no check-in for longer than the caller's threshold, or never). Mender's UI asks its
// reporting service for such aggregates; Flipside computes them from the store in one pass.
import type { FleetDeviceRow } from '../store/store.js';

/** What an accepted device is counted under when it never reported the attribute. */
export const UNKNOWN_TYPE = 'unknown';
export const NOT_REPORTED = '(not reported)';

/** Check-in age buckets, upper bounds in seconds; devices that never checked in come last. */
export const AGE_BUCKETS = [
  { key: 'hour', label: 'within 1 h', max_seconds: 3600 },
  { key: 'day', label: '1 h to 1 day', max_seconds: 86_400 },
  { key: 'week', label: '1 to 7 days', max_seconds: 7 * 86_400 },
  { key: 'older', label: 'over 7 days', max_seconds: null },
  { key: 'never', label: 'never', max_seconds: null },
] as const;

/** How many stale devices the report names one by one (oldest check-in first). */
export const STALE_LISTED = 50;

export interface StaleDevice {
  id: string;
  identity: Record<string, unknown>;
  device_type: string;
  group: string | null;
  check_in_time: string | null;
}

export interface FleetReport {
  /** Accepted devices counted. */
  total: number;
  device_types: string[];
  software: Array<{ artifact_name: string; count: number; by_device_type: Record<string, number> }>;
  check_ins: Array<{ key: string; label: string; count: number; by_device_type: Record<string, number> }>;
  stale: { after_seconds: number; count: number; by_device_type: Record<string, number>; by_group: Record<string, number>; devices: StaleDevice[] };
}

function text(json: string | null): string | undefined {
  if (json === null) return undefined;
  try {
    const v = JSON.parse(json) as unknown;
    if (v === null || v === undefined || v === '') return undefined;
    return Array.isArray(v) ? v.join(', ') : String(v);
  } catch {
    return json;
  }
}

function identityOf(idData: string): Record<string, unknown> {
  try {
    return JSON.parse(idData) as Record<string, unknown>;
  } catch {
    return {};
  }
}

const bump = (m: Record<string, number>, k: string) => {
  m[k] = (m[k] ?? 0) + 1;
};

export function fleetReport(rows: FleetDeviceRow[], nowMs: number, staleAfterSeconds: number): FleetReport {
  if (!(staleAfterSeconds > 0)) throw new RangeError('stale_after must be a positive number of seconds');
  const types = new Map<string, number>();
  const software = new Map<string, { count: number; by_device_type: Record<string, number> }>();
  const checkIns = AGE_BUCKETS.map((b) => ({ key: b.key, label: b.label, count: 0, by_device_type: {} as Record<string, number> }));
  const stale: FleetReport['stale'] = { after_seconds: staleAfterSeconds, count: 0, by_device_type: {}, by_group: {}, devices: [] };
  // Identity is parsed only for the devices listed: in a large fleet most may be stale.
  const staleAll: Array<Omit<StaleDevice, 'identity'> & { id_data: string; age: number }> = [];
  for (const r of rows) {
    const type = text(r.device_type) ?? UNKNOWN_TYPE;
    types.set(type, (types.get(type) ?? 0) + 1);
    const release = text(r.artifact_name) ?? NOT_REPORTED;
    const sw = software.get(release) ?? { count: 0, by_device_type: {} };
    sw.count++;
    bump(sw.by_device_type, type);
    software.set(release, sw);

    const seen = r.check_in_time ? Date.parse(r.check_in_time) : NaN;
    const age = Number.isNaN(seen) ? Infinity : Math.max(0, (nowMs - seen) / 1000);
    const bucket = age === Infinity ? checkIns.length - 1 : AGE_BUCKETS.findIndex((b) => b.max_seconds === null || age < b.max_seconds);
    checkIns[bucket]!.count++;
    bump(checkIns[bucket]!.by_device_type, type);
    if (age > staleAfterSeconds) {
      stale.count++;
      bump(stale.by_device_type, type);
      bump(stale.by_group, r.grp ?? '');
      staleAll.push({ id: r.id, id_data: r.id_data, device_type: type, group: r.grp, check_in_time: Number.isNaN(seen) ? null : r.check_in_time, age });
    }
  }
  staleAll.sort((a, b) => b.age - a.age || a.id.localeCompare(b.id));
  stale.devices = staleAll.slice(0, STALE_LISTED).map(({ age: _age, id_data, ...d }) => ({ ...d, identity: identityOf(id_data) }));
  return {
    total: rows.length,
    // Most devices first: the chart's colours follow this order.
    device_types: [...types].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([t]) => t),
    software: [...software].map(([artifact_name, v]) => ({ artifact_name, ...v })).sort((a, b) => b.count - a.count || a.artifact_name.localeCompare(b.artifact_name)),
    check_ins: checkIns,
    stale,
  };
}
