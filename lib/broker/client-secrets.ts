import { TENANT_SCOPE } from '../crypto/token-cipher.js';
import type { OAuthClient } from '../oauth/client.js';
import type { ClientSecrets, TenantRecord } from '../store/records.js';
import type { BrokerDeps } from './deps.js';

/**
 * A tenant's client secrets: the `client_secret` and the RFC 7592 `registration_access_token`,
 * each sealed on its own under the tenant's context, so a refresh for a public client never needs
 * a decrypt and the registration token is opened only to delete the client.
 */
export const tenantSecretsContext = (tenant: string) => ({ tenant, account: TENANT_SCOPE, purpose: 'tenant-client' as const });

export function sealClientSecret(deps: Pick<BrokerDeps, 'cipher'>, tenant: string, clientSecret: string | undefined): Promise<string> {
  return deps.cipher.seal({ client_secret: clientSecret } satisfies ClientSecrets, tenantSecretsContext(tenant));
}

export function sealRegistrationAccessToken(deps: Pick<BrokerDeps, 'cipher'>, tenant: string, token: string): Promise<string> {
  return deps.cipher.seal({ registration_access_token: token } satisfies ClientSecrets, tenantSecretsContext(tenant));
}

/** The tenant's OAuth client, its secret opened only when it has one (confidential: one decrypt). */
export async function openTenantClient(
  deps: Pick<BrokerDeps, 'cipher'>,
  tenant: Pick<TenantRecord, 'tenant' | 'clientId' | 'tokenEndpointAuthMethod' | 'sealedClient'>,
): Promise<OAuthClient> {
  // a public client never sends a secret, so none is opened
  if (tenant.tokenEndpointAuthMethod === 'none' || !tenant.sealedClient) return { client_id: tenant.clientId, token_endpoint_auth_method: tenant.tokenEndpointAuthMethod };
  const secrets = await deps.cipher.open<ClientSecrets>(tenant.sealedClient, tenantSecretsContext(tenant.tenant));
  return { client_id: tenant.clientId, token_endpoint_auth_method: tenant.tokenEndpointAuthMethod, client_secret: secrets.client_secret };
}

/** RFC 7592 §2.3: the registration access token, opened only to delete the client. */
export async function openRegistrationAccessToken(deps: Pick<BrokerDeps, 'cipher'>, tenant: string, sealedRegistration: string): Promise<string | undefined> {
  return (await deps.cipher.open<ClientSecrets>(sealedRegistration, tenantSecretsContext(tenant))).registration_access_token;
}
