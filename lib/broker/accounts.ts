import { BrokerError, notFound } from '../errors.js';
import { UNLINK_AT_GENERATION, withRetries } from '../retry.js';
import { deleteAccountAtGeneration, getAccount, listAccounts } from '../store/accounts.js';
import { listAudit, type AuditEvent } from '../store/audit.js';
import type { AccountRecord, AccountStatus, TenantRecord } from '../store/records.js';
import { audit } from './audit-trail.js';
import { requireAccess, type Caller } from './callers.js';
import type { BrokerDeps } from './deps.js';
import { revokeAccountTokens, type Revocation, type RevocationCause } from './revocation.js';
import { readTenant } from './tenant-read.js';
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
 * or a rotation committed in between is revoked in its turn before the account goes. The unlink is
 * audited before the delete: a process that dies in between leaves the account, which the next
 * attempt (a resumed tenant job) unlinks and records again, never an unlink without its record.
 */
export async function unlinkRecord(deps: BrokerDeps, tenant: TenantRecord, record: AccountRecord, callerId: string, cause: RevocationCause = 'unlink'): Promise<Revocation> {
  let current = record;
  return withRetries(UNLINK_AT_GENERATION, { what: 'unlink' }, async () => {
    const revocation = await revokeAccountTokens(deps, tenant, current, undefined, cause);
    // a revocation the provider could not take yet is kept and retried by the refresher
    const outcome = revocation.revoked ? 'revoked' : revocation.pending ? `revocation_pending:${revocation.reason}` : `not_revoked:${revocation.reason}`;
    await audit(deps, tenant, 'account.unlink', { caller: callerId, account: record.account, outcome });
    const res = await deleteAccountAtGeneration(deps.db, current, current.generation);
    if (!res.ok && res.current) {
      // a re-link or a rotation committed in between: its token is revoked in its turn
      current = res.current;
      throw new BrokerError('conflict', 409, `account ${record.account} kept changing while being unlinked; try again`);
    }
    // !res.current: a concurrent unlink deleted it first; the account is gone either way
    deps.tokenCache.delete(TokenCache.key(tenant.tenant, record.account));
    deps.log.info('account.unlinked', { tenant: tenant.tenant, account: record.account, revoked: revocation.revoked, reason: revocation.reason, pending: revocation.pending });
    await deps.events.publish('AccountUnlinked', {
      tenant: tenant.tenant,
      account: record.account,
      revoked: revocation.revoked,
      ...(revocation.reason ? { reason: revocation.reason } : {}),
      ...(revocation.pending ? { revocation_pending: true } : {}),
    });
    return revocation;
  });
}

/**
 * `GET /v1/tenants/{tenant}/audit`: the trail of the tenant's current incarnation, newest first; a
 * page costs a bounded number of store reads whatever the filter. While the id is not registered
 * (the tenant was deleted) the trail its last incarnation left is read, until its TTL.
 */
export async function readAuditTrail(
  deps: BrokerDeps,
  caller: Caller,
  tenant: string,
  query: { account?: string | undefined; since?: string | undefined; token_fingerprint?: string | undefined; limit?: number | undefined; cursor?: string | undefined },
): Promise<{ events: AuditEvent[]; next?: string }> {
  requireAccess(caller, tenant, 'admin');
  // sort keys hold the ISO time in UTC: normalise so that string order is time order
  const since = query.since === undefined ? undefined : new Date(query.since).toISOString();
  return listAudit(deps.db, tenant, { limit: pageSize(query.limit), since, cursor: query.cursor, account: query.account, fingerprint: query.token_fingerprint });
}

const pageSize = (limit: number | undefined) => Math.min(Math.max(1, limit ?? DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE);

const accountNotFound = (tenant: string, account: string) => notFound(`account ${account} of tenant ${tenant} is not linked`);

