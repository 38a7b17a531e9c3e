import { revokeToken, type OAuthClient } from '../oauth/client.js';
import { attemptWithRetries, UPSTREAM_CLEANUP } from '../retry.js';
import type { AccountRecord, AccountTokens, TenantRecord } from '../store/records.js';
import { accountTokensContext } from './account-tokens.js';
import { openTenantClient } from './client-secrets.js';
import type { BrokerDeps } from './deps.js';

export interface Revocation {
  /** True when the provider accepted the revocation (RFC 7009 §2.2). */
  revoked: boolean;
  /** Why not, when it was not: a code, never token material. */
  reason?: string;
}

/**
 * RFC 7009 §2.1: revokes an account's refresh token at the issuer that granted it, with the client
 * it was granted to. A transient failure is retried once ({@link UPSTREAM_CLEANUP}); then the outcome is recorded, never
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
    client = openedClient ?? (await openTenantClient(deps, tenant));
  } catch (err) {
    deps.log.error('account.revocation_skipped', { tenant: record.tenant, account: record.account, reason: 'unreadable_credentials', err });
    return { revoked: false, reason: 'unreadable_credentials' };
  }
  const [token, hint] = tokens.refresh_token ? [tokens.refresh_token, 'refresh_token' as const] : [tokens.access_token, 'access_token' as const];
  const outcome = await attemptWithRetries(UPSTREAM_CLEANUP, { what: 'revocation' }, async (): Promise<Revocation> => {
    const as = await deps.discovery.get(record.issuer);
    if (!as.revocation_endpoint) return { revoked: false, reason: 'no_revocation_endpoint' };
    await revokeToken(deps.http, as, client, token, hint);
    return { revoked: true };
  });
  if (outcome.ok) return outcome.value;
  deps.log.warn('account.revocation_failed', { tenant: record.tenant, account: record.account, attempts: outcome.attempts, reason: outcome.error.code, err: outcome.error });
  return { revoked: false, reason: outcome.error.code };
}
