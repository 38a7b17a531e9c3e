import { deleteRegisteredClient, type RegisteredClient } from '../oauth/client.js';
import { attemptWithRetries, UPSTREAM_CLEANUP } from '../retry.js';
import type { TenantRecord } from '../store/records.js';
import { openRegistrationAccessToken } from './client-secrets.js';
import type { BrokerDeps } from './deps.js';

/**
 * RFC 7592 §2.3: deletes the tenant's client with its registration access token. A transient
 * failure is retried once ({@link UPSTREAM_CLEANUP}); after that it is answered with `transient`
 * (a tenant job tries the deletion again later) and logged (`tenant.orphan_client`, with its
 * client_id) — never thrown.
 */
export async function deleteTenantClient(deps: BrokerDeps, tenant: TenantRecord): Promise<{ deleted: true } | { deleted: false; reason: string; transient?: boolean }> {
  if (!tenant.registrationClientUri || !tenant.sealedRegistration) return { deleted: false, reason: 'no_registration_client_uri' };
  let token: string | undefined;
  try {
    token = await openRegistrationAccessToken(deps, tenant.tenant, tenant.sealedRegistration);
  } catch (err) {
    deps.log.error('tenant.orphan_client', { tenant: tenant.tenant, clientId: tenant.clientId, reason: 'unreadable_credentials', err });
    return { deleted: false, reason: 'unreadable_credentials' };
  }
  if (!token) return { deleted: false, reason: 'no_registration_access_token' };
  const outcome = await attemptWithRetries(UPSTREAM_CLEANUP, { what: 'client deletion' }, () => deleteRegisteredClient(deps.http, tenant.issuer, tenant.registrationClientUri!, token));
  if (outcome.ok) return { deleted: true };
  deps.log.warn('tenant.orphan_client', { tenant: tenant.tenant, clientId: tenant.clientId, attempts: outcome.attempts, reason: outcome.error.code, err: outcome.error });
  return { deleted: false, reason: outcome.error.code, transient: outcome.error.status === 503 };
}

/** Best effort: deletes a client registered a moment ago that lost a race (RFC 7592), when the server allows it. */
export async function discardUnusedClient(deps: BrokerDeps, issuer: string, client: RegisteredClient): Promise<void> {
  if (!client.registration_client_uri || !client.registration_access_token) return;
  try {
    await deleteRegisteredClient(deps.http, issuer, client.registration_client_uri, client.registration_access_token);
  } catch (err) {
    deps.log.warn('tenant.orphan_client', { clientId: client.client_id, err });
  }
}
