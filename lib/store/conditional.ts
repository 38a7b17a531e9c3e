import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';

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
      const item = (err as ConditionalCheckFailedException).Item;
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
