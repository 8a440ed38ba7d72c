// POST /api/devices/v1/authentication/auth_requests: Mender's device authentication. The body
// signature is checked over the raw bytes, so this plugin keeps them (its own JSON parser).
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { canonicalPem, parseDevicePublicKey, verifyRequestSignature, PublicKeyError } from '../auth/request-signature.js';
import { signJwt } from '../auth/jwt.js';
import { badRequest, unauthorized, errorSchema } from '../http-errors.js';
import { deviceStatusChanged } from '../integrations/device-events.js';
import { canonicalIdData } from './identity.js';
import { recordCheckIn } from './check-in.js';

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: Buffer;
  }
}

interface AuthRequestBody {
  id_data: string;
  pubkey: string;
  tenant_token?: string;
}

/** Auth requests are small: an identity and a PEM key. */
const AUTH_BODY_LIMIT = 64 * 1024;

export async function deviceAuthRoutes(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  const { ctx } = opts;
  // This plugin keeps the raw bytes (the signature covers them): it replaces the app's JSON parser.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: AUTH_BODY_LIMIT }, (req, body, done) => {
    req.rawBody = body as Buffer;
    try {
      done(null, JSON.parse((body as Buffer).toString('utf8')));
    } catch {
      done(badRequest('request body is not valid JSON'), undefined);
    }
  });

  app.post<{ Body: AuthRequestBody }>(
    '/api/devices/v1/authentication/auth_requests',
    {
      bodyLimit: AUTH_BODY_LIMIT,
      schema: {
        tags: ['Device API'],
        summary: 'Submit an authentication request',
        headers: { type: 'object', properties: { 'x-men-signature': { type: 'string' } } },
        body: {
          type: 'object',
          required: ['id_data', 'pubkey'],
          properties: {
            id_data: { type: 'string', minLength: 1 },
            pubkey: { type: 'string', minLength: 1 },
            tenant_token: { type: 'string' },
          },
        },
        response: { 200: { type: 'string' }, 400: errorSchema, 401: errorSchema, 413: errorSchema, 429: errorSchema, 503: errorSchema },
      },
    },
    async (req, reply) => {
      const sigHeader = req.headers['x-men-signature'];
      if (typeof sigHeader !== 'string' || sigHeader.length === 0) throw badRequest('missing request signature header');
      ctx.admission.checkSizes(req.body.id_data, req.body.pubkey);
      const idData = canonicalIdData(req.body.id_data);
      let key;
      try {
        key = parseDevicePublicKey(req.body.pubkey);
      } catch (e) {
        if (e instanceof PublicKeyError) throw badRequest(e.message);
        throw e;
      }
      if (!req.rawBody || !verifyRequestSignature(key, req.rawBody, sigHeader)) throw unauthorized('signature verification failed');
      // Stored in one canonical PEM form so the same key always finds the same auth set.
      const pem = canonicalPem(key);
      // Rounded up: a token lives at least its TTL (rounded down, a 1 s token could be born expired).
      const exp = Math.ceil(Date.now() / 1000) + ctx.jwtTtlSeconds;
      // One token id for either path: the store records it before the token is signed.
      const jti = randomUUID();
      const issued = async (deviceId: string) => {
        const { token } = signJwt(ctx.secrets.jwtPrivateKey, { sub: deviceId, exp, jti, 'mender.device': true, 'mender.tenant': '' });
        recordCheckIn(ctx, req, deviceId);
        req.log.info({ device_id: deviceId }, 'device authenticated');
        return reply.type('application/jwt').send(token);
      };
      // A known, accepted device (every auth after the first: a reboot, an expired token) gets
      // its token in one store call; the full path below is a dozen round trips on PostgreSQL,
      // each waiting for a pooled connection, and a rollout's reboots send them all at once.
      const known = await ctx.store.addTokenForAcceptedKey(idData, pem, jti, exp);
      if (known) return issued(known.device_id);
      if (!(await ctx.store.hasAuthSet(idData, pem))) await ctx.admission.admitNew(req.ip, await ctx.store.countPendingAuthSets());
      const before = await ctx.store.deviceByIdData(idData);
      const { device, authSet } = await ctx.store.recordAuthRequest(idData, pem);
      // A preauthorized device is accepted here, on its first request: iot-manager hears of it.
      if (before) await deviceStatusChanged(ctx, before, device);
      if (authSet.status !== 'accepted') {
        req.log.info({ device_id: device.id, auth_set: authSet.id, status: authSet.status }, 'device not authorized');
        throw unauthorized('unauthorized');
      }
      await ctx.store.addDeviceToken(jti, device.id, authSet.id, exp);
      return issued(device.id);
    },
  );
}
