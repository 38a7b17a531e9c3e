import { ID_PATTERN } from '../lib/config.js';
import { ROUTE_LIST, routeKey as routeKeyOf, type FunctionName, type HttpFunctionName, type Method, type RouteCaller } from '../lib/http/route-table.js';

/**
 * The HTTP API's routes for the CDK stack, derived from the one route table. The API construct
 * creates exactly these routes, and the grant helpers derive their IAM resources from the same
 * list, so a route cannot be reachable without a grant path (or granted without existing).
 *
 *   public   no authorization: the end user's browser (`/oauth/*`) and probes (`/healthz`, `/openapi.json`)
 *   service  IAM (SigV4): reading and refreshing a tenant's tokens; admins may call these too
 *   admin    IAM (SigV4): everything else under `/v1`
 */
export type { FunctionName, HttpFunctionName };
export type RouteAccess = RouteCaller;
export type RouteMethod = Method;

export interface RouteSpec {
  method: RouteMethod;
  /** API Gateway route path; `{tenant}` and `{account}` are single path segments. */
  path: string;
  fn: HttpFunctionName;
  access: RouteAccess;
}

/** The API Gateway routes: the route table (`lib/http/route-table.ts`), read as infra needs it. */
export const ROUTES: readonly RouteSpec[] = ROUTE_LIST.map((r) => ({ method: r.method, path: r.path, fn: r.fn, access: r.caller }));

/** The route key API Gateway logs and matches on, e.g. `GET /oauth/callback`. */
export const routeKey = (route: RouteSpec): string => routeKeyOf(route);

export const TOKEN_ROUTE = ROUTES.find((r) => r.fn === 'token')!;

/** What a grant covers: a service reads and refreshes tokens; an admin may call every `/v1` route. */
export type GrantLevel = 'service' | 'admin';

export function routesFor(level: GrantLevel): RouteSpec[] {
  return ROUTES.filter((r) => (level === 'service' ? r.access === 'service' : r.access !== 'public'));
}

/**
 * A tenant id that goes into an IAM resource must be a plain identifier: `*` and `?` are IAM
 * wildcards, so a tenant named `*` (or `a*`) would silently widen a grant to other tenants.
 */
export function assertTenantId(tenant: string): void {
  if (typeof tenant !== 'string' || !ID_PATTERN.test(tenant)) {
    throw new Error(`invalid tenant id ${JSON.stringify(tenant)}: must match ${ID_PATTERN.source}`);
  }
}

/**
 * Every tenant whose id starts with `prefix` (e.g. `emea.` covers `emea.acme` and `emea.globex`):
 * one grant for a group of tenants of any size. The prefix ends in `.`, `_` or `-`, so that `emea.`
 * can never cover `emeacorp`.
 */
export interface TenantGroup {
  prefix: string;
}

const GROUP_PREFIX = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}[._-]$/;

/** A tenant group; throws unless `prefix` is the start of a valid tenant id ending in `.`, `_` or `-`. */
export function tenantGroup(prefix: string): TenantGroup {
  if (typeof prefix !== 'string' || !GROUP_PREFIX.test(prefix)) {
    throw new Error(`invalid tenant group ${JSON.stringify(prefix)}: a tenant id prefix ending in ".", "_" or "-" (e.g. "emea.")`);
  }
  return { prefix };
}

/** One tenant (its id) or a group of tenants. */
export type TenantSelector = string | TenantGroup;

/** The `{tenant}` segment of a grant's resource: the id, or the group's prefix followed by `*`. */
function tenantSegment(tenant: TenantSelector): string {
  if (typeof tenant === 'string') {
    assertTenantId(tenant);
    return tenant;
  }
  return `${tenantGroup(tenant.prefix).prefix}*`;
}

const TENANT_SUBTREE = '/v1/tenants/{tenant}';

/**
 * The `execute-api:Invoke` resource paths (after `<api-id>/`) that a grant of `level` on `tenant`
 * allows; without a tenant, every tenant. Derived from ROUTES, as few as IAM allows:
 *
 * - a route is included when `routesFor(level)` holds it; a route without `{tenant}` (such as
 *   `GET /v1/tenants`) only for a grant on every tenant;
 * - when every route under `/v1/tenants/{tenant}` is included (an admin), the whole subtree is one
 *   or two resources with method `*`: `…/tenants/acme` and `…/tenants/acme/*`; for every tenant,
 *   `…/*\/v1/*` when every `/v1` route is included;
 * - otherwise one resource per route, `{account}` as `*`.
 *
 * IAM's `*` also matches `/`, so `…/tenants/acme/*` matches any path below acme's: that is safe
 * because the broker refuses a path that is not canonical (dot segments, encoded `/`, doubled
 * slashes) before routing, so a path below `/v1/tenants/acme/` always names tenant acme.
 */
export function invokePaths(level: GrantLevel, tenant?: TenantSelector): string[] {
  const segment = tenant === undefined ? undefined : tenantSegment(tenant);
  const allowed = new Set(routesFor(level));
  const v1 = ROUTES.filter((r) => r.path.startsWith('/v1/'));
  if (segment === undefined && v1.every((r) => allowed.has(r))) return ['$default/*/v1/*'];

  const inSubtree = (r: RouteSpec) => r.path === TENANT_SUBTREE || r.path.startsWith(`${TENANT_SUBTREE}/`);
  const subtree = ROUTES.filter(inSubtree);
  const seg = segment ?? '*';
  const paths: string[] = [];
  let rest = [...allowed].filter((r) => (segment === undefined ? true : r.path.includes('{tenant}')));
  if (subtree.length > 0 && subtree.every((r) => allowed.has(r))) {
    const base = `$default/*${TENANT_SUBTREE.replace('{tenant}', seg)}`;
    // a segment that already ends in * covers the paths below it too
    paths.push(base);
    if (!seg.endsWith('*') && subtree.some((r) => r.path !== TENANT_SUBTREE)) paths.push(`${base}/*`);
    rest = rest.filter((r) => !inSubtree(r));
  }
  for (const r of rest) paths.push(`$default/${r.method}${r.path.replace('{tenant}', seg).replace('{account}', '*')}`);
  return paths;
}
