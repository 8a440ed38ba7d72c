// Roles as Mender's RBAC names them: a role is a list of permission sets, and every management
// route needs one permission set (the rules below, or `config.permission` on the route). A
// management route no rule names needs SuperUser: new routes are denied to everyone but
// administrators until someone decides who may call them.

export const PERMISSION_SETS = {
  SuperUser: 'Everything, users and roles included',
  Self: 'Own session, profile and personal access tokens (every user)',
  ReadUsers: 'List users and roles',
  ManageUsers: 'Create, change and remove users and their roles',
  ReadAuditLogs: 'Read the audit log',
  ReadReleases: 'List artifacts and releases, get download links',
  ManageReleases: 'Edit and remove artifacts and releases',
  UploadArtifacts: 'Upload and generate artifacts',
  ReadDevices: 'See devices, their authentication, inventory and groups',
  ManageDevices: 'Accept, reject, preauthorize and decommission devices; edit groups and filters',
  ReadDeployments: 'See deployments, their devices and logs',
  DeployToDevices: 'Create and abort deployments',
  ConnectToDevices: 'Remote terminal, file transfer and port forward to devices (deviceconnect)',
  ConfigureDevices: 'Set the configuration of devices (deviceconfig)',
} as const;
export type PermissionSet = keyof typeof PERMISSION_SETS;

export const ROLES: Record<string, { description: string; permission_sets: PermissionSet[] }> = {
  RBAC_ROLE_PERMIT_ALL: { description: 'Admin: full access', permission_sets: ['SuperUser'] },
  RBAC_ROLE_OBSERVER: { description: 'Read only: sees devices, releases, deployments and the audit log; changes nothing', permission_sets: ['ReadDevices', 'ReadReleases', 'ReadDeployments', 'ReadAuditLogs', 'ReadUsers'] },
  RBAC_ROLE_CI: { description: 'Releases manager (CI): uploads artifacts and manages releases', permission_sets: ['ReadReleases', 'ManageReleases', 'UploadArtifacts'] },
  RBAC_ROLE_DEPLOYMENTS_MANAGER: { description: 'Deployments manager: deploys releases to devices', permission_sets: ['ReadDevices', 'ReadReleases', 'ReadDeployments', 'DeployToDevices'] },
  RBAC_ROLE_REMOTE_TERMINAL: { description: 'Troubleshooting: sees devices, opens a terminal, copies files, forwards ports', permission_sets: ['ReadDevices', 'ConnectToDevices'] },
};
export const DEFAULT_ROLES = ['RBAC_ROLE_PERMIT_ALL'];

const READS = new Set(['GET', 'HEAD']);

