import { setTimeout as sleep } from 'node:timers/promises';
import { BrokerError, notFound, toBrokerError } from '../errors.js';
import { refreshGrant, type GrantedTokens } from '../oauth/client.js';
import { REFRESH_GRANT, withRetries } from '../retry.js';
import { getAccount, releaseRefreshLease, takeRefreshLease } from '../store/accounts.js';
import type { AccountRecord, AccountTokens, TenantRecord } from '../store/records.js';
import { accountTokensContext } from './account-tokens.js';
import { ensureClientSecretCurrent, noteClientAccepted, OperatorMustAct, operatorStep, recoverRefusedClient, refuseWhileOperatorNeeded } from './client-secret-expiry.js';
import { openTenantClient } from './client-secrets.js';
import type { BrokerDeps } from './deps.js';
import { requireReauth } from './reauth.js';
import { commitInBackground, GRANT_WINDOW_MS, LEASE_MS } from './refresh-commit.js';
import { readTenant } from './tenant-read.js';

export { LEASE_MS } from './refresh-commit.js';

/**
 * The refresh engine. One refresh call to the provider per token generation, whoever asks:
 *
 * 1. In one process, concurrent callers share one in-flight promise ({@link SingleFlight}).
 * 2. Across processes, a conditional write takes a lease on the generation (`takeRefreshLease`);
 *    the others wait briefly and serve what the holder commits. A lease left by a crashed holder
 *    lapses after {@link LEASE_MS}.
 * 3. The new pair is committed with a compare-and-set on the generation and the lease's holder
 *    (`refresh-commit.ts`): a newer pair is never overwritten, and a pair the provider handed over
 *    is retried in the background until the lease is nearly over, never after.
 * 4. `invalid_grant` on a refresh token believed current: re-read first (a sibling may have
 *    committed); otherwise the account becomes `needs_reauth`. Never a retry loop.
 * 5. Transient failures retry with backoff inside the deadline, release the lease, and never mark
 *    an account dead; the current token is served while it is still valid.
 * 6. `invalid_client` is the operator's to fix (`client-secret-expiry.ts`): after one RFC 7592 read
 *    for a rotated secret, the tenant is marked, and its accounts are tried again hourly, not every minute.
 */
/**
 * A caller waits this long at most (real time: even a clock that stands still cannot keep it) for
 * another holder's commit, then is answered without it.
 */
export const HOLDER_WAIT_MS = 4_000;

export type RefreshMode =
  /** Make sure at least `minTtlMs` of validity is left; refresh only when it is not. */
  | 'ensure'
  /** Refresh now, unless the account was refreshed moments ago (or another caller committed a newer generation meanwhile). */
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

/** Forced refreshes coalesce: within this long of an account's last refresh, `POST …/refresh` answers that token. */
export const FORCED_REFRESH_FLOOR_MS = 10_000;

/**
 * With a `min_ttl` at or above the lifetime the provider issues no refresh can meet it: the
 * freshest token is served as it is, and a token refreshed this recently counts as the freshest.
 */
export const MIN_REFRESH_INTERVAL_MS = 30_000;

/** Whether the stored token is the answer to `req` at `now`, without a refresh. */
export function answersWithoutRefresh(rec: Pick<AccountRecord, 'expiresAt' | 'refreshedAt'>, req: Pick<RefreshRequest, 'mode' | 'minTtlMs'>, now: number): boolean {
  if (rec.expiresAt <= now) return false;
  const sinceRefreshMs = now - rec.refreshedAt;
  // forced refreshes coalesce: within 10 s of an account's last refresh, POST …/refresh answers that fresh token without calling the provider
  if (req.mode === 'force') return sinceRefreshMs < FORCED_REFRESH_FLOOR_MS;
  if (rec.expiresAt - now >= req.minTtlMs) return true;
  // min_ttl shorter than the lifetime the provider issues is guaranteed, also right after a refresh;
  // min_ttl at or above the lifetime the provider issues: the freshest token is served as it is
  const issuedLifetimeMs = rec.expiresAt - rec.refreshedAt;
  return req.minTtlMs >= issuedLifetimeMs && sinceRefreshMs < MIN_REFRESH_INTERVAL_MS;
}

