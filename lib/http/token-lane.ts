import type { BrokerDeps } from '../broker/deps.js';
import type { Role } from '../config.js';
import { mayAccess } from '../broker/callers.js';
import { servedFromMemory } from '../broker/tokens.js';
import { accessLine } from './access-log.js';
import { authorizationIn, bearerOf, localCaller } from './callers.js';
import { inputSchemas, singleValuedQuery } from './mount.js';
import type { Lane } from './node-listener.js';
import { matchRoute, pathParamsReader, ROUTE_LIST } from './route-table.js';
import { minTtlOf, servedAccess, TOKEN_HEADERS } from './routes/tokens.js';

/**
 * The local server's lane for the hot path of every service: a `GET …/token` that a cache hit
 * answers ({@link servedFromMemory}: the token in memory, validated within the cache's bound, its
 * caller known to hold its `token.read`) is answered here, from Node.js's request, before it becomes
 * a Fetch `Request` and goes through the app's layers. Those layers cost a cached read more than
 * the rest of its work (the README's "Benchmark" says how much).
 *
 * The lane answers only what the app would answer, and in the same way, because it asks the same
 * functions: the route and its input schemas are the route table's, the caller and the access
 * check are the ones the app's layers call, the read is the token route's own cache hit, and the
 * answer, its headers and its access line are built by the functions the app builds them with.
 * Anything else it leaves to the app, having done nothing: no or unknown credentials, a tenant
 * the caller may not reach, input the schemas refuse, a miss, a revalidation due,
 * a caller's first read of a token.
 */
export function cachedTokenLane(deps: BrokerDeps): Lane {
  // under IAM the caller comes from API Gateway's request context, which only the app reads
  if (deps.config.mode === 'aws') return () => false;
  const route = ROUTE_LIST.find((r) => r.id === 'getToken')!;
  const paramsOf = pathParamsReader(route);
  const schemas = inputSchemas(route);
  return (req, res, path) => {
    const started = performance.now();
    if (req.method !== 'GET' || matchRoute('GET', path) !== route) return false;
    const rawParams = paramsOf(path);
    const rawQuery = singleValuedQuery(req.url!);
    if (!rawParams || !rawQuery) return false;
    const params = schemas.params!.safeParse(rawParams);
    const query = schemas.query!.safeParse(rawQuery);
    if (!params.success || !query.success) return false;
    const target = params.data as { tenant: string; account: string };
    const presented = bearerOf(authorizationIn(req.rawHeaders));
    const caller = presented === undefined ? undefined : localCaller(presented, deps.config);
    if (!caller || !mayAccess(caller, target.tenant, route.caller as Role)) return false;
    const served = servedFromMemory(deps, caller, target, minTtlOf(query.data as { min_ttl?: number }));
    if (!served) return false;
    const access = Object.assign({ tenant: target.tenant, account: target.account }, servedAccess(served));
    deps.log.info('http.access', accessLine(req.method, route, 200, performance.now() - started, access, caller.id));
    // the length given, as @hono/node-server gives it: a head written first would otherwise be chunked
    res.writeHead(200, { ...TOKEN_HEADERS, 'content-length': Buffer.byteLength(served.json) });
    res.end(served.json);
    return true;
  };
}
