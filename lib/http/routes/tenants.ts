import type { BrokerDeps } from '../../broker/deps.js';
import { removeTenant } from '../../broker/tenant-removal.js';
import { registerTenant } from '../../broker/tenant-registration.js';
import { getTenantView } from '../../broker/tenant-view.js';
import type { Region } from '../../config.js';
import { defineRoutes } from '../route-group.js';

/** Tenant registration and settings: the `register` Lambda. */
export const tenantRoutes = defineRoutes<'register', BrokerDeps>('register', {
  putTenant: async ({ c, input, deps, caller }) => {
    const result = await registerTenant(deps, caller, input.params.tenant, { ...input.body, region: input.body.region as Region });
    return c.json(result.view, result.created ? 201 : 200);
  },
  getTenant: async ({ c, input, deps, caller }) => c.json(await getTenantView(deps, caller, input.params.tenant), 200),
  deleteTenant: async ({ c, input, deps, caller }) => {
    await removeTenant(deps, caller, input.params.tenant);
    return c.body(null, 204);
  },
});
