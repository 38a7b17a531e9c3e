import { BrokerError, notFound } from '../errors.js';
import type { TenantRecord } from '../store/records.js';
import { getTenant } from '../store/tenants.js';
import type { BrokerDeps } from './deps.js';

/** The tenant as stored (404 when unknown): a read, with no side effect at the provider. */
export async function readTenant(deps: Pick<BrokerDeps, 'db'>, tenant: string): Promise<TenantRecord> {
  const record = await getTenant(deps.db, tenant);
  if (!record) throw notFound(`tenant ${tenant} is not registered`);
  return record;
}

/** The optimistic lock on the tenant record (`updatedAt`) lost against another request. */
export const tenantChangedMeanwhile = (tenant: string) => new BrokerError('conflict', 409, `tenant ${tenant} was changed by another request; read it and try again`);
