import type * as z from 'zod/mini';
import {
  AccountBody,
  AccountListBody,
  AccountListQuery,
  AccountParams,
  AuditListBody,
  AuditQuery,
  AuthorizeQuery,
  CallbackQuery,
  ConfirmLinkBody,
  CreateLinkBody,
  HealthBody,
  LinkBody,
  OpenApiBody,
  PutTenantBody,
  TenantBody,
  TenantJobBody,
  TenantParams,
  TokenBody,
  TokenQuery,
} from './schemas.js';

/**
 * Every route of the HTTP API, declared once. Everything else is derived from this table:
 *
 * - which Lambda function serves a route (`fn`: `functions/<fn>.ts` mounts exactly its routes, and
 *   the local server mounts them all);
 * - who may call it (`caller`): `public` routes take no credentials; the others sit under `/v1`,
 *   behind IAM authorization (SigV4) in AWS and a bearer key locally, and need that role for the
 *   route's tenant (`admin` may do everything a `service` may);
 * - the API Gateway routes and the IAM invoke paths of the grant helpers (`infra/routes.ts`);
 * - the input validation of each route and the OpenAPI document (`npm run openapi`).
 */
export type HttpFunctionName = 'register' | 'authorize' | 'callback' | 'token' | 'refresh' | 'accounts' | 'meta';
/** One Lambda per file in `functions/`; the refresher has no route (the schedule invokes it). */
export type FunctionName = HttpFunctionName | 'refresher';
export const HTTP_FUNCTIONS: readonly HttpFunctionName[] = ['register', 'authorize', 'callback', 'token', 'refresh', 'accounts', 'meta'];
export const FUNCTION_NAMES: readonly FunctionName[] = [...HTTP_FUNCTIONS, 'refresher'];

export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';
export type CallerRole = 'service' | 'admin';
export type RouteCaller = 'public' | CallerRole;

export interface ResponseDef {
  description: string;
  /** JSON body schema; `html` for the browser pages; none for empty answers. */
  schema?: z.ZodMiniType;
  html?: true;
}

export interface RouteDef {
  method: Method;
  /** API Gateway / OpenAPI path template; `{tenant}` and `{account}` are single path segments. */
  path: `/${string}`;
  fn: HttpFunctionName;
  caller: RouteCaller;
  /** The end user's browser calls it: answers and errors are pages, with the browser headers. */
  browser?: true;
  summary: string;
  description?: string;
  request?: {
    params?: z.ZodMiniObject;
    query?: z.ZodMiniObject;
    /** A JSON body; `required: false` accepts an empty body as `{}`. */
    body?: { schema: z.ZodMiniType; required: boolean };
  };
  /** Success answers; error answers are derived from `errors`. */
  responses: Partial<Record<200 | 201 | 202 | 204 | 302 | 303, ResponseDef>>;
  /** The error statuses this route may answer (JSON `{ error, error_description }`, or a page on browser routes). */
  errors: readonly ErrorStatus[];
}

export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 502 | 503;

const v1Errors = (...more: ErrorStatus[]): readonly ErrorStatus[] => [400, 401, 403, ...more, 503];

