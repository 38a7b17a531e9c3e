import { BrokerError, notFound } from '../errors.js';
import { revokeToken, type OAuthClient } from '../oauth/client.js';
import { tryTwice } from '../oauth/upstream.js';
import { deleteAccountAtGeneration, getAccount, listAccounts } from '../store/accounts.js';
import { listAudit, type AuditEvent } from '../store/audit.js';
import type { AccountRecord, AccountStatus, AccountTokens, TenantRecord } from '../store/records.js';
import { accountTokensContext } from './account-tokens.js';
import { audit } from './audit-trail.js';
import { requireAccess, type Caller } from './callers.js';
import type { BrokerDeps } from './deps.js';
import { readTenant, tenantClient } from './tenants.js';
import { TokenCache } from './token-cache.js';

/** Pages of accounts and audit events: 50 by default, at most 200. */
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

/** What callers see of an account: state and times, never token material. */
export interface AccountView {
  account: string;
  status: AccountStatus;
  scope: string;
  expires_at: string;
  refreshed_at: string;
  linked_at: string;
}

export function accountView(r: AccountRecord): AccountView {
  return {
    account: r.account,
    status: r.status,
    scope: r.scope,
    expires_at: new Date(r.expiresAt).toISOString(),
    refreshed_at: new Date(r.refreshedAt).toISOString(),
    linked_at: new Date(r.linkedAt).toISOString(),
  };
}

/** `GET /v1/tenants/{tenant}/accounts`: in account-id order, optionally only one status. */
export async function listAccountViews(
  deps: BrokerDeps,
  caller: Caller,
  tenant: string,
  query: { limit?: number | undefined; cursor?: string | undefined; status?: AccountStatus | undefined },
): Promise<{ accounts: AccountView[]; next?: string }> {
  requireAccess(caller, tenant, 'admin');
  await readTenant(deps, tenant);
  const page = await listAccounts(deps.db, tenant, { limit: pageSize(query.limit), cursor: query.cursor, status: query.status });
  return { accounts: page.items.map(accountView), ...(page.next ? { next: page.next } : {}) };
}

/** `GET /v1/tenants/{tenant}/accounts/{account}`. */
export async function getAccountView(deps: BrokerDeps, caller: Caller, tenant: string, account: string): Promise<AccountView> {
  requireAccess(caller, tenant, 'admin');
  const record = await getAccount(deps.db, tenant, account);
  if (!record) throw accountNotFound(tenant, account);
  return accountView(record);
}

export interface Revocation {
  /** True when the provider accepted the revocation (RFC 7009 §2.2). */
  revoked: boolean;
  /** Why not, when it was not: a code, never token material. */
  reason?: string;
}

/**
 * `DELETE /v1/tenants/{tenant}/accounts/{account}`: revokes the refresh token upstream (RFC 7009),
 * then deletes the account and every token sealed in it. The unlink happens whatever the provider
 * says; the audit record and the `AccountUnlinked` event say whether the revocation succeeded.
 */
export async function unlinkAccount(deps: BrokerDeps, caller: Caller, tenant: string, account: string): Promise<Revocation> {
  requireAccess(caller, tenant, 'admin');
  const t = await readTenant(deps, tenant);
  const record = await getAccount(deps.db, tenant, account);
  if (!record) throw accountNotFound(tenant, account);
  return unlinkRecord(deps, t, record, caller.id);
}

/**
 * Unlinks one account of a loaded tenant (also used by tenant deletion). The token revoked is the
 * one deleted: the delete is conditioned on the generation whose token was revoked, so a re-link
 * or a rotation committed in between is revoked in its turn before the account goes.
 */
