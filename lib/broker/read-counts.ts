import type { BackgroundWork } from '../background.js';
import type { Logger } from '../log.js';
import { auditItem, type AuditItem } from '../store/audit.js';
import type { AuditLog } from './audit-trail.js';

/** One counted read: who read which account's token, and how it went. */
export interface CountedRead {
  tenant: string;
  account: string;
  caller: string;
  /** The generation served; absent for a failed read. */
  generation?: number | undefined;
  /** `ok`, `served_stale`, or `failed:<code>`. */
  outcome: string;
}

interface Count extends CountedRead {
  count: number;
  /** Wall ms of the first and last read counted. */
  firstAt: number;
  lastAt: number;
}

export interface ReadCountOptions {
  /** A flush is due when the oldest unwritten count is this old (monotonic ms). */
  flushAfterMs?: number;
  /** Distinct (tenant, account, caller, generation, outcome) counted between flushes, at most. */
  maxKeys?: number;
  monotonic?: () => number;
}

// ids never hold a NUL: a cheap key on the read path
const keyOf = (read: CountedRead): string => `${read.tenant}\0${read.account}\0${read.caller}\0${read.generation ?? ''}\0${read.outcome}`;

/** Counts are written when the oldest is 30 s old: at least once a minute under any steady load. */
export const COUNT_FLUSH_AFTER_MS = 30_000;
/** Items of a flush that could not be written are kept for the next one, up to this many. */
const MAX_UNSENT = 10_000;
/** Items per write of a flush (a BatchWriteItem locally; in AWS parallel PutItems). */
const FLUSH_CHUNK = 25;

/**
 * Repeat reads, counted (CONTRACT.md, "Repeat reads are counted"). A read that writes no `token.read`
 * (a later read of the same token by the same caller, or a failed read) adds one to the count of
 * (tenant, account, caller, generation, outcome), in memory: the read itself does no I/O. The counts
 * are written as `token.reads { caller, account, generation, count }` events:
 *
 * - a flush starts in the background of a read once the oldest count is {@link COUNT_FLUSH_AFTER_MS}
 *   old, and never delays that read's answer; a long-running server also flushes on a timer and when
 *   it stops. Lambda runs no timer between invocations: an idle instance keeps its counts until its
 *   next invocation (which flushes them, late but whole), or loses them if Lambda retires it first —
 *   at most the counts of the last minute before it went idle;
 * - a flush reads each tenant's current incarnation: counts of a tenant that is not registered, or
 *   whose reads began before that incarnation, belong to no trail it has and are dropped (logged);
 * - the items of a flush are made once: one that failed is written again at the next flush under the
 *   same key, so no count is ever written twice.
 *
 * So the reads of a token = its `token.read` events + the counts of its `token.reads` events.
 */
export class TokenReadCounts {
  private counts = new Map<string, Count>();
  private unsent: AuditItem[] = [];
  /** Monotonic ms of the oldest count or unsent item. */
  private oldest: number | undefined;
  private overflow = 0;
  private flushing: Promise<void> | undefined;
  private readonly flushAfterMs: number;
  private readonly maxKeys: number;
  private readonly monotonic: () => number;

  constructor(
    private readonly deps: { auditLog: AuditLog; log: Logger; clock: () => number; background?: Pick<BackgroundWork, 'track'> },
    options: ReadCountOptions = {},
  ) {
    this.flushAfterMs = options.flushAfterMs ?? COUNT_FLUSH_AFTER_MS;
    this.maxKeys = options.maxKeys ?? 10_000;
    this.monotonic = options.monotonic ?? (() => performance.now());
  }

  /** Counts one read (in memory only). */
  count(read: CountedRead): void {
    const key = keyOf(read);
    const now = this.deps.clock();
    const counted = this.counts.get(key);
    if (counted) {
      counted.count += 1;
      counted.lastAt = Math.max(counted.lastAt, now);
    } else if (this.counts.size >= this.maxKeys) {
      // bounded memory: an instance flooded with distinct keys drops the excess and says so
      this.overflow += 1;
    } else {
      this.counts.set(key, { ...read, count: 1, firstAt: now, lastAt: now });
    }
    this.oldest ??= this.monotonic();
  }

