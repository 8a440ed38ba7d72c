// JSON text exactly as Go's encoding/json writes it for mender-artifact: map keys sorted
// (recursively), struct fields in declaration order (the caller builds objects in that order),
// and <, >, &, U+2028, U+2029 escaped.
export type Ordered = { __ordered: true; entries: Array<[string, unknown]> };

/** An object whose keys keep the given order (a Go struct), unlike plain objects (Go maps: sorted). */
export function struct(entries: Array<[string, unknown]>): Ordered {
  return { __ordered: true, entries: entries.filter(([, v]) => v !== undefined) };
}

function isOrdered(v: unknown): v is Ordered {
  return typeof v === 'object' && v !== null && (v as Ordered).__ordered === true;
}

function str(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function goJson(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return str(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error('JSON cannot hold a non-finite number');
    return JSON.stringify(v);
  }
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Array.isArray(v)) return `[${v.map(goJson).join(',')}]`;
  if (isOrdered(v)) return `{${v.entries.map(([k, x]) => `${str(k)}:${goJson(x)}`).join(',')}}`;
  if (typeof v === 'object') {
    const keys = Object.keys(v as object).sort();
    return `{${keys.map((k) => `${str(k)}:${goJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  throw new Error(`cannot encode ${typeof v} as JSON`);
}
