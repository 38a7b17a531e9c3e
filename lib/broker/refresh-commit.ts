import { settledOrTimeout } from '../background.js';
import { BrokerError } from '../errors.js';
import type { GrantedTokens } from '../oauth/client.js';
import { ROTATED_PAIR_COMMIT, withRetries } from '../retry.js';
import { commitRefresh } from '../store/accounts.js';
import type { AccountRecord, AccountTokens } from '../store/records.js';
import { accountTokensContext, nextDueAt } from './account-tokens.js';
import { audit, type TrailOwner } from './audit-trail.js';
import type { BrokerDeps } from './deps.js';

/**
 * Committing a rotated pair. Once the provider has answered a refresh, the old refresh token is
 * dead and the new pair exists only in this process: it must reach the store, and nobody else may
 * present the old token while it is on its way.
 *
 * The timeline of one lease (all counted from when the lease was taken, on the broker's clock):
 *
 *   0 ──── grant (retries included) ──── 15 s ──── commit retries ──── 55 s ─ margin ─ 60 s lease ends
 *
 * - The lease ({@link LEASE_MS}) is long enough that a pair survives a 30 s store outage: the commit
 *   keeps trying for at least 60 − 15 − 5 − 3 = 37 s after the latest possible grant.
 * - Commit retries never outlive the lease: none starts unless it ends ({@link STORE_ATTEMPT_MS})
 *   {@link COMMIT_MARGIN_MS} before the lease does (the margin absorbs clock skew between hosts).
 *   After that another process may take the lease, and the compare-and-set on the generation and on
 *   the lease's holder keeps a late write from overwriting what it commits.
 * - The caller waits at most {@link COMMIT_ANSWER_WAIT_MS} for the commit; then it is answered (the
 *   still-valid token, or 503 with `Retry-After`) while the commit goes on in `deps.background`,
 *   bounded by the process's life or the Lambda invocation's remaining time (`lib/background.ts`).
 */
export const LEASE_MS = 60_000;
/** The provider grant, retries included, must be over this long after the lease was taken. */
export const GRANT_WINDOW_MS = 15_000;
/** One store or key-service attempt gives up after about this long (the SDK clients' request deadlines). */
export const STORE_ATTEMPT_MS = 3_000;
/** The last commit attempt ends at least this long before the lease does. */
export const COMMIT_MARGIN_MS = 5_000;
/** How long a caller waits for a commit that keeps failing before it is answered. */
export const COMMIT_ANSWER_WAIT_MS = 2_000;

export type CommitOutcome =
  | { state: 'committed'; record: AccountRecord }
  /** A newer state won (re-linked, unlinked, or refreshed by a later lease holder); `current` is it. */
  | { state: 'superseded'; current: AccountRecord | undefined }
  /** Still retrying in the background: the caller is answered without it. */
  | { state: 'pending' };

/**
 * Commits `next` (the pair `granted` by a refresh of `leased`), audits the refresh, and answers
 * how it went within {@link COMMIT_ANSWER_WAIT_MS}; a commit still failing by then goes on in the
 * background until the lease is nearly over.
 */
export async function commitInBackground(
  deps: BrokerDeps,
  leased: AccountRecord,
  next: AccountTokens,
  granted: GrantedTokens,
  req: { deadline: number; caller: string; tenant: TrailOwner },
): Promise<CommitOutcome> {
  const receivedAt = deps.clock();
  const committing = commitRotated(deps, leased, next, granted, receivedAt).then(async (outcome): Promise<CommitOutcome> => {
    if (outcome.state === 'committed') await recordCommit(deps, leased, outcome.record, { accessToken: next.access_token, rotated: granted.refresh_token !== undefined }, req, receivedAt);
    return outcome;
  });
  // a commit outlives its caller: it is retried for as long as the lease allows
  deps.background.track('refresh commit', committing);
  const answered = await settledOrTimeout([committing], Math.max(0, Math.min(COMMIT_ANSWER_WAIT_MS, req.deadline - deps.clock())));
  if (!answered) {
    deps.log.warn('refresh.commit_pending', { tenant: leased.tenant, account: leased.account, generation: leased.generation, leaseUntil: leased.leaseUntil });
    return { state: 'pending' };
  }
  return committing;
}

/**
 * Seals and commits a rotated pair under {@link ROTATED_PAIR_COMMIT}: a passing KMS or DynamoDB
 * failure is retried (the compare-and-set makes a retry safe) until the lease is nearly over; a
 * final failure is logged loudly as `refresh.rotated_pair_lost`.
 */
async function commitRotated(deps: BrokerDeps, leased: AccountRecord, next: AccountTokens, granted: GrantedTokens, receivedAt: number): Promise<Exclude<CommitOutcome, { state: 'pending' }>> {
  const owner = deps.instanceId;
  const leaseUntil = leased.leaseUntil ?? receivedAt;
  let attempts = 0;
  // commit retries never outlive the lease: none starts after the lease end less the margin
  const run = { what: 'refresh commit', clock: deps.clock, deadline: leaseUntil - COMMIT_MARGIN_MS, attemptMs: STORE_ATTEMPT_MS, onFailure: (_: BrokerError, n: number) => (attempts = n) };
  let cas;
  try {
    cas = await withRetries(ROTATED_PAIR_COMMIT, run, async () =>
      commitRefresh(deps.db, leased, leased.generation, owner, {
        sealedTokens: await deps.cipher.seal(next, accountTokensContext(leased.tenant, leased.account)),
        expiresAt: granted.expiresAt,
        refreshedAt: receivedAt,
        scope: granted.scope ?? leased.scope,
        dueAt: nextDueAt(granted.expiresAt, receivedAt, deps.config.refreshHorizonS),
      }),
    );
  } catch (err) {
    deps.log.error('refresh.rotated_pair_lost', { tenant: leased.tenant, account: leased.account, generation: leased.generation, attempts, reason: 'commit_failed_until_lease_end', err });
    throw err;
  }
  if (cas.ok) return { state: 'committed', record: cas.record };
  if (cas.current && cas.current.generation === leased.generation && cas.current.status === 'linked') {
    // same generation, another holder: our lease lapsed and was taken over before the commit landed
    deps.log.error('refresh.rotated_pair_lost', { tenant: leased.tenant, account: leased.account, generation: leased.generation, attempts, reason: 'lease_taken_over' });
    throw new BrokerError('temporarily_unavailable', 503, 'the refresh of this account was taken over by another process; try again in a moment', { retryAfterS: 1 });
  }
  deps.log.warn('refresh.commit_lost', { tenant: leased.tenant, account: leased.account, generation: leased.generation });
  return { state: 'superseded', current: cas.current };
}

/** After a commit: the log line, this process's cache, the audit record, and `AccountRecovered` when it follows a failure. */
async function recordCommit(deps: BrokerDeps, leased: AccountRecord, committed: AccountRecord, pair: { accessToken: string; rotated: boolean }, req: { caller: string; tenant: TrailOwner }, receivedAt: number): Promise<void> {
  deps.log.info('refresh.committed', {
    tenant: leased.tenant,
    account: leased.account,
    generation: committed.generation,
    leadS: Math.round((leased.expiresAt - receivedAt) / 1000),
    rotated: pair.rotated,
  });
  deps.tokenCache.remember(committed, pair.accessToken);
  // the tenant record the refresh read names the trail's incarnation: no second read
  await audit(deps, req.tenant, 'token.refresh', { caller: req.caller, account: leased.account, outcome: 'refreshed' });
  if (leased.lastError) await deps.events.publish('AccountRecovered', { tenant: leased.tenant, account: leased.account, reason: leased.lastError });
}
