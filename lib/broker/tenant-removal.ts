import { listAccounts } from '../store/accounts.js';
import type { TenantRecord } from '../store/records.js';
import { deleteTenant } from '../store/tenants.js';
import { unlinkRecord } from './accounts.js';
import { audit } from './audit-trail.js';
import { requireAccess, type Caller } from './callers.js';
import { deleteTenantClient } from './client-deletion.js';
import type { BrokerDeps } from './deps.js';
import { readTenant } from './tenant-read.js';

/** Accounts unlinked at once while a tenant is removed. */
const UNLINK_CONCURRENCY = 8;

export interface TenantRemoval {
  accounts: number;
  revoked: number;
  clientDeleted: boolean;
}

/**
 * `DELETE /v1/tenants/{tenant}`: unlinks every account (each revoked upstream and audited as
 * `account.unlink`), deletes the OAuth client through RFC 7592 when the provider gave a
 * `registration_client_uri`, then the tenant. Afterwards no item of the tenant's partition is left.
 *
 * What stays: the audit trail (its own partition, until its TTL: it records this deletion), and
 * pending links and flow states, which expire within 10 minutes and cannot complete without the
 * tenant. The tenant record goes last, so a removal that fails half-way can simply be sent again.
 */
export async function removeTenant(deps: BrokerDeps, caller: Caller, tenant: string): Promise<TenantRemoval> {
  requireAccess(caller, tenant, 'admin');
  const t = await readTenant(deps, tenant);
  const first = await unlinkAll(deps, t, caller.id);
  const client = await deleteTenantClient(deps, t);
  // a link completed while the first sweep ran; once the client is gone no code exchange can succeed
  const late = await unlinkAll(deps, t, caller.id);
  await deleteTenant(deps.db, tenant);
  deps.tokenCache.deleteTenant(tenant);
  const accounts = first.accounts + late.accounts;
  await audit(deps, t, 'tenant.delete', { caller: caller.id, outcome: client.deleted ? 'deleted' : `deleted:client_kept:${client.reason}` });
  deps.log.info('tenant.deleted', { tenant, accounts, clientDeleted: client.deleted });
  return { accounts, revoked: first.revoked + late.revoked, clientDeleted: client.deleted };
}

async function unlinkAll(deps: BrokerDeps, tenant: TenantRecord, callerId: string): Promise<{ accounts: number; revoked: number }> {
  let accounts = 0;
  let revoked = 0;
  let cursor: string | undefined;
  do {
    const page = await listAccounts(deps.db, tenant.tenant, { limit: 50, cursor });
    for (let i = 0; i < page.items.length; i += UNLINK_CONCURRENCY) {
      const results = await Promise.all(page.items.slice(i, i + UNLINK_CONCURRENCY).map((rec) => unlinkRecord(deps, tenant, rec, callerId)));
      accounts += results.length;
      revoked += results.filter((r) => r.revoked).length;
    }
    cursor = page.next;
  } while (cursor);
  return { accounts, revoked };
}
