// Errors routes throw on purpose. The error handler in app.ts turns them into Mender's error body
// {"error": "...", "request_id": "..."} with this status.
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
