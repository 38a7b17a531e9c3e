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
  RefresherHealthBody,
  TenantBody,
  TenantJobBody,
  TenantListBody,
  TenantListQuery,
  TenantParams,
  TokenBody,
  TokenQuery,
  type LazySchema,
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
 * - the input validation of each route and the OpenAPI document (`npm run openapi`), whose prose
 *   (summaries, descriptions) sits beside the table in `route-docs.ts`, keyed by route id: only the
 *   document reads it, so no Lambda bundle carries it.
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
  /** JSON body schema; `html` for the browser pages; none for empty answers. */
  schema?: LazySchema;
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
  /** Schemas made on first use (`LazySchema`): a function makes only its own routes'. */
  request?: {
    params?: LazySchema<z.ZodMiniObject>;
    query?: LazySchema<z.ZodMiniObject>;
    /** A JSON body; `required: false` accepts an empty body as `{}`. */
    body?: { schema: LazySchema; required: boolean };
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
    request: { params: TenantParams, body: { schema: PutTenantBody, required: true } },
    responses: {
      201: { schema: TenantBody },
      200: { schema: TenantBody },
      202: { schema: TenantBody },
    },
    errors: v1Errors(409, 413, 502),
  },
  listTenants: {
    method: 'GET',
    path: '/v1/tenants',
    fn: 'register',
    caller: 'admin',
    request: { query: TenantListQuery },
    responses: { 200: { schema: TenantListBody } },
    errors: v1Errors(),
  },
  getTenant: {
    method: 'GET',
    path: '/v1/tenants/{tenant}',
    fn: 'register',
    caller: 'admin',
    request: { params: TenantParams },
    responses: { 200: { schema: TenantBody } },
    errors: v1Errors(404),
  },
  deleteTenant: {
    method: 'DELETE',
    path: '/v1/tenants/{tenant}',
    fn: 'register',
    caller: 'admin',
    request: { params: TenantParams },
    responses: { 204: {}, 202: { schema: TenantJobBody } },
    errors: v1Errors(404, 409),
  },
  refresherHealth: {
    method: 'GET',
    path: '/v1/refresher',
    fn: 'register',
    caller: 'admin',
    responses: { 200: { schema: RefresherHealthBody } },
    errors: v1Errors(),
  },
  createLink: {
    method: 'POST',
    path: '/v1/tenants/{tenant}/accounts/{account}/link',
    fn: 'authorize',
    caller: 'admin',
    request: { params: AccountParams, body: { schema: CreateLinkBody, required: false } },
    responses: { 201: { schema: LinkBody } },
    errors: v1Errors(404, 413),
  },
  confirmLink: {
    method: 'POST',
    path: '/v1/tenants/{tenant}/accounts/{account}/link/confirm',
    fn: 'authorize',
    caller: 'admin',
    request: { params: AccountParams, body: { schema: ConfirmLinkBody, required: true } },
    responses: { 200: { schema: AccountBody } },
    errors: v1Errors(404, 409, 413),
  },
  getToken: {
    method: 'GET',
    path: '/v1/tenants/{tenant}/accounts/{account}/token',
    fn: 'token',
    caller: 'service',
    request: { params: AccountParams, query: TokenQuery },
    responses: { 200: { schema: TokenBody } },
    errors: v1Errors(404, 409, 502),
  },
  refreshToken: {
    method: 'POST',
    path: '/v1/tenants/{tenant}/accounts/{account}/refresh',
    fn: 'refresh',
    caller: 'service',
    request: { params: AccountParams },
    responses: { 200: { schema: TokenBody } },
    errors: v1Errors(404, 409, 502),
  },
  listAccounts: {
    method: 'GET',
    path: '/v1/tenants/{tenant}/accounts',
    fn: 'accounts',
    caller: 'admin',
    request: { params: TenantParams, query: AccountListQuery },
    responses: { 200: { schema: AccountListBody } },
    errors: v1Errors(404),
  },
  getAccount: {
    method: 'GET',
    path: '/v1/tenants/{tenant}/accounts/{account}',
    fn: 'accounts',
    caller: 'admin',
    request: { params: AccountParams },
    responses: { 200: { schema: AccountBody } },
    errors: v1Errors(404),
  },
  unlinkAccount: {
    method: 'DELETE',
    path: '/v1/tenants/{tenant}/accounts/{account}',
    fn: 'accounts',
    caller: 'admin',
    request: { params: AccountParams },
    responses: { 204: {} },
    errors: v1Errors(404, 409),
  },
  readAudit: {
    method: 'GET',
    path: '/v1/tenants/{tenant}/audit',
    fn: 'accounts',
    caller: 'admin',
    request: { params: TenantParams, query: AuditQuery },
    responses: { 200: { schema: AuditListBody } },
    errors: v1Errors(),
  },
  authorize: {
    method: 'GET',
    path: '/oauth/authorize',
    fn: 'authorize',
    caller: 'public',
    browser: true,
    request: { query: AuthorizeQuery },
    responses: { 302: {} },
    errors: [400, 503],
  },
  callback: {
    method: 'GET',
    path: '/oauth/callback',
    fn: 'callback',
    caller: 'public',
    browser: true,
    request: { query: CallbackQuery },
    responses: {
      303: {},
      200: { html: true },
    },
    errors: [400, 502, 503],
  },
  health: {
    method: 'GET',
    path: '/healthz',
    fn: 'meta',
    caller: 'public',
    responses: { 200: { schema: HealthBody } },
    errors: [],
  },
  openApi: {
    method: 'GET',
    path: '/openapi.json',
    fn: 'meta',
    caller: 'public',
    responses: { 200: { schema: OpenApiBody } },
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

/** Each route's path template as a pattern, a parameter in each group: `{tenant}` is one segment. */
const MATCHERS = ROUTE_LIST.map((route) => ({
  route,
  names: [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!),
  pattern: new RegExp(`^${route.path.replace(/[.]/g, '\\.').replace(/\{\w+\}/g, '([^/]+)')}$`),
}));

/** The route of the table a request's method and path match, if any (as API Gateway would match it). */
export function matchRoute(method: string, path: string): Route | undefined {
  for (const { route, pattern } of MATCHERS) if (route.method === method && pattern.test(path)) return route;
  return undefined;
}

/**
 * Reads the path parameters of a path the route's template matches, as the path spells them (not
 * decoded); undefined when it does not match.
 */
export function pathParamsReader(route: Route): (path: string) => Record<string, string> | undefined {
  const { pattern, names } = MATCHERS.find((m) => m.route.id === route.id)!;
  return (path) => {
    const found = pattern.exec(path);
    if (!found) return undefined;
    const params: Record<string, string> = {};
    names.forEach((name, i) => (params[name] = found[i + 1]!));
    return params;
  };
}