export const ROUTES = {
  putTenant: {
    method: 'PUT',
    path: '/v1/tenants/{tenant}',
    fn: 'register',
    caller: 'admin',
    summary: "Register the tenant's OAuth client (discovery + dynamic registration), or import one; update an existing tenant's settings",
    description:
      'On an existing tenant: `scope` and `return_to_origins` change in place; another `region` needs `"change_region": true` and moves every linked account to needs_reauth, as a job: 200 when it is done within the request, otherwise 202 with `state: "moving"` while the broker finishes it in the background.',
    request: { params: TenantParams, body: { schema: PutTenantBody, required: true } },
    responses: {
      201: { description: 'Registered', schema: TenantBody },
      200: { description: 'Already registered (settings updated, or the region move done)', schema: TenantBody },
      202: { description: 'Region move under way (`state: "moving"`), finished in the background', schema: TenantBody },
    },
    errors: v1Errors(409, 413, 502),
  },
  getTenant: {
    method: 'GET',
    path: '/v1/tenants/{tenant}',
    fn: 'register',
    caller: 'admin',
    summary: "The tenant's settings and client (no secret), and its state: active, moving or deleting",
    request: { params: TenantParams },
    responses: { 200: { description: 'The tenant', schema: TenantBody } },
    errors: v1Errors(404),
  },
  deleteTenant: {
    method: 'DELETE',
    path: '/v1/tenants/{tenant}',
    fn: 'register',
    caller: 'admin',
    summary: 'Unlink every account (revoking upstream), delete the OAuth client (RFC 7592 where possible), then the tenant',
    description: 'A job: 204 when it is done within the request, otherwise 202 `{ state: "deleting" }` while the broker finishes it in the background, resuming after any crash.',
    request: { params: TenantParams },
    responses: { 204: { description: 'Deleted' }, 202: { description: 'Deletion under way, finished in the background', schema: TenantJobBody } },
    errors: v1Errors(404, 409),
  },
  createLink: {
    method: 'POST',
    path: '/v1/tenants/{tenant}/accounts/{account}/link',
    fn: 'authorize',
    caller: 'admin',
    summary: 'Create a link URL (10 minutes) for the end user; it completes one linking at most',
    request: { params: AccountParams, body: { schema: CreateLinkBody, required: false } },
    responses: { 201: { description: 'Link created', schema: LinkBody } },
    errors: v1Errors(404, 413),
  },
  confirmLink: {
    method: 'POST',
    path: '/v1/tenants/{tenant}/accounts/{account}/link/confirm',
    fn: 'authorize',
    caller: 'admin',
    summary: "Confirm a linking (confirm_links): the tenant's app, having checked that its signed-in user is {account}, links the account",
    description:
      'For a tenant registered with `"confirm_links": true`, the callback ends at `return_to?status=confirm&account=…&link_session=…`; this links the account. 404: unknown or expired session (after 10 minutes its tokens are revoked upstream and dropped); 409: already confirmed, or made for another account.',
    request: { params: AccountParams, body: { schema: ConfirmLinkBody, required: true } },
    responses: { 200: { description: 'Linked: the account as in the account list', schema: AccountBody } },
    errors: v1Errors(404, 409, 413),
  },
  getToken: {
    method: 'GET',
    path: '/v1/tenants/{tenant}/accounts/{account}/token',
    fn: 'token',
    caller: 'service',
    summary: 'A valid access token with at least min_ttl seconds left, refreshed first when needed',
    request: { params: AccountParams, query: TokenQuery },
    responses: { 200: { description: 'A valid access token (never the refresh token); Cache-Control: no-store', schema: TokenBody } },
    errors: v1Errors(404, 409, 502),
  },
  refreshToken: {
    method: 'POST',
    path: '/v1/tenants/{tenant}/accounts/{account}/refresh',
    fn: 'refresh',
    caller: 'service',
    summary: 'Force a refresh now; same answer as token',
    request: { params: AccountParams },
    responses: { 200: { description: 'A freshly refreshed access token (never the refresh token); Cache-Control: no-store', schema: TokenBody } },
    errors: v1Errors(404, 409, 502),
  },
  listAccounts: {
    method: 'GET',
    path: '/v1/tenants/{tenant}/accounts',
    fn: 'accounts',
    caller: 'admin',
    summary: "The tenant's accounts in account-id order, paginated (no token material)",
    request: { params: TenantParams, query: AccountListQuery },
    responses: { 200: { description: 'A page of accounts; `next` when there is more', schema: AccountListBody } },
    errors: v1Errors(404),
  },
  getAccount: {
    method: 'GET',
    path: '/v1/tenants/{tenant}/accounts/{account}',
    fn: 'accounts',
    caller: 'admin',
    summary: 'One account (no token material)',
    request: { params: AccountParams },
    responses: { 200: { description: 'The account', schema: AccountBody } },
    errors: v1Errors(404),
  },
  unlinkAccount: {
    method: 'DELETE',
    path: '/v1/tenants/{tenant}/accounts/{account}',
    fn: 'accounts',
    caller: 'admin',
    summary: 'Unlink: revoke the refresh token upstream (RFC 7009) where possible, then delete every stored token',
    request: { params: AccountParams },
    responses: { 204: { description: 'Unlinked (also when the provider could not revoke; the audit trail and the AccountUnlinked event say which)' } },
    errors: v1Errors(404, 409),
  },
  readAudit: {
    method: 'GET',
    path: '/v1/tenants/{tenant}/audit',
    fn: 'accounts',
    caller: 'admin',
    summary: "The tenant's audit trail, newest first: tenant changes, links, token reads (by exposure, with counts), refreshes, reauths, unlinks, denied requests",
    request: { params: TenantParams, query: AuditQuery },
    responses: { 200: { description: 'A page of events, newest first; `next` when there may be more. Each page costs a bounded number of store reads, whatever the filter', schema: AuditListBody } },
    errors: v1Errors(),
  },
  authorize: {
    method: 'GET',
    path: '/oauth/authorize',
    fn: 'authorize',
    caller: 'public',
    browser: true,
    summary: "End user's browser: redirects to the provider's authorization endpoint for a link",
    request: { query: AuthorizeQuery },
    responses: { 302: { description: 'To the discovered authorization_endpoint with state and an S256 challenge; sets the flow cookie' } },
    errors: [400, 503],
  },
  callback: {
    method: 'GET',
    path: '/oauth/callback',
    fn: 'callback',
    caller: 'public',
    browser: true,
    summary: "End user's browser: the provider's redirect back; stores the tokens",
    request: { query: CallbackQuery },
    responses: {
      303: { description: 'To return_to?status=linked&account=…, return_to?status=confirm&account=…&link_session=… (confirm_links), or return_to?status=error&error=…' },
      200: { description: 'Account linked', html: true },
    },
    errors: [400, 502, 503],
  },
  health: {
    method: 'GET',
    path: '/healthz',
    fn: 'meta',
    caller: 'public',
    summary: 'Liveness',
    responses: { 200: { description: 'Alive', schema: HealthBody } },
    errors: [],
  },
  openApi: {
    method: 'GET',
    path: '/openapi.json',
    fn: 'meta',
    caller: 'public',
    summary: 'This OpenAPI 3.1 document',
    responses: { 200: { description: 'The OpenAPI 3.1 document of this API', schema: OpenApiBody } },
    errors: [],
  },
} as const satisfies Record<string, RouteDef>;

