import { getAccountView, listAccountViews, readAuditTrail, unlinkAccount } from '../../broker/accounts.js';
import type { BrokerDeps } from '../../broker/deps.js';
import { defineRoutes } from '../route-group.js';

/** Account administration and the audit trail: the `accounts` Lambda. */
export const accountRoutes = defineRoutes<'accounts', BrokerDeps>('accounts', {
  listAccounts: async ({ c, input, deps, caller }) => c.json(await listAccountViews(deps, caller, input.params.tenant, input.query), 200),
  getAccount: async ({ c, input, deps, caller }) => c.json(await getAccountView(deps, caller, input.params.tenant, input.params.account), 200),
  unlinkAccount: async ({ c, input, deps, caller }) => {
    await unlinkAccount(deps, caller, input.params.tenant, input.params.account);
    return c.body(null, 204);
  },
  readAudit: async ({ c, input, deps, caller }) => c.json(await readAuditTrail(deps, caller, input.params.tenant, input.query), 200),
});
