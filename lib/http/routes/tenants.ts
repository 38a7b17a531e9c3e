import { createRoute } from '@hono/zod-openapi';
import { removeTenant } from '../../broker/tenant-removal.js';
import { getTenantView, registerTenant } from '../../broker/tenants.js';
import type { Region } from '../../config.js';
import { identifyCaller } from '../callers.js';
import { newRouter, type DepsProvider } from '../router.js';
import { PutTenantBody, TenantBody, TenantParams, errorResponses, callerSecurity } from '../schemas.js';

const SCOPE = '/v1/tenants/:tenant';

export const putTenant = createRoute({
  method: 'put',
  path: '/v1/tenants/{tenant}',
  summary: "Register the tenant's OAuth client (discovery + dynamic registration), or import one; update an existing tenant's settings",
  description: 'On an existing tenant: `scope` and `return_to_origins` change in place; another `region` needs `"change_region": true` and moves every linked account to needs_reauth.',
  security: callerSecurity,
  request: { params: TenantParams, body: { required: true, content: { 'application/json': { schema: PutTenantBody } } } },
  responses: {
    201: { description: 'Registered', content: { 'application/json': { schema: TenantBody } } },
    200: { description: 'Already registered (settings updated)', content: { 'application/json': { schema: TenantBody } } },
    ...errorResponses(400, 401, 403, 409, 413, 502, 503),
  },
});

export const getTenantRoute = createRoute({
  method: 'get',
  path: '/v1/tenants/{tenant}',
  summary: "The tenant's settings and client (no secret)",
  security: callerSecurity,
  request: { params: TenantParams },
  responses: { 200: { description: 'The tenant', content: { 'application/json': { schema: TenantBody } } }, ...errorResponses(400, 401, 403, 404) },
});

export const deleteTenantRoute = createRoute({
  method: 'delete',
  path: '/v1/tenants/{tenant}',
  summary: 'Unlink every account (revoking upstream), delete the OAuth client (RFC 7592 where possible), then the tenant',
  description: 'The audit trail stays until its TTL (BROKER_AUDIT_DAYS).',
  security: callerSecurity,
  request: { params: TenantParams },
  responses: { 204: { description: 'Deleted' }, ...errorResponses(400, 401, 403, 404, 409) },
});

export function tenantRoutes(deps: DepsProvider) {
  const app = newRouter();
  app.use(SCOPE, identifyCaller(deps));
  app.openapi(putTenant, async (c) => {
    const { tenant } = c.req.valid('param');
    const body = c.req.valid('json');
    const result = await registerTenant(deps(), c.get('caller'), tenant, { ...body, region: body.region as Region });
    return c.json(result.view, result.created ? 201 : 200);
  });
  app.openapi(getTenantRoute, async (c) => c.json(await getTenantView(deps(), c.get('caller'), c.req.valid('param').tenant), 200));
  app.openapi(deleteTenantRoute, async (c) => {
    await removeTenant(deps(), c.get('caller'), c.req.valid('param').tenant);
    return c.body(null, 204);
  });
  return app;
}
