import { documentSdk } from '../aws-sdk.js';
import { conditional, stripKeys, transactWrite } from './conditional.js';
import { directoryEntryDelete } from './tenant-directory.js';
import type { TenantJob, TenantRecord, TenantState } from './records.js';
import { dueShardOf, keys } from './schema.js';
import type { Db } from './table.js';

const { PutCommand, UpdateCommand } = documentSdk;

/**
 * Conditional updates of a tenant item made by the broker's long-running parts: a deletion or a
 * region move as a job (its state, cursor and lease), and the marks and secrets of a client the
 * provider refuses. Settings changes replace the whole item (`tenants.ts`) and are refused while a
 * job runs, so the two never overwrite each other.
 */
const NAMES = { '#job': 'job', '#state': 'state' };

/** The tenant item's place in the refresher's due index (the same shard function as accounts, sort key `TENANT`). */
const dueShard = (tenant: string) => dueShardOf(tenant, '');

const afterUpdate = (res: { ok: true; value: { Attributes?: Record<string, unknown> } } | { ok: false }) =>
  res.ok ? stripKeys<TenantRecord>(res.value.Attributes ?? {}) : undefined;

/**
 * Starts a job on a tenant as it was read: one write that sets the state and the job and puts the
 * tenant in the due index, guarded by the `updatedAt` it was read with (no other change or job
 * came in between). Answers the tenant after the write, or undefined when the guard failed.
 */
export async function startTenantJob(db: Db, read: TenantRecord, state: Exclude<TenantState, 'active'>, job: TenantJob, now: number): Promise<TenantRecord | undefined> {
  const res = await conditional(() =>
    db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: keys.tenant(read.tenant),
        UpdateExpression: 'SET #state = :state, #job = :job, dueShard = :shard, dueAt = :due, updatedAt = :updated',
        ConditionExpression: 'updatedAt = :readAt AND attribute_not_exists(#job)',
        ExpressionAttributeNames: NAMES,
        ExpressionAttributeValues: {
          ':state': state,
          ':job': job,
          ':shard': dueShard(read.tenant),
          ':due': Math.floor(now / 1000),
          ':updated': Math.max(now, read.updatedAt + 1),
          ':readAt': read.updatedAt,
        },
        ReturnValues: 'ALL_NEW',
      }),
    ),
  );
  return afterUpdate(res);
}

/** Replaces a tenant with `next`, which carries a job (a region move's new client), guarded by `updatedAt`. */
export async function replaceTenantStartingJob(db: Db, next: TenantRecord & { job: TenantJob }, readAt: number, now: number): Promise<boolean> {
  const { dueAt: _due, ...record } = next;
  const res = await conditional(() =>
    db.doc.send(
      new PutCommand({
        TableName: db.table,
        Item: { ...keys.tenant(next.tenant), ...record, dueShard: dueShard(next.tenant), dueAt: Math.floor(now / 1000) },
        ConditionExpression: 'updatedAt = :readAt AND attribute_not_exists(#job)',
        ExpressionAttributeNames: { '#job': 'job' },
        ExpressionAttributeValues: { ':readAt': readAt },
      }),
    ),
  );
  return res.ok;
}

/**
 * Takes the lease of a tenant's job (only one process works on a job at a time); the job is due
 * again in the index when the lease lapses. A refusal says why: `current` is the tenant as it is
 * (undefined: deleted; without `job`: the job is over; with it: another process holds it).
 */
export async function takeJobLease(db: Db, tenant: string, owner: string, now: number, leaseMs: number): Promise<{ ok: true; tenant: TenantRecord } | { ok: false; current: TenantRecord | undefined }> {
  const until = now + leaseMs;
  const res = await conditional(() =>
    db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: keys.tenant(tenant),
        UpdateExpression: 'SET #job.leaseOwner = :owner, #job.leaseUntil = :until, dueAt = :due',
        ConditionExpression: 'attribute_exists(#job) AND (attribute_not_exists(#job.leaseUntil) OR #job.leaseUntil < :now)',
        ExpressionAttributeNames: { '#job': 'job' },
        ExpressionAttributeValues: { ':owner': owner, ':until': until, ':due': Math.ceil(until / 1000), ':now': now },
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    ),
  );
  if (res.ok) return { ok: true, tenant: stripKeys<TenantRecord>(res.value.Attributes ?? {}) };
  return { ok: false, current: res.old ? stripKeys<TenantRecord>(res.old) : undefined };
}