async function acquire(deps: BrokerDeps, req: RefreshRequest): Promise<FreshToken> {
  let seenGeneration: number | undefined;
  let waitMs = 25;
  let waitedMs = 0;
  for (;;) {
    const now = deps.clock();
    const rec = await getAccount(deps.db, req.tenant, req.account);
    if (!rec) throw notFound(`account ${req.account} of tenant ${req.tenant} is not linked`);
    assertLinked(rec);
    seenGeneration ??= rec.generation;
    const advanced = rec.generation > seenGeneration;
    if (advanced || answersWithoutRefresh(rec, req, now)) {
      return { record: rec, accessToken: await openAccessToken(deps, rec), refreshed: advanced, stale: false };
    }
    const lease = await takeRefreshLease(deps.db, rec, rec.generation, leaseOwner(deps), now, LEASE_MS);
    if (lease.ok) return refreshHeld(deps, lease.record, req);
    // another holder is refreshing this generation (or committing it): wait for its commit, or for its lease to lapse
    if (deps.clock() + waitMs > req.deadline || waitedMs + waitMs > HOLDER_WAIT_MS) return servedWithoutRefresh(deps, rec, req, 'a refresh of this account is in progress; try again in a moment');
    await sleep(waitMs);
    waitedMs += waitMs;
    waitMs = Math.min(waitMs * 2, 250);
  }
}

/**
 * When no new pair can be had now: the current token while it is still valid (`ensure` only: a
 * forced refresh asked for a new one), else 503 with a short `Retry-After`.
 */
