import type { StoreCall } from '../test/support/store-calls.js';

/**
 * On-demand prices the cost figures use: AWS's public price lists for us-east-1 (N. Virginia), as
 * they stand since DynamoDB's on-demand price change of 1 November 2024 (read 2026-12-01):
 * - DynamoDB on-demand, Standard table class: $0.625 per million write request units, $0.125 per
 *   million read request units;
 * - KMS: $0.03 per 10,000 requests (symmetric keys: Decrypt, GenerateDataKey);
 * - CloudWatch Logs: $0.50 per GB ingested (Standard log class).
 */
export const PRICES = {
  region: 'us-east-1',
  asOf: '2024-11-01 price list (read 2026-12-01)',
  dynamodbWriteUnitUsd: 0.625 / 1e6,
  dynamodbReadUnitUsd: 0.125 / 1e6,
  kmsRequestUsd: 0.03 / 1e4,
  logsIngestedGbUsd: 0.5,
} as const;

interface Item {
  auditFilter?: unknown;
}

/**
 * Request units of one recorded DynamoDB call, for the broker's small items (every item the token
 * path reads or writes is under 1 KB, so under 4 KB for a read): a strongly consistent read 1 RRU,
 * an eventually consistent one ½; a write 1 WRU, and 1 more where the item goes into the audit
 * filter index; a transaction counts each of its items twice (the ConditionCheck too).
 */
export function requestUnits(call: StoreCall): { read: number; write: number } {
  const input = call.input as Record<string, unknown>;
  const indexed = (item: unknown) => ((item as Item | undefined)?.auditFilter !== undefined ? 1 : 0);
  switch (call.name) {
    case 'GetItem':
      return { read: input.ConsistentRead ? 1 : 0.5, write: 0 };
    case 'Query':
      return { read: input.ConsistentRead ? 1 : 0.5, write: 0 };
    case 'PutItem':
      return { read: 0, write: 1 + indexed(input.Item) };
    case 'UpdateItem':
    case 'DeleteItem':
      return { read: 0, write: 1 };
    case 'BatchWriteItem': {
      const requests = Object.values((input.RequestItems ?? {}) as Record<string, { PutRequest?: { Item?: unknown } }[]>).flat();
      return { read: 0, write: requests.reduce((n, r) => n + 1 + indexed(r.PutRequest?.Item), 0) };
    }
    case 'TransactWriteItems': {
      const items = (input.TransactItems ?? []) as { Put?: { Item?: unknown } }[];
      return { read: 0, write: items.reduce((n, t) => n + 2 + indexed(t.Put?.Item), 0) };
    }
    default:
      return { read: 0, write: 0 };
  }
}

/** What `calls` to DynamoDB and `kmsRequests` to KMS cost, in USD. */
export function costUsd(calls: readonly StoreCall[], kmsRequests: number): number {
  let read = 0;
  let write = 0;
  for (const call of calls) {
    const units = requestUnits(call);
    read += units.read;
    write += units.write;
  }
  return read * PRICES.dynamodbReadUnitUsd + write * PRICES.dynamodbWriteUnitUsd + kmsRequests * PRICES.kmsRequestUsd;
}
