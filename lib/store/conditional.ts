import type { TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { documentSdk, dynamodbSdk, dynamodbUtil } from '../aws-sdk.js';
import { BrokerError } from '../errors.js';
import { TRANSACTION_CONTENTION, TransactionContention, withRetries } from '../retry.js';
import type { Db } from './table.js';

const { ConditionalCheckFailedException, TransactionCanceledException } = dynamodbSdk;
const { TransactWriteCommand } = documentSdk;
const { unmarshall } = dynamodbUtil;

/**
 * Runs a conditional write; answers `{ ok: false, old }` instead of throwing when the condition
 * fails, with the item as it was (`ReturnValuesOnConditionCheckFailure: ALL_OLD`) so the caller can
 * say *why* (expired, used, another browser) without a second read.
 */
export async function conditional<T>(write: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; old: Record<string, unknown> | undefined }> {
  try {
    return { ok: true, value: await write() };
  } catch (err) {
    if (err instanceof ConditionalCheckFailedException || (err as { name?: string }).name === 'ConditionalCheckFailedException') {
      const item = (err as InstanceType<typeof ConditionalCheckFailedException>).Item;
      return { ok: false, old: item ? unmarshall(item) : undefined };
    }
    throw err;
  }
}

/** Removes the table's key and index attributes from an item. */
export function stripKeys<T>(item: Record<string, unknown>): T {
  const { pk: _pk, sk: _sk, ttl: _ttl, dueShard: _ds, ...rest } = item;
  return rest as T;
}

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** Why each item of a canceled transaction was refused, in the order the items were sent. */
export type CancellationReasons = { code: string | undefined; old: Record<string, unknown> | undefined }[];

/** Why DynamoDB canceled a transaction, item by item; undefined when `err` is not a canceled transaction. */
export function cancellationReasons(err: unknown): CancellationReasons | undefined {
  if (!(err instanceof TransactionCanceledException) && (err as { name?: string }).name !== 'TransactionCanceledException') return undefined;
  return ((err as InstanceType<typeof TransactionCanceledException>).CancellationReasons ?? []).map((r) => ({ code: r.Code, old: r.Item ? unmarshall(r.Item) : undefined }));
}

/**
 * Runs a TransactWriteItems: `{ ok: false, reasons }` when DynamoDB canceled it because a condition
 * failed (with each refused item as it was, when the item asked for `ALL_OLD`), never a throw for
 * that. Two transactions on one item at once (accounts of a tenant share its directory entry) cancel
 * one of them with `TransactionConflict`: a canceled transaction wrote nothing, so it is sent again
 * after a short jittered pause ({@link TRANSACTION_CONTENTION}); still colliding, it is a 503 with
 * `Retry-After`, as throttling or a service error is: each may pass in a moment.
 */
export async function transactWrite(db: Db, items: TransactItem[]): Promise<{ ok: true } | { ok: false; reasons: CancellationReasons }> {
  return withRetries(TRANSACTION_CONTENTION, { what: 'transaction' }, async () => {
    try {
      await db.doc.send(new TransactWriteCommand({ TransactItems: items }));
      return { ok: true as const };
    } catch (err) {
      const reasons = cancellationReasons(err);
      if (!reasons) throw err;
      if (reasons.some((r) => r.code === 'ConditionalCheckFailed')) return { ok: false as const, reasons };
      // a transaction canceled by a conflict is sent again, and lands once (TRANSACTION_CONTENTION)
      if (reasons.some((r) => r.code === 'TransactionConflict')) throw new TransactionContention('another request changed the same items at the same moment; try again shortly', err);
      // throttled or an internal error of the service: it may work in a moment
      throw new BrokerError('temporarily_unavailable', 503, 'the table is busy; try again shortly', { cause: err, retryAfterS: 1 });
    }
  });
}
