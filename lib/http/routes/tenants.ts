import type { BrokerDeps } from '../../broker/deps.js';
import { removeTenant } from '../../broker/tenant-removal.js';
import { registerTenant } from '../../broker/tenant-registration.js';
import { getTenantView } from '../../broker/tenant-view.js';
import type { Region } from '../../config.js';
import { deadlineOf } from '../callers.js';
import { defineRoutes } from '../route-group.js';

/** Tenant registration and settings: the `register` Lambda. */
export const tenantRoutes = defineRoutes<'register', BrokerDeps>('register', {
  putTenant: async ({ c, input, deps, caller }) => {
    const result = await registerTenant(deps, caller, input.params.tenant, { ...input.body, region: input.body.region as Region }, { answerBy: deadlineOf(c, deps.clock()) });
    // a region move that goes on in the background answers 202 with state "moving"
    return c.json(result.view, result.created ? 201 : result.view.state === 'moving' ? 202 : 200);
  },
  getTenant: async ({ c, input, deps, caller }) => c.json(await getTenantView(deps, caller, input.params.tenant), 200),
  deleteTenant: async ({ c, input, deps, caller }) => {
    const removal = await removeTenant(deps, caller, input.params.tenant, { answerBy: deadlineOf(c, deps.clock()) });
    return removal.state === 'deleted' ? c.body(null, 204) : c.json({ state: removal.state }, 202);
  },
});
