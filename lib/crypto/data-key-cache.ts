/**
 * Data keys kept across generations of one sealed value, in the manner of the AWS Encryption SDK's
 * data-key caching (a cache with a maximum age and a maximum number of messages per key): opening
 * an account's token set keeps its data key for a moment, and sealing the next set of the same
 * account (a refresh: open the old set, seal the new one) reuses it instead of asking KMS for a new
 * one. A refresh therefore costs one KMS call in all.
 *
 * Bounds (the first two travel in the envelope, authenticated, so every instance keeps them):
 * - a data key seals at most {@link MAX_SEALS_PER_DATA_KEY} values;
 * - it seals only within {@link MAX_DATA_KEY_AGE_S} of the seal that made it;
 * - its plaintext stays in memory at most {@link IN_MEMORY_MS} after the open that produced it, and
 *   at most {@link MAX_CACHED_KEYS} keys are held (the oldest evicted first).
 * A data key is zeroed when it leaves the cache: expired, evicted, replaced or cleared.
 */
export const MAX_SEALS_PER_DATA_KEY = 24;
export const MAX_DATA_KEY_AGE_S = 24 * 3600;
export const IN_MEMORY_MS = 60_000;
export const MAX_CACHED_KEYS = 1_000;

export interface CachedDataKey {
  plaintext: Uint8Array;
  encrypted: Uint8Array;
  /** Values sealed under this key so far (the one just opened included). */
  seals: number;
  /** Epoch s of the seal that made this key. */
  bornAtS: number;
}

interface Entry extends CachedDataKey {
  /** Monotonic ms at which it was cached. */
  cachedAt: number;
}

export class DataKeyCache {
  private readonly entries = new Map<string, Entry>();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly options: { inMemoryMs?: number; maxEntries?: number; monotonic?: () => number } = {},
  ) {}

  private get inMemoryMs(): number {
    return this.options.inMemoryMs ?? IN_MEMORY_MS;
  }

  private now(): number {
    return (this.options.monotonic ?? (() => performance.now()))();
  }

  /** Keeps the data key of a value just opened under `context` (a canonical context string). */
  put(context: string, key: CachedDataKey): void {
    this.sweep();
    this.remove(context, key.plaintext);
    this.entries.set(context, { ...key, cachedAt: this.now() });
    while (this.entries.size > (this.options.maxEntries ?? MAX_CACHED_KEYS)) this.remove(this.entries.keys().next().value as string);
    this.timer ??= setInterval(() => this.sweep(), this.inMemoryMs);
    this.timer.unref?.();
  }

  /**
   * The cached key of `context` if it may seal one more value at `nowS` (epoch s), with that seal
   * counted; undefined when there is none or it is spent (then it is zeroed).
   */
  takeForSeal(context: string, nowS: number): CachedDataKey | undefined {
    this.sweep();
    const entry = this.entries.get(context);
    if (!entry) return undefined;
    /* Precondition: a data key seals at most 24 values, within 24 hours of the seal that made it. */
    if (entry.seals >= MAX_SEALS_PER_DATA_KEY || nowS - entry.bornAtS >= MAX_DATA_KEY_AGE_S || nowS < entry.bornAtS) {
      this.remove(context);
      return undefined;
    }
    entry.seals += 1;
    return entry;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Zeroes and forgets every key. */
  clear(): void {
    for (const context of [...this.entries.keys()]) this.remove(context);
  }

  /** Zeroes the keys held longer than the in-memory bound. */
  sweep(): void {
    const oldest = this.now() - this.inMemoryMs;
    // entries are in insertion order, oldest first
    for (const [context, entry] of this.entries) {
      if (entry.cachedAt > oldest) break;
      this.remove(context);
    }
  }

  /** A data key is zeroed when it leaves the cache (unless it is the very buffer that replaces it). */
  private remove(context: string, keep?: Uint8Array): void {
    const entry = this.entries.get(context);
    if (!entry) return;
    this.entries.delete(context);
    if (entry.plaintext !== keep) entry.plaintext.fill(0);
    if (this.entries.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
