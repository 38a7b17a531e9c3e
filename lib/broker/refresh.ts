import { setTimeout as sleep } from 'node:timers/promises';
import { BrokerError, notFound, toBrokerError } from '../errors.js';
import { refreshGrant, type GrantedTokens } from '../oauth/client.js';
import { REFRESH_GRANT, ROTATED_PAIR_COMMIT, withRetries } from '../retry.js';
import { commitRefresh, getAccount, releaseRefreshLease, takeRefreshLease } from '../store/accounts.js';
import type { AccountRecord, AccountTokens, TenantRecord } from '../store/records.js';
import { accountTokensContext, nextDueAt } from './account-tokens.js';
import { audit } from './audit-trail.js';
import { reregisterIfSecretExpired } from './client-secret-expiry.js';
import { openTenantClient } from './client-secrets.js';
import type { BrokerDeps } from './deps.js';
import { requireReauth } from './reauth.js';
import { readTenant } from './tenant-read.js';

/**
 * The refresh engine. One refresh call to the provider per token generation, whoever asks:
 *
 * 1. In one process, concurrent callers share one in-flight promise ({@link SingleFlight}).
 * 2. Across processes, a conditional write takes a lease on the generation (`takeRefreshLease`);
 *    the others wait briefly and serve what the holder commits. A lease left by a crashed holder
 *    lapses after {@link LEASE_MS}.
 * 3. The new pair is committed with a compare-and-set on the generation: a newer pair is never
 *    overwritten.
 * 4. `invalid_grant` on a refresh token believed current: re-read first (a sibling may have
 *    committed); otherwise the account becomes `needs_reauth`. Never a retry loop.
 * 5. Transient failures retry with backoff inside the deadline, release the lease, and never mark
 *    an account dead; the current token is served while it is still valid.
 */
export const LEASE_MS = 20_000;
/** Waiting for another holder polls at most this often (≈ 2 × LEASE_MS at the longest interval). */
const MAX_WAIT_ROUNDS = 160;

export type RefreshMode =
  /** Make sure at least `minTtlMs` of validity is left; refresh only when it is not. */
  | 'ensure'
  /** Refresh now, unless another caller committed a newer generation meanwhile. */
  | 'force';

export interface RefreshRequest {
  tenant: string;
  account: string;
  mode: RefreshMode;
  minTtlMs: number;
  /** ms epoch by which an answer is due (the Lambda's remaining time, or a local budget). */
  deadline: number;
  caller: string;
}

export interface FreshToken {
  record: AccountRecord;
  accessToken: string;
  /** True when this call (or one it waited for) committed a new generation. */
  refreshed: boolean;
  /** True when a transient failure left the still-valid current token in place. */
  stale: boolean;
}

export function ensureFreshToken(deps: BrokerDeps, req: RefreshRequest): Promise<FreshToken> {
  // callers share an answer only when they asked for the same thing (a 900 s min_ttl never gets
  // the answer to a 60 s one); refreshes of one generation are shared anyway, through the lease
  const wanted = req.mode === 'ensure' ? `:${req.minTtlMs}` : '';
  return deps.singleFlight.run(`${req.mode}${wanted}:${req.tenant}/${req.account}`, () => acquire(deps, req));
}

/**
 * A token refreshed this recently is not refreshed again for a caller asking more validity than
 * the provider issues (a min_ttl above the token lifetime would otherwise cost a refresh per call).
 */
export const MIN_REFRESH_INTERVAL_MS = 30_000;

async function acquire(deps: BrokerDeps, req: RefreshRequest): Promise<FreshToken> {
  let seenGeneration: number | undefined;
  let waitMs = 25;
  // bounded: even a clock that stands still cannot keep a caller here for ever
  for (let round = 0; ; round++) {
    const now = deps.clock();
    const rec = await getAccount(deps.db, req.tenant, req.account);
    if (!rec) throw notFound(`account ${req.account} of tenant ${req.tenant} is not linked`);
    assertLinked(rec);
    seenGeneration ??= rec.generation;
    const advanced = rec.generation > seenGeneration;
    if (advanced || (req.mode === 'ensure' && rec.expiresAt - now >= req.minTtlMs)) {
      return { record: rec, accessToken: await openAccessToken(deps, rec), refreshed: advanced, stale: false };
    }
    if (req.mode === 'ensure' && rec.expiresAt > now && now - rec.refreshedAt < MIN_REFRESH_INTERVAL_MS) {
      // as fresh as the provider makes them: serve it, never a refresh per call
      return { record: rec, accessToken: await openAccessToken(deps, rec), refreshed: false, stale: false };
    }
    const lease = await takeRefreshLease(deps.db, rec, rec.generation, leaseOwner(deps), now, LEASE_MS);
    if (lease.ok) return refreshHeld(deps, lease.record, req);
    // another holder is refreshing this generation: wait for its commit, or for its lease to lapse
    if (deps.clock() + waitMs > req.deadline || round >= MAX_WAIT_ROUNDS) {
      if (req.mode === 'ensure' && rec.expiresAt > deps.clock()) {
        return { record: rec, accessToken: await openAccessToken(deps, rec), refreshed: false, stale: true };
      }
      throw new BrokerError('temporarily_unavailable', 503, 'a refresh of this account is in progress; try again in a moment', { retryAfterS: 1 });
    }
    await sleep(waitMs);
    waitMs = Math.min(waitMs * 2, 250);
  }
}

