import { appendAuditBatch, type AuditAction, type AuditEvent } from '../store/audit.js';
import type { Db } from '../store/table.js';
import type { BrokerDeps } from './deps.js';

/**
 * Records one audit event. It is awaited before the answer it records is sent: when it cannot be
 * written the request fails (nothing is ever answered unaudited).
 */
export async function audit(
  deps: Pick<BrokerDeps, 'auditLog' | 'clock'>,
  tenant: string,
  action: AuditAction,
  entry: { caller: string; outcome: string; account?: string | undefined },
): Promise<void> {
  await deps.auditLog.append(tenant, {
    at: new Date(deps.clock()).toISOString(),
    action,
    caller: entry.caller,
    outcome: entry.outcome,
    ...(entry.account ? { account: entry.account } : {}),
  });
}

/**
 * Group commit of audit records. A record is written at once when a write slot is free; records
 * that arrive while every slot is busy wait and go out together in the next BatchWriteItem (up to
 * 25). Each caller is answered only when its own record is stored, so the guarantee "written before
 * the answer" holds, while a busy token route pays one write per batch instead of one per request.
 */
export class AuditLog {
  private readonly queue: { tenant: string; event: AuditEvent; done: (err?: unknown) => void }[] = [];
  private inFlight = 0;

  /**
   * `slots`: writes in flight at once. One measured best against DynamoDB Local, whose writes are
   * serialised (bigger batches win); a Lambda instance serves one request at a time anyway.
   */
  constructor(
    private readonly db: Db,
    private readonly retentionDays: number,
    private readonly slots = 1,
  ) {}

  append(tenant: string, event: AuditEvent): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ tenant, event, done: (err) => (err === undefined ? resolve() : reject(err)) });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.slots && this.queue.length > 0) {
      const batch = this.queue.splice(0, 25);
      this.inFlight += 1;
      appendAuditBatch(this.db, batch, this.retentionDays).then(
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