export type RouteId = keyof typeof ROUTES;
/** A row of the table with its id, as generic code (mounting, documents, infra) reads it. */
export type Route = RouteDef & { id: RouteId };

/** The table as a list, each route carrying its id. */
export const ROUTE_LIST: readonly Route[] = (Object.keys(ROUTES) as RouteId[]).map((id): Route => ({ ...(ROUTES[id] as RouteDef), id }));

/** The ids of the routes function `F` serves. */
export type RouteIdOf<F extends HttpFunctionName> = { [Id in RouteId]: (typeof ROUTES)[Id]['fn'] extends F ? Id : never }[RouteId];

export const routesOf = (fn: HttpFunctionName): Route[] => ROUTE_LIST.filter((r) => r.fn === fn);

/** The route key API Gateway logs and matches on, e.g. `GET /oauth/callback`. */
export const routeKey = (route: { method: string; path: string }): string => `${route.method} ${route.path}`;

/** Hono's spelling of a path template: `/v1/tenants/:tenant`. */
export const honoPath = (path: string): string => path.replace(/\{(\w+)\}/g, ':$1');

const MATCHERS = ROUTE_LIST.map((route) => ({
  route,
  pattern: new RegExp(`^${route.path.replace(/[.]/g, '\\.').replace(/\{\w+\}/g, '[^/]+')}$`),
}));

/** The route of the table a request's method and path match, if any (as API Gateway would match it). */
export function matchRoute(method: string, path: string): Route | undefined {
  for (const { route, pattern } of MATCHERS) if (route.method === method && pattern.test(path)) return route;
  return undefined;
}
