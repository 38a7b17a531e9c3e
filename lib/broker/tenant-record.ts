import type { Region } from '../config.js';
import { BrokerError } from '../errors.js';
import { registerClient, type RegisteredClient } from '../oauth/client.js';
import type { TenantRecord, TokenEndpointAuthMethod } from '../store/records.js';
import { sealClientSecret, sealRegistrationAccessToken } from './client-secrets.js';
import type { BrokerDeps } from './deps.js';

/**
 * A tenant record and the OAuth client in it: the client comes from dynamic registration
 * (RFC 7591) or is imported by the operator; the record keeps the tenant's settings around it.
 */
export const DEFAULT_SCOPE = '3';

/** The body of `PUT /v1/tenants/{tenant}`. */
export interface RegisterTenantInput {
  region: Region;
  scope?: string | undefined;
  return_to_origins?: string[] | undefined;
  /** The tenant's app confirms each linking (`POST …/link/confirm`) before the account is linked. */
  confirm_links?: boolean | undefined;
  /** Import a pre-registered client instead of registering one. */
  client_id?: string | undefined;
  client_secret?: string | undefined;
  token_endpoint_auth_method?: TokenEndpointAuthMethod | undefined;
  /** Moving an existing tenant to another region must be asked for explicitly: its accounts must link again. */
  change_region?: boolean | undefined;
}

const redirectUriOf = (deps: Pick<BrokerDeps, 'config'>) => `${deps.config.publicUrl}/oauth/callback`;

/** RFC 8414 discovery of `issuer`, then RFC 7591 registration of a client for the tenant. */
export async function registerNewClient(deps: BrokerDeps, issuer: string, tenant: string, scope: string): Promise<RegisteredClient> {
  return registerClient(deps.http, await deps.discovery.get(issuer), { clientName: `${tenant} via longport-token-broker`, redirectUri: redirectUriOf(deps), scope });
}

/** A pre-registered client as the operator sent it, checked: a public client takes no secret, a confidential one needs it. */
export function importedClient(input: Pick<RegisterTenantInput, 'client_id' | 'client_secret' | 'token_endpoint_auth_method'>): RegisteredClient {
  const method = input.token_endpoint_auth_method ?? (input.client_secret ? 'client_secret_basic' : 'none');
  if (method === 'none' && input.client_secret) throw new BrokerError('invalid_request', 400, 'a client with token_endpoint_auth_method "none" is public and takes no client_secret');
  if (method !== 'none' && !input.client_secret) throw new BrokerError('invalid_request', 400, `token_endpoint_auth_method "${method}" needs a client_secret`);
  return {
    client_id: input.client_id!,
    token_endpoint_auth_method: method,
    client_type: method === 'none' ? 'public' : 'confidential',
    ...(input.client_secret ? { client_secret: input.client_secret } : {}),
  };
}

/** A tenant's record around a client: its secrets sealed apart, so a refresh for a public client never needs a decrypt. */
export async function tenantRecordFor(
  deps: BrokerDeps,
  settings: Pick<TenantRecord, 'tenant' | 'region' | 'issuer' | 'scope' | 'returnToOrigins' | 'confirmLinks' | 'imported' | 'createdAt' | 'updatedAt'>,
  client: RegisteredClient,
): Promise<TenantRecord> {
  return {
    ...settings,
    clientId: client.client_id,
    clientType: client.client_type,
    tokenEndpointAuthMethod: client.token_endpoint_auth_method,
    redirectUri: redirectUriOf(deps),
    ...(client.registration_client_uri ? { registrationClientUri: client.registration_client_uri } : {}),
    ...(client.client_secret ? { sealedClient: await sealClientSecret(deps, settings.tenant, client.client_secret) } : {}),
    ...(client.registration_access_token ? { sealedRegistration: await sealRegistrationAccessToken(deps, settings.tenant, client.registration_access_token) } : {}),
    ...(client.client_secret_expires_at !== undefined ? { clientSecretExpiresAt: client.client_secret_expires_at } : {}),
  };
}
