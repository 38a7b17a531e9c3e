import { revokeToken, type OAuthClient } from '../oauth/client.js';
import { attemptWithRetries, UPSTREAM_CLEANUP } from '../retry.js';
import type { AccountRecord, AccountTokens, PendingRevocation, TenantRecord } from '../store/records.js';
import { putPendingRevocation } from '../store/revocations.js';
import { accountTokensContext } from './account-tokens.js';
import { openTenantClient } from './client-secrets.js';
import type { BrokerDeps } from './deps.js';

/** Seconds until a pending revocation is tried again after `tries` failed tries: 1, 2, 4, … minutes, at most an hour. */
export const nextRetryInS = (tries: number): number => Math.min(3600, 60 * 2 ** Math.max(0, tries - 1));

export interface Revocation {
  /** True when the provider accepted the revocation (RFC 7009 §2.2). */
  revoked: boolean;
  /** Why not, when it was not: a code, never token material. */
  reason?: string;
  /** The provider could not be reached: the revocation is kept, and the refresher tries it again. */
  pending?: boolean;
}

/** Why a token is revoked, kept with a pending revocation (and naming its audit record when it is done). */
export type RevocationCause = PendingRevocation['cause'];

/** The client a token is revoked with: the tenant's, or the one it had before a region move. */
export type RevokingClient = Pick<TenantRecord, 'tenant' | 'issuer' | 'clientId' | 'tokenEndpointAuthMethod' | 'sealedClient'>;


/**
 * RFC 7009 §2.1: revokes an account's refresh token at the issuer that granted it, with the client
 * it was granted to. A transient failure is retried once ({@link UPSTREAM_CLEANUP}); then, when the
 * caller names a `cause` (an unlink, a tenant deletion, a region move), a revocation the provider
 * still cannot take is kept (`REVOKE` items) for the refresher to try again (`revocation-retry.ts`);
 * callers with their own retries (the link-session expiry) name none. The outcome is answered,
 * never thrown: a provider outage must not keep an account linked against its owner's will.
 * `openedClient`: the client when the caller has it open already (saves a decrypt).
 */
export async function revokeAccountTokens(
  deps: BrokerDeps,
  tenant: RevokingClient,
  record: AccountRecord,
  openedClient?: OAuthClient,
  cause?: RevocationCause,
): Promise<Revocation> {
  // tokens are only ever sent back to the issuer that granted them, by the client they were granted to
  if (record.issuer !== tenant.issuer) return { revoked: false, reason: 'issuer_changed' };
  const outcome = await revokeSealed(deps, { tenant: tenant.tenant, account: record.account, issuer: record.issuer, sealedTokens: record.sealedTokens }, tenant, openedClient);
  if (outcome.revoked || outcome.transient !== true || cause === undefined) return { revoked: outcome.revoked, ...(outcome.reason ? { reason: outcome.reason } : {}) };
  const now = deps.clock();
  const pending: PendingRevocation = {
    tenant: tenant.tenant,
    account: record.account,
    generation: record.generation,
    cause,
    issuer: record.issuer,
    clientId: tenant.clientId,
    tokenEndpointAuthMethod: tenant.tokenEndpointAuthMethod,
    ...(tenant.sealedClient ? { sealedClient: tenant.sealedClient } : {}),
    sealedTokens: record.sealedTokens,
    attempts: 1,
    firstFailedAt: now,
    lastError: outcome.reason!,
    dueAt: Math.floor(now / 1000) + nextRetryInS(1),
  };
  try {
    // revocations that could not reach the provider are retried later, until done or given up
    await putPendingRevocation(deps.db, pending);
  } catch (err) {
    deps.log.error('account.revocation_not_kept', { tenant: tenant.tenant, account: record.account, reason: outcome.reason, err });
    return { revoked: false, reason: outcome.reason! };
  }
  deps.log.warn('account.revocation_pending', { tenant: tenant.tenant, account: record.account, cause, reason: outcome.reason, retryInS: nextRetryInS(1) });
  return { revoked: false, reason: outcome.reason!, pending: true };
}

/**
 * One revocation of the tokens in `sealedTokens` (the refresh token, else the access token) at
 * `target.issuer` with `client`'s credentials, under {@link UPSTREAM_CLEANUP}. `transient` says
 * whether a later attempt may succeed.
 */
export async function revokeSealed(
  deps: BrokerDeps,
  target: { tenant: string; account: string; issuer: string; sealedTokens: string },
  client: RevokingClient,
  openedClient?: OAuthClient,
): Promise<{ revoked: boolean; reason?: string; transient?: boolean }> {
  let tokens: AccountTokens;
  let oauthClient: OAuthClient;
  try {
    tokens = await deps.cipher.open<AccountTokens>(target.sealedTokens, accountTokensContext(target.tenant, target.account));
    oauthClient = openedClient ?? (await openTenantClient(deps, client));
  } catch (err) {
    deps.log.error('account.revocation_skipped', { tenant: target.tenant, account: target.account, reason: 'unreadable_credentials', err });
    return { revoked: false, reason: 'unreadable_credentials' };
  }
  const [token, hint] = tokens.refresh_token ? [tokens.refresh_token, 'refresh_token' as const] : [tokens.access_token, 'access_token' as const];
  const outcome = await attemptWithRetries(UPSTREAM_CLEANUP, { what: 'revocation' }, async (): Promise<{ revoked: boolean; reason?: string }> => {
    const as = await deps.discovery.get(target.issuer);
    if (!as.revocation_endpoint) return { revoked: false, reason: 'no_revocation_endpoint' };
    await revokeToken(deps.http, as, oauthClient, token, hint);
    return { revoked: true };
  });
  if (outcome.ok) return outcome.value;
  deps.log.warn('account.revocation_failed', { tenant: target.tenant, account: target.account, attempts: outcome.attempts, reason: outcome.error.code, err: outcome.error });
  return { revoked: false, reason: outcome.error.code, transient: outcome.error.status === 503 };
}
