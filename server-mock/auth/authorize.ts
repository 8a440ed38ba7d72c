// One authorization check for every management route: an onRequest hook that authenticates the
// user (the same check as userGuard) and compares the user's roles with the permission the
// route needs (auth/roles.ts). It runs before the body is read, so a refused upload costs
// nothing. Every route is recorded as it is added, for `flipside-server routes` and the tests.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ServerContext } from '../context.js';
import { userGuard } from './guards.js';
import { forbidden } from '../http-errors.js';
import { permissionFor, allows, rolesAllowed, ROLES, type PermissionSet } from './roles.js';

export interface RouteAuthorization {
  method: string;
  url: string;
  permission: PermissionSet | 'public';
  roles: string[];
}

declare module 'fastify' {
  interface FastifyInstance {
    authorizationTable: RouteAuthorization[];
  }
  interface FastifyContextConfig {
    /** The permission set this route needs, instead of the rule in auth/roles.ts. */
    permission?: PermissionSet | 'public';
  }
  interface FastifyRequest {
    userRoles?: string[];
  }
}

export async function rolesOfUser(ctx: ServerContext, userId: string): Promise<string[]> {
  return (await ctx.store.userRoles(userId)) ?? Object.keys(ROLES).filter((r) => r === 'RBAC_ROLE_PERMIT_ALL');
}

/** Adds the hooks on the root instance; call before any route is registered. */
export function installAuthorization(app: FastifyInstance, ctx: ServerContext): void {
  const authenticate = userGuard(ctx);
  const table: RouteAuthorization[] = [];
  app.decorate('authorizationTable', table);
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === 'HEAD') continue;
      const permission = permissionFor(method, route.url, (route.config as { permission?: string } | undefined)?.permission);
      if (permission === undefined) continue;
      table.push({ method, url: route.url, permission, roles: permission === 'public' ? ['anyone'] : rolesAllowed(permission) });
    }
  });
  app.addHook('onRequest', async (req: FastifyRequest) => {
    const url = req.routeOptions.url;
    if (!url) return;
    const permission = permissionFor(req.method === 'HEAD' ? 'GET' : req.method, url, req.routeOptions.config?.permission);
    if (permission === undefined || permission === 'public') return;
    await authenticate(req);
    const roles = await rolesOfUser(ctx, req.userId!);
    req.userRoles = roles;
    if (!allows(roles, permission)) throw forbidden(`your role${roles.length === 1 ? '' : 's'} (${roles.join(', ') || 'none'}) may not ${req.method} ${url}: it needs ${permission}`);
  });
}
