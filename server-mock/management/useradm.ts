// useradm: login with basic auth, users, personal access tokens.
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { userGuard } from '../auth/guards.js';
import { signJwt } from '../auth/jwt.js';
import { passwordLogin } from '../auth/login.js';
import { passwordFingerprint } from '../auth/password.js';
import type { UserRow } from '../store/store.js';
import { rolesOfUser } from '../auth/authorize.js';
import { DEFAULT_ROLES, permissionsOf } from '../auth/roles.js';
import { checkRoles } from './roles.js';
import { errorSchema, unauthorized, conflict, notFound, badRequest } from '../http-errors.js';

const BASE = '/api/management/v1/useradm';
const userSchema = {
  type: 'object',
  properties: { id: { type: 'string' }, email: { type: 'string' }, roles: { type: 'array', items: { type: 'string' } }, created_ts: { type: 'string' }, updated_ts: { type: 'string' } },
} as const;
/** A user as the API shows it: no hash, with roles. */
const shown = (ctx: ServerContext, { password_hash: _p, ...u }: UserRow) => ({ ...u, roles: rolesOfUser(ctx, u.id) });
const tokenSchema = {
  type: 'object',
  properties: { id: { type: 'string' }, name: { type: 'string' }, expiration_date: { type: 'string' }, created_ts: { type: 'string' }, last_used: { type: 'string', nullable: true } },
} as const;

export function issueUserToken(ctx: ServerContext, user: UserRow): string {
  const exp = Math.floor(Date.now() / 1000) + ctx.userJwtTtlSeconds;
  return signJwt(ctx.secrets.jwtPrivateKey, { sub: user.id, exp, 'mender.user': true, 'mender.tenant': '', 'flipside.pwd': passwordFingerprint(user.password_hash) }).token;
}

/** Creates a user; shared by the API and `flipside-server init`. */
export async function createUser(ctx: ServerContext, email: string, password: string, roles = DEFAULT_ROLES) {
  if (!/^[^@\s]+@[^@\s]+$/.test(email)) throw badRequest('invalid email');
  if (password.length < 8) throw badRequest('password too short: at least 8 characters');
  if (ctx.store.userByEmail(email)) throw conflict('user with the same email already exists');
  const hash = await ctx.passwords.hash(password);
  // Checked again: another request may have taken the e-mail while scrypt ran.
  if (ctx.store.userByEmail(email)) throw conflict('user with the same email already exists');
  const user = ctx.store.createUser(email, hash);
  ctx.store.setUserRoles(user.id, roles);
  return user;
}

