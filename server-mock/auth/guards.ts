// preHandlers that authenticate a request: a device JWT for the device API, a user JWT or a
// personal access token for the management API. A token of the wrong kind is a plain 401.
import type { FastifyRequest } from 'fastify';
import type { ServerContext } from '../context.js';
import { CachedJwtVerifier, type JwtClaims } from './jwt.js';
import { unauthorized } from '../http-errors.js';
import { passwordFingerprint } from './password.js';

declare module 'fastify' {
  interface FastifyRequest {
    deviceId?: string;
    deviceTokenJti?: string;
    userId?: string;
    userEmail?: string;
    /** The user token's id and expiry, for logout. */
    userToken?: { jti: string; exp: number };
  }
}

function bearer(req: FastifyRequest): string {
  const h = req.headers.authorization;
  if (!h || !/^Bearer\s+\S+/i.test(h)) throw unauthorized('missing bearer token');
  return h.replace(/^Bearer\s+/i, '').trim();
}

const verifiers = new WeakMap<ServerContext, CachedJwtVerifier>();

function claimsOf(ctx: ServerContext, req: FastifyRequest): JwtClaims {
  let verifier = verifiers.get(ctx);
  if (!verifier) {
    verifier = new CachedJwtVerifier(ctx.secrets.jwtPublicKey);
    verifiers.set(ctx, verifier);
  }
  const r = verifier.verify(bearer(req));
  if (r === 'expired') throw unauthorized('token expired');
  if (typeof r === 'string') throw unauthorized('invalid token');
  return r;
}

export function deviceGuard(ctx: ServerContext) {
  const claims = deviceClaimsGuard(ctx);
  return async (req: FastifyRequest): Promise<void> => {
    await claims(req);
    await deviceTokenRecorded(ctx, req);
  };
}

/**
 * The device guard in two steps, for the device API's hot routes. This preHandler checks the
 * token's signature and claims (a bad token is a 401 before anything is read) and sets
 * req.deviceId; the route then reads the token's record in the same store call as its own first
 * read (deviceTokenOwnedBy decides) and writes nothing before: on PostgreSQL each round trip
 * waits its turn for a pooled connection, and at fleet scale the turns were most of a poll's
 * time (README, Scaling).
 */
export function deviceClaimsGuard(ctx: ServerContext) {
  // async: a Fastify hook that returns no Promise must call its done callback.
  return async (req: FastifyRequest): Promise<void> => {
    const claims = claimsOf(ctx, req);
    if (claims['mender.device'] !== true) throw unauthorized('not a device token');
    req.deviceId = claims.sub;
    req.deviceTokenJti = claims.jti;
  };
}

/** Resolves when the request's device token (deviceClaimsGuard) is still recorded; a 401 otherwise. */
export async function deviceTokenRecorded(ctx: ServerContext, req: FastifyRequest): Promise<void> {
  deviceTokenOwnedBy(req, (await ctx.store.deviceToken(req.deviceTokenJti!))?.device_id);
}

/** A 401 unless the request's device token is recorded, for its device (`recordedFor`: whom the store has it for). */
export function deviceTokenOwnedBy(req: FastifyRequest, recordedFor: string | undefined): void {
  // Tokens are recorded when issued and deleted when the device is rejected or decommissioned.
  if (recordedFor === undefined || recordedFor !== req.deviceId) throw unauthorized('token revoked');
}

export function userGuard(ctx: ServerContext) {
  return async (req: FastifyRequest): Promise<void> => {
    const claims = claimsOf(ctx, req);
    if (claims['mender.user'] !== true) throw unauthorized('not a user token');
    const user = await ctx.store.userById(claims.sub);
    if (!user) throw unauthorized('user no longer exists');
    if (await ctx.store.isUserTokenRevoked(claims.jti)) throw unauthorized('token revoked (logged out)');
    // A session dies with the password it was opened with, except the one that changed it.
    const current = passwordFingerprint(user.password_hash);
    if (claims['flipside.pat'] !== true && claims['flipside.pwd'] !== current && (await ctx.store.keptUserTokenFingerprint(claims.jti)) !== current) throw unauthorized('token revoked (password changed)');
    if (claims['flipside.pat'] === true) {
      const pat = await ctx.store.personalToken(claims.jti);
      if (!pat || pat.user_id !== user.id) throw unauthorized('token revoked');
      await ctx.store.touchPersonalToken(pat.id);
    }
    req.userToken = { jti: claims.jti, exp: claims.exp };
    req.userId = user.id;
    req.userEmail = user.email;
  };
}
