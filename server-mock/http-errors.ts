// Errors routes throw on purpose. The error handler in app.ts turns them into Mender's error body
// {"error": "...", "request_id": "..."} with this status.
import { GROUP_ROLLED_BACK } from './store/store.js';

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    /** Response headers that go with it (Retry-After on a 429). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const badRequest = (msg: string) => new ApiError(400, msg);
export const unauthorized = (msg = 'unauthorized') => new ApiError(401, msg);
export const forbidden = (msg = 'forbidden') => new ApiError(403, msg);
export const notFound = (msg = 'not found') => new ApiError(404, msg);
export const conflict = (msg: string) => new ApiError(409, msg);
export const tooMany = (msg: string, retryAfterSeconds: number) => new ApiError(429, msg, { 'retry-after': String(retryAfterSeconds) });

/** The shape every error response has, for route schemas. */
export const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, request_id: { type: 'string' } },
  required: ['error'],
} as const;

/** Disk-full errors from the file system and from SQLite. */
const DISK_FULL = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);

/**
 * What an error thrown by a library means for the client, when it is not a bug of ours: a full
 * disk is 507, a group commit that SQLite rolled back is 503, a request body that ended early or a multipart body that cannot be parsed is 400.
 * Undefined for anything else (a 500).
 */
export function explainLibraryError(err: Error & { code?: string }): ApiError | undefined {
  if (err.code && DISK_FULL.has(err.code)) {
    return new ApiError(507, "the server's disk is full: nothing was stored; free space on the server's data disk and try again");
  }
  if (err.code === GROUP_ROLLED_BACK) return new ApiError(503, `${err.message}; try again`, { 'retry-after': '1' });
  if (err.code === 'ERR_STREAM_PREMATURE_CLOSE') return badRequest('the request body ended early: the multipart upload has no closing boundary, or the connection dropped');
  if (err.message === 'Multipart: Boundary not found') return badRequest('multipart/form-data needs a boundary parameter in Content-Type');
  if (/^Part terminated early|unexpected end of (form|multipart data)/i.test(err.message)) return badRequest('the multipart body ended before its closing boundary');
  if (/^Malformed part header/.test(err.message)) return badRequest(`malformed multipart body: ${err.message}`);
  return undefined;
}