async function servedWithoutRefresh(deps: BrokerDeps, rec: AccountRecord, req: Pick<RefreshRequest, 'mode'>, why: string, retryAfterS = 1): Promise<FreshToken> {
  if (req.mode === 'ensure' && rec.expiresAt > deps.clock()) return { record: rec, accessToken: await openAccessToken(deps, rec), refreshed: false, stale: true };
  throw new BrokerError('temporarily_unavailable', 503, why, { retryAfterS });
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

/** The tenant as a refresh needs it: read, with a current client secret (RFC 7592 renewal, see client-secret-expiry.ts). */
const currentTenant = async (deps: BrokerDeps, tenant: string) => ensureClientSecretCurrent(deps, await readTenant(deps, tenant));

/**
 * Refreshes an account whose lease this process holds (taken by {@link ensureFreshToken} or by the
 * scheduled refresher), and commits or classifies the outcome.
 */
export async function refreshHeld(
  deps: BrokerDeps,
  rec: AccountRecord,
  req: Pick<RefreshRequest, 'mode' | 'deadline' | 'caller'> & { tenantOf?: (tenant: string) => Promise<TenantRecord> },
): Promise<FreshToken> {
  const leaseTakenAt = (rec.leaseUntil ?? deps.clock() + LEASE_MS) - LEASE_MS;
  let tokens: AccountTokens;
  let granted: GrantedTokens;
  let reauthReason: string | undefined;
  let tenant: TenantRecord | undefined;
  try {
    tenant = await (req.tenantOf ?? ((t: string) => currentTenant(deps, t)))(rec.tenant);
    tokens = await openTokens(deps, rec);
    // tokens go back only to the issuer that granted them, with the client that holds them: after a
    // region move the tenant's client belongs to another issuer, so the end user must link again
    if (rec.issuer !== tenant.issuer) reauthReason = 'issuer_changed';
    else if (!tokens.refresh_token) reauthReason = 'no_refresh_token';
    if (reauthReason === undefined) {
      refuseWhileOperatorNeeded(deps, tenant);
      // the grant, retries included, ends early in the lease: the rest of it is the commit's
      granted = await grantWithCurrentClient(deps, rec, tenant, tokens.refresh_token!, Math.min(req.deadline, leaseTakenAt + GRANT_WINDOW_MS));
      await noteClientAccepted(deps, tenant);
    }
  } catch (caught) {
    const err = toBrokerError(caught, 'refresh');
    if (err.code === 'invalid_grant') return onInvalidGrant(deps, rec, req);
    return onFailedGrant(deps, rec, req, err, tenant);
  }
  if (reauthReason !== undefined) return markNeedsReauth(deps, rec, req.caller, reauthReason);
  // rotation: store the new refresh token; keep the old one only when the answer has none
  const next: AccountTokens = { access_token: granted!.access_token, refresh_token: granted!.refresh_token ?? tokens.refresh_token };
  const commit = await commitInBackground(deps, rec, next, granted!, { ...req, tenant: tenant ?? rec.tenant });
  if (commit.state === 'pending') {
    // the pair is safe in this process while the lease holds; the caller is answered now
    return servedWithoutRefresh(deps, rec, req, 'the refreshed token is being stored; try again in a moment', 2);
  }
  if (commit.state === 'superseded') {
    // the account moved on (re-linked, unlinked, or refreshed by a later lease holder): the newer state wins
    const current = commit.current;
    if (!current) throw notFound(`account ${rec.account} of tenant ${rec.tenant} was unlinked`);
    assertLinked(current);
    return { record: current, accessToken: await openAccessToken(deps, current), refreshed: true, stale: false };
  }
  return { record: commit.record, accessToken: next.access_token, refreshed: true, stale: false };
}

/** RFC 6749 §6 with the tenant's client; a refused client gets one more try with a secret the provider rotated (RFC 7592 read). */
async function grantWithCurrentClient(deps: BrokerDeps, rec: AccountRecord, tenant: TenantRecord, refreshToken: string, deadline: number): Promise<GrantedTokens> {
  const grant = async (t: TenantRecord) => {
    const client = await openTenantClient(deps, t);
    const as = await deps.discovery.get(rec.issuer);
    const run = {
      what: 'refresh',
      clock: deps.clock,
      deadline,
      attemptMs: deps.http.timeoutMs,
      // an endpoint that failed may have moved: the next refresh rediscovers
      onFailure: (failure: BrokerError) => {
        if (failure.code === 'upstream_unavailable') deps.discovery.invalidate(rec.issuer);
      },
    };
    return withRetries(REFRESH_GRANT, run, () => refreshGrant(deps.http, as, client, refreshToken, deps.clock));
  };
  try {
    return await grant(tenant);
  } catch (caught) {
    if (toBrokerError(caught).code !== 'invalid_client') throw caught;
    // the provider refused the client: it may have rotated the secret (RFC 7592 read), else the operator must act
    return grant(await recoverRefusedClient(deps, tenant));
  }
}

/**
 * A grant that failed for another reason than `invalid_grant`: the lease is released with when to
 * try again (a minute for a passing failure or the provider's `Retry-After`, an hour for what a
 * retry will not fix: `invalid_client` and the like), logged and published with the operator's
 * next step where there is one; the current token is served while valid.
 */
async function onFailedGrant(deps: BrokerDeps, rec: AccountRecord, req: Pick<RefreshRequest, 'mode'>, err: BrokerError, tenant: TenantRecord | undefined): Promise<FreshToken> {
  const transient = err.code === 'upstream_unavailable' || err.code === 'temporarily_unavailable';
  const retryInS = err.requestedRetryAfterS ?? (transient ? 60 : 3600);
  // invalid_client: the operator must act, and the event and the log say how
  const action = err instanceof OperatorMustAct ? err.action : err.code === 'invalid_client' && tenant ? operatorStep(tenant) : undefined;
  await releaseRefreshLease(deps.db, rec, leaseOwner(deps), { lastError: err.code, dueAt: Math.ceil(deps.clock() / 1000) + retryInS });
  deps.log.warn('refresh.failed', { tenant: rec.tenant, account: rec.account, reason: err.code, transient, retryInS, retryAfterS: err.requestedRetryAfterS, ...(action ? { action } : {}), err });
  await deps.events.publish('TokenRefreshFailed', { tenant: rec.tenant, account: rec.account, reason: err.code, ...(action ? { action } : {}) });
  if (req.mode === 'ensure' && rec.expiresAt > deps.clock()) {
    // the current token is still valid: serve it rather than fail the caller
    return { record: rec, accessToken: await openAccessToken(deps, rec), refreshed: false, stale: true };
  }
  throw err;
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
