import { BrokerError, toBrokerError } from '../errors.js';
import { readTokenState } from '../store/exposures.js';
import { tokenAnswer, type TokenAnswer } from './account-tokens.js';
import { requireAccess, type Caller } from './callers.js';
import type { BrokerDeps } from './deps.js';
import { ensureFreshToken, type RefreshMode } from './refresh.js';
import { exposeToken } from './token-exposure.js';
import { TokenCache, type CachedToken } from './token-cache.js';

export const DEFAULT_MIN_TTL_S = 60;
/** A revalidation waits this long for the store, then the cached token is served stale (or the read fails). */
export const REVALIDATE_TIMEOUT_MS = 1_000;

/** How a token read was served: from memory, from the store, after a refresh, or stale (a dependency was unreachable). */
export type TokenSource = 'hit' | 'miss' | 'refreshed' | 'stale';

export interface ServedToken {
  answer: TokenAnswer;
  generation: number;
  source: TokenSource;
}

/**
 * `GET …/token` (mode `ensure`) and `POST …/refresh` (mode `force`): a valid access token with at
 * least `minTtlS` seconds left, refreshed first when needed. Audited by exposure: the first read of
 * a token by a caller writes its `token.read` before the answer; every other read is counted.
 */
export async function getToken(
  deps: BrokerDeps,
  caller: Caller,
  target: { tenant: string; account: string },
  options: { mode: RefreshMode; minTtlS: number; deadline: number },
): Promise<ServedToken> {
  requireAccess(caller, target.tenant, 'service');
  // counts are written in the background of a read once the oldest is 30 s old, and never delay its answer
  deps.readCounts.flushIfDue();
  try {
    return await serveToken(deps, caller, target, options);
  } catch (err) {
    const { code, status } = toBrokerError(err);
    // e.g. a ciphertext that does not open under this account's context: served nothing, said loudly
    if (status >= 500) deps.log.error('token.read_failed', { tenant: target.tenant, account: target.account, error: code, err });
    // failed reads are counted the same way, with outcome failed:<code>
    deps.readCounts.count({ ...target, caller: caller.id, outcome: `failed:${code}` });
    throw err;
  }
}

async function serveToken(
  deps: BrokerDeps,
  caller: Caller,
  target: { tenant: string; account: string },
  options: { mode: RefreshMode; minTtlS: number; deadline: number },
): Promise<ServedToken> {
  if (options.mode === 'ensure') {
    const cached = await fromCache(deps, target, options.minTtlS * 1000);
    if (cached) return serve(deps, caller, target, cached.entry, cached.stale ? 'stale' : 'hit');
  }
  const fresh = await ensureFreshToken(deps, { ...target, mode: options.mode, minTtlMs: options.minTtlS * 1000, deadline: options.deadline, caller: caller.id });
  // a token served stale after a failed refresh is not cached: the next read tries again
  const entry = fresh.stale ? deps.tokenCache.entryOf(fresh.record, fresh.accessToken) : deps.tokenCache.remember(fresh.record, fresh.accessToken);
  return serve(deps, caller, target, entry, fresh.stale ? 'stale' : fresh.refreshed ? 'refreshed' : 'miss');
}

async function serve(deps: BrokerDeps, caller: Caller, target: { tenant: string; account: string }, entry: CachedToken, source: TokenSource): Promise<ServedToken> {
  const outcome = source === 'stale' ? 'served_stale' : source === 'refreshed' ? 'refreshed' : 'ok';
  const recorded = await exposeToken(deps, caller.id, target, entry, outcome);
  // repeat reads are counted, in memory: no store or KMS call
  if (!recorded) deps.readCounts.count({ ...target, caller: caller.id, generation: entry.generation, outcome: source === 'stale' ? 'served_stale' : 'ok' });
  return { answer: tokenAnswer(entry, entry.accessToken, deps.clock()), generation: entry.generation, source };
}

/**
 * The cached token, if it may be served: at once while it is fresh; after a revalidation (a
 * projected read, no decrypt) when it is due; stale while the store cannot be reached, within the
 * cache's bound. Undefined sends the read to the store.
 */
async function fromCache(deps: BrokerDeps, target: { tenant: string; account: string }, minTtlMs: number): Promise<{ entry: CachedToken; stale: boolean } | undefined> {
  const key = TokenCache.key(target.tenant, target.account);
  const found = deps.tokenCache.lookup(key, deps.clock(), minTtlMs);
  if (!found) return undefined;
  // a cache hit does no I/O at all
  if (found.state === 'fresh') return { entry: found.entry, stale: false };
  if (found.state === 'stale') return { entry: found.entry, stale: true };
  try {
    const state = await deps.singleFlight.run(`revalidate:${key}`, () =>
      readTokenState(deps.db, target.tenant, target.account, AbortSignal.timeout(REVALIDATE_TIMEOUT_MS)),
    );
    if (!TokenCache.holds(state, found.entry)) {
      // unlinked, re-linked, refreshed or needs_reauth elsewhere: read (and decrypt) what is there now
      deps.tokenCache.delete(key);
      return undefined;
    }
    deps.tokenCache.revalidated(found.entry, state!);
    return { entry: found.entry, stale: false };
  } catch (err) {
    if (toBrokerError(err).status !== 503) throw err;
    // when revalidation cannot reach the store, the still-valid token keeps being served for a bounded time
    if (!deps.tokenCache.mayServeStale(found.entry)) {
      throw new BrokerError('temporarily_unavailable', 503, "the broker's table is unreachable or busy; try again shortly", { cause: err, retryAfterS: 1 });
    }
    // once per failed attempt, however many reads shared it
    if (deps.tokenCache.revalidationFailed(found.entry)) deps.log.warn('token.served_stale', { tenant: target.tenant, account: target.account, reason: 'store_unreachable', err });
    return { entry: found.entry, stale: true };
  }
}
