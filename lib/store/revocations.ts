import { documentSdk } from '../aws-sdk.js';
import { conditional, stripKeys } from './conditional.js';
import type { PendingRevocation } from './records.js';
import { keys } from './schema.js';
import type { Db } from './table.js';

const { DeleteCommand, PutCommand, QueryCommand, UpdateCommand } = documentSdk;

/**
 * Pending revocations (`REVOKE` / `<tenant>#<account>#<generation>`, see schema.ts): RFC 7009
 * calls the provider did not answer, kept until the refresher gets them through or gives up.
 */
const revocationKey = (r: Pick<PendingRevocation, 'tenant' | 'account' | 'generation'>) => keys.revocation(r.tenant, r.account, r.generation);

/** Stores a revocation to try again; answers false when that token is already pending (its first failure is kept). */
export async function putPendingRevocation(db: Db, pending: PendingRevocation): Promise<boolean> {
  const res = await conditional(() =>
    db.doc.send(new PutCommand({ TableName: db.table, Item: { ...revocationKey(pending), ...pending }, ConditionExpression: 'attribute_not_exists(pk)' })),
  );
  return res.ok;
}

/** One page of the pending revocations, all of them or one tenant's. */
export async function listPendingRevocations(
  db: Db,
  options: { limit: number; startKey?: Record<string, unknown> | undefined; tenant?: string | undefined },
): Promise<{ items: PendingRevocation[]; startKey?: Record<string, unknown> }> {
  const out = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      KeyConditionExpression: options.tenant ? 'pk = :pk AND begins_with(sk, :tenant)' : 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.revocationPartition, ...(options.tenant ? { ':tenant': `${options.tenant}#` } : {}) },
      Limit: options.limit,
      ExclusiveStartKey: options.startKey,
      ConsistentRead: true,
    }),
  );
  return { items: (out.Items ?? []).map((item) => stripKeys<PendingRevocation>(item)), ...(out.LastEvaluatedKey ? { startKey: out.LastEvaluatedKey } : {}) };
}

/** Claims a due revocation for one attempt: only one process tries a token at a time. */
export async function takeRevocationLease(db: Db, pending: PendingRevocation, owner: string, now: number, leaseMs: number): Promise<PendingRevocation | undefined> {
  const res = await conditional(() =>
    db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: revocationKey(pending),
        UpdateExpression: 'SET leaseOwner = :owner, leaseUntil = :until',
        ConditionExpression: 'attribute_exists(pk) AND dueAt <= :nowS AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)',
        ExpressionAttributeValues: { ':owner': owner, ':until': now + leaseMs, ':nowS': Math.floor(now / 1000), ':now': now },
        ReturnValues: 'ALL_NEW',
      }),
    ),
  );
  return res.ok ? stripKeys<PendingRevocation>(res.value.Attributes ?? {}) : undefined;
}

/** After a failed attempt: when to try again, and why it failed. */
export async function rescheduleRevocation(db: Db, pending: PendingRevocation, owner: string, next: { attempts: number; lastError: string; dueAt: number }): Promise<void> {
  await conditional(() =>
    db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: revocationKey(pending),
        UpdateExpression: 'SET attempts = :attempts, lastError = :err, dueAt = :due REMOVE leaseOwner, leaseUntil',
        ConditionExpression: 'leaseOwner = :owner',
        ExpressionAttributeValues: { ':owner': owner, ':attempts': next.attempts, ':err': next.lastError, ':due': next.dueAt },
      }),
    ),
  );
}

/** Removes a revocation that is done (or given up); answers whether it was still there. */
export async function deletePendingRevocation(db: Db, pending: Pick<PendingRevocation, 'tenant' | 'account' | 'generation'>): Promise<boolean> {
  const out = await db.doc.send(new DeleteCommand({ TableName: db.table, Key: revocationKey(pending), ReturnValues: 'ALL_OLD' }));
  return out.Attributes !== undefined;
}
