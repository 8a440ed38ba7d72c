// The device identity: what the identity script (Mender's mender-device-identity layout) prints
// as key=value lines, turned into the id_data JSON string of auth requests. Keys are sorted and
// the JSON is compact with Go's escaping, byte for byte what the Mender client sends, so the
// server's device record does not change when a device moves from Mender to us or back.
import { goJson, type JsonValue } from '../api/go-json.js';
import { attributeValue, parseKeyValueLines, KeyValueError, type Attributes } from './key-value-lines.js';
import { runExecutable } from './run-executable.js';

export const DEFAULT_IDENTITY_SCRIPT = '/usr/share/mender/identity/mender-device-identity';
const SCRIPT_TIMEOUT_MS = 60_000;

export class IdentityError extends Error {
  readonly script: string;
  constructor(script: string, message: string, options?: { cause?: unknown }) {
    super(`identity script ${script}: ${message}`, options);
    this.name = 'IdentityError';
    this.script = script;
  }
}

/** The identity attributes the script prints. */
export async function readIdentity(script: string = DEFAULT_IDENTITY_SCRIPT, timeoutMs = SCRIPT_TIMEOUT_MS): Promise<Attributes> {
  const out = await runExecutable(script, timeoutMs, (m, cause) => new IdentityError(script, m, { cause }));
  let attrs: Attributes;
  try {
    attrs = parseKeyValueLines(out, script);
  } catch (e) {
    if (e instanceof KeyValueError) throw new IdentityError(script, e.message, { cause: e });
    throw e;
  }
  if (attrs.size === 0) throw new IdentityError(script, 'printed no key=value line; the server needs at least one identity attribute');
  return attrs;
}

/** The id_data string: compact JSON, sorted keys, a list where a key repeats. */
export function identityJson(attrs: Attributes): string {
  const obj: Record<string, JsonValue> = {};
  for (const [k, v] of attrs) obj[k] = attributeValue(v);
  return goJson(obj);
}