/** [method or '*' or 'READ'/'WRITE', URL pattern, permission]; the first match wins. */
const RULES: Array<[string, RegExp, PermissionSet | 'public']> = [
  ['POST', /^\/api\/management\/v1\/useradm\/auth\/login$/, 'public'],
  ['POST', /^\/api\/management\/v1\/useradm\/auth\/logout$/, 'Self'],
  ['GET', /^\/api\/management\/v1\/useradm\/users\/me$/, 'Self'],
  // Changing one's own e-mail or password (the current password is checked too).
  ['PUT', /^\/api\/management\/v[12]\/useradm\/users\/me$/, 'Self'],
  ['*', /^\/api\/management\/v1\/useradm\/settings\/tokens(\/|$)/, 'Self'],
  ['*', /^\/api\/management\/v1\/useradm\/settings\/me$/, 'Self'],
  // Every user's UI reads the global settings, its plan and its tenant; only admins change settings.
  ['GET', /^\/api\/management\/v1\/useradm\/settings$/, 'Self'],
  ['POST', /^\/api\/management\/v1\/useradm\/settings$/, 'SuperUser'],
  ['GET', /^\/api\/management\/v1\/useradm\/(plans|plan_binding)$/, 'Self'],
  ['GET', /^\/api\/management\/v1\/tenantadm\/user\/tenant$/, 'Self'],
  // Webhook integrations carry secrets and see every device event: administrators only, as in Mender.
  ['*', /^\/api\/management\/v1\/iot-manager\//, 'SuperUser'],
  ['READ', /^\/api\/management\/v[12]\/useradm\/(users|roles|permission_sets)(\/|$)/, 'ReadUsers'],
  ['WRITE', /^\/api\/management\/v[12]\/useradm\/(users|roles)(\/|$)/, 'ManageUsers'],
  ['READ', /^\/api\/management\/v[12]\/auditlogs\//, 'ReadAuditLogs'],
  ['POST', /^\/api\/management\/v1\/deployments\/artifacts(\/generate|\/directupload(\/[^/]+\/complete)?)?$/, 'UploadArtifacts'],
  ['READ', /^\/api\/management\/v1\/deployments\/limits\/storage$/, 'ReadReleases'],
  ['READ', /^\/api\/management\/v1\/deployments\/config$/, 'ReadDeployments'],
  // Releases live under deployments/deployments/releases too; they are releases, not deployments.
  ['READ', /^\/api\/management\/(v[12]\/deployments\/deployments\/releases|v1alpha1\/deployments\/software)(\/|$)/, 'ReadReleases'],
  ['WRITE', /^\/api\/management\/v[12]\/deployments\/deployments\/releases(\/|$)/, 'ManageReleases'],
  ['READ', /^\/api\/management\/v[12]\/deployments\/(artifacts|releases)(\/|$)/, 'ReadReleases'],
  ['WRITE', /^\/api\/management\/v[12]\/deployments\/(artifacts|releases)(\/|$)/, 'ManageReleases'],
  ['POST', /^\/api\/management\/v1\/deployments\/deployments\/statistics\/list$/, 'ReadDeployments'],
  ['READ', /^\/api\/management\/v[12]\/deployments\/deployments(\/|$)/, 'ReadDeployments'],
  ['WRITE', /^\/api\/management\/v[12]\/deployments\/deployments(\/|$)/, 'DeployToDevices'],
  // Searching the inventory is a read sent as a POST.
  ['POST', /^\/api\/management\/(v2\/inventory\/filters\/search|v2alpha1\/inventory\/identities\/search|v2\/devauth\/devices\/search)$/, 'ReadDevices'],
  ['READ', /^\/api\/management\/v[12]\/(devauth|inventory)(\/|$)/, 'ReadDevices'],
  ['WRITE', /^\/api\/management\/v[12]\/(devauth|inventory)(\/|$)/, 'ManageDevices'],
  ['GET', /^\/api\/management\/v1\/deviceconnect\/devices\/[^/]+$/, 'ReadDevices'],
  ['*', /^\/api\/management\/v1\/deviceconnect\//, 'ConnectToDevices'],
  ['READ', /^\/api\/management\/v1\/deviceconfig\//, 'ReadDevices'],
  ['WRITE', /^\/api\/management\/v1\/deviceconfig\//, 'ConfigureDevices'],
  ['READ', /^\/ui\/api\/deployments\//, 'ReadDeployments'],
  ['READ', /^\/ui\/api\/fleet$/, 'ReadDevices'],
  ['READ', /^\/ui\/api\//, 'Self'],
];

/** Routes that need a user: the management API and the UI's own API. */
export const isManagementRoute = (url: string) => url.startsWith('/api/management/') || url.startsWith('/ui/api/');

/** The permission a route needs; undefined for routes outside the management API. */
export function permissionFor(method: string, url: string, configured?: string): PermissionSet | 'public' | undefined {
  if (!isManagementRoute(url)) return undefined;
  if (configured) return configured as PermissionSet;
  for (const [m, re, perm] of RULES) {
    const methodOk = m === '*' || m === method || (m === 'READ' && READS.has(method)) || (m === 'WRITE' && !READS.has(method));
    if (methodOk && re.test(url)) return perm;
  }
  return 'SuperUser';
}

export function permissionsOf(roles: string[]): Set<PermissionSet> {
  const out = new Set<PermissionSet>(['Self']);
  for (const r of roles) for (const p of ROLES[r]?.permission_sets ?? []) out.add(p);
  return out;
}

export function allows(roles: string[], needed: PermissionSet): boolean {
  const have = permissionsOf(roles);
  return have.has('SuperUser') || have.has(needed);
}

/** The roles that may call a route needing `needed`. */
export function rolesAllowed(needed: PermissionSet): string[] {
  return Object.keys(ROLES).filter((r) => allows([r], needed));
}
