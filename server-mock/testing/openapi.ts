// Mender's published OpenAPI document as a test oracle: the management and device operations of
// each service (internal ones left out), and for each response status a validator for the body
// (ajv, the spec's own schemas) and the headers it declares.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { REFERENCE_DIR } from '../../test-support/shared-dir.js';

export const MENDER_OPENAPI = join(REFERENCE_DIR, 'mender-api', 'dist', 'openapi.yaml');

/** The services of the table, in its order. */
export const SERVICES = ['deployments', 'deviceauth', 'inventory', 'useradm', 'deviceconfig', 'deviceconnect', 'iot-manager'] as const;
export type Service = (typeof SERVICES)[number];

const METHODS = ['get', 'put', 'post', 'patch', 'delete'] as const;
type JsonObject = Record<string, unknown>;

export interface SpecResponse {
  status: number;
  /** Header names the spec declares for this response (as written, e.g. `X-Total-Count`). */
  headers: string[];
  /** Content types the spec gives a body for. */
  contentTypes: string[];
  /** Validates a parsed JSON body; absent when the spec has no JSON schema for this status. */
  validate?: ValidateFunction;
}

export interface SpecOperation {
  /** `GET /api/management/v1/...` with the spec's `{param}` names. */
  key: string;
  method: string;
  path: string;
  service: Service;
  responses: Map<number, SpecResponse>;
  /** The success statuses (2xx, and 101 for websockets), lowest first. */
  successStatuses: number[];
}

function serviceOf(path: string): Service | undefined {
  const m = /^\/api\/(?:management|devices)\/v[^/]+\/([^/]+)/.exec(path);
  if (!m) return undefined;
  const segment = m[1] === 'devauth' || m[1] === 'authentication' ? 'deviceauth' : m[1];
  return (SERVICES as readonly string[]).includes(segment!) ? (segment as Service) : undefined;
}

/** Loads the spec and compiles a validator per response of every operation in scope. */
export function loadMenderSpec(file = MENDER_OPENAPI): SpecOperation[] {
  const doc = parse(readFileSync(file, 'utf8')) as { paths: Record<string, JsonObject>; components: JsonObject & { responses: Record<string, JsonObject> } };
  // OpenAPI 3.0: `nullable`, `example` and x- keys are not JSON Schema; strict off lets ajv skip them.
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  (addFormatsModule as unknown as (a: Ajv) => void)(ajv);
  ajv.addSchema({ components: doc.components }, 'mender');
  const compile = (schema: unknown): ValidateFunction =>
    ajv.compile(JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"mender#/components/')));
  const deref = (o: JsonObject): JsonObject => {
    const ref = o.$ref;
    if (typeof ref !== 'string') return o;
    const name = ref.split('/').pop()!;
    return deref(doc.components.responses[name] as JsonObject);
  };

  const ops: SpecOperation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    const service = serviceOf(path);
    if (!service) continue;
    for (const method of METHODS) {
      const op = item[method] as { responses: Record<string, JsonObject> } | undefined;
      if (!op) continue;
      const responses = new Map<number, SpecResponse>();
      for (const [code, raw] of Object.entries(op.responses)) {
        const r = deref(raw);
        const content = (r.content ?? {}) as Record<string, { schema?: unknown }>;
        const json = content['application/json']?.schema;
        responses.set(Number(code), {
          status: Number(code),
          headers: Object.keys((r.headers ?? {}) as JsonObject),
          contentTypes: Object.keys(content),
          ...(json ? { validate: compile(json) } : {}),
        });
      }
      const successStatuses = [...responses.keys()].filter((s) => s >= 100 && s < 300).sort((a, b) => a - b);
      ops.push({ key: `${method.toUpperCase()} ${path}`, method: method.toUpperCase(), path, service, responses, successStatuses });
    }
  }
  return ops;
}

/** The spec path as a Fastify route pattern (`{id}` → `:id`). */
export function routePattern(path: string): string {
  return path.replace(/\{([^}]+)\}/g, ':$1');
}