export async function useradmRoutes(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  const { ctx } = opts;
  const guard = userGuard(ctx);
  const tags = ['Management API: useradm'];

  app.post(
    `${BASE}/auth/login`,
    { schema: { tags, summary: 'Log in with basic auth, get a JWT', response: { 200: { type: 'string' }, 401: errorSchema, 429: errorSchema } } },
    async (req, reply) => {
      const h = req.headers.authorization ?? '';
      const m = /^Basic\s+(\S+)$/i.exec(h);
      if (!m) throw unauthorized('basic auth required');
      const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const email = colon >= 0 ? decoded.slice(0, colon) : '';
      const password = colon >= 0 ? decoded.slice(colon + 1) : '';
      const user = await passwordLogin(ctx, email, password, req.ip);
      return reply.type('application/jwt').send(issueUserToken(ctx, user));
    },
  );

  app.post(`${BASE}/auth/logout`, { preHandler: guard, schema: { tags, response: { 202: { type: 'null' }, 401: errorSchema } } }, async (req, reply) => {
    // Mender's logout: the token used for it stops working at once.
    ctx.store.revokeUserToken(req.userToken!.jti, req.userToken!.exp);
    ctx.store.audit(req.userEmail!, 'user.logout', 'user', req.userId!, {});
    return reply.code(202).send();
  });

  app.get(`${BASE}/users`, { preHandler: guard, schema: { tags, response: { 200: { type: 'array', items: userSchema }, 401: errorSchema } } }, async () =>
    ctx.store.listUsers().map((u) => shown(ctx, u)),
  );

  app.get(`${BASE}/users/me`, { preHandler: guard, schema: { tags, response: { 200: { ...userSchema, properties: { ...userSchema.properties, permissions: { type: 'array', items: { type: 'string' } } } }, 401: errorSchema } } }, async (req) => {
    const u = shown(ctx, ctx.store.userById(req.userId!)!);
    // Flipside's addition for the UI: what this user's roles allow.
    return { ...u, permissions: [...permissionsOf(u.roles)] };
  });

  app.post<{ Body: { email: string; password: string; roles?: string[] } }>(
    `${BASE}/users`,
    {
      preHandler: guard,
      schema: {
        tags,
        body: { type: 'object', required: ['email', 'password'], properties: { email: { type: 'string' }, password: { type: 'string' }, roles: { type: 'array', items: { type: 'string' }, maxItems: 20 } } },
        response: { 201: { type: 'null' }, 400: errorSchema, 401: errorSchema, 409: errorSchema },
      },
    },
    async (req, reply) => {
      checkRoles(req.body.roles ?? []);
      const user = await createUser(ctx, req.body.email, req.body.password, req.body.roles);
      ctx.store.audit(req.userEmail!, 'user.create', 'user', user.id, { email: user.email });
      return reply.code(201).header('Location', `${BASE}/users/${user.id}`).send();
    },
  );

  app.delete<{ Params: { id: string } }>(
    `${BASE}/users/:id`,
    { preHandler: guard, schema: { tags, response: { 204: { type: 'null' }, 401: errorSchema } } },
    async (req, reply) => {
      if (ctx.store.deleteUser(req.params.id)) ctx.store.audit(req.userEmail!, 'user.delete', 'user', req.params.id, {});
      return reply.code(204).send();
    },
  );

  app.post<{ Body: { name: string; expires_in?: number } }>(
    `${BASE}/settings/tokens`,
    {
      preHandler: guard,
      schema: {
        tags,
        summary: 'Create a personal access token',
        body: {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string', minLength: 1, maxLength: 100 }, expires_in: { type: 'integer', minimum: 1, maximum: 31536000 } },
        },
        response: { 200: { type: 'string' }, 400: errorSchema, 401: errorSchema, 409: errorSchema },
      },
    },
    async (req, reply) => {
      const expiresIn = req.body.expires_in ?? 31536000;
      const exp = Math.floor(Date.now() / 1000) + expiresIn;
      if (ctx.store.listPersonalTokens(req.userId!).some((t) => t.name === req.body.name)) throw conflict('token with the same name already exists');
      const row = ctx.store.createPersonalToken(req.userId!, req.body.name, new Date(exp * 1000).toISOString());
      const { token } = signJwt(ctx.secrets.jwtPrivateKey, { jti: row.id, sub: req.userId!, exp, 'mender.user': true, 'flipside.pat': true });
      ctx.store.audit(req.userEmail!, 'token.create', 'token', row.id, { name: row.name });
      return reply.type('application/jwt').send(token);
    },
  );

  app.get(`${BASE}/settings/tokens`, { preHandler: guard, schema: { tags, response: { 200: { type: 'array', items: tokenSchema }, 401: errorSchema } } }, async (req) =>
    ctx.store.listPersonalTokens(req.userId!).map(({ user_id: _u, ...t }) => t),
  );

  app.delete<{ Params: { id: string } }>(
    `${BASE}/settings/tokens/:id`,
    { preHandler: guard, schema: { tags, response: { 204: { type: 'null' }, 401: errorSchema, 404: errorSchema } } },
    async (req, reply) => {
      if (!ctx.store.deletePersonalToken(req.userId!, req.params.id)) throw notFound('token not found');
      ctx.store.audit(req.userEmail!, 'token.delete', 'token', req.params.id, {});
      return reply.code(204).send();
    },
  );
}