function assertLinked(rec: AccountRecord): void {
  if (rec.status === 'needs_reauth') throw reauthRequired(rec);
}

function reauthRequired(rec: Pick<AccountRecord, 'tenant' | 'account'>): BrokerError {
  return new BrokerError(
    'reauth_required',
    409,
    `LongPort no longer accepts the refresh token of account ${rec.account}: the end user must link it again (POST /v1/tenants/${rec.tenant}/accounts/${rec.account}/link creates a new link URL)`,
  );
}

export const leaseOwner = (deps: Pick<BrokerDeps, 'instanceId'>) => deps.instanceId;

async function openTokens(deps: BrokerDeps, rec: AccountRecord): Promise<AccountTokens> {
  return deps.cipher.open<AccountTokens>(rec.sealedTokens, accountTokensContext(rec.tenant, rec.account));
}

async function openAccessToken(deps: BrokerDeps, rec: AccountRecord): Promise<string> {
  return (await openTokens(deps, rec)).access_token;
}

/**
 * Refreshes an account whose lease this process holds (taken by {@link ensureFreshToken} or by the
 * scheduled refresher), and commits or classifies the outcome.
 */
export async function refreshHeld(
  deps: BrokerDeps,
  rec: AccountRecord,
  req: Pick<RefreshRequest, 'mode' | 'deadline' | 'caller'> & { tenantOf?: (tenant: string) => Promise<TenantRecord> },
): Promise<FreshToken> {
  const owner = leaseOwner(deps);
  const started = deps.clock();
  let tokens: AccountTokens;
  let granted: GrantedTokens;
  let reauthReason: string | undefined;
  let tenantRecord: TenantRecord | undefined;
  try {
    const tenant = await (req.tenantOf ?? (async (t: string) => reregisterIfSecretExpired(deps, await readTenant(deps, t))))(rec.tenant);
    tenantRecord = tenant;
    tokens = await openTokens(deps, rec);
    // tokens go back only to the issuer that granted them, with the client that holds them: after a
    // region move the tenant's client belongs to another issuer, so the end user must link again
    if (rec.issuer !== tenant.issuer) reauthReason = 'issuer_changed';
    else if (!tokens.refresh_token) reauthReason = 'no_refresh_token';
    if (reauthReason === undefined) {
      const client = await openTenantClient(deps, tenant);
      const as = await deps.discovery.get(rec.issuer);
      const run = {
        what: 'refresh',
        clock: deps.clock,
        deadline: req.deadline,
        attemptMs: deps.http.timeoutMs,
        // an endpoint that failed may have moved: the next refresh rediscovers
        onFailure: (failure: BrokerError) => {
          if (failure.code === 'upstream_unavailable') deps.discovery.invalidate(rec.issuer);
        },
      };
      granted = await withRetries(REFRESH_GRANT, run, () => refreshGrant(deps.http, as, client, tokens.refresh_token!, deps.clock));
    }
  } catch (caught) {
    const err = toBrokerError(caught, 'refresh');
    if (err.code === 'invalid_grant') return onInvalidGrant(deps, rec, req);
    // transient, or an answer a retry in a minute will not change (invalid_client: the operator must act)
    const transient = err.code === 'upstream_unavailable' || err.code === 'temporarily_unavailable';
    const retryInS = err.requestedRetryAfterS ?? (transient ? 60 : 3600);
    await releaseRefreshLease(deps.db, rec, owner, { lastError: err.code, dueAt: Math.ceil(deps.clock() / 1000) + retryInS });
    deps.log.warn('refresh.failed', { tenant: rec.tenant, account: rec.account, reason: err.code, transient, retryAfterS: err.requestedRetryAfterS, err });
    await deps.events.publish('TokenRefreshFailed', { tenant: rec.tenant, account: rec.account, reason: err.code });
    if (req.mode === 'ensure' && rec.expiresAt > deps.clock()) {
      // the current token is still valid: serve it rather than fail the caller
      return { record: rec, accessToken: (await openTokens(deps, rec)).access_token, refreshed: false, stale: true };
    }
    throw err;
  }
  if (reauthReason !== undefined) return markNeedsReauth(deps, rec, req.caller, reauthReason);
  // rotation: store the new refresh token; keep the old one only when the answer has none
  const next: AccountTokens = { access_token: granted!.access_token, refresh_token: granted!.refresh_token ?? tokens.refresh_token };
  const now = deps.clock();
  const committed = await commitRotated(deps, rec, next, granted!, now);
  if (!committed.ok) {
    // the account moved on (re-linked or unlinked) while we refreshed: the newer state wins
    deps.log.warn('refresh.commit_lost', { tenant: rec.tenant, account: rec.account, generation: rec.generation });
    const current = committed.current;
    if (!current) throw notFound(`account ${rec.account} of tenant ${rec.tenant} was unlinked`);
    assertLinked(current);
    return { record: current, accessToken: await openAccessToken(deps, current), refreshed: true, stale: false };
  }
  deps.log.info('refresh.committed', {
    tenant: rec.tenant,
    account: rec.account,
    generation: committed.record.generation,
    leadS: Math.round((rec.expiresAt - started) / 1000),
    rotated: Boolean(granted!.refresh_token),
  });
  deps.tokenCache.remember(committed.record, next.access_token, now);
  // the tenant record read above names the trail's incarnation: no second read
  await audit(deps, tenantRecord ?? rec.tenant, 'token.refresh', { caller: req.caller, account: rec.account, outcome: 'refreshed' });
  if (rec.lastError) await deps.events.publish('AccountRecovered', { tenant: rec.tenant, account: rec.account, reason: rec.lastError });
  return { record: committed.record, accessToken: next.access_token, refreshed: true, stale: false };
}

