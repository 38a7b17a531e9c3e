import { replaceTenant } from '../store/tenants.js';
import type { TenantRecord } from '../store/records.js';
import { audit } from './audit-trail.js';
import type { Caller } from './callers.js';
import { deleteTenantClient, discardUnusedClient } from './client-deletion.js';
import type { BrokerDeps } from './deps.js';
import { requireReauthOffIssuer } from './reauth-sweep.js';
import { importedClient, registerNewClient, tenantRecordFor, type RegisterTenantInput } from './tenant-record.js';
import { tenantChangedMeanwhile } from './tenant-read.js';
import { tenantView, type TenantView } from './tenant-view.js';

/**
 * Region change (`PUT /v1/tenants/{tenant}` with `"change_region": true`): a client in the new
 * region (registered, or imported), then every linked account moves to `needs_reauth` — its
 * tokens belong to the old issuer and are never sent to the new one — with its refresh token
 * revoked at the old issuer, and the old client deleted (RFC 7592).
 */
export async function moveTenantRegion(deps: BrokerDeps, caller: Caller, existing: TenantRecord, input: RegisterTenantInput, origins: string[] | undefined): Promise<TenantView> {
  const issuer = deps.config.issuers[input.region];
  const scope = input.scope ?? existing.scope;
  const client = input.client_id ? importedClient(input) : await registerNewClient(deps, issuer, existing.tenant, scope);
  const next = await tenantRecordFor(
    deps,
    {
      tenant: existing.tenant,
      region: input.region,
      issuer,
      scope,
      returnToOrigins: origins ?? existing.returnToOrigins,
      confirmLinks: input.confirm_links ?? existing.confirmLinks ?? false,
      imported: Boolean(input.client_id),
      createdAt: existing.createdAt,
      updatedAt: Math.max(deps.clock(), existing.updatedAt + 1),
    },
    client,
  );
  if (!(await replaceTenant(deps.db, next, existing.updatedAt))) {
    await discardUnusedClient(deps, issuer, client);
    throw tenantChangedMeanwhile(existing.tenant);
  }
  const moved = await requireReauthOffIssuer(deps, next, caller.id, existing);
  await audit(deps, existing.tenant, 'tenant.update', { caller: caller.id, outcome: `region_changed:${existing.region}->${input.region}` });
  // the former client goes with its grants (RFC 7592); a failure is logged and the move stands
  await deleteTenantClient(deps, existing);
  deps.log.info('tenant.region_changed', { tenant: existing.tenant, from: existing.region, to: input.region, accountsNeedingReauth: moved });
  return tenantView(next);
}
