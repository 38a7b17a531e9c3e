import { createRoute } from '@hono/zod-openapi';
import { getAccountView, listAccountViews, readAuditTrail, unlinkAccount } from '../../broker/accounts.js';
import { identifyCaller } from '../callers.js';
import { newRouter, type DepsProvider } from '../router.js';
import { AccountBody, AccountListBody, AccountListQuery, AccountParams, AuditListBody, AuditQuery, TenantParams, callerSecurity, errorResponses } from '../schemas.js';

export const listAccountsRoute = createRoute({
  method: 'get',
  path: '/v1/tenants/{tenant}/accounts',
  summary: "The tenant's accounts in account-id order, paginated (no token material)",
  security: callerSecurity,
  request: { params: TenantParams, query: AccountListQuery },
  responses: { 200: { description: 'A page of accounts; `next` when there is more', content: { 'application/json': { schema: AccountListBody } } }, ...errorResponses(400, 401, 403, 404) },
});

export const getAccountRoute = createRoute({
  method: 'get',
  path: '/v1/tenants/{tenant}/accounts/{account}',
  summary: 'One account (no token material)',
  security: callerSecurity,
  request: { params: AccountParams },
  responses: { 200: { description: 'The account', content: { 'application/json': { schema: AccountBody } } }, ...errorResponses(400, 401, 403, 404) },
});

export const deleteAccountRoute = createRoute({
  method: 'delete',
  path: '/v1/tenants/{tenant}/accounts/{account}',
  summary: 'Unlink: revoke the refresh token upstream (RFC 7009) where possible, then delete every stored token',
  security: callerSecurity,
  request: { params: AccountParams },
  responses: { 204: { description: 'Unlinked (also when the provider could not revoke; the audit trail and the AccountUnlinked event say which)' }, ...errorResponses(400, 401, 403, 404, 409) },
});

export const auditRoute = createRoute({
  method: 'get',
  path: '/v1/tenants/{tenant}/audit',
  summary: "The tenant's audit trail, oldest first: links, token reads, refreshes, reauths, unlinks, tenant changes, denied requests",
  security: callerSecurity,
  request: { params: TenantParams, query: AuditQuery },
  responses: { 200: { description: 'A page of events; `next` when there is more', content: { 'application/json': { schema: AuditListBody } } }, ...errorResponses(400, 401, 403) },
});

/** Account administration and the audit trail: the `accounts` Lambda. */
export function accountRoutes(deps: DepsProvider) {
  const app = newRouter();
  for (const path of ['/v1/tenants/:tenant/accounts', '/v1/tenants/:tenant/accounts/:account', '/v1/tenants/:tenant/audit']) app.use(path, identifyCaller(deps));
  app.openapi(listAccountsRoute, async (c) => c.json(await listAccountViews(deps(), c.get('caller'), c.req.valid('param').tenant, c.req.valid('query')), 200));
  app.openapi(getAccountRoute, async (c) => {
    const { tenant, account } = c.req.valid('param');
    return c.json(await getAccountView(deps(), c.get('caller'), tenant, account), 200);
  });
  app.openapi(deleteAccountRoute, async (c) => {
    const { tenant, account } = c.req.valid('param');
    await unlinkAccount(deps(), c.get('caller'), tenant, account);
    return c.body(null, 204);
  });
  app.openapi(auditRoute, async (c) => c.json(await readAuditTrail(deps(), c.get('caller'), c.req.valid('param').tenant, c.req.valid('query')), 200));
  return app;
}
