import { createRoute } from '@hono/zod-openapi';
import { createLink } from '../../broker/linking.js';
import { identifyCaller } from '../callers.js';
import { newRouter, type DepsProvider } from '../router.js';
import { AccountParams, CreateLinkBody, LinkBody, errorResponses, callerSecurity } from '../schemas.js';

const SCOPE = '/v1/tenants/:tenant/accounts/:account/link';

export const postLink = createRoute({
  method: 'post',
  path: '/v1/tenants/{tenant}/accounts/{account}/link',
  summary: 'Create a single-use link URL (10 minutes) for the end user',
  security: callerSecurity,
  request: { params: AccountParams, body: { required: false, content: { 'application/json': { schema: CreateLinkBody } } } },
  responses: { 201: { description: 'Link created', content: { 'application/json': { schema: LinkBody } } }, ...errorResponses(400, 401, 403, 404, 413) },
});

export function linkRoutes(deps: DepsProvider) {
  const app = newRouter();
  app.use(SCOPE, identifyCaller(deps));
  app.openapi(postLink, async (c) => {
    const { tenant, account } = c.req.valid('param');
    const body = c.req.valid('json') ?? {};
    return c.json(await createLink(deps(), c.get('caller'), tenant, account, body), 201);
  });
  return app;
}
