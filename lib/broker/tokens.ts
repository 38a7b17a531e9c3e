import { BrokerError, toBrokerError } from '../errors.js';
import { readTokenState } from '../store/exposures.js';
import { secondsLeft, tokenAnswer, type TokenAnswer } from './account-tokens.js';
import { requireAccess, type Caller } from './callers.js';
import type { BrokerDeps } from './deps.js';
import { ensureFreshToken, type RefreshMode } from './refresh.js';
import { exposeToken, holdsTokenRead } from './token-exposure.js';
import { TokenCache, type CachedToken } from './token-cache.js';

export const DEFAULT_MIN_TTL_S = 60;
/** A revalidation waits this long for the store, then the cached token is served stale (or the read fails). */
export const REVALIDATE_TIMEOUT_MS = 1_000;

/** How a token read was served: from memory, from the store, after a refresh, or stale (a dependency was unreachable). */
export type TokenSource = 'hit' | 'miss' | 'refreshed' | 'stale';

export interface ServedToken {
  /** The answer ({@link TokenAnswer}) as JSON, the body of `GET …/token`. */
  json: string;
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
  const hit = options.mode === 'ensure' ? servedFromMemory(deps, caller, target, options.minTtlS) : undefined;
  if (hit) return hit;
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

/**
 * A cache hit: the token of `GET …/token` is in memory with `minTtlS` left, validated within the
 * cache's bound, and the caller is known to hold its `token.read`. It is answered at once, not with
 * a promise (no I/O, nothing awaited), and counted: the hot path of every service. Anything else is
 * undefined, and nothing was done. The caller's access to the tenant is checked before.
 */
export function servedFromMemory(deps: BrokerDeps, caller: Caller, target: { tenant: string; account: string }, minTtlS: number): ServedToken | undefined {
  const found = deps.tokenCache.lookup(TokenCache.key(target.tenant, target.account), deps.clock(), minTtlS * 1000);
  if (found?.state !== 'fresh' || !holdsTokenRead(caller.id, found.entry)) return undefined;
  deps.readCounts.flushIfDue();
  return answered(deps, caller, target, found.entry, 'hit', false);
}

/**
 * A read the cache answers without I/O is answered at once, not with a promise. A revalidation, a
 * read from the store or a refresh, and a caller's first exposure to a token are awaited.
 */
function serveToken(
  deps: BrokerDeps,
  caller: Caller,
  target: { tenant: string; account: string },
  options: { mode: RefreshMode; minTtlS: number; deadline: number },
): ServedToken | Promise<ServedToken> {
  if (options.mode === 'ensure') {
    const key = TokenCache.key(target.tenant, target.account);
    const found = deps.tokenCache.lookup(key, deps.clock(), options.minTtlS * 1000);
    // a cache hit does no I/O at all
    if (found?.state === 'fresh') return serve(deps, caller, target, found.entry, 'hit');
    if (found?.state === 'stale') return serve(deps, caller, target, found.entry, 'stale');
    if (found) return revalidated(deps, target, key, found.entry).then((cached) => (cached ? serve(deps, caller, target, cached.entry, cached.stale ? 'stale' : 'hit') : serveFromStore(deps, caller, target, options)));
  }
  return serveFromStore(deps, caller, target, options);
}

async function serveFromStore(
  deps: BrokerDeps,
  caller: Caller,
  target: { tenant: string; account: string },
  options: { mode: RefreshMode; minTtlS: number; deadline: number },
): Promise<ServedToken> {
  const fresh = await ensureFreshToken(deps, { ...target, mode: options.mode, minTtlMs: options.minTtlS * 1000, deadline: options.deadline, caller: caller.id });
  // a token served stale after a failed refresh is not cached: the next read tries again
  const entry = fresh.stale ? deps.tokenCache.entryOf(fresh.record, fresh.accessToken) : deps.tokenCache.remember(fresh.record, fresh.accessToken);
  return serve(deps, caller, target, entry, fresh.stale ? 'stale' : fresh.refreshed ? 'refreshed' : 'miss');
}

/** The answer; the caller's first read of this token writes its `token.read` first, every other read is counted. */
function serve(deps: BrokerDeps, caller: Caller, target: { tenant: string; account: string }, entry: CachedToken, source: TokenSource): ServedToken | Promise<ServedToken> {
  if (holdsTokenRead(caller.id, entry)) return answered(deps, caller, target, entry, source, false);
  const outcome = source === 'stale' ? 'served_stale' : source === 'refreshed' ? 'refreshed' : 'ok';
  return exposeToken(deps, caller.id, target, entry, outcome).then((recorded) => answered(deps, caller, target, entry, source, recorded));
}

function answered(deps: BrokerDeps, caller: Caller, target: { tenant: string; account: string }, entry: CachedToken, source: TokenSource, recorded: boolean): ServedToken {
  // repeat reads are counted, in memory: no store or KMS call
  if (!recorded) deps.readCounts.count({ tenant: target.tenant, account: target.account, caller: caller.id, generation: entry.generation, outcome: source === 'stale' ? 'served_stale' : 'ok' });
  return { json: answerJson(entry, deps.clock()), generation: entry.generation, source };
}

/**
 * The answer as JSON, made once per second of `expires_in`: a busy service's reads of one cached
 * token within a second answer the same bytes, serialized once.
 */
function answerJson(entry: CachedToken, now: number): string {
  const expiresIn = secondsLeft(entry.expiresAt, now);
  if (entry.lastAnswer?.expiresIn !== expiresIn) entry.lastAnswer = { expiresIn, json: JSON.stringify(tokenAnswer(entry, entry.accessToken, now)) };
  return entry.lastAnswer.json;
}

/**
 * A cached token due for revalidation: a projected read (no decrypt) confirms it, and it is served;
 * while the store cannot be reached it is served stale, within the cache's bound. Undefined sends
 * the read to the store.
 */
async function revalidated(deps: BrokerDeps, target: { tenant: string; account: string }, key: string, entry: CachedToken): Promise<{ entry: CachedToken; stale: boolean } | undefined> {
  try {
    const state = await deps.singleFlight.run(`revalidate:${key}`, () =>
      readTokenState(deps.db, target.tenant, target.account, AbortSignal.timeout(REVALIDATE_TIMEOUT_MS)),
    );
    if (!TokenCache.holds(state, entry)) {
      // unlinked, re-linked, refreshed or needs_reauth elsewhere: read (and decrypt) what is there now
      deps.tokenCache.delete(key);
      return undefined;
    }
    deps.tokenCache.revalidated(entry, state!);
    return { entry, stale: false };
  } catch (err) {
    if (toBrokerError(err).status !== 503) throw err;
    // when revalidation cannot reach the store, the still-valid token keeps being served for a bounded time
    if (!deps.tokenCache.mayServeStale(entry)) {
      throw new BrokerError('temporarily_unavailable', 503, "the broker's table is unreachable or busy; try again shortly", { cause: err, retryAfterS: 1 });
    }
    // once per failed attempt, however many reads shared it
    if (deps.tokenCache.revalidationFailed(entry)) deps.log.warn('token.served_stale', { tenant: target.tenant, account: target.account, reason: 'store_unreachable', err });
    return { entry, stale: true };
  }
}
