import type { Region } from '../config.js';
import { TENANT_SCOPE } from '../crypto/token-cipher.js';
import { BrokerError, notFound } from '../errors.js';
import { deleteRegisteredClient, registerClient, type OAuthClient, type RegisteredClient } from '../oauth/client.js';
import type { ClientSecrets, TenantRecord, TokenEndpointAuthMethod } from '../store/records.js';
import { createTenant, getTenant, replaceTenant } from '../store/tenants.js';
import { audit } from './audit-trail.js';
import { requireAccess, type Caller } from './callers.js';
import type { BrokerDeps } from './deps.js';
import { checkOrigins } from './return-to.js';

export const DEFAULT_SCOPE = '3';

export interface RegisterTenantInput {
  region: Region;
  scope?: string | undefined;
  return_to_origins?: string[] | undefined;
  /** Import a pre-registered client instead of registering one. */
  client_id?: string | undefined;
  client_secret?: string | undefined;
  token_endpoint_auth_method?: TokenEndpointAuthMethod | undefined;
}

/** What callers see of a tenant: never a secret. */
export interface TenantView {
  tenant: string;
  region: Region;
  issuer: string;
  client_id: string;
  client_type: 'public' | 'confidential';
  redirect_uri: string;
  scope: string;
  return_to_origins: string[];
  created_at: string;
  updated_at: string;
}

export function tenantView(t: TenantRecord): TenantView {
  return {
    tenant: t.tenant,
    region: t.region,
    issuer: t.issuer,
    client_id: t.clientId,
    client_type: t.clientType,
    redirect_uri: t.redirectUri,
    scope: t.scope,
    return_to_origins: t.returnToOrigins,
    created_at: new Date(t.createdAt).toISOString(),
    updated_at: new Date(t.updatedAt).toISOString(),
  };
}

export const tenantSecretsContext = (tenant: string) => ({ tenant, account: TENANT_SCOPE, purpose: 'tenant-client' as const });

export const redirectUriOf = (deps: Pick<BrokerDeps, 'config'>) => `${deps.config.publicUrl}/oauth/callback`;

/**
 * `PUT /v1/tenants/{tenant}`: discovery + dynamic registration (RFC 8414, RFC 7591) the first time,
 * or import of a pre-registered client; settings update on an existing tenant.
 */
export async function registerTenant(deps: BrokerDeps, caller: Caller, tenant: string, input: RegisterTenantInput): Promise<{ created: boolean; view: TenantView }> {
  requireAccess(caller, tenant, 'admin');
  if (!deps.config.allowedRegions.includes(input.region)) {
    throw new BrokerError('invalid_request', 400, `region "${input.region}" is not enabled on this broker (enabled: ${deps.config.allowedRegions.join(', ')})`);
  }
  const origins = input.return_to_origins === undefined ? undefined : checkOrigins(input.return_to_origins);
  const existing = await getTenant(deps.db, tenant);
  if (existing) return { created: false, view: await updateTenant(deps, caller, existing, input, origins) };

  const issuer = deps.config.issuers[input.region];
  const redirectUri = redirectUriOf(deps);
  const scope = input.scope ?? DEFAULT_SCOPE;
  const client = input.client_id ? importedClient(input) : await registerClient(deps.http, await deps.discovery.get(issuer), { clientName: `${tenant} via longport-token-broker`, redirectUri, scope });
  const now = deps.clock();
  const record: TenantRecord = {
    tenant,
    region: input.region,
    issuer,
    scope,
    returnToOrigins: origins ?? [],
    clientId: client.client_id,
    clientType: client.client_type,
    tokenEndpointAuthMethod: client.token_endpoint_auth_method,
    redirectUri,
    ...(client.registration_client_uri ? { registrationClientUri: client.registration_client_uri } : {}),
    // sealed apart so that a refresh for a public client never needs a decrypt
    ...(client.client_secret ? { sealedClient: await deps.cipher.seal({ client_secret: client.client_secret } satisfies ClientSecrets, tenantSecretsContext(tenant)) } : {}),
    ...(client.registration_access_token
      ? { sealedRegistration: await deps.cipher.seal({ registration_access_token: client.registration_access_token } satisfies ClientSecrets, tenantSecretsContext(tenant)) }
      : {}),
    ...(client.client_secret_expires_at !== undefined ? { clientSecretExpiresAt: client.client_secret_expires_at } : {}),
    imported: Boolean(input.client_id),
    createdAt: now,
    updatedAt: now,
  };
  const outcome = await createTenant(deps.db, record);
  if (!outcome.created) {
    // another request registered this tenant first: keep theirs, drop the client we just made
    await discardClient(deps, client);
    return { created: false, view: tenantView(outcome.existing) };
  }
  await audit(deps, tenant, 'tenant.register', { caller: caller.id, outcome: input.client_id ? 'imported' : 'registered' });
  deps.log.info('tenant.registered', { tenant, region: input.region, clientType: client.client_type, imported: Boolean(input.client_id) });
  return { created: true, view: tenantView(record) };
}