  /** Reads counted and not yet written. */
  get pending(): number {
    let n = 0;
    for (const c of this.counts.values()) n += c.count;
    return n;
  }

  /**
   * Starts a flush in the background when one is due; never awaited by a read. Tracked as background
   * work, so that in Lambda the invocation stays open after its answer until the counts are written.
   */
  flushIfDue(): void {
    if (this.flushing || this.oldest === undefined || this.monotonic() - this.oldest < this.flushAfterMs) return;
    const flushing = this.flush();
    if (this.deps.background) this.deps.background.track('audit counts', flushing);
    else flushing.catch((err: unknown) => this.deps.log.error('audit.counts_flush_failed', { err }));
  }

  /** Writes every count now (after a flush that is running). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    this.flushing = this.flushNow().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** A long-running server's timer: a flush every `flushAfterMs`; the returned stop flushes what is left. */
  startTimer(): () => Promise<void> {
    const timer = setInterval(() => this.flush().catch((err: unknown) => this.deps.log.error('audit.counts_flush_failed', { err })), this.flushAfterMs);
    timer.unref();
    return async () => {
      clearInterval(timer);
      await this.flush();
    };
  }

  private async flushNow(): Promise<void> {
    const counts = [...this.counts.values()];
    this.counts = new Map();
    this.oldest = undefined;
    if (this.overflow > 0) {
      this.deps.log.warn('audit.counts_dropped', { reason: 'too_many_keys', reads: this.overflow });
      this.overflow = 0;
    }
    const items = this.unsent;
    this.unsent = [];
    const byTenant = new Map<string, Count[]>();
    for (const c of counts) {
      const list = byTenant.get(c.tenant);
      if (list) list.push(c);
      else byTenant.set(c.tenant, [c]);
    }
    for (const [tenant, list] of byTenant) {
      let trail;
      try {
        trail = await this.deps.auditLog.currentTrail(tenant);
      } catch (err) {
        this.deps.log.warn('audit.counts_deferred', { tenant, err });
        for (const c of list) this.restore(c);
        continue;
      }
      for (const c of list) {
        // a count lands in the trail of the incarnation that existed when its reads began
        if (!trail || c.firstAt < trail.incarnation) {
          this.deps.log.info('audit.counts_dropped', { tenant, account: c.account, reason: trail ? 'before_incarnation' : 'not_registered', reads: c.count });
          continue;
        }
        const event = {
          at: new Date(c.lastAt).toISOString(),
          action: 'token.reads' as const,
          account: c.account,
          caller: c.caller,
          outcome: c.outcome,
          ...(c.generation !== undefined ? { generation: c.generation } : {}),
          count: c.count,
        };
        items.push(auditItem(trail, event, this.deps.auditLog.retentionDays));
      }
    }
    for (let i = 0; i < items.length; i += FLUSH_CHUNK) {
      const chunk = items.slice(i, i + FLUSH_CHUNK);
      try {
        await this.deps.auditLog.write(chunk);
      } catch (err) {
        this.deps.log.warn('audit.counts_deferred', { items: chunk.length, err });
        this.keepUnsent(chunk);
      }
    }
  }

  /** Puts a count back (its tenant could not be read), merging with what was counted meanwhile. */
  private restore(c: Count): void {
    const key = keyOf(c);
    const counted = this.counts.get(key);
    if (counted) {
      counted.count += c.count;
      counted.firstAt = Math.min(counted.firstAt, c.firstAt);
    } else {
      this.counts.set(key, c);
    }
    this.oldest ??= this.monotonic();
  }

  private keepUnsent(items: AuditItem[]): void {
    this.unsent.push(...items);
    if (this.unsent.length > MAX_UNSENT) {
      const lost = this.unsent.splice(0, this.unsent.length - MAX_UNSENT);
      this.deps.log.error('audit.counts_lost', { items: lost.length });
    }
    this.oldest ??= this.monotonic();
  }
}
