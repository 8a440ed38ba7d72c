// Compact JWTs signed with Ed25519 (alg EdDSA) through node:crypto. Claims follow Mender's:
// devices get sub = device id and "mender.device": true, users "mender.user": true.
import { sign, verify, randomUUID, type KeyObject } from 'node:crypto';

export interface JwtClaims {
  jti: string;
  sub: string;
  iss: string;
  iat: number;
  exp: number;
  'mender.device'?: boolean;
  'mender.user'?: boolean;
  'mender.tenant'?: string;
  /** Set on personal access tokens: their id, checked against the store so they can be revoked. */
  'flipside.pat'?: boolean;
  [k: string]: unknown;
}

export const ISSUER = 'Flipside';

const HEADER = b64url(Buffer.from(JSON.stringify({ alg: 'EdDSA', typ: 'JWT' })));

export function signJwt(key: KeyObject, claims: Omit<JwtClaims, 'jti' | 'iat' | 'iss'> & { jti?: string }): { token: string; claims: JwtClaims } {
  const full: JwtClaims = { jti: randomUUID(), iss: ISSUER, iat: Math.floor(Date.now() / 1000), ...claims } as JwtClaims;
  const payload = b64url(Buffer.from(JSON.stringify(full)));
  const sig = sign(null, Buffer.from(`${HEADER}.${payload}`), key);
  return { token: `${HEADER}.${payload}.${b64url(sig)}`, claims: full };
}

export type JwtFailure = 'malformed' | 'bad-signature' | 'expired';

/** Verifies signature and expiry; returns the claims or why the token is refused. */
export function verifyJwt(key: KeyObject, token: string, nowSeconds = Date.now() / 1000): JwtClaims | JwtFailure {
  const parts = token.split('.');
  if (parts.length !== 3) return 'malformed';
  const [h, p, s] = parts as [string, string, string];
  let header: { alg?: string };
  let claims: JwtClaims;
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
    claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  } catch {
    return 'malformed';
  }
  // Only our own algorithm: "alg":"none" or HS256 tricks are refused before any crypto.
  if (header.alg !== 'EdDSA' || typeof claims !== 'object' || claims === null) return 'malformed';
  if (!verify(null, Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'))) return 'bad-signature';
  if (typeof claims.exp !== 'number' || claims.exp <= nowSeconds) return 'expired';
  if (typeof claims.sub !== 'string' || typeof claims.jti !== 'string') return 'malformed';
  return claims;
}

function b64url(b: Buffer): string {
  return b.toString('base64url');
}

/**
 * verifyJwt with a bounded cache of tokens already verified: devices poll with the same token for
 * days, and the signature check dominates a poll. Expiry is still checked on every use, and
 * revocation is the caller's (store) check.
 */
export class CachedJwtVerifier {
  private readonly cache = new Map<string, JwtClaims>();

  constructor(
    private readonly key: KeyObject,
    private readonly max = 20_000,
  ) {}

  verify(token: string): JwtClaims | JwtFailure {
    const nowSeconds = Date.now() / 1000;
    const hit = this.cache.get(token);
    if (hit) {
      if (hit.exp > nowSeconds) return hit;
      this.cache.delete(token);
      return 'expired';
    }
    const r = verifyJwt(this.key, token, nowSeconds);
    if (typeof r !== 'string') {
      if (this.cache.size >= this.max) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(token, r);
    }
    return r;
  }
}