/**
 * Writes a job's progress (step, cursor, counts, lease) while its holder still holds it; `dueAtS`
 * is when the refresher should take it up if nobody does before. Answers false when the job is
 * no longer this holder's.
 */
export async function saveJob(db: Db, tenant: string, job: TenantJob, owner: string, dueAtS: number): Promise<boolean> {
  const res = await conditional(() =>
    db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: keys.tenant(tenant),
        UpdateExpression: 'SET #job = :job, dueAt = :due',
        ConditionExpression: '#job.id = :id AND #job.leaseOwner = :owner',
        ExpressionAttributeNames: { '#job': 'job' },
        ExpressionAttributeValues: { ':job': job, ':due': dueAtS, ':id': job.id, ':owner': owner },
      }),
    ),
  );
  return res.ok;
}

/** Ends a region move: the tenant is `active` again and leaves the due index. */
export async function finishTenantJob(db: Db, tenant: TenantRecord, jobId: string, now: number): Promise<boolean> {
  const res = await conditional(() =>
    db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: keys.tenant(tenant.tenant),
        UpdateExpression: 'SET updatedAt = :updated REMOVE #job, #state, dueShard, dueAt',
        ConditionExpression: '#job.id = :id',
        ExpressionAttributeNames: NAMES,
        ExpressionAttributeValues: { ':id': jobId, ':updated': Math.max(now, tenant.updatedAt + 1) },
      }),
    ),
  );
  return res.ok;
}

/** The last step of a deletion: the tenant item goes, with its directory entry, only if it still carries that job. */
export async function deleteTenantOfJob(db: Db, tenant: string, jobId: string): Promise<boolean> {
  const res = await transactWrite(db, [
    { Delete: { TableName: db.table, Key: keys.tenant(tenant), ConditionExpression: '#job.id = :id', ExpressionAttributeNames: { '#job': 'job' }, ExpressionAttributeValues: { ':id': jobId } } },
    { Delete: directoryEntryDelete(db, tenant) },
  ]);
  return res.ok;
}

/**
 * Marks the tenant as needing the operator (the provider refuses its client). Answers whether the
 * mark is new (not there, or older than `renewBefore`), so that the event goes out once, not on
 * every refusal.
 */
export async function markNeedsOperator(db: Db, tenant: string, reason: NonNullable<TenantRecord['needsOperator']>['reason'], now: number, renewBefore: number): Promise<boolean> {
  const res = await conditional(() =>
    db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: keys.tenant(tenant),
        UpdateExpression: 'SET needsOperator = :mark',
        ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(needsOperator) OR needsOperator.since < :renewBefore)',
        ExpressionAttributeValues: { ':mark': { reason, since: now }, ':renewBefore': renewBefore },
      }),
    ),
  );
  return res.ok;
}

/** Removes the mark a refusal set, unless a newer refusal set it again. */
export async function clearNeedsOperator(db: Db, tenant: string, since: number): Promise<void> {
  await conditional(() =>
    db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: keys.tenant(tenant),
        UpdateExpression: 'REMOVE needsOperator',
        ConditionExpression: 'needsOperator.since = :since',
        ExpressionAttributeValues: { ':since': since },
      }),
    ),
  );
}

/**
 * Stores what an RFC 7592 read gave: a client secret the provider rotated (with its expiry; the
 * operator mark goes in the same write) and a registration access token the read rotated, guarded
 * by the `updatedAt` the tenant was read with.
 */
export async function storeClientCredentials(
  db: Db,
  read: TenantRecord,
  fields: { secret?: { sealedClient: string; clientSecretExpiresAt: number }; sealedRegistration?: string | undefined },
  now: number,
): Promise<TenantRecord | undefined> {
  const set = ['updatedAt = :updated'];
  const values: Record<string, unknown> = { ':updated': Math.max(now, read.updatedAt + 1), ':readAt': read.updatedAt };
  if (fields.secret) {
    set.push('sealedClient = :client', 'clientSecretExpiresAt = :exp');
    values[':client'] = fields.secret.sealedClient;
    values[':exp'] = fields.secret.clientSecretExpiresAt;
  }
  if (fields.sealedRegistration) {
    set.push('sealedRegistration = :registration');
    values[':registration'] = fields.sealedRegistration;
  }
  const res = await conditional(() =>
    db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: keys.tenant(read.tenant),
        UpdateExpression: `SET ${set.join(', ')}${fields.secret ? ' REMOVE needsOperator' : ''}`,
        ConditionExpression: 'updatedAt = :readAt',
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }),
    ),
  );
  return afterUpdate(res);
}
