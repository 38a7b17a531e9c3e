import { documentSdk } from '../aws-sdk.js';
import { DUE_INDEX, dueShardOf, keys } from './schema.js';
import { conditional, stripKeys, transactWrite, type CancellationReasons } from './conditional.js';
import { countsMove } from './tenant-directory.js';
import type { AccountRecord, AccountStatus } from './records.js';
import type { Db } from './table.js';

const { GetCommand, QueryCommand, UpdateCommand } = documentSdk;

const accountKey = (r: { tenant: string; account: string }) => keys.account(r.tenant, r.account);

export async function getAccount(db: Db, tenant: string, account: string): Promise<AccountRecord | undefined> {
  const out = await db.doc.send(new GetCommand({ TableName: db.table, Key: keys.account(tenant, account), ConsistentRead: true }));
  return out.Item ? stripKeys<AccountRecord>(out.Item) : undefined;
}

function dueAttributes(r: { tenant: string; account: string; dueAt?: number | undefined }) {
  return r.dueAt === undefined ? {} : { dueShard: dueShardOf(r.tenant, r.account), dueAt: r.dueAt };
}

/** The outcome of a compare-and-set on an account: the item after the write, or as it was. */
export type AccountCas = { ok: true; record: AccountRecord } | { ok: false; current: AccountRecord | undefined };

/** One conditional UpdateItem on an account item, answering why it failed without a second read. */
async function updateAccountIf(
  db: Db,
  r: { tenant: string; account: string },
  update: { UpdateExpression: string; ConditionExpression: string; ExpressionAttributeNames?: Record<string, string>; ExpressionAttributeValues: Record<string, unknown> },
): Promise<AccountCas> {
  const res = await conditional(() =>
    db.doc.send(new UpdateCommand({ TableName: db.table, Key: accountKey(r), ...update, ReturnValues: 'ALL_NEW', ReturnValuesOnConditionCheckFailure: 'ALL_OLD' })),
  );
  if (res.ok) return { ok: true, record: stripKeys<AccountRecord>(res.value.Attributes ?? {}) };
  return { ok: false, current: res.old ? stripKeys<AccountRecord>(res.old) : undefined };
}

/**
 * The write that stores a freshly linked token set, as one item of the transaction that completes a
 * link or confirms a link session (`lib/store/links.ts`), beside the {@link countsMove} of its
 * tenant's counts. Re-linking replaces the previous set atomically: the write is conditioned on the
 * generation and status that were read (the counts move from that status), and the new generation
 * is higher, so a refresh of the old generation in flight can no longer commit over it.
 */
export function linkedAccountPut(db: Db, record: AccountRecord, previous: Pick<AccountRecord, 'generation' | 'status'> | undefined) {
  return {
    TableName: db.table,
    Item: { ...accountKey(record), ...record, ...dueAttributes(record) },
    ...(previous === undefined
      ? { ConditionExpression: 'attribute_not_exists(pk)' }
      : {
          ConditionExpression: 'generation = :gen AND #status = :status',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':gen': previous.generation, ':status': previous.status },
        }),
  };
}

/**
 * Takes the refresh lease of one generation: the attempt is recorded (owner, deadline) before the
 * provider is called, and only one holder per generation can exist while the lease runs.
 */
export async function takeRefreshLease(
  db: Db,
  r: { tenant: string; account: string },
  generation: number,
  owner: string,
  now: number,
  leaseMs: number,
): Promise<AccountCas> {
  return updateAccountIf(db, r, {
    UpdateExpression: 'SET leaseOwner = :owner, leaseUntil = :until',
    ConditionExpression: 'generation = :gen AND #status = :linked AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)',
    ExpressionAttributeNames: { '#status': 'status' },
    ExpressionAttributeValues: { ':owner': owner, ':until': now + leaseMs, ':gen': generation, ':linked': 'linked', ':now': now },
  });
}

/**
 * Commits a rotated token pair with a compare-and-set on the generation it was refreshed from and
 * on the lease's holder: a newer pair is never overwritten, and a holder whose lease another
 * process took over commits nothing. The lease is released in the same write.
 */