/**
 * Seals and commits a rotated pair. The provider has already retired the old refresh token, so the
 * new pair is the only one left: a passing KMS or DynamoDB failure is retried (policy
 * {@link ROTATED_PAIR_COMMIT}) until `LEASE_MS − 2 s` after the grant answered (the compare-and-set on
 * the generation makes a retry safe), and a final failure is logged loudly.
 */
async function commitRotated(deps: BrokerDeps, rec: AccountRecord, next: AccountTokens, granted: GrantedTokens, now: number) {
  let attempts = 0;
  const run = { what: 'refresh commit', clock: deps.clock, deadline: now + LEASE_MS - 2_000, onFailure: (_: BrokerError, n: number) => (attempts = n) };
  try {
    return await withRetries(ROTATED_PAIR_COMMIT, run, async () =>
      commitRefresh(deps.db, rec, rec.generation, {
        sealedTokens: await deps.cipher.seal(next, accountTokensContext(rec.tenant, rec.account)),
        expiresAt: granted.expiresAt,
        refreshedAt: now,
        scope: granted.scope ?? rec.scope,
        dueAt: nextDueAt(granted.expiresAt, now, deps.config.refreshHorizonS),
      }),
    );
  } catch (err) {
    deps.log.error('refresh.rotated_pair_lost', { tenant: rec.tenant, account: rec.account, generation: rec.generation, attempts, err });
    throw err;
  }
}

async function onInvalidGrant(deps: BrokerDeps, rec: AccountRecord, req: Pick<RefreshRequest, 'mode' | 'deadline' | 'caller'>): Promise<FreshToken> {
  // a sibling may have rotated the token and committed: then its pair is the current one
  const current = await getAccount(deps.db, rec.tenant, rec.account);
  if (current && current.generation > rec.generation) {
    assertLinked(current);
    return { record: current, accessToken: await openAccessToken(deps, current), refreshed: true, stale: false };
  }
  return markNeedsReauth(deps, rec, req.caller, 'invalid_grant');
}

async function markNeedsReauth(deps: BrokerDeps, rec: AccountRecord, caller: string, reason: string): Promise<never> {
  await requireReauth(deps, rec, caller, reason);
  throw reauthRequired(rec);
}
