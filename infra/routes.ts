import { ID_PATTERN } from '../lib/config.js';

/**
 * Every route of the HTTP API, as CONTRACT.md lists them. The API construct creates exactly these
 * routes, and the grant helpers derive their IAM resources from the same list, so a route cannot be
 * reachable without a grant path (or granted without existing).
 *
 *   public   no authorization: the end user's browser (`/oauth/*`) and probes (`/healthz`, `/openapi.json`)
 *   service  IAM (SigV4): reading and refreshing a tenant's tokens; admins may call these too
 *   admin    IAM (SigV4): everything else under `/v1`
 */
export type HttpFunctionName = 'register' | 'authorize' | 'callback' | 'token' | 'refresh' | 'accounts' | 'meta';
/** One Lambda per file in `functions/`; the refresher has no route (the schedule invokes it). */
export type FunctionName = HttpFunctionName | 'refresher';
export type RouteAccess = 'public' | 'service' | 'admin';
export type RouteMethod = 'GET' | 'PUT' | 'POST' | 'DELETE';

export interface RouteSpec {
  method: RouteMethod;
  /** API Gateway route path; `{tenant}` and `{account}` are single path segments. */
  path: string;
  fn: HttpFunctionName;
  access: RouteAccess;
}

export const ROUTES: readonly RouteSpec[] = [
  { method: 'PUT', path: '/v1/tenants/{tenant}', fn: 'register', access: 'admin' },
  { method: 'GET', path: '/v1/tenants/{tenant}', fn: 'register', access: 'admin' },
  { method: 'DELETE', path: '/v1/tenants/{tenant}', fn: 'register', access: 'admin' },
  { method: 'POST', path: '/v1/tenants/{tenant}/accounts/{account}/link', fn: 'authorize', access: 'admin' },
  { method: 'GET', path: '/v1/tenants/{tenant}/accounts/{account}/token', fn: 'token', access: 'service' },
  { method: 'POST', path: '/v1/tenants/{tenant}/accounts/{account}/refresh', fn: 'refresh', access: 'service' },
  { method: 'GET', path: '/v1/tenants/{tenant}/accounts', fn: 'accounts', access: 'admin' },
  { method: 'GET', path: '/v1/tenants/{tenant}/accounts/{account}', fn: 'accounts', access: 'admin' },
  { method: 'DELETE', path: '/v1/tenants/{tenant}/accounts/{account}', fn: 'accounts', access: 'admin' },
  { method: 'GET', path: '/v1/tenants/{tenant}/audit', fn: 'accounts', access: 'admin' },
  { method: 'GET', path: '/oauth/authorize', fn: 'authorize', access: 'public' },
  { method: 'GET', path: '/oauth/callback', fn: 'callback', access: 'public' },
  { method: 'GET', path: '/healthz', fn: 'meta', access: 'public' },
  { method: 'GET', path: '/openapi.json', fn: 'meta', access: 'public' },
];

/** The route key API Gateway logs and matches on, e.g. `GET /oauth/callback`. */
export const routeKey = (route: RouteSpec): string => `${route.method} ${route.path}`;

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
