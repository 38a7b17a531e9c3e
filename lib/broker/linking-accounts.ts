import { BrokerError } from '../errors.js';
import type { OAuthClient } from '../oauth/client.js';
import { LINKED_TOKENS_PUT, withRetries } from '../retry.js';
import { getAccount, linkedAccountPut } from '../store/accounts.js';
import { writeGuarded, type GuardUpdate } from '../store/links.js';
import type { AccountRecord, TenantRecord } from '../store/records.js';
import { countsMove } from '../store/tenant-directory.js';
import { nextDueAt } from './account-tokens.js';
import { audit } from './audit-trail.js';
import type { BrokerDeps } from './deps.js';
import { revokeAccountTokens } from './revocation.js';
import { TokenCache } from './token-cache.js';

/** A token set ready to become an account's: sealed as `account-tokens` of that tenant and account. */
export interface LinkedTokens {
  tenant: string;
  account: string;
  issuer: string;
  scope: string;
  sealedTokens: string;
  /** ms epoch: when the access token expires. */
  expiresAt: number;
}

/** The account a token set makes, replacing `current` if there is one. */
export function linkedAccountRecord(tokens: LinkedTokens, current: Pick<AccountRecord, 'generation'> | undefined, now: number, refreshHorizonS: number): AccountRecord {
  return {
    tenant: tokens.tenant,
    account: tokens.account,
    status: 'linked',
    scope: tokens.scope,
    issuer: tokens.issuer,
    // a fresh item starts from the clock, not from 1: a refresh of a deleted predecessor still in
    // flight can then never match this item's generation (no ABA across unlink and re-link)
    generation: current ? current.generation + 1 : now,
    sealedTokens: tokens.sealedTokens,
    expiresAt: tokens.expiresAt,
    refreshedAt: now,
    linkedAt: now,
    dueAt: nextDueAt(tokens.expiresAt, now, refreshHorizonS),
  };
}

export type StoredLinking = { ok: true; record: AccountRecord; previous: AccountRecord | undefined } | { ok: false; guard: Record<string, unknown> | undefined };

/**
 * Stores a linked token set together with the single-use write that allows it (a link's completion,
 * a link session's confirmation), in one transaction: both or neither. Re-linking replaces the
 * account's previous set, conditioned on the generation read, and answers it.
 */
export async function storeLinkedAccount(deps: BrokerDeps, tokens: LinkedTokens, guard: (now: number) => GuardUpdate): Promise<StoredLinking> {
  return withRetries(LINKED_TOKENS_PUT, { what: 'link' }, async (): Promise<StoredLinking> => {
    const now = deps.clock();
    const current = await getAccount(deps.db, tokens.tenant, tokens.account);
    const record = linkedAccountRecord(tokens, current, now, deps.config.refreshHorizonS);
    const res = await writeGuarded(deps.db, guard(now), linkedAccountPut(deps.db, record, current), countsMove(deps.db, record.tenant, current?.status, 'linked'));
    if (res.ok) return { ok: true, record, previous: current };
    if (res.failed === 'guard') return { ok: false, guard: res.old };
    throw new BrokerError('conflict', 409, 'The account changed repeatedly while linking. Try again.');
  });
}

/**
 * After a linking is stored: this process's cache forgets the account, the audit trail records it
 * (before the answer), `AccountLinked` goes out, and the replaced refresh token is revoked upstream
 * (RFC 7009; the outcome is logged, never thrown).
 */
export async function announceLinked(
  deps: BrokerDeps,
  tenant: TenantRecord,
  linked: { account: string; caller: string; previous: AccountRecord | undefined },
  openedClient?: OAuthClient,
): Promise<void> {
  deps.tokenCache.delete(TokenCache.key(tenant.tenant, linked.account));
  await audit(deps, tenant, 'link.complete', { caller: linked.caller, account: linked.account, outcome: linked.previous ? 'relinked' : 'linked' });
  await deps.events.publish('AccountLinked', { tenant: tenant.tenant, account: linked.account, relinked: Boolean(linked.previous) });
  if (linked.previous) await revokeAccountTokens(deps, tenant, linked.previous, openedClient);
}
