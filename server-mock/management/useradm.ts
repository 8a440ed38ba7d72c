// useradm: login with basic auth, users, personal access tokens.
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import type { UserRow } from '../store/store.js';
import { userGuard } from '../auth/guards.js';
import { signJwt } from '../auth/jwt.js';
import { passwordLogin } from '../auth/login.js';
import { passwordFingerprint } from '../auth/password.js';
import { rolesOfUser } from '../auth/authorize.js';
import { DEFAULT_ROLES, permissionsOf } from '../auth/roles.js';
import { checkRoles, checkRoleChange } from './roles.js';
import { errorSchema, unauthorized, conflict, notFound, badRequest, ApiError } from '../http-errors.js';
import { mapAsync } from '../async-array.js';

const BASE = '/api/management/v1/useradm';
const userSchema = {
  type: 'object',
  properties: { id: { type: 'string' }, email: { type: 'string' }, roles: { type: 'array', items: { type: 'string' } }, created_ts: { type: 'string' }, updated_ts: { type: 'string' } },
} as const;
/** A user as the API shows it: no hash, with roles. */
const shown = async (ctx: ServerContext, { password_hash: _p, ...u }: UserRow) => ({ ...u, roles: await rolesOfUser(ctx, u.id) });
const tokenSchema = {
  type: 'object',
  properties: { id: { type: 'string' }, name: { type: 'string' }, expiration_date: { type: 'string' }, created_ts: { type: 'string' }, last_used: { type: 'string' } },
} as const;
const settingsSchema = { type: 'object', additionalProperties: true } as const;
const userUpdateSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { email: { type: 'string', minLength: 3 }, password: { type: 'string' }, current_password: { type: 'string' } },
} as const;
/** An administrator's edit of a user may set roles too, as Mender Enterprise's UserUpdate does. */
const userEditSchema = { ...userUpdateSchema, properties: { ...userUpdateSchema.properties, roles: { type: 'array', items: { type: 'string' }, maxItems: 20 } } } as const;

interface UserUpdate {
  email?: string;
  password?: string;
  current_password?: string;
  roles?: string[];
}

/**
 * The one tenant's plan, in the user JWT as Mender's useradm puts it and in tenantadm/user/tenant:
 * Mender's UI compares the two and announces "a change in your plan" on every page when they differ.
 * `os` is Mender's open-source plan id (its UI's PLANS table knows os, professional, enterprise).
 */
const TENANT_PLAN = { plan: 'os', trial: false } as const;

export function issueUserToken(ctx: ServerContext, user: UserRow): string {
  const exp = Math.floor(Date.now() / 1000) + ctx.userJwtTtlSeconds;
  return signJwt(ctx.secrets.jwtPrivateKey, {
    sub: user.id,
    exp,
    'mender.user': true,
    'mender.tenant': '',
    'mender.plan': TENANT_PLAN.plan,
    'mender.trial': TENANT_PLAN.trial,
    'flipside.pwd': passwordFingerprint(user.password_hash),
  }).token;
}

/** Creates a user; shared by the API and `flipside-server init`. */
export async function createUser(ctx: ServerContext, email: string, password: string, roles = DEFAULT_ROLES) {
  if (!/^[^@\s]+@[^@\s]+$/.test(email)) throw badRequest('invalid email');
  if (password.length < 8) throw badRequest('password too short: at least 8 characters');
  if (await ctx.store.userByEmail(email)) throw conflict('user with the same email already exists');
  const hash = await ctx.passwords.hash(password);
  // Checked again: another request may have taken the e-mail while scrypt ran.
  if (await ctx.store.userByEmail(email)) throw conflict('user with the same email already exists');
  const user = await ctx.store.createUser(email, hash);
  await ctx.store.setUserRoles(user.id, roles);
  return user;
}

/**
 * Sets a user's password from the server's own command line (`flipside-server set-password`, as
 * Mender's `useradm set-password`): over the API nobody sets another user's password. Ends the
 * user's sessions, as any password change does.
 */
