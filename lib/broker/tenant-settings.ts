import { BrokerError } from '../errors.js';
import type { TenantRecord } from '../store/records.js';
import { replaceTenant } from '../store/tenants.js';
import { audit } from './audit-trail.js';
import type { Caller } from './callers.js';
import { sealClientSecret } from './client-secrets.js';
import type { BrokerDeps } from './deps.js';
import { importedClient, type RegisterTenantInput } from './tenant-record.js';
import { tenantChangedMeanwhile } from './tenant-read.js';
import { tenantView, type TenantView } from './tenant-view.js';

/**
 * Settings of an existing tenant in its own region (`PUT /v1/tenants/{tenant}` again): `scope`,
 * `return_to_origins` and `confirm_links` change in place (tokens already granted keep their scope;
 * new links ask for the new one), and an imported client's secret is rotated by sending it with the same
 * `client_id`. Nothing changed answers the tenant as it is, unwritten and unaudited.
 */
export async function updateTenantSettings(deps: BrokerDeps, caller: Caller, existing: TenantRecord, input: RegisterTenantInput, origins: string[] | undefined): Promise<TenantView> {
  if (input.client_id && input.client_id !== existing.clientId) {
    throw new BrokerError('conflict', 409, `tenant ${existing.tenant} already has client ${existing.clientId}; delete the tenant to import another client`);
  }
  const next: TenantRecord = {
    ...existing,
    scope: input.scope ?? existing.scope,
    returnToOrigins: origins ?? existing.returnToOrigins,
    confirmLinks: input.confirm_links ?? existing.confirmLinks ?? false,
  };
  // an imported client's secret is rotated by sending it again with the same client_id; so is a
  // registered client's when the provider refuses it and no rotated secret could be read (needsOperator)
  const rotateSecret = Boolean(input.client_id && input.client_secret);
  if (rotateSecret) {
    if (!existing.imported && !existing.needsOperator) throw new BrokerError('conflict', 409, `tenant ${existing.tenant} uses a client the broker registered; its secret is not set by hand`);
    const rotated = importedClient({ ...input, token_endpoint_auth_method: input.token_endpoint_auth_method ?? (existing.tokenEndpointAuthMethod === 'none' ? undefined : existing.tokenEndpointAuthMethod) });
    next.clientType = rotated.client_type;
    next.tokenEndpointAuthMethod = rotated.token_endpoint_auth_method;
    next.sealedClient = await sealClientSecret(deps, existing.tenant, rotated.client_secret);
    // the operator's new secret ends the refusal, and the expiry the old secret had
    delete next.needsOperator;
    delete next.clientSecretExpiresAt;
  }
  const sameSettings = next.scope === existing.scope && next.returnToOrigins.join(' ') === existing.returnToOrigins.join(' ') && next.confirmLinks === (existing.confirmLinks ?? false);
  if (!rotateSecret && sameSettings) return tenantView(existing);
  next.updatedAt = Math.max(deps.clock(), existing.updatedAt + 1);
  if (!(await replaceTenant(deps.db, next, existing.updatedAt))) throw tenantChangedMeanwhile(existing.tenant);
  await audit(deps, existing, 'tenant.update', { caller: caller.id, outcome: rotateSecret ? 'client_secret_rotated' : 'updated' });
  return tenantView(next);
}
