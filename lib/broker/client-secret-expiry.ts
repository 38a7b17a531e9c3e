import { BrokerError } from '../errors.js';
import type { TenantRecord } from '../store/records.js';
import { replaceTenant } from '../store/tenants.js';
import { audit } from './audit-trail.js';
import { discardUnusedClient } from './client-deletion.js';
import type { BrokerDeps } from './deps.js';
import { registerNewClient, tenantRecordFor } from './tenant-record.js';
import { readTenant } from './tenant-read.js';

/** RFC 7591 §3.2.1 `client_secret_expires_at` (epoch s, 0 = never) has passed for a client that has a secret. */
const secretExpired = (t: Pick<TenantRecord, 'clientSecretExpiresAt' | 'sealedClient'>, now: number): boolean =>
  Boolean(t.sealedClient && t.clientSecretExpiresAt && t.clientSecretExpiresAt * 1000 <= now);

/**
 * The one place a client is registered again behind the operator's back: before the broker talks
 * to the provider for a tenant whose client secret has expired, a new client is registered (once
 * per process at a time) and answered instead of `tenant`. Any other tenant is answered as it is.
 */
export async function reregisterIfSecretExpired(deps: BrokerDeps, tenant: TenantRecord): Promise<TenantRecord> {
  if (!secretExpired(tenant, deps.clock())) return tenant;
  return deps.singleFlight.run(`reregister:${tenant.tenant}`, () => registerAgain(deps, tenant));
}

/**
 * A new client for the same tenant, issuer and settings. Tokens granted to the expired client stay
 * with it: a provider that binds refresh tokens to their client refuses them, and those accounts
 * then move to `needs_reauth` on their next refresh. The expired client is left to the provider.
 */
async function registerAgain(deps: BrokerDeps, expired: TenantRecord): Promise<TenantRecord> {
  if (expired.imported) {
    throw new BrokerError('conflict', 409, `the imported client of tenant ${expired.tenant} has an expired secret; import a new client`);
  }
  const client = await registerNewClient(deps, expired.issuer, expired.tenant, expired.scope);
  const { sealedClient: _s, sealedRegistration: _r, registrationClientUri: _u, clientSecretExpiresAt: _e, ...settings } = expired;
  const next = await tenantRecordFor(deps, { ...settings, updatedAt: Math.max(deps.clock(), expired.updatedAt + 1) }, client);
  if (!(await replaceTenant(deps.db, next, expired.updatedAt))) {
    // another instance registered again first: keep theirs
    await discardUnusedClient(deps, expired.issuer, client);
    return readTenant(deps, expired.tenant);
  }
  await audit(deps, expired.tenant, 'tenant.update', { caller: 'broker', outcome: 'client_reregistered' });
  deps.log.info('tenant.client_reregistered', { tenant: expired.tenant, previousClientId: expired.clientId, clientId: next.clientId });
  return next;
}
