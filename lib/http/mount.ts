import type { Context } from 'hono';
import { getQueryParams } from 'hono/utils/url';
import type * as z from 'zod/mini';
import { requireAccess, requireRole } from '../broker/callers.js';
import { BrokerError } from '../errors.js';
import { noteAccess } from './access-log.js';
import type { App } from './app.js';
import type { AppEnv } from './app-env.js';
import type { AnyRouteGroup, RouteHandler } from './route-group.js';
import { honoPath, routeKey, routesOf, type Route, type RouteId } from './route-table.js';

/**
 * Mounts the routes of a group on an app, each exactly as its row in the route table says: method
 * and path, input validated against its schemas (400 `invalid_request` otherwise), and for `/v1`
 * routes the caller's role on the route's tenant (403 otherwise) before the handler runs.
 */
export function mountGroup<D>(app: App, group: AnyRouteGroup<D>, deps: D): void {
  for (const route of routesOf(group.fn)) {
    const handler = (group.handlers as Record<string, RouteHandler<RouteId, D> | undefined>)[route.id];
    if (!handler) throw new Error(`the ${group.fn} route group has no handler for ${routeKey(route)}`);
    const schemas = inputSchemas(route);
    const bodyRequired = route.request?.body?.required ?? false;
    app.on(route.method, honoPath(route.path), async (c) => {
      c.set('route', route);
      const params = schemas.params ? check(schemas.params, c.req.param(), 'path') : {};
      assertSameAsGateway(c, route, params as Record<string, string>);
      const caller = c.get('caller');
      if (route.caller !== 'public') {
        const { tenant, account } = params as { tenant?: string; account?: string };
        // an absent account stays out of the line (JSON leaves undefined out)
        if (tenant !== undefined) noteAccess(c, { tenant, account });
        // the role comes from the route table, and the tenant from the canonical path: nothing else
        if (tenant === undefined) requireRole(caller, route.caller);
        else requireAccess(caller, tenant, route.caller);
      }
      // a caller refused the tenant learns nothing of how its query or body would have been read
      const input = {
        params,
        // browser routes read their raw query themselves and answer in the end user's words
        query: schemas.query && !route.browser ? check(schemas.query, singleValued(c), 'query') : {},
        // only a route that takes a body waits for one
        body: schemas.body ? check(schemas.body, await readJson(c, bodyRequired), 'body') : undefined,
      };
      return handler({ c, input: input as never, deps, caller });
    });
  }
}

/**
 * Under Lambda, API Gateway names the route it matched and authorized (IAM's grant is on that path)
 * and the path parameters it read. The function acts on exactly those: the same route, the same
 * tenant and account as the canonical path it routed, or nothing.
 */
function assertSameAsGateway(c: Context<AppEnv>, route: Route, params: Record<string, string>): void {
  const event = c.env?.event;
  if (!event) return;
  if (event.routeKey && event.routeKey !== '$default' && event.routeKey !== routeKey(route)) {
    throw invalid('the request does not match the route API Gateway matched for it');
  }
  for (const [name, value] of Object.entries(event.pathParameters ?? {})) {
    if (params[name] !== value) throw invalid('the request path does not match the path parameters API Gateway matched');
  }
}

/** The query as one value per name: a repeated parameter is refused (which value would count?). */
function singleValued(c: Context<AppEnv>): Record<string, string> {
  const query = singleValuedQuery(c.req.url);
  if (!query) throw invalid('query: the request repeats a parameter');
  return query;
}

/**
 * The query of a URL as one value per name, read as Hono reads it (`c.req.queries()`); undefined
 * when it repeats a parameter. Hono looks for the query after the eighth character (past
 * `https://`): a request target of a `/v1` route has it further on.
 */
export function singleValuedQuery(url: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  // most requests have no query: nothing to parse
  if (!url.includes('?')) return out;
  for (const [name, values] of Object.entries(getQueryParams(url) as Record<string, string[]>)) {
    if (values.length > 1) return undefined;
    out[name] = values[0]!;
  }
  return out;
}

/** The schemas of a route's input, made now: no other route's. */
export function inputSchemas(route: Route): { params?: z.ZodMiniType; query?: z.ZodMiniType; body?: z.ZodMiniType } {
  return { params: route.request?.params?.(), query: route.request?.query?.(), body: route.request?.body?.schema() };
}

/** A JSON body: `application/json` only; an absent optional body reads as `{}`. */
async function readJson(c: Context<AppEnv>, required: boolean): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') {
    if (required) throw invalid('body: a JSON body is required');
    return {};
  }
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) throw invalid('body: send it as application/json');
  try {
    return JSON.parse(text);
  } catch {
    throw invalid('body: not valid JSON');
  }
}

function check(schema: z.ZodMiniType, value: unknown, where: 'path' | 'query' | 'body'): unknown {
  // parsed as is first: asking zod to report the input costs every request (about 2 µs of a token
  // read); only a refused input is parsed again, for the issues' inputs its description needs
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = schema.safeParse(value, { reportInput: true }).error?.issues ?? result.error.issues;
  throw invalid(issues.slice(0, 5).map((issue) => describeIssue(issue, where)).join('; '));
}

/**
 * One line per problem, in the broker's own words. Names come from the schema (field names), never
 * from the request: an unrecognised field is reported without its name, and no value is echoed.
 */
function describeIssue(issue: z.core.$ZodIssue, where: 'path' | 'query' | 'body'): string {
  const field = issue.path.length > 0 ? issue.path.join('.') : where;
  if (issue.code === 'unrecognized_keys') return `${field}: holds a field this route does not take (unrecognized field)`;
  if (!('input' in issue) || issue.input === undefined) return `${field}: is required`;
  if (issue.code === 'invalid_type') return `${field}: must be ${issue.expected === 'object' ? 'a JSON object' : `a ${issue.expected}`}`;
  return `${field}: ${issue.message}`;
}

const invalid = (description: string) => new BrokerError('invalid_request', 400, description);
