// Mender's RBAC read endpoints (GET v2/useradm/roles, GET v2/useradm/permission_sets) and
// Flipside's way to set a user's roles: PUT v1/useradm/users/{id}/roles with {"roles": [...]}.
// Who may call each is decided in auth/roles.ts like every other management route.
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { ROLES, PERMISSION_SETS } from '../auth/roles.js';
import { rolesOfUser } from '../auth/authorize.js';
import { errorSchema, badRequest, notFound, conflict } from '../http-errors.js';
import { filterAsync } from '../async-array.js';

const tags = ['Management API: useradm'];
const ADMIN_ROLE = 'RBAC_ROLE_PERMIT_ALL';

/** Checks role names; shared with user creation. */
export function checkRoles(roles: string[]): void {
  const unknown = roles.filter((r) => !(r in ROLES));
  if (unknown.length) throw badRequest(`unknown role ${unknown.join(', ')}; known: ${Object.keys(ROLES).join(', ')}`);
}

/**
 * Checks a change of a user's roles: known roles, and never the administrator role taken from the
 * last user who has it. Shared by PUT users/{id}/roles and PUT users/{id}.
 */
export async function checkRoleChange(ctx: ServerContext, userId: string, roles: string[]): Promise<void> {
  checkRoles(roles);
  const admins = await filterAsync(await ctx.store.listUsers(), async (u) => (await rolesOfUser(ctx, u.id)).includes(ADMIN_ROLE));
  if (admins.length === 1 && admins[0]!.id === userId && !roles.includes(ADMIN_ROLE)) throw conflict('this is the last administrator: give another user RBAC_ROLE_PERMIT_ALL first');
}

export async function roleRoutes(app: FastifyInstance, opts: { ctx: ServerContext }): Promise<void> {
  const { ctx } = opts;
  app.get(
    '/api/management/v2/useradm/roles',
    { schema: { tags, summary: 'Roles and their permission sets', response: { 200: { type: 'array', items: { type: 'object', additionalProperties: true } }, 401: errorSchema, 403: errorSchema } } },
    async () =>
      Object.entries(ROLES).map(([name, r]) => ({ name, description: r.description, permission_sets_with_scope: r.permission_sets.map((p) => ({ name: p })) })),
  );
  app.get(
    '/api/management/v2/useradm/permission_sets',
    { schema: { tags, summary: 'Permission sets', response: { 200: { type: 'array', items: { type: 'object', additionalProperties: true } }, 401: errorSchema, 403: errorSchema } } },
    async () => Object.entries(PERMISSION_SETS).map(([name, description]) => ({ name, description })),
  );
  app.put<{ Params: { id: string }; Body: { roles: string[] } }>(
    '/api/management/v1/useradm/users/:id/roles',
    {
      schema: {
        tags,
        summary: "Set a user's roles",
        body: { type: 'object', required: ['roles'], additionalProperties: false, properties: { roles: { type: 'array', items: { type: 'string' }, maxItems: 20 } } },
        response: { 204: { type: 'null' }, 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema, 409: errorSchema },
      },
    },
    async (req, reply) => {
      const user = await ctx.store.userById(req.params.id);
      if (!user) throw notFound('user not found');
      await checkRoleChange(ctx, user.id, req.body.roles);
      await ctx.store.setUserRoles(user.id, req.body.roles);
      await ctx.store.audit(req.userEmail!, 'user.roles', 'user', user.id, { roles: req.body.roles });
      return reply.code(204).send();
    },
  );
}