function importedClient(input: RegisterTenantInput): RegisteredClient {
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

async function updateTenant(deps: BrokerDeps, caller: Caller, existing: TenantRecord, input: RegisterTenantInput, origins: string[] | undefined): Promise<TenantView> {
  if (input.region !== existing.region) {
    throw new BrokerError('conflict', 409, `tenant ${existing.tenant} is registered in region "${existing.region}"; delete it to move it to "${input.region}"`);
  }
  if (input.client_id && input.client_id !== existing.clientId) {
    throw new BrokerError('conflict', 409, `tenant ${existing.tenant} already has client ${existing.clientId}; delete the tenant to import another client`);
  }
  const next: TenantRecord = { ...existing, scope: input.scope ?? existing.scope, returnToOrigins: origins ?? existing.returnToOrigins };
  if (next.scope === existing.scope && next.returnToOrigins.join(' ') === existing.returnToOrigins.join(' ')) return tenantView(existing);
  next.updatedAt = Math.max(deps.clock(), existing.updatedAt + 1);
  if (!(await replaceTenant(deps.db, next, existing.updatedAt))) {
    throw new BrokerError('conflict', 409, `tenant ${existing.tenant} was changed by another request; read it and try again`);
  }
  await audit(deps, existing.tenant, 'tenant.update', { caller: caller.id, outcome: 'updated' });
  return tenantView(next);
}

/** Best effort: delete a client through RFC 7592 when the server allows it. */
async function discardClient(deps: BrokerDeps, client: RegisteredClient): Promise<void> {
  if (!client.registration_client_uri || !client.registration_access_token) return;
  try {
    await deleteRegisteredClient(deps.http, client.registration_client_uri, client.registration_access_token);
  } catch (err) {
    deps.log.warn('tenant.orphan_client', { clientId: client.client_id, err });
  }
}

export async function loadTenant(deps: BrokerDeps, tenant: string): Promise<TenantRecord> {
  const record = await getTenant(deps.db, tenant);
  if (!record) throw notFound(`tenant ${tenant} is not registered`);
  return record;
}

/** The tenant's OAuth client, its secret opened only when it has one (confidential: one decrypt). */
export async function tenantClient(deps: BrokerDeps, tenant: TenantRecord): Promise<OAuthClient> {
  // a public client never sends a secret, so none is opened
  if (tenant.tokenEndpointAuthMethod === 'none' || !tenant.sealedClient) return { client_id: tenant.clientId, token_endpoint_auth_method: tenant.tokenEndpointAuthMethod };
  const secrets = await deps.cipher.open<ClientSecrets>(tenant.sealedClient, tenantSecretsContext(tenant.tenant));
  return { client_id: tenant.clientId, token_endpoint_auth_method: tenant.tokenEndpointAuthMethod, client_secret: secrets.client_secret };
}

export async function getTenantView(deps: BrokerDeps, caller: Caller, tenant: string): Promise<TenantView> {
  requireAccess(caller, tenant, 'admin');
  return tenantView(await loadTenant(deps, tenant));
}
