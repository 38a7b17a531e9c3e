import type { TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { documentSdk } from '../aws-sdk.js';
import { BATCH_GET_REMAINDER, UnfinishedAttempt, withRetries } from '../retry.js';
import { stripKeys } from './conditional.js';
import type { AccountStatus, TenantDirectoryEntry, TenantRecord } from './records.js';
import { keys } from './schema.js';
import type { Db } from './table.js';

const { BatchGetCommand, QueryCommand, UpdateCommand } = documentSdk;

/**
 * The tenant directory: one entry per tenant (`TENANTS` / `<tenant>`, see `schema.ts`) holding its
 * account counts by status. The entry is written with its tenant (created in the registration's
 * transaction, deleted in the deletion's) and every account status change moves its counts in the
 * transaction that writes the account (`accounts.ts`, `links.ts`): a listing reads one entry per
 * tenant whatever its number of accounts, and a count never drifts from the accounts it counts.
 */

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** The entry's count attribute of each account status. */
const COUNT_OF: Record<AccountStatus, 'linked' | 'needsReauth'> = { linked: 'linked', needs_reauth: 'needsReauth' };

/** A new tenant's entry, with no account yet: a Put in the transaction that creates the tenant record. */
export function directoryEntryPut(db: Db, tenant: string): NonNullable<TransactItem['Put']> {
  return { TableName: db.table, Item: { ...keys.tenantDirectory(tenant), tenant, linked: 0, needsReauth: 0 } };
}

/** The entry goes with its tenant: a Delete in the transaction that deletes the tenant record. */
export function directoryEntryDelete(db: Db, tenant: string): NonNullable<TransactItem['Delete']> {
  return { TableName: db.table, Key: keys.tenantDirectory(tenant) };
}

/**
 * The change to a tenant's counts when one account goes from status `from` to `to` (undefined: the
 * account did not exist, or no longer does), as an Update for the account write's transaction; none
 * when the counts stay as they are (`linked` to `linked`).
 *
 * The Update has no condition: the account's write carries the transaction's conditions, and a
 * transition must never be refused because of its counts (ADD on a missing entry creates it).
 */
export function countsMove(db: Db, tenant: string, from: AccountStatus | undefined, to: AccountStatus | undefined): TransactItem[] {
  const delta = { linked: 0, needsReauth: 0 };
  if (from) delta[COUNT_OF[from]] -= 1;
  if (to) delta[COUNT_OF[to]] += 1;
  const moved = (Object.keys(delta) as (keyof typeof delta)[]).filter((name) => delta[name] !== 0);
  if (moved.length === 0) return [];
  return [
    {
      Update: {
        TableName: db.table,
        Key: keys.tenantDirectory(tenant),
        UpdateExpression: `ADD ${moved.map((name) => `${name} :${name}`).join(', ')}`,
        ExpressionAttributeValues: Object.fromEntries(moved.map((name) => [`:${name}`, delta[name]])),
      },
    },
  ];
}

/**
 * Adds to a tenant's counts outside any account write: only for tools that write accounts straight
 * into the table (`bench/seed.ts`), which must keep the counts true to what they wrote.
 */
export async function addToCounts(db: Db, tenant: string, delta: Partial<Pick<TenantDirectoryEntry, 'linked' | 'needsReauth'>>): Promise<void> {
  const { linked = 0, needsReauth = 0 } = delta;
  await db.doc.send(
    new UpdateCommand({
      TableName: db.table,
      Key: keys.tenantDirectory(tenant),
      UpdateExpression: 'ADD linked :linked, needsReauth :needsReauth',
      ExpressionAttributeValues: { ':linked': linked, ':needsReauth': needsReauth },
    }),
  );
}

/**
 * An entry as stored, or undefined when no registration wrote it: an ADD made it (a tenant registered
 * before the directory existed, or an account write that raced its tenant's deletion), so its counts
 * are not the whole story and it names no tenant.
 */
const entryOf = (item: Record<string, unknown>): TenantDirectoryEntry | undefined =>
  typeof item.tenant === 'string' ? { tenant: item.tenant, linked: Number(item.linked ?? 0), needsReauth: Number(item.needsReauth ?? 0) } : undefined;

/** One page of the directory in tenant-id order: one Query of at most `limit` entries. */
export async function listDirectory(db: Db, options: { limit: number; cursor?: string | undefined }): Promise<{ items: TenantDirectoryEntry[]; next?: string }> {
  const out = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.tenantDirectoryPartition },
      ...(options.cursor ? { ExclusiveStartKey: keys.tenantDirectory(options.cursor) } : {}),
      Limit: options.limit,
      ConsistentRead: true,
    }),
  );
  const read = out.Items ?? [];
  const items = read.flatMap((item) => entryOf(item) ?? []);
  // the cursor is the last entry read, listed or not
  const last = read[read.length - 1];
  return out.LastEvaluatedKey && last ? { items, next: String(last.sk) } : { items };
}

/**
 * The directory entries and tenant records of `tenants` (any number; BatchGetItem takes 100 keys a
 * request), each found one keyed by its tenant. Keys DynamoDB left unprocessed (throttling) are asked
 * for again ({@link BATCH_GET_REMAINDER}).
 */
export async function getTenantsWithCounts(
  db: Db,
  tenants: readonly string[],
  want: { entries: boolean },
): Promise<{ records: Map<string, TenantRecord>; entries: Map<string, TenantDirectoryEntry> }> {
  const records = new Map<string, TenantRecord>();
  const entries = new Map<string, TenantDirectoryEntry>();
  const wanted = tenants.flatMap((t) => [keys.tenant(t), ...(want.entries ? [keys.tenantDirectory(t)] : [])]);
  for (let start = 0; start < wanted.length; start += 100) {
    let pending: Record<string, unknown>[] = wanted.slice(start, start + 100);
    await withRetries(BATCH_GET_REMAINDER, { what: 'tenant list' }, async () => {
      const out = await db.doc.send(new BatchGetCommand({ RequestItems: { [db.table]: { Keys: pending, ConsistentRead: true } } }));
      for (const item of out.Responses?.[db.table] ?? []) {
        if (item.pk === keys.tenantDirectoryPartition) {
          const entry = entryOf(item);
          if (entry) entries.set(entry.tenant, entry);
        } else {
          const record = stripKeys<TenantRecord>(item);
          records.set(record.tenant, record);
        }
      }
      pending = (out.UnprocessedKeys?.[db.table]?.Keys ?? []) as Record<string, unknown>[];
      if (pending.length > 0) throw new UnfinishedAttempt('the table is busy; try again shortly');
    });
  }
  return { records, entries };
}
