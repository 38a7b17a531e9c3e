import { randomBytes } from 'node:crypto';
import { BatchWriteCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { AUDIT_BATCH_REMAINDER, UnfinishedAttempt, withRetries } from '../retry.js';
import { keys } from './schema.js';
import type { Db } from './table.js';

export type AuditAction =
  | 'tenant.register'
  | 'tenant.update'
  | 'tenant.delete'
  | 'link.create'
  | 'link.complete'
  | 'token.read'
  | 'token.refresh'
  | 'account.reauth'
  | 'account.unlink'
  | 'access.denied';

export interface AuditEvent {
  at: string; // ISO time
  action: AuditAction;
  account?: string;
  caller: string;
  outcome: string;
}

let sequence = 0;

/** The item of one audit event. */
function auditItem(tenant: string, event: AuditEvent, retentionDays: number): Record<string, unknown> {
  // time, then a per-process sequence (order within one millisecond), then randomness (across processes)
  sequence = (sequence + 1) % 0x1_0000_0000;
  const sk = `${event.at}#${sequence.toString(16).padStart(8, '0')}${randomBytes(4).toString('hex')}`;
  return { pk: keys.auditPartition(tenant), sk, ...event, ttl: Math.ceil(Date.parse(event.at) / 1000) + retentionDays * 86_400 };
}

/** Appends one audit event. Throws when it cannot be written: callers answer only after it lands. */
async function appendAudit(db: Db, tenant: string, event: AuditEvent, retentionDays: number): Promise<void> {
  await db.doc.send(new PutCommand({ TableName: db.table, Item: auditItem(tenant, event, retentionDays) }));
}

/**
 * Appends up to 25 audit events in one request (BatchWriteItem). Resolves only when every one is
 * stored; items DynamoDB leaves unprocessed are sent again ({@link AUDIT_BATCH_REMAINDER}), then the
 * whole batch fails with a 503.
 */
export async function appendAuditBatch(db: Db, entries: { tenant: string; event: AuditEvent }[], retentionDays: number): Promise<void> {
  if (entries.length === 1) return appendAudit(db, entries[0]!.tenant, entries[0]!.event, retentionDays);
  let requests = entries.map(({ tenant, event }) => ({ PutRequest: { Item: auditItem(tenant, event, retentionDays) } }));
  await withRetries(AUDIT_BATCH_REMAINDER, { what: 'audit write' }, async () => {
    const out = await db.doc.send(new BatchWriteCommand({ RequestItems: { [db.table]: requests } }));
    requests = (out.UnprocessedItems?.[db.table] ?? []) as typeof requests;
    if (requests.length > 0) throw new UnfinishedAttempt(`${requests.length} audit records were left unprocessed (the table is busy); try again shortly`);
  });
}

export async function listAudit(
  db: Db,
  tenant: string,
  options: { limit: number; since?: string | undefined; cursor?: string | undefined; account?: string | undefined },
): Promise<{ events: AuditEvent[]; next?: string }> {
  const pk = keys.auditPartition(tenant);
  const values: Record<string, unknown> = { ':pk': pk };
  let keyCondition = 'pk = :pk';
  if (options.since) {
    keyCondition += ' AND sk >= :since';
    values[':since'] = options.since;
  }
  const events: AuditEvent[] = [];
  let startKey: Record<string, unknown> | undefined = options.cursor ? { pk, sk: options.cursor } : undefined;
  do {
    const out = await db.doc.send(
      new QueryCommand({
        TableName: db.table,
        KeyConditionExpression: keyCondition,
        ...(options.account ? { FilterExpression: 'account = :account', ExpressionAttributeValues: { ...values, ':account': options.account } } : { ExpressionAttributeValues: values }),
        ExclusiveStartKey: startKey,
        Limit: options.limit - events.length,
      }),
    );
    for (const item of out.Items ?? []) {
      events.push({ at: item.at, action: item.action, ...(item.account ? { account: item.account } : {}), caller: item.caller, outcome: item.outcome });
    }
    startKey = out.LastEvaluatedKey;
  } while (startKey && events.length < options.limit);
  return startKey ? { events, next: String(startKey.sk) } : { events };
}

/** An audit cursor is the sort key of the last event served: `<ISO time>#<12 hex>`. */
export const AUDIT_CURSOR_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#[0-9a-f]{16}$/;
