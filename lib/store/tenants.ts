import { documentSdk } from '../aws-sdk.js';
import { keys } from './schema.js';
import { conditional, stripKeys, transactWrite } from './conditional.js';
import { directoryEntryDelete, directoryEntryPut } from './tenant-directory.js';
import type { TenantRecord } from './records.js';
import type { Db } from './table.js';

const { GetCommand, PutCommand } = documentSdk;

export async function getTenant(db: Db, tenant: string): Promise<TenantRecord | undefined> {
  const out = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.tenant(tenant), ConsistentRead: true }));
  return out.Item ? stripKeys<TenantRecord>(out.Item) : undefined;
}

/**
 * Stores a new tenant and its directory entry (no account yet) in one transaction; answers the
 * existing tenant instead when another request created it first.
 */
export async function createTenant(db: Db, record: TenantRecord): Promise<{ created: true } | { created: false; existing: TenantRecord }> {
  const res = await transactWrite(db, [
    {
      Put: {
        TableName: db.table,
        Item: { ...keys.tenant(record.tenant), ...record },
        ConditionExpression: 'attribute_not_exists(pk)',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      },
    },
    { Put: directoryEntryPut(db, record.tenant) },
  ]);
  if (res.ok) return { created: true };
  return { created: false, existing: stripKeys<TenantRecord>(res.reasons[0]?.old ?? {}) };
}

/** Replaces a tenant's settings, guarded by the `updatedAt` it was read with (optimistic lock). */
export async function replaceTenant(db: Db, record: TenantRecord, readAt: number): Promise<boolean> {
  const res = await conditional(() =>
    db.doc.send(
      new PutCommand({
        TableName: db.table,
        Item: { ...keys.tenant(record.tenant), ...record },
        ConditionExpression: 'updatedAt = :readAt',
        ExpressionAttributeValues: { ':readAt': readAt },
      }),
    ),
  );
  return res.ok;
}

/** Deletes a tenant record and its directory entry together. */
export async function deleteTenant(db: Db, tenant: string): Promise<void> {
  await transactWrite(db, [{ Delete: { TableName: db.table, Key: keys.tenant(tenant) } }, { Delete: directoryEntryDelete(db, tenant) }]);
}
