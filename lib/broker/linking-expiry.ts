import { claimExpiredLinkSession, dropLinkSessionTokens, queryExpiredLinkSessions } from '../store/links.js';
import type { LinkSessionRecord } from '../store/records.js';
import { getTenant } from '../store/tenants.js';
import { audit } from './audit-trail.js';
import type { BrokerDeps } from './deps.js';
import { linkedAccountRecord } from './linking-accounts.js';
import { revokeAccountTokens, type Revocation } from './revocation.js';

/** Attempts to revoke an expired session's tokens before they are dropped anyway (the log says so). */
export const MAX_SESSION_REVOCATION_ATTEMPTS = 5;
/** An attempt that failed for a reason that may pass is tried again this much later (a later refresher run). */
const SESSION_REVOCATION_RETRY_S = 60;
const TRANSIENT = new Set(['upstream_unavailable', 'temporarily_unavailable']);

export interface LinkSessionSweep {
  /** Expired sessions claimed in this run. */
  expired: number;
  /** Of those, revoked upstream and dropped. */
  revoked: number;
  /** Dropped without a revocation (no revocation endpoint, tenant gone, attempts used up). */
  droppedUnrevoked: number;
  /** Left for a later run after a failure that may pass. */
  retrying: number;
}

/**
 * Unconfirmed linkings expire (`confirm_links`): each link session the tenant did not confirm within
 * 10 minutes has its tokens revoked upstream (RFC 7009, through the account revocation routine) and
 * dropped. Called by every refresher run; it finds the sessions through the due index (never a
 * scan) and never throws, so it cannot stop the refresher's own work.
 */
export async function expireUnconfirmedLinkSessions(deps: BrokerDeps, options: { deadline: number }): Promise<LinkSessionSweep> {
  // unconfirmed link sessions expire after 10 minutes: the refresher revokes their tokens upstream and drops them
  const sweep: LinkSessionSweep = { expired: 0, revoked: 0, droppedUnrevoked: 0, retrying: 0 };
  // a revocation is at most two provider calls (UPSTREAM_CLEANUP): start one only if it fits
  const lastStart = options.deadline - 2 * deps.http.timeoutMs - 1000;
  try {
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await queryExpiredLinkSessions(deps.db, Math.floor(deps.clock() / 1000), { limit: 25, startKey });
      for (const key of page.keys) {
        if (deps.clock() > lastStart) return sweep;
        await expireSession(deps, key, sweep).catch((err: unknown) => deps.log.error('link_session.expiry_failed', { err }));
      }
      startKey = page.startKey;
    } while (startKey);
  } catch (err) {
    deps.log.error('link_session.sweep_failed', { err });
  } finally {
    if (sweep.expired > 0) deps.log.info('link_session.sweep', { ...sweep });
  }
  return sweep;
}

async function expireSession(deps: BrokerDeps, key: { pk: string; sk: string }, sweep: LinkSessionSweep): Promise<void> {
  const now = deps.clock();
  /* Precondition: an expired session is claimed before its tokens are revoked, and a claimed session can no longer be confirmed. */
  const session = await claimExpiredLinkSession(deps.db, key, now, Math.floor(now / 1000) + SESSION_REVOCATION_RETRY_S);
  // confirmed meanwhile, or another run holds it
  if (!session) return;
  sweep.expired += 1;
  const revocation = await revokeSessionTokens(deps, session, now);
  const attempts = session.revocationAttempts ?? 1;
  if (!revocation.revoked && TRANSIENT.has(revocation.reason ?? '') && attempts < MAX_SESSION_REVOCATION_ATTEMPTS) {
    sweep.retrying += 1;
    deps.log.warn('link_session.revocation_deferred', { tenant: session.tenant, account: session.account, attempts, reason: revocation.reason });
    return;
  }
  await dropLinkSessionTokens(deps.db, key, deps.clock());
  if (revocation.revoked) sweep.revoked += 1;
  else sweep.droppedUnrevoked += 1;
  deps.log.info('link_session.expired', { tenant: session.tenant, account: session.account, revoked: revocation.revoked, reason: revocation.reason, attempts });
  if (revocation.reason !== 'tenant_gone') {
    const outcome = revocation.revoked ? 'unconfirmed:revoked' : `unconfirmed:not_revoked:${revocation.reason}`;
    await audit(deps, session.tenant, 'link.complete', { caller: 'refresher', account: session.account, outcome });
  }
}

/** The tokens go back to the issuer that granted them, with the tenant's client, as an account's would. */
async function revokeSessionTokens(deps: BrokerDeps, session: LinkSessionRecord, now: number): Promise<Revocation> {
  const tenant = await getTenant(deps.db, session.tenant);
  // the tenant was deleted (its client, and the grants with it, went too) or registered anew
  if (!tenant || tenant.createdAt !== session.tenantCreatedAt) return { revoked: false, reason: 'tenant_gone' };
  const wouldBe = linkedAccountRecord({ ...session, sealedTokens: session.sealedTokens!, expiresAt: session.tokenExpiresAt }, undefined, now, 0);
  return revokeAccountTokens(deps, tenant, wouldBe);
}
