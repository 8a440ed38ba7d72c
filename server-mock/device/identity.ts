// A device's identity is the JSON object in id_data. Key order must not make two devices of one,
// so it is stored with sorted keys.
import { badRequest } from '../http-errors.js';

export function canonicalIdData(idData: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(idData);
  } catch {
    throw badRequest('id_data is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw badRequest('id_data must be a JSON object');
  if (Object.keys(parsed).length === 0) throw badRequest('id_data must not be empty');
  return canonicalJson(parsed);
}

/** Identities are flat in practice; the cap keeps the recursion below far from the stack limit. */
export const MAX_IDENTITY_DEPTH = 16;

export function canonicalJson(v: unknown, depth = 0): string {
  if (depth > MAX_IDENTITY_DEPTH) throw badRequest(`identity data is nested deeper than ${MAX_IDENTITY_DEPTH} levels`);
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x, depth + 1)).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k], depth + 1)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