export async function commitRefresh(
  db: Db,
  r: { tenant: string; account: string },
  fromGeneration: number,
  owner: string,
  next: { sealedTokens: string; expiresAt: number; refreshedAt: number; scope: string; dueAt: number },
): Promise<AccountCas> {
  return updateAccountIf(db, r, {
    UpdateExpression:
      'SET sealedTokens = :tokens, expiresAt = :exp, refreshedAt = :at, #scope = :scope, generation = :next, dueShard = :shard, dueAt = :due, #status = :linked REMOVE leaseOwner, leaseUntil, lastError',
    ConditionExpression: 'generation = :gen AND #status = :linked AND leaseOwner = :owner',
    ExpressionAttributeNames: { '#scope': 'scope', '#status': 'status' },
    ExpressionAttributeValues: {
      ':tokens': next.sealedTokens,
      ':exp': next.expiresAt,
      ':at': next.refreshedAt,
      ':scope': next.scope,
      ':next': fromGeneration + 1,
      ':gen': fromGeneration,
      ':owner': owner,
      ':shard': dueShardOf(r.tenant, r.account),
      ':due': next.dueAt,
      ':linked': 'linked',
    },
  });
}

/** Gives a lease back after a transient failure, noting why and when the refresher should try again. */
export async function releaseRefreshLease(
  db: Db,
  r: { tenant: string; account: string },
  owner: string,
  outcome: { lastError: string; dueAt: number },
): Promise<void> {
  await conditional(() =>
    db.doc.send(
      new UpdateCommand({
        TableName: db.table,
        Key: accountKey(r),
        UpdateExpression: 'SET lastError = :err, dueShard = :shard, dueAt = :due REMOVE leaseOwner, leaseUntil',
        ConditionExpression: 'leaseOwner = :owner AND #status = :linked',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':owner': owner, ':err': outcome.lastError, ':shard': dueShardOf(r.tenant, r.account), ':due': outcome.dueAt, ':linked': 'linked' },
      }),
    ),
  );
}

/**
 * Moves an account out of `linked` (the provider refused its refresh token, or it came from
 * another issuer), only if it is still linked at the generation that failed: a sibling's newer
 * commit wins. The account leaves the refresher's index, and its tenant's counts move, in the same
 * transaction.
 */
export async function setAccountStatus(
  db: Db,
  read: AccountRecord,
  atGeneration: number,
  status: Exclude<AccountStatus, 'linked'>,
  lastError: string,
): Promise<AccountCas> {
  const res = await transactWrite(db, [
    {
      Update: {
        TableName: db.table,
        Key: accountKey(read),
        UpdateExpression: 'SET #status = :status, lastError = :err REMOVE leaseOwner, leaseUntil, dueShard, dueAt',
        // Precondition: a transition that does not happen moves no count (the account must still be linked at that generation)
        ConditionExpression: 'generation = :gen AND #status = :linked',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':status': status, ':err': lastError, ':gen': atGeneration, ':linked': 'linked' },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      },
    },
    ...countsMove(db, read.tenant, 'linked', status),
  ]);
  if (!res.ok) return refusedAccountWrite(res.reasons);
  const { leaseOwner: _owner, leaseUntil: _until, dueAt: _due, ...rest } = read;
  return { ok: true, record: { ...rest, generation: atGeneration, status, lastError } };
}

/** A refused account write (the account is the transaction's first item): the account as it is, if it exists. */
const refusedAccountWrite = (reasons: CancellationReasons): AccountCas => {
  const old = reasons[0]?.old;
  return { ok: false, current: old ? stripKeys<AccountRecord>(old) : undefined };
};

export interface Page<T> {
  items: T[];
  /** Opaque cursor for the next page, absent on the last one. */
  next?: string;
}

