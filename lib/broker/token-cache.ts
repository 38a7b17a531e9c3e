import { exposureHintOf, tokenFingerprint, type TokenState } from '../store/exposures.js';

/**
 * Plaintext access tokens in process memory, so that the hot path (a service asking again for a
 * token that is still good) does no I/O at all: no DynamoDB, no KMS, no audit write.
 *
 * - Bounded: at most `maxEntries`, least recently used evicted first.
 * - An entry is served only while it has at least the caller's `min_ttl` left (its expiry is a wall
 *   time, from the provider's `expires_in`), so it never outlives `expires_at − min_ttl`.
 * - Its age is measured on a monotonic clock (`performance.now()`), never the wall clock: a clock
 *   step neither keeps an entry for ever nor expires every entry at once.
 * - An entry validated more than `revalidateAfterMs` (30 s) ago is revalidated by the next read: a
 *   projected read of generation, link time, status and exposure hint (no token material, no
 *   decrypt). Only a changed token set is read and decrypted again (a miss). So an unlink or re-link
 *   on another instance stops being served within that bound.
 * - When a revalidation cannot reach the store, the still-valid token keeps being served (`stale`)
 *   for at most `staleIfErrorMs` (5 min) after its last successful validation, with a new attempt
 *   at most every `retryAfterMs` (5 s); after that the read fails like any other.
 * - A refresh, re-link or unlink on this instance replaces or drops the entry at once.
 * - Refresh tokens are never cached.
 */
export interface CachedToken {
  accessToken: string;
  /** ms epoch (wall clock) */
  expiresAt: number;
  /** The same as ISO 8601, made once (the answer's `expires_at`). */
  expiresAtIso: string;
  scope: string;
  generation: number;
  /** With the generation, names the token set (a re-link after an unlink starts a new item, its generation taken from the clock). */
  linkedAt: number;
  /** `token_fingerprint` of the access token. */
  fingerprint: string;
  /** Callers (16-hex digests) whose `token.read` of this token is known to exist. */
  exposedTo: Set<string>;
  /** Monotonic ms of the last read that confirmed this token set. */
  validatedAt: number;
  /** Monotonic ms before which a failed revalidation is not tried again. */
  retryAt?: number;
  /** The last answer made from this token, as JSON: reads within the same second of `expires_in` answer the same. */
  lastAnswer?: { expiresIn: number; json: string };
}

/** How a cached entry may be served: as it is, after a revalidation, or stale (the store is unreachable). */
export type CacheLookup = { entry: CachedToken; state: 'fresh' | 'due' | 'stale' };

export interface TokenCacheOptions {
  maxEntries?: number;
  revalidateAfterMs?: number;
  staleIfErrorMs?: number;
  retryAfterMs?: number;
  /** Monotonic ms (default `performance.now()`). */
  monotonic?: () => number;
}

type TokenSet = { tenant: string; account: string; expiresAt: number; scope: string; generation: number; linkedAt: number };

/** A token set is named by its generation and its link time (a re-link starts a new one). */
const sameTokenSet = (a: { generation: number; linkedAt: number }, b: { generation: number; linkedAt: number }): boolean => a.generation === b.generation && a.linkedAt === b.linkedAt;

export class TokenCache {
  readonly maxEntries: number;
  readonly revalidateAfterMs: number;
  readonly staleIfErrorMs: number;
  readonly retryAfterMs: number;
  private readonly monotonic: () => number;
  private readonly entries = new Map<string, CachedToken>();
  /** The entry last put at the end of the map's order (a service reading one account finds it there again). */
  private newest: CachedToken | undefined;

  constructor(options: TokenCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.revalidateAfterMs = options.revalidateAfterMs ?? 30_000;
    this.staleIfErrorMs = options.staleIfErrorMs ?? 300_000;
    this.retryAfterMs = options.retryAfterMs ?? 5_000;
    this.monotonic = options.monotonic ?? (() => performance.now());
  }

  static key(tenant: string, account: string): string {
    return `${tenant}/${account}`;
  }

  /** The entry of `key` if it may be served to a caller who needs `minTtlMs` of validity at `now` (wall ms). */
  lookup(key: string, now: number, minTtlMs: number): CacheLookup | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    if (entry.expiresAt - now < minTtlMs) return undefined;
    // most recently used goes to the end of the map's order, unless it is there already
    if (entry !== this.newest) {
      this.entries.delete(key);
      this.entries.set(key, entry);
      this.newest = entry;
    }
    const t = this.monotonic();
    // cache ages use a monotonic clock, never the wall clock
    if (t - entry.validatedAt < this.revalidateAfterMs) return { entry, state: 'fresh' };
    if (entry.retryAt !== undefined && t < entry.retryAt && this.mayServeStale(entry)) return { entry, state: 'stale' };
    return { entry, state: 'due' };
  }

  /** A still-valid token whose revalidation failed is served for at most `staleIfErrorMs` after its last validation. */
  mayServeStale(entry: CachedToken): boolean {
    return this.monotonic() - entry.validatedAt < this.staleIfErrorMs;
  }

  /** The store confirmed that `entry` is the account's current token set (`state`): served without a decrypt. */
  revalidated(entry: CachedToken, state: TokenState): void {
    entry.validatedAt = this.monotonic();
    delete entry.retryAt;
    if (state.hint?.fingerprint === entry.fingerprint) for (const caller of state.hint.callers) entry.exposedTo.add(caller);
  }

  /** A revalidation could not reach the store: the next attempt waits `retryAfterMs`. Answers whether this is news (no wait was running). */
  revalidationFailed(entry: CachedToken): boolean {
    const t = this.monotonic();
    const news = entry.retryAt === undefined || t >= entry.retryAt;
    entry.retryAt = t + this.retryAfterMs;
    return news;
  }

  /** True when the store's `state` still names the token set of `entry`. */
  static holds(state: TokenState | undefined, entry: CachedToken): boolean {
    return state !== undefined && state.status === 'linked' && sameTokenSet(state, entry);
  }

  /** An entry for a token set just read from the store (not cached: see {@link remember}). */
  entryOf(record: TokenSet, accessToken: string): CachedToken {
    const fingerprint = tokenFingerprint(accessToken);
    const hint = exposureHintOf(record as unknown as Record<string, unknown>);
    return {
      accessToken,
      expiresAt: record.expiresAt,
      expiresAtIso: new Date(record.expiresAt).toISOString(),
      scope: record.scope,
      generation: record.generation,
      linkedAt: record.linkedAt,
      fingerprint,
      exposedTo: new Set(hint?.fingerprint === fingerprint ? hint.callers : []),
      validatedAt: this.monotonic(),
    };
  }

  /**
   * Caches the access token of an account record just read or committed, and answers the entry
   * that is cached: a newer token set already cached stays (a later link, else a higher
   * generation), and the same token set keeps what is known of its exposures.
   */
  remember(record: TokenSet, accessToken: string): CachedToken {
    const key = TokenCache.key(record.tenant, record.account);
    const entry = this.entryOf(record, accessToken);
    const current = this.entries.get(key);
    if (current && (current.linkedAt > entry.linkedAt || (current.linkedAt === entry.linkedAt && current.generation > entry.generation))) return current;
    if (current && sameTokenSet(current, entry)) {
      for (const caller of current.exposedTo) entry.exposedTo.add(caller);
    }
    this.entries.delete(key);
    this.entries.set(key, entry);
    this.newest = entry;
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    return entry;
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  /** Drops every entry of a tenant (tenant deleted or re-registered). */
  deleteTenant(tenant: string): void {
    for (const key of this.entries.keys()) if (key.startsWith(`${tenant}/`)) this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
