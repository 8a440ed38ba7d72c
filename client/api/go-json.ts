// JSON bytes as the Mender 3.x Go client puts them on the wire: object keys sorted (Go marshals
// maps in key order), `<`, `>`, `&`, U+2028 and U+2029 escaped as \u00XX (Go's HTML-safe default),
// and, for bodies written with json.Encoder, a trailing newline. The auth request is signed over
// these exact bytes, so matching them lets a recorded Mender signature verify over our body.

export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

const GO_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

function goString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => GO_ESCAPES[c]!);
}

/** Serialises like Go's json.Marshal of maps (sorted keys) or of structs when `keepOrder` is set. */
export function goJson(v: JsonValue, keepOrder = false): string {
  if (typeof v === 'string') return goString(v);
  if (v === null || typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((x) => goJson(x, keepOrder)).join(',')}]`;
  const keys = Object.keys(v);
  if (!keepOrder) keys.sort();
  return `{${keys.map((k) => `${goString(k)}:${goJson(v[k]!, keepOrder)}`).join(',')}}`;
}

/** A struct-shaped object in the given field order, each value a Go map (sorted keys). */
export function goStruct(fields: Array<[string, JsonValue]>): string {
  return `{${fields.map(([k, val]) => `${goString(k)}:${goJson(val)}`).join(',')}}`;
}
