/**
 * Plaintext access tokens in process memory, so the hot path (a service asking again for a token
 * that is still good) costs no DynamoDB read and no KMS call.
 *
 * - Bounded: at most `maxEntries`, least recently used evicted first.
 * - An entry is served only while it has at least the caller's `min_ttl` left, so it never outlives
 *   `expires_at − min_ttl`.
 * - An entry older than `maxAgeMs` is not served: the next request goes to the store, so an unlink
 *   or re-link on another instance stops being served within that bound.
 * - A refresh, re-link or unlink on this instance replaces or drops the entry at once.
 * - Refresh tokens are never cached.
 */
export interface CachedToken {
  accessToken: string;
  expiresAt: number;
  scope: string;
  generation: number;
  cachedAt: number;
}

export class TokenCache {
  private readonly entries = new Map<string, CachedToken>();

  constructor(
    readonly maxEntries = 10_000,
    readonly maxAgeMs = 30_000,
  ) {}

  static key(tenant: string, account: string): string {
    return `${tenant}/${account}`;
  }

  get(key: string, now: number, minTtlMs: number): CachedToken | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (now - entry.cachedAt >= this.maxAgeMs || entry.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    if (entry.expiresAt - now < minTtlMs) return undefined;
    // most recently used goes to the end of the map's order
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry;
  }

  /** Caches the access token of a committed account record. */
  remember(record: { tenant: string; account: string; expiresAt: number; scope: string; generation: number }, accessToken: string, now: number): void {
    const { expiresAt, scope, generation } = record;
    this.set(TokenCache.key(record.tenant, record.account), { accessToken, expiresAt, scope, generation, cachedAt: now });
  }

  /** Stores an entry unless a newer generation is already cached. */
  set(key: string, entry: CachedToken): void {
    const current = this.entries.get(key);
    if (current && current.generation > entry.generation) return;
    this.entries.delete(key);
    this.entries.set(key, entry);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
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