export async function setPassword(ctx: ServerContext, email: string, password: string): Promise<UserRow> {
  const user = await ctx.store.userByEmail(email);
  if (!user) throw notFound(`no user ${email}`);
  if (password.length < 8) throw badRequest('password too short: at least 8 characters');
  await ctx.store.updateUser(user.id, { passwordHash: await ctx.passwords.hash(password) });
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
    await ctx.store.revokeUserToken(req.userToken!.jti, req.userToken!.exp);
    await ctx.store.audit(req.userEmail!, 'user.logout', 'user', req.userId!, {});
    return reply.code(202).send();
  });

  app.get(`${BASE}/users`, { preHandler: guard, schema: { tags, response: { 200: { type: 'array', items: userSchema }, 401: errorSchema } } }, async () =>
    mapAsync(await ctx.store.listUsers(), (u) => shown(ctx, u)),
  );

  app.get(`${BASE}/users/me`, { preHandler: guard, schema: { tags, response: { 200: { ...userSchema, properties: { ...userSchema.properties, permissions: { type: 'array', items: { type: 'string' } } } }, 401: errorSchema } } }, async (req) => {
    const u = await shown(ctx, (await ctx.store.userById(req.userId!))!);
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
      await ctx.store.audit(req.userEmail!, 'user.create', 'user', user.id, { email: user.email });
      return reply.code(201).header('Location', `${BASE}/users/${user.id}`).send();
    },
  );

  app.get<{ Params: { id: string } }>(
    `${BASE}/users/:id`,
    { preHandler: guard, schema: { tags, response: { 200: userSchema, 401: errorSchema, 404: errorSchema } } },
    async (req) => {
      const u = await ctx.store.userById(req.params.id);
      if (!u) throw notFound('user not found');
      return shown(ctx, u);
    },
  );

  /** Mender's rules: a user changing their own e-mail or password gives the current password; nobody sets another's password. */
  async function updateUser(actor: { id: string; email: string; token?: { jti: string; exp: number } }, id: string, b: UserUpdate): Promise<void> {
    const user = await ctx.store.userById(id);
    if (!user) throw notFound('user not found');
    if (b.email === undefined && b.password === undefined && b.roles === undefined) throw badRequest('nothing to update: give email, password or roles');
    if (b.roles !== undefined) await checkRoleChange(ctx, id, b.roles);
    if (b.email !== undefined && !/^[^@\s]+@[^@\s]+$/.test(b.email)) throw badRequest('invalid email');
    // Mender's answers: 422 for a short password and for another user's password (each user sets
    // their own, giving the current one).
    if (b.password !== undefined && id !== actor.id) throw new ApiError(422, "a user's password is changed by that user only (PUT users/me with current_password)");
    if (b.password !== undefined && b.password.length < 8) throw new ApiError(422, 'password too short: at least 8 characters');
    if (id === actor.id && (b.email !== undefined || b.password !== undefined) && (b.current_password === undefined || !(await ctx.passwords.check(b.current_password, user.password_hash)))) {
      throw new ApiError(401, 'changing your own e-mail or password needs the right current_password');
    }
    const other = b.email !== undefined ? await ctx.store.userByEmail(b.email) : undefined;
    if (other && other.id !== id) throw new ApiError(422, 'user with the same email already exists');
    const passwordHash = b.password !== undefined ? await ctx.passwords.hash(b.password) : undefined;
    // Checked again: another request may have taken the e-mail while scrypt ran.
    const taken = b.email !== undefined ? await ctx.store.userByEmail(b.email) : undefined;
    if (taken && taken.id !== id) throw new ApiError(422, 'user with the same email already exists');
    // And the roles: another request may have changed who the administrators are.
    if (b.roles !== undefined) await checkRoleChange(ctx, id, b.roles);
    // Mender ends the user's other sessions, not the one that changed the password.
    const keepToken = passwordHash !== undefined && id === actor.id && actor.token ? { jti: actor.token.jti, passwordFingerprint: passwordFingerprint(passwordHash), exp: actor.token.exp } : undefined;
    await ctx.store.changeUser(id, { email: b.email, passwordHash, roles: b.roles, keepToken });
    await ctx.store.audit(actor.email, 'user.update', 'user', id, { email: b.email ?? user.email, password_changed: b.password !== undefined, ...(b.roles ? { roles: b.roles } : {}) });
  }
  const actorOf = (req: { userId?: string; userEmail?: string; userToken?: { jti: string; exp: number } }) => ({ id: req.userId!, email: req.userEmail!, token: req.userToken });
  const updateResponses = { 204: { type: 'null' }, 400: errorSchema, 401: errorSchema, 404: errorSchema, 409: errorSchema, 422: errorSchema };

  app.put<{ Params: { id: string }; Body: UserUpdate }>(
    `${BASE}/users/:id`,
    { preHandler: guard, schema: { tags, body: userEditSchema, response: updateResponses } },
    async (req, reply) => {
      await updateUser(actorOf(req), req.params.id, req.body);
      return reply.code(204).send();
    },
  );
  app.put<{ Body: UserUpdate }>(`${BASE}/users/me`, { preHandler: guard, schema: { tags, body: userUpdateSchema, response: updateResponses } }, async (req, reply) => {
    await updateUser(actorOf(req), req.userId!, req.body);
    return reply.code(204).send();
  });
  app.put<{ Body: UserUpdate }>(
    '/api/management/v2/useradm/users/me',
    { preHandler: guard, schema: { tags, body: { ...userUpdateSchema, properties: { password: { type: 'string' }, current_password: { type: 'string' } } }, response: updateResponses } },
    async (req, reply) => {
      await updateUser(actorOf(req), req.userId!, req.body);
      return reply.code(204).send();
    },
  );

  // Settings: the web UI keeps its global and per-user settings here as free-form JSON. The spec
  // gives GET an ETag always; settings never saved have a fixed one.
  const UNSAVED_ETAG = 'unsaved';
  for (const [url, scopeOf] of [
    [`${BASE}/settings`, () => 'global'],
    [`${BASE}/settings/me`, (req: { userId?: string }) => `user:${req.userId}`],
  ] as const) {
    app.get(url, { preHandler: guard, schema: { tags, response: { 200: settingsSchema, 401: errorSchema } } }, async (req, reply) => {
      const current = await ctx.store.settings(scopeOf(req));
      return reply.header('ETag', current?.etag ?? UNSAVED_ETAG).send(current?.body ?? {});
    });
    app.post<{ Body: Record<string, unknown>; Headers: { 'if-match'?: string } }>(
      url,
      { preHandler: guard, schema: { tags, body: settingsSchema, response: { 201: { type: 'null' }, 400: errorSchema, 401: errorSchema, 412: errorSchema } } },
      async (req, reply) => {
        const ifMatch = req.headers['if-match']?.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
        // The ETag of settings never saved matches only while nothing has been saved.
        const unsaved = ifMatch === UNSAVED_ETAG && !(await ctx.store.settings(scopeOf(req)));
        const etag = await ctx.store.saveSettings(scopeOf(req), req.body, unsaved ? undefined : ifMatch || undefined);
        if (etag === undefined) throw new ApiError(412, 'settings changed since they were read (If-Match does not match the ETag)');
        return reply.code(201).header('ETag', etag).send();
      },
    );
  }

  app.delete<{ Params: { id: string } }>(
    `${BASE}/users/:id`,
    { preHandler: guard, schema: { tags, response: { 204: { type: 'null' }, 401: errorSchema } } },
    async (req, reply) => {
      if (await ctx.store.deleteUser(req.params.id)) await ctx.store.audit(req.userEmail!, 'user.delete', 'user', req.params.id, {});
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
      if ((await ctx.store.listPersonalTokens(req.userId!)).some((t) => t.name === req.body.name)) throw conflict('token with the same name already exists');
      const row = await ctx.store.createPersonalToken(req.userId!, req.body.name, new Date(exp * 1000).toISOString());
      const { token } = signJwt(ctx.secrets.jwtPrivateKey, { jti: row.id, sub: req.userId!, exp, 'mender.user': true, 'flipside.pat': true });
      await ctx.store.audit(req.userEmail!, 'token.create', 'token', row.id, { name: row.name });
      return reply.type('application/jwt').send(token);
    },
  );

  app.get(`${BASE}/settings/tokens`, { preHandler: guard, schema: { tags, response: { 200: { type: 'array', items: tokenSchema }, 401: errorSchema } } }, async (req) =>
    (await ctx.store.listPersonalTokens(req.userId!)).map(({ user_id: _u, last_used, ...t }) => ({ ...t, ...(last_used ? { last_used } : {}) })),
  );

  app.delete<{ Params: { id: string } }>(
    `${BASE}/settings/tokens/:id`,
    { preHandler: guard, schema: { tags, response: { 204: { type: 'null' }, 401: errorSchema, 404: errorSchema } } },
    async (req, reply) => {
      if (!(await ctx.store.deletePersonalToken(req.userId!, req.params.id))) throw notFound('token not found');
      await ctx.store.audit(req.userEmail!, 'token.delete', 'token', req.params.id, {});
      return reply.code(204).send();
    },
  );

  // One server, one plan: what Flipside has (audit log, saved filters as dynamic groups; no
  // terminal, file transfer, configuration or monitoring add-ons), for Mender's UI to read.
  const PLAN = {
    name: 'flipside',
    display_name: 'Flipside',
    features: { rbac: true, audit_logs: true, dynamic_groups: true, terminal: false, file_transfer: false, configuration: false, monitoring: false, reporting: false },
  };
  const planSchema = {
    type: 'object',
    properties: { name: { type: 'string' }, display_name: { type: 'string' }, features: { type: 'object', additionalProperties: { type: 'boolean' } } },
  } as const;
  app.get(`${BASE}/plans`, { preHandler: guard, schema: { tags, response: { 200: { type: 'array', items: planSchema }, 401: errorSchema } } }, async () => [PLAN]);
  app.get(
    `${BASE}/plan_binding`,
    {
      preHandler: guard,
      schema: { tags, response: { 200: { type: 'object', properties: { plan: planSchema, limits: { type: 'object', additionalProperties: { type: 'integer' } } } }, 401: errorSchema } },
    },
    // 0: no limit, as devauth's max_devices says.
    async () => ({ plan: PLAN, limits: { devices: 0, users: 0, audit_logs_days: 0 } }),
  );

  // Mender's UI asks for its tenant on every page; a single-tenant server answers with the one it has.
  app.get(
    '/api/management/v1/tenantadm/user/tenant',
    {
      preHandler: guard,
      schema: {
        tags,
        summary: "The user's tenant (Flipside has one)",
        response: { 200: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' }, tenant_token: { type: 'string' }, status: { type: 'string' }, plan: { type: 'string' }, trial: { type: 'boolean' } } }, 401: errorSchema },
      },
    },
    async () => ({ id: 'default', name: 'Flipside', tenant_token: '', status: 'active', ...TENANT_PLAN }),
  );
}
