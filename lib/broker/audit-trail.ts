import type { Logger } from '../log.js';
import { auditItem, putAuditItems, tenantIncarnation, trailOf, type AuditAction, type AuditEvent, type AuditItem, type Trail } from '../store/audit.js';
import type { Db } from '../store/table.js';
import type { BrokerDeps } from './deps.js';

/** Whose trail an event goes to: a tenant record (its incarnation), or a tenant id to look up. */
export type TrailOwner = string | { tenant: string; createdAt: number };

/**
 * Records one change (or an authenticated denial). It is awaited before the answer it records is
 * sent: when it cannot be written the request fails (nothing is ever answered unaudited).
 *
 * Pass the tenant record when you have it: the event goes to that incarnation's trail (the only way
 * once the record is deleted, as for `tenant.delete`). A tenant id is looked up; a tenant that is
 * not registered has no trail, and nothing is written.
 */
export async function audit(
  deps: Pick<BrokerDeps, 'auditLog' | 'clock'>,
  tenant: TrailOwner,
  action: AuditAction,
  entry: { caller: string; outcome: string; account?: string | undefined },
): Promise<void> {
  const trail = typeof tenant === 'string' ? await deps.auditLog.currentTrail(tenant) : trailOf(tenant);
  // a request for a tenant that was never registered creates no trail
  if (!trail) {
    deps.auditLog.log.info('audit.no_trail', { tenant: tenant as string, action, ...(entry.account ? { account: entry.account } : {}) });
    return;
  }
  await deps.auditLog.append(trail, {
    at: new Date(deps.clock()).toISOString(),
    action,
    ...(entry.account ? { account: entry.account } : {}),
    caller: entry.caller,
    outcome: entry.outcome,
  });
}

/**
 * The writer of the audit trail.
 *
 * Group commit: an event is written at once when a write slot is free; events that arrive while every
 * slot is busy wait and go out together in the next BatchWriteItem (up to 25). Each caller is
 * answered only when its own event is stored, so "written before the answer" holds while a busy
 * local server pays one write per batch.
 *
 * It also knows which incarnation of a tenant is current: {@link currentTrail} reads it (changes,
 * counts), {@link knownTrail} remembers it (exposures, whose transaction checks it again).
 */
export class AuditLog {
  private readonly queue: { item: AuditItem; done: (err?: unknown) => void }[] = [];
  private inFlight = 0;
  private readonly incarnations = new Map<string, number>();

  /**
   * `slots`: writes in flight at once. One measured best against DynamoDB Local, whose writes are
   * serialised (bigger batches win); in AWS every event is its own PutItem (no BatchWriteItem grant,
   * which would also allow deletes).
   */
  constructor(
    readonly db: Db,
    readonly retentionDays: number,
    readonly log: Logger,
    private readonly slots = 1,
  ) {}

  /** Appends one event to a trail; resolves when it is stored. */
  append(trail: Trail, event: AuditEvent): Promise<void> {
    return this.write([auditItem(trail, event, this.retentionDays)]);
  }

  /** Writes items made with `auditItem` (their keys fixed, so writing one again is harmless). */
  write(items: AuditItem[]): Promise<void> {
    return Promise.all(
      items.map(
        (item) =>
          new Promise<void>((resolve, reject) => {
            this.queue.push({ item, done: (err) => (err === undefined ? resolve() : reject(err)) });
            this.pump();
          }),
      ),
    ).then(() => undefined);
  }

  /** The tenant's current trail, read now (consistent); undefined when the tenant is not registered. */
  async currentTrail(tenant: string): Promise<Trail | undefined> {
    const incarnation = await tenantIncarnation(this.db, tenant);
    if (incarnation === undefined) this.incarnations.delete(tenant);
    else this.remember(tenant, incarnation);
    return incarnation === undefined ? undefined : { tenant, incarnation };
  }

  /** The trail this instance last saw for the tenant, else read: for writes that check it themselves. */
  async knownTrail(tenant: string): Promise<Trail | undefined> {
    const incarnation = this.incarnations.get(tenant);
    return incarnation === undefined ? this.currentTrail(tenant) : { tenant, incarnation };
  }

  private remember(tenant: string, incarnation: number): void {
    // bounded: a forgotten tenant is read again on its next exposure
    if (this.incarnations.size >= 10_000) this.incarnations.clear();
    this.incarnations.set(tenant, incarnation);
  }

  private pump(): void {
    while (this.inFlight < this.slots && this.queue.length > 0) {
      const batch = this.queue.splice(0, 25);
      this.inFlight += 1;
      putAuditItems(
        this.db,
        batch.map((entry) => entry.item),
      ).then(
        () => this.settle(batch),
        (err: unknown) => this.settle(batch, err ?? new Error('audit write failed')),
      );
    }
  }

  private settle(batch: { done: (err?: unknown) => void }[], err?: unknown): void {
    this.inFlight -= 1;
    for (const entry of batch) entry.done(err);
    this.pump();
  }
}
