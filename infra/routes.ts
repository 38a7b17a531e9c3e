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
 * The `execute-api:Invoke` resource paths (after `<api-id>/`) that a grant of `level` on `tenant`
 * allows, e.g. `$default/GET/v1/tenants/acme/accounts/*\/token`. Without a tenant, all tenants.
 */
export function invokePaths(level: GrantLevel, tenant?: string): string[] {
  if (tenant !== undefined) assertTenantId(tenant);
  const tenantSegment = tenant ?? '*';
  return routesFor(level).map((r) => {
    const path = r.path.replace('{tenant}', tenantSegment).replace('{account}', '*');
    return `$default/${r.method}${path}`;
  });
}