export async function unlinkRecord(deps: BrokerDeps, tenant: TenantRecord, record: AccountRecord, callerId: string): Promise<Revocation> {
  let current = record;
  for (let attempt = 0; attempt < 3; attempt++) {
    const revocation = await revokeAccountTokens(deps, tenant, current);
    const res = await deleteAccountAtGeneration(deps.db, current, current.generation);
    if (res.ok || !res.current) {
      // !res.current: a concurrent unlink deleted it first; the account is gone either way
      deps.tokenCache.delete(TokenCache.key(tenant.tenant, record.account));
      const outcome = revocation.revoked ? 'revoked' : `not_revoked:${revocation.reason}`;
      await audit(deps, tenant.tenant, 'account.unlink', { caller: callerId, account: record.account, outcome });
      deps.log.info('account.unlinked', { tenant: tenant.tenant, account: record.account, revoked: revocation.revoked, reason: revocation.reason });
      await deps.events.publish('AccountUnlinked', {
        tenant: tenant.tenant,
        account: record.account,
        revoked: revocation.revoked,
        ...(revocation.reason ? { reason: revocation.reason } : {}),
      });
      return revocation;
    }
    current = res.current;
  }
  throw new BrokerError('conflict', 409, `account ${record.account} kept changing while being unlinked; try again`);
}

/** Pause before the one retry of a revocation that failed transiently. */
export const REVOCATION_RETRY_MS = 200;

/**
 * RFC 7009 §2.1: revokes an account's refresh token at the issuer that granted it, with the client
 * it was granted to. A transient failure is retried once; then the outcome is recorded, never
 * thrown: a provider outage must not keep an account linked against its owner's will.
 * `openedClient`: the tenant's client when the caller has it open already (saves a decrypt).
 */
export async function revokeAccountTokens(deps: BrokerDeps, tenant: TenantRecord, record: AccountRecord, openedClient?: OAuthClient): Promise<Revocation> {
  // tokens are only ever sent back to the issuer that granted them, by the client they were granted to
  if (record.issuer !== tenant.issuer) return { revoked: false, reason: 'issuer_changed' };
  let tokens: AccountTokens;
  let client: OAuthClient;
  try {
    tokens = await deps.cipher.open<AccountTokens>(record.sealedTokens, accountTokensContext(record.tenant, record.account));
    client = openedClient ?? (await tenantClient(deps, tenant));
  } catch (err) {
    deps.log.error('account.revocation_skipped', { tenant: record.tenant, account: record.account, reason: 'unreadable_credentials', err });
    return { revoked: false, reason: 'unreadable_credentials' };
  }
  const [token, hint] = tokens.refresh_token ? [tokens.refresh_token, 'refresh_token' as const] : [tokens.access_token, 'access_token' as const];
  const outcome = await tryTwice(
    async () => {
      const as = await deps.discovery.get(record.issuer);
      if (!as.revocation_endpoint) return { revoked: false, reason: 'no_revocation_endpoint' };
      await revokeToken(deps.http, as, client, token, hint);
      return { revoked: true };
    },
    'revocation',
    REVOCATION_RETRY_MS,
  );
  if (outcome.ok) return outcome.value;
  deps.log.warn('account.revocation_failed', { tenant: record.tenant, account: record.account, attempts: outcome.attempts, reason: outcome.error.code, err: outcome.error });
  return { revoked: false, reason: outcome.error.code };
}

/**
 * `GET /v1/tenants/{tenant}/audit`: the tenant's audit trail, oldest first. It outlives the tenant
 * (kept until its TTL), so it can be read after the tenant is deleted.
 */
export async function readAuditTrail(
  deps: BrokerDeps,
  caller: Caller,
  tenant: string,
  query: { account?: string | undefined; since?: string | undefined; limit?: number | undefined; cursor?: string | undefined },
): Promise<{ events: AuditEvent[]; next?: string }> {
  requireAccess(caller, tenant, 'admin');
  // sort keys start with the ISO time in UTC: normalise so that string order is time order
  const since = query.since === undefined ? undefined : new Date(query.since).toISOString();
  return listAudit(deps.db, tenant, { limit: pageSize(query.limit), since, cursor: query.cursor, account: query.account });
}

const pageSize = (limit: number | undefined) => Math.min(Math.max(1, limit ?? DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE);

const accountNotFound = (tenant: string, account: string) => notFound(`account ${account} of tenant ${tenant} is not linked`);

