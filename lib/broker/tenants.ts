import type { Region } from '../config.js';
import { TENANT_SCOPE } from '../crypto/token-cipher.js';
import { BrokerError, notFound } from '../errors.js';
import { deleteRegisteredClient, registerClient, type OAuthClient, type RegisteredClient } from '../oauth/client.js';
import { tryTwice } from '../oauth/upstream.js';
import type { AccountRecord, ClientSecrets, TenantRecord, TokenEndpointAuthMethod } from '../store/records.js';
import { listAccounts } from '../store/accounts.js';
import { createTenant, getTenant, replaceTenant } from '../store/tenants.js';
import { REVOCATION_RETRY_MS, revokeAccountTokens } from './accounts.js';
import { audit } from './audit-trail.js';
import { requireAccess, type Caller } from './callers.js';
import type { BrokerDeps } from './deps.js';
import { requireReauth } from './reauth.js';
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
  /** Moving an existing tenant to another region must be asked for explicitly: its accounts must link again. */
  change_region?: boolean | undefined;
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
  const scope = input.scope ?? DEFAULT_SCOPE;
  const client = input.client_id ? importedClient(input) : await registerClient(deps.http, await deps.discovery.get(issuer), clientRequest(deps, tenant, scope));
  const now = deps.clock();
  const record = await tenantRecord(deps, { tenant, region: input.region, issuer, scope, returnToOrigins: origins ?? [], imported: Boolean(input.client_id), createdAt: now, updatedAt: now }, client);
  const outcome = await createTenant(deps.db, record);
  if (!outcome.created) {
    // another request registered this tenant first: keep theirs, drop the client we just made
    await discardClient(deps, issuer, client);
    return { created: false, view: tenantView(outcome.existing) };
  }
  await audit(deps, tenant, 'tenant.register', { caller: caller.id, outcome: input.client_id ? 'imported' : 'registered' });
  deps.log.info('tenant.registered', { tenant, region: input.region, clientType: client.client_type, imported: Boolean(input.client_id) });
  return { created: true, view: tenantView(record) };
}

const clientRequest = (deps: Pick<BrokerDeps, 'config'>, tenant: string, scope: string) => ({ clientName: `${tenant} via longport-token-broker`, redirectUri: redirectUriOf(deps), scope });