/** Accounts of a tenant in account-id order. */
export async function listAccounts(
  db: Db,
  tenant: string,
  options: { limit: number; cursor?: string | undefined; status?: AccountStatus | undefined },
): Promise<Page<AccountRecord>> {
  const items: AccountRecord[] = [];
  let startKey: Record<string, unknown> | undefined = options.cursor ? keys.account(tenant, options.cursor) : undefined;
  // a status filter may thin a page out: keep reading until the page is full or the tenant ends
  do {
    const out = await db.doc.send(
      new QueryCommand({
        TableName: db.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': keys.tenant(tenant).pk, ':prefix': keys.accountPrefix, ...(options.status ? { ':status': options.status } : {}) },
        ...(options.status ? { FilterExpression: '#status = :status', ExpressionAttributeNames: { '#status': 'status' } } : {}),
        ExclusiveStartKey: startKey,
        Limit: options.limit - items.length,
        ConsistentRead: true,
      }),
    );
    for (const item of out.Items ?? []) items.push(stripKeys<AccountRecord>(item));
    startKey = out.LastEvaluatedKey;
  } while (startKey && items.length < options.limit);
  const last = items[items.length - 1];
  return startKey && last ? { items, next: last.account } : { items };
}

/** What the refresher finds due in its index: an account to renew, or a tenant whose job is to be taken up. */
export type DueItem = { kind: 'account'; tenant: string; account: string } | { kind: 'tenant-job'; tenant: string };

/** Keys of the items due at `nowS` in one index shard (KEYS_ONLY: a few bytes each). */
export async function queryDue(
  db: Db,
  shard: string,
  nowS: number,
  options: { limit: number; startKey?: Record<string, unknown> | undefined },
): Promise<{ items: DueItem[]; startKey?: Record<string, unknown>; consumedRcu: number }> {
  const out = await db.doc.send(
    new QueryCommand({
      TableName: db.table,
      IndexName: DUE_INDEX,
      KeyConditionExpression: 'dueShard = :shard AND dueAt <= :now',
      ExpressionAttributeValues: { ':shard': shard, ':now': nowS },
      Limit: options.limit,
      ExclusiveStartKey: options.startKey,
      ReturnConsumedCapacity: 'TOTAL',
    }),
  );
  const items = (out.Items ?? []).map((item): DueItem => {
    const tenant = String(item.pk).slice('TENANT#'.length);
    const sk = String(item.sk);
    return sk === keys.tenant(tenant).sk ? { kind: 'tenant-job', tenant } : { kind: 'account', tenant, account: sk.slice(keys.accountPrefix.length) };
  });
  return { items, ...(out.LastEvaluatedKey ? { startKey: out.LastEvaluatedKey } : {}), consumedRcu: out.ConsumedCapacity?.CapacityUnits ?? 0 };
}

/**
 * The scheduled refresher's lease: taken only while the account is still due, linked and free, so
 * overlapping or duplicate refresher runs refresh each account once. A write, not a read: the
 * refresher reads nothing but the index entries of due accounts.
 */
export async function takeDueLease(
  db: Db,
  r: { tenant: string; account: string },
  owner: string,
  now: number,
  leaseMs: number,
): Promise<AccountRecord | undefined> {
  const res = await updateAccountIf(db, r, {
    UpdateExpression: 'SET leaseOwner = :owner, leaseUntil = :until',
    ConditionExpression: 'dueAt <= :nowS AND #status = :linked AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)',
    ExpressionAttributeNames: { '#status': 'status' },
    ExpressionAttributeValues: { ':owner': owner, ':until': now + leaseMs, ':nowS': Math.floor(now / 1000), ':linked': 'linked', ':now': now },
  });
  return res.ok ? res.record : undefined;
}

/**
 * Unlink: removes an account's item (and every token sealed in it) only if it is still at the
 * generation whose refresh token was revoked, and in the status read (its tenant's count of that
 * status goes down in the same transaction). A re-link, a refresh or a status change committed
 * meanwhile makes the delete fail, and the caller revokes the newer token before trying again.
 */
export async function deleteAccountAtGeneration(db: Db, r: AccountRecord, generation: number): Promise<AccountCas> {
  const res = await transactWrite(db, [
    {
      Delete: {
        TableName: db.table,
        Key: accountKey(r),
        // Precondition: a transition that does not happen moves no count (the account must still be at that generation and status)
        ConditionExpression: 'generation = :gen AND #status = :status',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':gen': generation, ':status': r.status },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      },
    },
    ...countsMove(db, r.tenant, r.status, undefined),
  ]);
  if (!res.ok) return refusedAccountWrite(res.reasons);
  return { ok: true, record: r };
}
