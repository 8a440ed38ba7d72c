// Client states reach the harness as console lines `FLIPSIDE-STATE {"state":…,"deployment":…,"t":…}`.
// On a real console they arrive with kernel timestamps in front ("[   12.3] "), journald or kmsg
// prefixes, ANSI colour codes, carriage returns and sometimes interleaved junk after the JSON, so the
// parser looks for the marker anywhere and takes exactly one balanced JSON object after it.

export const STATE_MARKER = 'FLIPSIDE-STATE';

export interface ClientStateEvent {
  state: string;
  deployment: string | null;
  /** The device's clock (ms since epoch) when it printed the line. */
  t: number;
}

/** Parses one console line; null when it carries no well-formed state line. */
export function parseStateLine(line: string): ClientStateEvent | null {
  let from = 0;
  // The marker may appear more than once (an echoed command, say); the first parsable one wins.
  for (;;) {
    const at = line.indexOf(STATE_MARKER, from);
    if (at < 0) return null;
    const parsed = parseAfterMarker(line, at + STATE_MARKER.length);
    if (parsed) return parsed;
    from = at + STATE_MARKER.length;
  }
}

function parseAfterMarker(line: string, start: number): ClientStateEvent | null {
  const open = line.indexOf('{', start);
  // Only whitespace (or ANSI noise) may separate the marker from its object.
  if (open < 0 || line.slice(start, open).replace(/\x1b\[[0-9;]*m/g, '').trim() !== '') return null;
  const end = matchingBrace(line, open);
  if (end < 0) return null;
  let value: unknown;
  try {
    value = JSON.parse(line.slice(open, end + 1));
  } catch {
    return null;
  }
  return asStateEvent(value);
}

/** Index of the `}` closing the object opened at `open`, skipping braces inside strings; -1 if none. */
function matchingBrace(s: string, open: number): number {
  let depth = 0;
  let inString = false;
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i;
  }
  return -1;
}

function asStateEvent(v: unknown): ClientStateEvent | null {
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (typeof o.state !== 'string' || o.state === '') return null;
  if (typeof o.t !== 'number' || !Number.isFinite(o.t)) return null;
  const deployment = o.deployment === undefined || o.deployment === null ? null : o.deployment;
  if (deployment !== null && typeof deployment !== 'string') return null;
  return { state: o.state, deployment, t: o.t };
}