/** A tenant's record around a client: its secrets sealed apart, so a refresh for a public client never needs a decrypt. */
async function tenantRecord(
  deps: BrokerDeps,
  settings: Pick<TenantRecord, 'tenant' | 'region' | 'issuer' | 'scope' | 'returnToOrigins' | 'imported' | 'createdAt' | 'updatedAt'>,
  client: RegisteredClient,
): Promise<TenantRecord> {
  const context = tenantSecretsContext(settings.tenant);
  return {
    ...settings,
    clientId: client.client_id,
    clientType: client.client_type,
    tokenEndpointAuthMethod: client.token_endpoint_auth_method,
    redirectUri: redirectUriOf(deps),
    ...(client.registration_client_uri ? { registrationClientUri: client.registration_client_uri } : {}),
    ...(client.client_secret ? { sealedClient: await deps.cipher.seal({ client_secret: client.client_secret } satisfies ClientSecrets, context) } : {}),
    ...(client.registration_access_token
      ? { sealedRegistration: await deps.cipher.seal({ registration_access_token: client.registration_access_token } satisfies ClientSecrets, context) }
      : {}),
    ...(client.client_secret_expires_at !== undefined ? { clientSecretExpiresAt: client.client_secret_expires_at } : {}),
  };
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

/**
 * Settings of an existing tenant: `scope` and `return_to_origins` change in place (tokens already
 * granted keep their scope; new links ask for the new one). A region change needs `change_region`.
 */
async function updateTenant(deps: BrokerDeps, caller: Caller, existing: TenantRecord, input: RegisterTenantInput, origins: string[] | undefined): Promise<TenantView> {
  if (input.region !== existing.region) {
    // moving region is never implied: every linked account must link again afterwards
    if (!input.change_region) {
      throw new BrokerError(
        'conflict',
        409,
        `tenant ${existing.tenant} is registered in region "${existing.region}"; send "change_region": true to move it to "${input.region}" (its linked accounts will have to link again)`,
      );
    }
    return moveRegion(deps, caller, existing, input, origins);
  }
  if (input.client_id && input.client_id !== existing.clientId) {
    throw new BrokerError('conflict', 409, `tenant ${existing.tenant} already has client ${existing.clientId}; delete the tenant to import another client`);
  }
  // a move interrupted half-way is completed by asking for it again
  if (input.change_region) await requireReauthOffIssuer(deps, existing, caller.id, undefined);
  const next: TenantRecord = { ...existing, scope: input.scope ?? existing.scope, returnToOrigins: origins ?? existing.returnToOrigins };
  // an imported client's secret is rotated by sending it again with the same client_id
  const rotateSecret = Boolean(input.client_id && input.client_secret);
  if (rotateSecret) {
    if (!existing.imported) throw new BrokerError('conflict', 409, `tenant ${existing.tenant} uses a client the broker registered; its secret is not set by hand`);
    const rotated = importedClient({ ...input, token_endpoint_auth_method: input.token_endpoint_auth_method ?? (existing.tokenEndpointAuthMethod === 'none' ? undefined : existing.tokenEndpointAuthMethod) });
    next.clientType = rotated.client_type;
    next.tokenEndpointAuthMethod = rotated.token_endpoint_auth_method;
    next.sealedClient = await deps.cipher.seal({ client_secret: rotated.client_secret } satisfies ClientSecrets, tenantSecretsContext(existing.tenant));
  }
  if (!rotateSecret && next.scope === existing.scope && next.returnToOrigins.join(' ') === existing.returnToOrigins.join(' ')) return tenantView(existing);
  next.updatedAt = Math.max(deps.clock(), existing.updatedAt + 1);
  if (!(await replaceTenant(deps.db, next, existing.updatedAt))) {
    throw new BrokerError('conflict', 409, `tenant ${existing.tenant} was changed by another request; read it and try again`);
  }
  await audit(deps, existing.tenant, 'tenant.update', { caller: caller.id, outcome: rotateSecret ? 'client_secret_rotated' : 'updated' });
  return tenantView(next);
}

/**
 * Region change: a client in the new region (registered, or imported), then every linked account
 * moves to `needs_reauth` — its tokens belong to the old issuer and are never sent to the new one —
 * with its refresh token revoked at the old issuer, and the old client deleted (RFC 7592).
 */
async function moveRegion(deps: BrokerDeps, caller: Caller, existing: TenantRecord, input: RegisterTenantInput, origins: string[] | undefined): Promise<TenantView> {
  const issuer = deps.config.issuers[input.region];
  const scope = input.scope ?? existing.scope;
  const client = input.client_id ? importedClient(input) : await registerClient(deps.http, await deps.discovery.get(issuer), clientRequest(deps, existing.tenant, scope));
  const next = await tenantRecord(
    deps,
    {
      tenant: existing.tenant,
      region: input.region,
      issuer,
      scope,
      returnToOrigins: origins ?? existing.returnToOrigins,
      imported: Boolean(input.client_id),
      createdAt: existing.createdAt,
      updatedAt: Math.max(deps.clock(), existing.updatedAt + 1),
    },
    client,
  );
  if (!(await replaceTenant(deps.db, next, existing.updatedAt))) {
    await discardClient(deps, issuer, client);
    throw new BrokerError('conflict', 409, `tenant ${existing.tenant} was changed by another request; read it and try again`);
  }
  const moved = await requireReauthOffIssuer(deps, next, caller.id, existing);
  await audit(deps, existing.tenant, 'tenant.update', { caller: caller.id, outcome: `region_changed:${existing.region}->${input.region}` });
  // the former client goes with its grants (RFC 7592); a failure is logged and the move stands
  await deleteTenantClient(deps, existing);
  deps.log.info('tenant.region_changed', { tenant: existing.tenant, from: existing.region, to: input.region, accountsNeedingReauth: moved });
  return tenantView(next);
}

/**
 * Moves every linked account whose tokens came from another issuer than the tenant's to
 * `needs_reauth` (audited, with a `ReauthRequired` event). With `previous` (the tenant as it was),
 * the refresh token is also revoked at the old issuer with the old client, best effort.
 */
async function requireReauthOffIssuer(deps: BrokerDeps, tenant: TenantRecord, callerId: string, previous: TenantRecord | undefined): Promise<number> {
  let moved = 0;
  let cursor: string | undefined;
  do {
    const page = await listAccounts(deps.db, tenant.tenant, { limit: 50, cursor, status: 'linked' });
    for (const rec of page.items) {
      if (rec.issuer === tenant.issuer) continue;
      if (await markNeedsReauth(deps, rec, callerId)) {
        moved += 1;
        if (previous) await revokeAccountTokens(deps, previous, rec);
      }
    }
    cursor = page.next;
  } while (cursor);
  return moved;
}

/** `linked` → `needs_reauth` at the generation read; a refresh committed meanwhile is read and marked too. */
async function markNeedsReauth(deps: BrokerDeps, rec: AccountRecord, callerId: string): Promise<boolean> {
  let current: AccountRecord | undefined = rec;
  for (let attempt = 0; attempt < 3 && current?.status === 'linked'; attempt++) {
    const res = await requireReauth(deps, current, callerId, 'region_changed');
    if (res.ok) return true;
    current = res.current;
  }
  if (current?.status === 'linked') throw new BrokerError('conflict', 409, `account ${rec.account} kept changing during the region change; send the request again`);
  return false;
}

/**
 * RFC 7592 §2.3: deletes the tenant's client with its registration access token. A transient
 * failure is retried once; after that the client is left at the provider and logged
 * (`tenant.orphan_client`, with its client_id) — the removal goes on.
 */
export async function deleteTenantClient(deps: BrokerDeps, tenant: TenantRecord): Promise<{ deleted: true } | { deleted: false; reason: string }> {
  if (!tenant.registrationClientUri || !tenant.sealedRegistration) return { deleted: false, reason: 'no_registration_client_uri' };
  let token: string | undefined;
  try {
    token = (await deps.cipher.open<ClientSecrets>(tenant.sealedRegistration, tenantSecretsContext(tenant.tenant))).registration_access_token;
  } catch (err) {
    deps.log.error('tenant.orphan_client', { tenant: tenant.tenant, clientId: tenant.clientId, reason: 'unreadable_credentials', err });
    return { deleted: false, reason: 'unreadable_credentials' };
  }
  if (!token) return { deleted: false, reason: 'no_registration_access_token' };
  const outcome = await tryTwice(() => deleteRegisteredClient(deps.http, tenant.issuer, tenant.registrationClientUri!, token), 'client deletion', REVOCATION_RETRY_MS);
  if (outcome.ok) return { deleted: true };
  deps.log.warn('tenant.orphan_client', { tenant: tenant.tenant, clientId: tenant.clientId, attempts: outcome.attempts, reason: outcome.error.code, err: outcome.error });
  return { deleted: false, reason: outcome.error.code };
}

/** Best effort: delete a client through RFC 7592 when the server allows it. */
async function discardClient(deps: BrokerDeps, issuer: string, client: RegisteredClient): Promise<void> {
  if (!client.registration_client_uri || !client.registration_access_token) return;
  try {
    await deleteRegisteredClient(deps.http, issuer, client.registration_client_uri, client.registration_access_token);
  } catch (err) {
    deps.log.warn('tenant.orphan_client', { clientId: client.client_id, err });
  }
}

/** The tenant as stored (404 when unknown): reads, no side effect. */
export async function readTenant(deps: Pick<BrokerDeps, 'db'>, tenant: string): Promise<TenantRecord> {
  const record = await getTenant(deps.db, tenant);
  if (!record) throw notFound(`tenant ${tenant} is not registered`);
  return record;
}

/**
 * The tenant, ready to talk to its provider: when the provider said the client secret expires
 * (RFC 7591 `client_secret_expires_at`, 0 = never) and that time has passed, the client is
 * registered again first, transparently.
 */
export async function loadTenant(deps: BrokerDeps, tenant: string): Promise<TenantRecord> {
  const record = await readTenant(deps, tenant);
  if (!secretExpired(record, deps.clock())) return record;
  return deps.singleFlight.run(`reregister:${tenant}`, () => registerAgain(deps, record));
}

export const secretExpired = (t: Pick<TenantRecord, 'clientSecretExpiresAt' | 'sealedClient'>, now: number): boolean =>
  Boolean(t.sealedClient && t.clientSecretExpiresAt && t.clientSecretExpiresAt * 1000 <= now);

/**
 * A new client for the same tenant, issuer and settings. Tokens granted to the expired client stay
 * with it: a provider that binds refresh tokens to their client refuses them, and those accounts
 * then move to `needs_reauth` on their next refresh. The expired client is left to the provider.
 */
async function registerAgain(deps: BrokerDeps, expired: TenantRecord): Promise<TenantRecord> {
  if (expired.imported) {
    throw new BrokerError('conflict', 409, `the imported client of tenant ${expired.tenant} has an expired secret; import a new client`);
  }
  const client = await registerClient(deps.http, await deps.discovery.get(expired.issuer), clientRequest(deps, expired.tenant, expired.scope));
  const { sealedClient: _s, sealedRegistration: _r, registrationClientUri: _u, clientSecretExpiresAt: _e, ...settings } = expired;
  const next = await tenantRecord(deps, { ...settings, updatedAt: Math.max(deps.clock(), expired.updatedAt + 1) }, client);
  if (!(await replaceTenant(deps.db, next, expired.updatedAt))) {
    // another instance registered again first: keep theirs
    await discardClient(deps, expired.issuer, client);
    return readTenant(deps, expired.tenant);
  }
  await audit(deps, expired.tenant, 'tenant.update', { caller: 'broker', outcome: 'client_reregistered' });
  deps.log.info('tenant.client_reregistered', { tenant: expired.tenant, previousClientId: expired.clientId, clientId: next.clientId });
  return next;
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
  return tenantView(await readTenant(deps, tenant));
}
