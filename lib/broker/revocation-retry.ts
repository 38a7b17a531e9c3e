import type { AuditAction } from '../store/audit.js';
import type { PendingRevocation } from '../store/records.js';
import { deletePendingRevocation, listPendingRevocations, rescheduleRevocation, takeRevocationLease } from '../store/revocations.js';
import { audit } from './audit-trail.js';
import type { BrokerDeps } from './deps.js';
import { nextRetryInS, revokeSealed, type RevocationCause } from './revocation.js';

/**
 * Revocations that could not reach the provider (`revocation.ts` keeps them) are tried again by the
 * refresher: after 1, 2, 4, … minutes, at most an hour apart, until the provider accepts, refuses
 * for good (a 4xx: trying again will not help), or {@link REVOCATION_GIVE_UP_MS} after the first
 * failure. Each outcome is audited in the tenant's trail, under the action of what caused the
 * revocation, and the last two are logged as errors: a refresh token may stay live at the provider.
 */
export const REVOCATION_GIVE_UP_MS = 24 * 3_600_000;
/** One attempt in flight per revocation: a crashed attempt's revocation is due again after this. */
export const REVOCATION_LEASE_MS = 60_000;


/** The audit action a revocation's outcome is recorded under: the change it belongs to. */
const ACTION_OF: Record<RevocationCause, AuditAction> = {
  unlink: 'account.unlink',
  tenant_delete: 'account.unlink',
  relink: 'link.complete',
  region_move: 'account.reauth',
};

export interface RevocationRetryReport {
  /** Revocations still waiting after this pass (the `RevocationsPending` gauge). */
  pending: number;
  revoked: number;
  givenUp: number;
}

/** One pass over the pending revocations: those due are tried once each, until `deadline` (ms epoch, deps.clock). */
export async function retryPendingRevocations(deps: BrokerDeps, options: { deadline: number }): Promise<RevocationRetryReport> {
  const report: RevocationRetryReport = { pending: 0, revoked: 0, givenUp: 0 };
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await listPendingRevocations(deps.db, { limit: 100, startKey });
    for (const item of page.items) {
      const due = item.dueAt <= Math.floor(deps.clock() / 1000);
      const outcome = due && deps.clock() < options.deadline ? await retryOne(deps, item) : 'waiting';
      if (outcome === 'revoked') report.revoked += 1;
      else if (outcome === 'given_up') report.givenUp += 1;
      else report.pending += 1;
    }
    startKey = page.startKey;
  } while (startKey);
  return report;
}

async function retryOne(deps: BrokerDeps, item: PendingRevocation): Promise<'revoked' | 'given_up' | 'waiting'> {
  const leased = await takeRevocationLease(deps.db, item, deps.instanceId, deps.clock(), REVOCATION_LEASE_MS);
  // another run has it, or it was done meanwhile
  if (!leased) return 'waiting';
  const client = { tenant: leased.tenant, issuer: leased.issuer, clientId: leased.clientId, tokenEndpointAuthMethod: leased.tokenEndpointAuthMethod, sealedClient: leased.sealedClient };
  const outcome = await revokeSealed(deps, leased, client);
  const attempts = leased.attempts + 1;
  if (outcome.revoked) return settle(deps, leased, `revoked_on_retry:${attempts}`, 'revoked');
  const expired = deps.clock() - leased.firstFailedAt >= REVOCATION_GIVE_UP_MS;
  if (!outcome.transient || expired) {
    const reason = outcome.reason ?? 'unknown';
    // given up after a bound: the refresh token may stay live at the provider, which the operator must know
    deps.log.error('revocation.given_up', { tenant: leased.tenant, account: leased.account, cause: leased.cause, reason, attempts, firstFailedAt: new Date(leased.firstFailedAt).toISOString() });
    return settle(deps, leased, `revocation_given_up:${expired && outcome.transient ? 'retries_exhausted' : reason}`, 'given_up');
  }
  await rescheduleRevocation(deps.db, leased, deps.instanceId, { attempts, lastError: outcome.reason ?? 'unknown', dueAt: Math.floor(deps.clock() / 1000) + nextRetryInS(attempts) });
  return 'waiting';
}

/** A revocation that is over: audited first (a record that cannot be written leaves it pending), then removed. */
async function settle<T extends 'revoked' | 'given_up'>(deps: BrokerDeps, item: PendingRevocation, outcome: string, result: T): Promise<T> {
  await audit(deps, item.tenant, ACTION_OF[item.cause], { caller: 'refresher', account: item.account, outcome });
  await deletePendingRevocation(deps.db, item);
  if (result === 'revoked') deps.log.info('revocation.done', { tenant: item.tenant, account: item.account, cause: item.cause, attempts: item.attempts });
  return result;
}

/**
 * RFC 7592 §2.3: a client deleted at the provider takes its grants with it, so the pending
 * revocations of its tokens are done: each is audited as `revoked_with_client` and removed.
 */
export async function settleRevocationsOfDeletedClient(deps: BrokerDeps, tenant: string, clientId: string): Promise<number> {
  let settled = 0;
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await listPendingRevocations(deps.db, { limit: 100, startKey, tenant });
    for (const item of page.items.filter((p) => p.clientId === clientId)) {
      await settle(deps, item, 'revoked_with_client', 'revoked');
      settled += 1;
    }
    startKey = page.startKey;
  } while (startKey);
  return settled;
}
