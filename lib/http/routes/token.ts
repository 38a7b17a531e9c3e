import { createRoute } from '@hono/zod-openapi';
import { DEFAULT_MIN_TTL_S, getToken } from '../../broker/tokens.js';
import { deadlineOf, identifyCaller } from '../callers.js';
import { newRouter, type DepsProvider } from '../router.js';
import { AccountParams, TokenBody, TokenQuery, errorResponses, callerSecurity } from '../schemas.js';

const tokenResponses = {
  200: { description: 'A valid access token (never the refresh token); Cache-Control: no-store', content: { 'application/json': { schema: TokenBody } } },
  ...errorResponses(400, 401, 403, 404, 409, 502, 503),
};

export const getTokenRoute = createRoute({
  method: 'get',
  path: '/v1/tenants/{tenant}/accounts/{account}/token',
  summary: 'A valid access token with at least min_ttl seconds left, refreshed first when needed',
  security: callerSecurity,
  request: { params: AccountParams, query: TokenQuery },
  responses: tokenResponses,
});

export const postRefreshRoute = createRoute({
  method: 'post',
  path: '/v1/tenants/{tenant}/accounts/{account}/refresh',
  summary: 'Force a refresh now; same answer as token',
  security: callerSecurity,
  request: { params: AccountParams },
  responses: tokenResponses,
});

export function tokenRoutes(deps: DepsProvider) {
  const app = newRouter();
  app.use('/v1/tenants/:tenant/accounts/:account/token', identifyCaller(deps));
  app.openapi(getTokenRoute, async (c) => {
    const d = deps();
    const minTtlS = c.req.valid('query').min_ttl ?? DEFAULT_MIN_TTL_S;
    const answer = await getToken(d, c.get('caller'), c.req.valid('param'), { mode: 'ensure', minTtlS, deadline: deadlineOf(c, d.clock()) });
    c.header('Cache-Control', 'no-store');
    return c.json(answer, 200);
  });
  return app;
}

export function refreshRoutes(deps: DepsProvider) {
  const app = newRouter();
  app.use('/v1/tenants/:tenant/accounts/:account/refresh', identifyCaller(deps));
  app.openapi(postRefreshRoute, async (c) => {
    const d = deps();
    const answer = await getToken(d, c.get('caller'), c.req.valid('param'), { mode: 'force', minTtlS: 0, deadline: deadlineOf(c, d.clock()) });
    c.header('Cache-Control', 'no-store');
    return c.json(answer, 200);
  });
  return app;
}
